"""egs/ravdess/ecapa_mtl (options over ser.sh) end to end on a tiny subset of the real corpus: prep,
log-mel and ComParE dumps, three seeds (the default) of the emotion + gender model and the
functionals' logistic regression on one EmoBox fold, a Whisper member added by options alone, their
late fusion divided by the training class priors, scoring, resume, and the emobox_dev scheme's models
kept apart from emobox's; the fusion packed by stage 5 gives the recipe's posteriors through ser-infer."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import RAVDESS_SHARED, copy_recipe, ravdess_subset, run_recipe

REPO = Path(__file__).resolve().parents[3]
SHARED = RAVDESS_SHARED

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"the shared RAVDESS copy {SHARED} is absent")
SYSTEMS = "ecapa_s0=conf/train.yaml ecapa_s1=conf/train.yaml@train.seed=1 ecapa_s2=conf/train.yaml@train.seed=2"


def test_ecapa_mtl_recipe_runs_on_a_subset(tmp_path, tiny_whisper):
    corpus = ravdess_subset(tmp_path / "ravdess_subset")
    recipe = copy_recipe(REPO, "egs/ravdess/ecapa_mtl", tmp_path / "recipe")
    env = {"RAVDESS": str(corpus)}
    # The Whisper member on a tiny random Whisper (whisper_custom), added as README.md says: a store,
    # a system and a fusion group.
    opts = (
        "--folds",
        "1",
        "--train_opts",
        "train.max_epochs=2 train.batch_size=8",
        "--feats",
        f"fbank=fbank compare=compare ssl=upstream:whisper_custom:{tiny_whisper}",
        "--float16",
        "true",
        "--systems",
        f"{SYSTEMS} compare_logreg=conf/compare_logreg.yaml "
        "whisper_logreg=conf/compare_logreg.yaml@data.feats=[ssl]@model.pool_layers=[1,2]",
        "--fusions",
        "fusion=ecapa_s0,ecapa_s1,ecapa_s2+compare_logreg+whisper_logreg",
    )
    run_recipe(recipe, *opts, env=env)

    exp = recipe / "exp/ecapa_mtl"
    assert (recipe / "dump/fbank/feats.scp").is_file()
    fold = exp / "ecapa_s0/fold1"
    history = json.loads((fold / "history.json").read_text())
    assert len(history) == 2 and "gender_loss" in history[0]["train"]
    test_utts = [line.split()[0] for line in (recipe / "data/folds/emobox/fold1/test/utt2spk").read_text().splitlines()]
    assert test_utts and all(u.startswith("Actor_01_") for u in test_utts)
    preds = dict(line.split() for line in (fold / "infer_test/utt2emo_pred").read_text().splitlines())
    assert sorted(preds) == sorted(test_utts)
    assert set(preds.values()) <= {"neu", "cal", "hap", "sad", "ang", "fea", "dis", "sur"}
    scores = json.loads((fold / "infer_test/scores.json").read_text())
    assert 0.0 <= scores["ua"] <= 1.0
    results = (exp / "ecapa_s0/RESULTS.md").read_text()
    assert "| system | folds | UA | WA | macro-F1 |" in results and "| ecapa_s0 | 1 |" in results
    for s in (1, 2):  # the other seeds
        assert (exp / f"ecapa_s{s}/fold1/infer_test/scores.json").is_file()
    search = json.loads((exp / "compare_logreg/fold1/search.json").read_text())
    assert search["train_utts"] == 40 and search["train_rows"] == 40  # 5 actors x 8

    def post(name):
        lines = (exp / name / "fold1/infer_test/utt2post").read_text().splitlines()
        return {u: np.array([float(x) for x in rest.split()]) for u, rest in (line.split(maxsplit=1) for line in lines)}

    whisper_meta = json.loads((recipe / "dump/ssl_whisper_custom/feats.meta.json").read_text())
    assert whisper_meta["num_layers"] == 3 and whisper_meta["float16"] is True
    wsearch = json.loads((exp / "whisper_logreg/fold1/search.json").read_text())
    assert wsearch["pool_layers"] == [1, 2] and wsearch["train_utts"] == 40

    # fusion: the three seeds averaged, then equal weight with the functionals' and Whisper's linear
    # models, then divided by the class frequencies of the fold's training actors (train + valid)
    seeds = [post(f"ecapa_s{s}") for s in (0, 1, 2)]
    lin, wlin, fused = post("compare_logreg"), post("whisper_logreg"), post("fusion")
    assert sorted(fused) == sorted(test_utts)
    classes = ["neu", "cal", "hap", "sad", "ang", "fea", "dis", "sur"]
    train_labels = [
        line.split()[1]
        for split in ("train", "valid")
        for line in (recipe / f"data/folds/emobox/fold1/{split}/utt2emo").read_text().splitlines()
    ]
    prior = np.array([train_labels.count(c) for c in classes]) / len(train_labels)
    for u in fused:
        balanced = (sum(p[u] for p in seeds) / 9 + lin[u] / 3 + wlin[u] / 3) / prior
        assert np.allclose(fused[u], balanced / balanced.sum(), atol=1e-4)
    fusion_results = (exp / "fusion/RESULTS.md").read_text()
    assert "| fusion | 1 |" in fusion_results and "divided by the training class frequencies" in fusion_results
    assert "run.sh --folds 1 --train_opts train.max_epochs=2\\ train.batch_size=8" in fusion_results
    comparison = (exp / "RESULTS.md").read_text()
    assert all(f"| {name} | 1 |" in comparison for name in ("ecapa_s2", "compare_logreg", "whisper_logreg", "fusion"))

    # Stage 5 packed the fusion with its members and priors: the archive alone (ser-infer on the test
    # actors' wav files) gives the recipe's fused test posteriors.
    pack = exp / "fusion/model.pack.zip"
    manifest = json.loads(zipfile.ZipFile(pack).read("manifest.json"))
    weights = {m: round(v["weight"], 6) for m, v in manifest["members"].items()}
    assert weights == {"ecapa_s0": 0.111111, "ecapa_s1": 0.111111, "ecapa_s2": 0.111111, "compare_logreg": 0.333333,
                       "whisper_logreg": 0.333333}  # fmt: skip
    assert manifest["balance"] and len(manifest["priors"]["1"]) == 8
    lines = (recipe / "data/folds/emobox/fold1/test/wav.scp").read_text().splitlines()
    wav_scp = tmp_path / "wav.scp"
    wav_scp.write_text("".join(f"{u} {Path(p).resolve()}\n" for u, p in (line.split() for line in lines)))
    rows_file = tmp_path / "rows.jsonl"
    penv = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "ser.bin.predict", str(pack), str(wav_scp), "--out", str(rows_file)]
    subprocess.run(cmd, check=True, env=penv, capture_output=True, cwd=tmp_path)
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()]
    columns = (exp / "fusion/fold1/infer_test/classes.txt").read_text().split()
    got = {r["file"]: np.array([r["posteriors"][c] for c in columns]) for r in rows}
    assert sorted(got) == sorted(fused) and len(got) == 8
    assert max(np.abs(got[u] - fused[u]).max() for u in fused) < 1e-4

    # A second run resumes: every stage finds its outputs complete and the model is not retrained.
    before = (fold / "model.best.pt").stat().st_mtime_ns
    proc = run_recipe(recipe, *opts, env=env)
    assert (
        "already prepared" in proc.stderr
        and "complete for its current inputs; skipping" in proc.stdout
        and "up to date" in proc.stdout
    )
    assert (fold / "model.best.pt").stat().st_mtime_ns == before

    # The development scheme: its models live under exp/emobox_dev and test emobox fold 1's valid actors.
    dev_opts = ("--systems", "ecapa_s0=conf/train.yaml compare_logreg=conf/compare_logreg.yaml")
    dev_opts += ("--fusions", "fusion=ecapa_s0+compare_logreg", "--scheme", "emobox_dev", "--stage", "2")
    run_recipe(recipe, *opts, *dev_opts, env=env)
    dev = recipe / "exp/emobox_dev/ecapa_mtl"
    dev_preds = (dev / "fusion/fold1/infer_test/utt2emo_pred").read_text().splitlines()
    valid_spks = set((recipe / "data/folds/emobox/fold1/valid/utt2spk").read_text().split()[1::2])
    assert dev_preds and {line.split()[0][:8] for line in dev_preds} == valid_spks
    assert (dev / "ecapa_s0/RESULTS.md").is_file() and (fold / "model.best.pt").stat().st_mtime_ns == before
