"""ser.models.mtl_coattn: the multi-task co-attention model on a tiny random HuBERT."""

import pytest
import torch

from ser.models import build_model
from ser.text.vocab import CharVocab
from ser.utils import SerError

CLASSES = ["neu", "hap", "ang", "sad"]
SPEAKERS = ["s1", "s2", "s3", "unk_x"]  # sorted training speaker ids; the last one is of unknown identity


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "tokens.txt"
    CharVocab.build(["hello world", "good day"]).save(path)
    return str(path)


def make(tiny_hubert, vocab, **kw):
    torch.manual_seed(0)
    info = {"num_classes": 4, "classes": CLASSES, "class_counts": [10, 5, 3, 2], "feats": {}, "speakers": SPEAKERS}
    conf = {
        "name": "mtl_coattn",
        "upstream": "hf_hubert_custom",
        "upstream_path": str(tiny_hubert),
        "dim": 16,
        "heads": 2,
        "spk_embed_dim": 8,
        "swfc_proj_dim": 8,
        "vocab": vocab,
        **kw,
    }
    return build_model(conf, info)


def batch(**kw):
    g = torch.Generator().manual_seed(1)
    b = {
        "utt": list("abcdef"),
        "wav": torch.randn(6, 16000, generator=g) * 0.1,
        "wav_lens": torch.tensor([16000, 15000, 12000, 9000, 16000, 14000]),
        "emo": torch.tensor([0, 0, 1, 2, 3, 1]),
        "gender": torch.tensor([0, 1, -1, 0, 1, 1]),
        "spk": torch.tensor([0, 1, 2, 3, -1, 0]),
        "text": ["hello world", "good day", "", "<unk>", "hello", "day"],
    }
    b.update(kw)
    return b


def test_forward_backward_and_every_output(tiny_hubert, vocab):
    model = make(tiny_hubert, vocab)
    model.train()
    out = model(batch())
    assert torch.isfinite(out["loss"])
    assert set(out["logs"]) == {"emo_ce", "swfc", "gender_ce", "spk_aam", "ctc"}
    out["loss"].backward()
    hubert = model.upstream.model.upstream.model
    # Fine-tuned end to end, except the frozen CNN feature encoder.
    assert hubert.encoder.layers[0].attention.q_proj.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in hubert.feature_extractor.parameters())
    logs = model.epoch_logs()  # class-imbalance handling and fusion gates, as logged per epoch
    assert {"swfc_w_neu", "swfc_w_sad", "gate_gender", "gate_speaker", "gate_asr", "gate_back_asr"} <= set(logs)

    model.eval()
    pred = model.predict_all(batch())
    assert pred["emo_logits"].shape == (6, 4) and pred["gender_logits"].shape == (6, 2)
    assert pred["spk_embed"].shape == (6, 8)
    assert len(pred["text_pred"]) == 6 and all(isinstance(t, str) for t in pred["text_pred"])
    assert torch.allclose(model.predict(batch())["emo_logits"], pred["emo_logits"])


def test_unknown_speakers_and_genders_are_left_out(tiny_hubert, vocab):
    model = make(tiny_hubert, vocab, dropout=0.0)
    model.eval()  # deterministic forward; the losses are still computed
    assert model.spk_map.tolist() == [0, 1, 2, -1]
    with torch.no_grad():
        ref = model(batch())["logs"]
        # Item 3 belongs to the pseudo speaker unk_x: its speaker label must not matter ...
        same = model(batch(spk=torch.tensor([0, 1, 2, -1, -1, 0])))["logs"]
        # ... while a known speaker's label does.
        other = model(batch(spk=torch.tensor([1, 1, 2, 3, -1, 0])))["logs"]
        # Unknown gender (-1) is excluded: marking a known one unknown changes the loss.
        fewer = model(batch(gender=torch.tensor([-1, 1, -1, 0, 1, 1])))["logs"]
        none = model(batch(gender=torch.full((6,), -1), spk=torch.full((6,), -1)))["logs"]
    assert same["spk_aam"] == pytest.approx(ref["spk_aam"])
    assert other["spk_aam"] != pytest.approx(ref["spk_aam"])
    assert fewer["gender_ce"] != pytest.approx(ref["gender_ce"])
    assert "gender_ce" not in none and "spk_aam" not in none  # nothing to learn from, no NaN either


def test_ablation_switches(tiny_hubert, vocab):
    emo_only = make(tiny_hubert, vocab, aux_tasks=[])
    assert list(emo_only.branches) == ["emotion"] and not emo_only.coattn
    assert set(emo_only(batch())["logs"]) == {"emo_ce", "swfc"}
    no_coattn = make(tiny_hubert, vocab, coattn=False, swfc=False, aux_tasks=["gender"])
    assert not hasattr(no_coattn, "fusion") and no_coattn.swfc is None
    assert set(no_coattn(batch())["logs"]) == {"emo_ce", "gender_ce"}
    one_way = make(tiny_hubert, vocab, aux_tasks=["asr"], coattn_reverse=False)
    one_way.train()
    one_way(batch())
    assert set(k for k in one_way.epoch_logs() if k.startswith("gate")) == {"gate_asr"}


def test_config_errors(tiny_hubert, vocab):
    with pytest.raises(SerError, match="aux_tasks"):
        make(tiny_hubert, vocab, aux_tasks=["emotion"])
    with pytest.raises(SerError, match="vocab"):
        make(tiny_hubert, None)
    with pytest.raises(SerError, match="spk_loss"):
        make(tiny_hubert, vocab, spk_loss="arcface")
    info = {
        "num_classes": 4,
        "classes": CLASSES,
        "class_counts": [1, 1, 1, 1],
        "feats": {},
        "speakers": ["s1", "unk_a", "unk_b"],
    }
    with pytest.raises(SerError, match="2 known training speakers"):
        build_model(
            {
                "name": "mtl_coattn",
                "upstream": "hf_hubert_custom",
                "upstream_path": str(tiny_hubert),
                "dim": 16,
                "heads": 2,
                "aux_tasks": ["speaker"],
            },
            info,
        )
    model = make(tiny_hubert, vocab)
    with pytest.raises(SerError, match="use_wav"):
        model({"emo": torch.tensor([0])})
