"""egs/iemocap/bridge_tokens end to end on the built-in corpus: one fold, two systems, a few epochs,
with some transcripts emptied to check that the empty-text path runs through every stage."""

import json

from ser.data.datadir import DataDir, read_kv
from ser.features.store import FeatReader

from conftest import copy_recipe, link_synthetic_iemocap, run_recipe

EXP = "exp/bridge_tokens_fbank_minilm"


def blank_transcripts(data_root, utts):
    """Empties the transcripts of `utts` in data/all and in every fold dir holding them."""
    for text in data_root.glob("**/text"):
        lines = read_kv(text)
        hit = [u for u in utts if u in lines]
        if hit:
            text.write_text("".join(f"{u} {'' if u in hit else v}".rstrip() + "\n" for u, v in lines.items()))


def test_bridge_tokens_demo_end_to_end(repo_root, synthetic_iemocap, tmp_path):
    recipe = copy_recipe(repo_root, "egs/iemocap/bridge_tokens", tmp_path / "bridge_tokens")
    link_synthetic_iemocap(recipe, synthetic_iemocap)
    env = {"IEMOCAP": ""}
    run_recipe(recipe, "--stop_stage", "0", env=env)
    test_dir = recipe / "data/folds/speaker/fold1/test"
    train_dir = recipe / "data/folds/speaker/fold1/train"
    emptied = DataDir.load(test_dir).utts[:2] + DataDir.load(train_dir).utts[:5]
    blank_transcripts(recipe / "data", emptied)

    # A negative layer list must reach the dump as a value, not as an option.
    args = (
        "--folds",
        "1",
        "--systems",
        "multitask text_only",
        "--train_opts",
        "train.max_epochs=3",
        "--text_layers",
        "-1,-3",
    )
    proc = run_recipe(recipe, *args, env=env)
    assert "demo mode" in proc.stderr and "SYNTHETIC" in proc.stderr
    for stage in range(5):
        assert f"stage {stage}:" in proc.stdout, stage

    # Stage 0 kept the emptied utterances (empty_text=empty) with the placeholder.
    all_text = DataDir.load(recipe / "data/all").get("text")
    assert all(all_text[u] == "<unk>" for u in emptied)
    # Stage 1: one row per token, the tokenizer's counts, 0 rows for an empty transcript.
    from transformers import AutoTokenizer

    from ser.features.text import default_encoder_path

    tokenizer = AutoTokenizer.from_pretrained(default_encoder_path())
    text = FeatReader(recipe / "dump/text_emb_minilm/feats.scp")
    lengths = read_kv(recipe / "dump/text_emb_minilm/feats.utt2num_frames")
    assert set(text.keys()) == set(all_text)
    for utt, transcript in all_text.items():
        n = 0 if utt in emptied else len(tokenizer(transcript, add_special_tokens=False)["input_ids"])
        assert int(lengths[utt]) == n == text[utt].shape[0] and text[utt].shape[1] == 2 * 384, utt
    assert text.meta["num_layers"] == 2 and text.meta["layers"] == [6, 4] and text.meta["dim"] == 384
    assert FeatReader(recipe / "dump/ssl_fbank/feats.scp").meta["kind"] == "upstream"

    exp = recipe / EXP
    test_utts = set(DataDir.load(test_dir).utts)
    for system in ("multitask", "text_only"):
        fold = exp / system / "fold1"
        assert len(json.loads((fold / "history.json").read_text())) == 3
        preds = read_kv(fold / "infer_test" / "utt2emo_pred")
        assert set(preds) == test_utts  # the two utterances without a transcript are predicted too
        assert set(read_kv(fold / "infer_test" / "utt2vad_pred")) == test_utts
        scores = json.loads((fold / "infer_test" / "scores.json").read_text())
        assert {"ua", "wa", "macro_f1", "ccc_valence", "ccc_arousal", "ccc_dominance", "ccc_mean"} <= set(scores)
    config = (exp / "multitask/fold1/config.yaml").read_text()
    assert "max_epochs: 3" in config and "modality_mask_prob: 0.2" in config

    results = (exp / "RESULTS.md").read_text()
    assert "SYNTHETIC" in results and r"--systems multitask\ text_only" in results  # quoted, ready to paste
    assert "| multitask | 1 |" in results and "| text_only | 1 |" in results
    assert "all-MiniLM-L6-v2" in results and "fbank" in results

    # Re-running training finds the fold finished and changes nothing.
    best = exp / "multitask/fold1/model.best.pt"
    before = best.stat().st_mtime_ns
    again = run_recipe(recipe, *args, "--stage", "2", "--stop_stage", "2", env=env)
    assert best.stat().st_mtime_ns == before
    assert "is trained for its current inputs; skipping" in again.stdout
