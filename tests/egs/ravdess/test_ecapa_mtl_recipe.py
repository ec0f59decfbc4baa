"""egs/ravdess/ecapa_mtl end to end on a tiny subset of the real corpus: prep, log-mel and ComParE
dumps (the latter also of speed-perturbed copies, --linear_speed_copies), three seeds (the default)
of the emotion + gender model and the functionals' logistic regression on one EmoBox fold, their late
fusion divided by the training class priors, scoring, resume, and the emobox_dev scheme's models kept
apart from emobox's."""

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import RAVDESS_SHARED, copy_recipe, ravdess_subset, run_recipe

REPO = Path(__file__).resolve().parents[3]
SHARED = RAVDESS_SHARED

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"the shared RAVDESS copy {SHARED} is absent")


def test_ecapa_mtl_recipe_runs_on_a_subset(tmp_path, tiny_whisper):
    corpus = ravdess_subset(tmp_path / "ravdess_subset")
    recipe = copy_recipe(REPO, "egs/ravdess/ecapa_mtl", tmp_path / "recipe")
    env = {"RAVDESS": str(corpus)}
    # The Whisper member on a tiny random Whisper (whisper_custom): the real one is optional here.
    opts = (
        "--train_config",
        "conf/demo/train.yaml",
        "--folds",
        "1",
        "--linear_speed_copies",
        "0.9,1.1",
        "--whisper",
        "whisper_custom",
        "--whisper_path",
        str(tiny_whisper),
        "--whisper_layers",
        "1,2",
    )
    run_recipe(recipe, *opts, env=env)

    assert (recipe / "dump/fbank/feats.scp").is_file()
    fold = recipe / "exp/ecapa_mtl/fold1"
    history = json.loads((fold / "history.json").read_text())
    assert len(history) == 2 and "gender_loss" in history[0]["train"]
    test_utts = [line.split()[0] for line in (recipe / "data/folds/emobox/fold1/test/utt2spk").read_text().splitlines()]
    assert test_utts and all(u.startswith("Actor_01_") for u in test_utts)
    preds = dict(line.split() for line in (fold / "infer_test/utt2emo_pred").read_text().splitlines())
    assert sorted(preds) == sorted(test_utts)
    assert set(preds.values()) <= {"neu", "cal", "hap", "sad", "ang", "fea", "dis", "sur"}
    scores = json.loads((fold / "infer_test/scores.json").read_text())
    assert 0.0 <= scores["ua"] <= 1.0
    results = (recipe / "exp/ecapa_mtl/RESULTS.md").read_text()
    assert "| system | folds | UA | WA | macro-F1 |" in results and "| ecapa_mtl | 1 |" in results
    for s in (1, 2):  # the other seeds
        assert (recipe / f"exp/ecapa_mtl_s{s}/fold1/infer_test/scores.json").is_file()
    search = json.loads((recipe / "exp/compare_logreg_sp/fold1/search.json").read_text())
    assert search["train_utts"] == 40 and search["train_rows"] == 120  # 5 actors x 8, and the x0.9, x1.1 copies
    assert len((recipe / "dump/compare_sp/feats.scp").read_text().splitlines()) == 3 * 48  # originals + 2 copies

    def post(exp):
        lines = (recipe / exp / "fold1/infer_test/utt2post").read_text().splitlines()
        return {u: np.array([float(x) for x in rest.split()]) for u, rest in (line.split(maxsplit=1) for line in lines)}

    whisper_meta = json.loads((recipe / "dump/whisper_custom/feats.meta.json").read_text())
    assert whisper_meta["num_layers"] == 3 and whisper_meta["float16"] is True
    wsearch = json.loads((recipe / "exp/whisper_custom_logreg/fold1/search.json").read_text())
    assert wsearch["pool_layers"] == "1,2" and wsearch["train_utts"] == 40

    # fusion: the three seeds averaged, then equal weight with the functionals' and Whisper's linear
    # models, then divided by the class frequencies of the fold's training actors (train + valid)
    seeds = [post(e) for e in ("exp/ecapa_mtl", "exp/ecapa_mtl_s1", "exp/ecapa_mtl_s2")]
    lin, wlin, fused = post("exp/compare_logreg_sp"), post("exp/whisper_custom_logreg"), post("exp/fusion")
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
    fusion_results = (recipe / "exp/fusion/RESULTS.md").read_text()
    assert "| fusion | 1 |" in fusion_results
    assert (
        "run.sh --train_config conf/demo/train.yaml --folds 1 --linear_speed_copies 0.9\\,1.1 --whisper"
        in fusion_results
    )

    # A second run resumes: every stage finds its outputs complete and the model is not retrained.
    before = (fold / "model.best.pt").stat().st_mtime_ns
    proc = run_recipe(recipe, *opts, env=env)
    assert "already prepared" in proc.stderr and "complete; skipping" in proc.stdout and "up to date" in proc.stdout
    assert (fold / "model.best.pt").stat().st_mtime_ns == before

    # The development scheme: its models live under exp/emobox_dev and test emobox fold 1's valid actors.
    run_recipe(recipe, *opts, "--stage", "2", "--scheme", "emobox_dev", "--seeds", "0", env=env)
    dev = recipe / "exp/emobox_dev"
    dev_preds = (dev / "fusion/fold1/infer_test/utt2emo_pred").read_text().splitlines()
    valid_spks = set((recipe / "data/folds/emobox/fold1/valid/utt2spk").read_text().split()[1::2])
    assert dev_preds and {line.split()[0][:8] for line in dev_preds} == valid_spks
    assert (dev / "ecapa_mtl/RESULTS.md").is_file() and (fold / "model.best.pt").stat().st_mtime_ns == before
