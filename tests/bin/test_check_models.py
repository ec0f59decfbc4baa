"""ser.bin.check_models, ser.sh's stage 0 check: a text encoder whose tokenizer needs sentencepiece
fails at once, naming the package, instead of after stage 1's acoustic dumping."""

import io
import subprocess
import sys

import pytest

BLOCK_SENTENCEPIECE = (
    "import runpy, sys; sys.modules['sentencepiece'] = None; "
    "runpy.run_module('ser.bin.check_models', run_name='__main__')"
)


@pytest.fixture(scope="module")
def tiny_deberta_v3(tmp_path_factory):
    """A random 2-layer DeBERTa-v2 folder laid out like the hub's deberta-v3: spm.model, no tokenizer.json."""
    spm = pytest.importorskip("sentencepiece")
    from transformers import DebertaV2Config, DebertaV2Model, DebertaV2Tokenizer

    out = tmp_path_factory.mktemp("deberta") / "tiny-deberta-v3"
    out.mkdir()
    model = io.BytesIO()
    text = ["the cat sat on the mat", "happy sad angry neutral speech", "hello world this is a test"] * 20
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(text),
        model_writer=model,
        vocab_size=30,
        pad_id=0,
        unk_id=1,
        bos_id=2,
        eos_id=3,
        pad_piece="[PAD]",
        unk_piece="[UNK]",
        bos_piece="[CLS]",
        eos_piece="[SEP]",
        user_defined_symbols=["[MASK]"],
        minloglevel=2,
    )
    (out / "spm.model").write_bytes(model.getvalue())
    DebertaV2Tokenizer(vocab_file=str(out / "spm.model")).save_pretrained(out)
    (out / "tokenizer.json").unlink(missing_ok=True)
    config = DebertaV2Config(
        vocab_size=48, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32
    )
    DebertaV2Model(config).save_pretrained(out)
    return out


def run(repo_root, *args, block=False):
    cmd = (
        [sys.executable, "-c", BLOCK_SENTENCEPIECE, *args]
        if block
        else [sys.executable, "-m", "ser.bin.check_models", *args]
    )
    return subprocess.run(cmd, capture_output=True, text=True, cwd=repo_root)


def test_missing_sentencepiece_is_named(repo_root, tiny_deberta_v3, tiny_hubert):
    ok = run(repo_root, "--text", str(tiny_deberta_v3), "--upstream", f"hf_hubert_custom={tiny_hubert}")
    assert ok.returncode == 0, ok.stderr
    assert "every pretrained model needed loads" in ok.stderr

    bad = run(repo_root, "--text", str(tiny_deberta_v3), "--upstream", "fbank", block=True)
    assert bad.returncode == 1
    assert "needs the Python package sentencepiece" in bad.stderr and "pip install sentencepiece" in bad.stderr
    assert str(tiny_deberta_v3) in bad.stderr


def test_every_missing_model_is_listed(repo_root, tmp_path):
    proc = run(
        repo_root, "--text", str(tmp_path / "no_such_encoder"), "--upstream", f"hf_hubert_custom={tmp_path / 'nope'}"
    )
    assert proc.returncode == 1
    assert "2 pretrained model(s)" in proc.stderr
    assert "no_such_encoder" in proc.stderr and "checkpoint path" in proc.stderr
