"""egs/ravdess/whisper_lr end to end on a tiny subset of the real corpus, with a tiny random Whisper
(whisper_custom) standing in for Whisper base: prep, float16 dump of every hidden state, the logistic
regression on pooled layers for one EmoBox fold, scoring, and a re-run that redoes nothing."""

import json
from pathlib import Path

import pytest

from conftest import RAVDESS_SHARED, copy_recipe, ravdess_subset, run_recipe

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(
    not RAVDESS_SHARED.is_dir(), reason=f"the shared RAVDESS copy {RAVDESS_SHARED} is absent"
)


def test_whisper_lr_recipe_runs_on_a_subset(tmp_path, tiny_whisper):
    corpus = ravdess_subset(tmp_path / "ravdess_subset")
    recipe = copy_recipe(REPO, "egs/ravdess/whisper_lr", tmp_path / "recipe")
    opts = ("--upstream", "whisper_custom", "--upstream_path", str(tiny_whisper), "--folds", "1")
    opts += ("--train_opts", "model.pool_layers=[1,2]")
    env = {"RAVDESS": str(corpus)}
    run_recipe(recipe, *opts, env=env)

    meta = json.loads((recipe / "dump/ssl_whisper_custom/feats.meta.json").read_text())
    assert (meta["num_layers"], meta["float16"], meta["upstream_path"]) == (3, True, str(tiny_whisper))
    fold = recipe / "exp/whisper_custom_logreg/fold1"
    search = json.loads((fold / "search.json").read_text())
    assert search["pool_layers"] == [1, 2] and search["train_utts"] == 40
    assert "Actor_01" not in search["train_speakers"]
    preds = (fold / "infer_test/utt2emo_pred").read_text().splitlines()
    assert len(preds) == 8 and all(line.startswith("Actor_01_") for line in preds)
    results = (recipe / "exp/whisper_custom_logreg/RESULTS.md").read_text()
    assert "| whisper_custom_logreg | 1 |" in results and "model.pool_layers=[1,2]" in results

    before = (fold / "search.json").stat().st_mtime_ns
    proc = run_recipe(recipe, *opts, env=env)
    assert (
        "complete for its current inputs; skipping" in proc.stdout
        and "trained for its current inputs; skipping" in proc.stdout
    )
    assert (fold / "search.json").stat().st_mtime_ns == before
