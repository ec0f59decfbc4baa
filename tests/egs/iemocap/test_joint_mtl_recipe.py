"""egs/iemocap/joint_mtl: stages 0..4 on the built-in corpus (demo mode), and the errors for missing
feature stores.

The end-to-end run keeps CI cheap: fold 1 only, two systems (regression only and GradNorm joint
weighting), two classical stores, one SSL store (the tiny random HuBERT), two epochs; the encoders
still cover every kind (Kaldi features, STF, raw waveform, SSL layers).
"""

import json

import pytest

from conftest import copy_recipe, link_synthetic_iemocap, run_recipe

RECIPE = "egs/iemocap/joint_mtl"
SYSTEMS = ("reg_only", "joint_gradnorm")
CI_ARGS = (
    "--folds",
    "1",
    "--systems",
    " ".join(SYSTEMS),
    "--feats",
    "mfcc=mfcc stf=stf hubert=upstream:{upstream}:{upstream_path}",
    "--train_opts",
    "data.feats=[mfcc,stf,hubert] model.encoders=[mfcc,stf,wav,hubert] train.max_epochs=2",
)


def _read_kv(path):
    return dict(line.split(" ", 1) for line in path.read_text().splitlines() if line)


def test_recipe_runs_stages_0_to_4(tmp_path, repo_root):
    rec = copy_recipe(repo_root, RECIPE, tmp_path / "joint_mtl")
    proc = run_recipe(rec, *CI_ARGS, env={"IEMOCAP": ""})
    log = proc.stdout + proc.stderr
    assert "SYNTHETIC" in log and "wav2vec 2.0 and HuBERT are NOT used" in log
    for stage in range(5):
        assert f"stage {stage}:" in log

    # Stage 1: NJ=2 jobs, one ark each, a merged scp.
    utts = _read_kv(rec / "data/all/wav.scp")
    for store in ("mfcc", "stf", "hubert_hf_hubert_custom"):
        d = rec / "dump" / store
        assert (d / "feats.1.ark").is_file() and (d / "feats.2.ark").is_file()
        assert set(_read_kv(d / "feats.scp")) == set(utts)
    assert json.loads((rec / "dump/stf/feats.meta.json").read_text())["dim"] == 9
    assert json.loads((rec / "dump/hubert_hf_hubert_custom/feats.meta.json").read_text())["num_layers"] == 3

    exp = rec / "exp/joint_mtl"
    test_utts = set(_read_kv(rec / "data/folds/speaker/fold1/test/utt2spk"))
    for system in SYSTEMS:
        fold = exp / system / "fold1"
        assert not (exp / system / "fold2").exists()
        # Stage 3: V/A/D per test utterance; class posteriors only where there is a class head.
        assert set(_read_kv(fold / "infer_test/utt2vad_pred")) == test_utts
        assert (fold / "infer_test/utt2post").is_file() == (system != "reg_only")
        scores = json.loads((fold / "infer_test/scores.json").read_text())
        assert {"ccc_valence", "ccc_arousal", "ccc_dominance", "ccc_mean"} <= set(scores)
        assert ("ua" in scores) == (system != "reg_only")
        conf = (fold / "config.yaml").read_text()
        assert "max_epochs: 2" in conf and "- wav" in conf
    post = _read_kv(exp / "joint_gradnorm/fold1/infer_test/utt2post")
    assert all(abs(sum(map(float, p.split())) - 1) < 1e-3 for p in post.values())
    history = json.loads((exp / "joint_gradnorm/fold1/history.json").read_text())
    assert len(history) == 2
    assert all(abs(h["w_cls"] + h["w_reg"] - 1) < 1e-5 and "gnorm_cls" in h for h in history)

    # Stage 4: one comparison table with a row per system and the command that made it.
    results = (exp / "RESULTS.md").read_text()
    for system in SYSTEMS:
        assert f"| {system} | 1 |" in results
    assert "SYNTHETIC" in results and "--systems" in results


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "feature store dump/mfcc/feats.scp not found; it is made by stage 1"),
        (
            ("--train_opts", "data.feats=[w2v2]"),
            "feature store dump/w2v2_mel/feats.scp not found; it is made by stage 1",
        ),
        (("--feats", "stf=stf mel=mel"), "'mfcc', which no stage makes"),
    ],
)
def test_missing_feature_store_names_its_stage(tmp_path, repo_root, synthetic_iemocap, args, message):
    rec = copy_recipe(repo_root, RECIPE, tmp_path / "joint_mtl")
    link_synthetic_iemocap(rec, synthetic_iemocap)
    run_recipe(rec, "--stop_stage", "0", env={"IEMOCAP": ""})  # folds exist; no stage made any store
    with pytest.raises(AssertionError) as err:
        run_recipe(rec, "--stage", "2", "--systems", "joint_dwa", *args, env={"IEMOCAP": ""})
    assert message in str(err.value)
