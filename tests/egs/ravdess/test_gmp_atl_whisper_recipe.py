"""egs/ravdess/gmp_atl with a Whisper upstream (conf/whisper: partial fine-tuning, a frozen-layer
cache, masking at the transformer input, layer-normalised GMP frames), end to end on a tiny subset of
the real corpus with a tiny random Whisper: every stage, the ablation rows, and the emobox_dev scheme's
outputs kept apart from emobox's. The real run uses --upstream whisper_base (README.md)."""

import json
from pathlib import Path

import numpy as np
import pytest

from ser.features.store import FeatReader

from conftest import RAVDESS_SHARED, copy_recipe, ravdess_subset, run_recipe

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(
    not RAVDESS_SHARED.is_dir(), reason=f"the shared RAVDESS copy {RAVDESS_SHARED} is absent"
)
EXP = "exp/gmp_atl_whisper_custom"


def test_gmp_atl_on_whisper_runs_on_a_subset(tmp_path):
    from ser.features.tiny import make_tiny_whisper
    from ser.features.whisper import encoder_frames

    whisper = make_tiny_whisper(tmp_path / "whisper3", layers=3)  # trainable_layers 2 leaves one frozen layer
    corpus = ravdess_subset(tmp_path / "ravdess_subset")
    recipe = copy_recipe(REPO, "egs/ravdess/gmp_atl", tmp_path / "recipe")
    opts = (
        "--upstream",
        "whisper_custom",
        "--upstream_path",
        str(whisper),
        "--folds",
        "1",
        "--nj",
        "1",
        "--parallel",
        "1",
        "--scales",
        "4 8 16",
        "--phase1_overrides",
        "train.max_epochs=1",
        "--phase2_overrides",
        "train.max_epochs=1",
        "--phase3_overrides",
        "train.max_epochs=1",
    )
    env = {"RAVDESS": str(corpus)}
    run_recipe(recipe, *opts, "--ablations", "no_gmp single_scale no_gender", env=env)

    cache = FeatReader(recipe / "dump/gmp_atl_whisper_custom/frozen_top2/feats.scp")
    assert (cache.meta["kind"], cache.meta["layer"], cache.meta["trainable_layers"]) == ("upstream_frozen", 1, 2)
    durs = {u: float(d) for u, d in (line.split() for line in (recipe / "data/all/utt2dur").read_text().splitlines())}
    assert len(cache) == 48
    for utt in list(cache.keys())[:5]:  # Whisper's exact frames, in every store
        n = encoder_frames(round(durs[utt] * 16000))
        assert abs(cache.num_frames(utt) - n) <= 1
    gmp = FeatReader(recipe / "dump/gmp_atl_whisper_custom/L-2/fold1/feats.scp")
    assert gmp.meta["layer_norm"] and gmp.meta["frozen_cache"].endswith("frozen_top2/feats.scp")
    x = gmp[gmp.keys()[0]]
    assert np.allclose(x.mean(1), 0, atol=1e-2)  # layer-normalised frames for k-means
    labels = FeatReader(recipe / EXP / "L-2/km/fold1/labels_k16.scp")
    assert all(labels.num_frames(u) == cache.num_frames(u) for u in cache.keys())

    p1 = (recipe / EXP / "phase1/fold1/config.yaml").read_text()
    assert "trainable_layers: 2" in p1 and "use_wav: false" in p1 and "frozen" in p1
    p2 = (recipe / EXP / "L-2/phase2/fold1/config.yaml").read_text()
    assert "use_wav: true" in p2 and "phase1/fold1/model.best.pt" in p2
    assert "alpha: 1.0" in (recipe / EXP / "phase1_nogender/fold1/config.yaml").read_text()
    assert "scales:\n  - 8\n" in (recipe / EXP / "L-2/phase2_k8/fold1/config.yaml").read_text()
    results = (recipe / EXP / "RESULTS.md").read_text()
    for row in ("phase1_only", "phase1_only_no_gender", "gmp_atl_L-2", "no_gmp", "single_scale_k8", "no_gender"):
        assert f"| {row} | 1 |" in results, row
    scores = json.loads((recipe / EXP / "L-2/phase3/fold1/infer_test/scores.json").read_text())
    assert 0.0 <= scores["ua"] <= 1.0

    # The development scheme, phase 1 only: its outputs live under exp/emobox_dev, the cache is shared.
    before = (recipe / EXP / "phase1/fold1/model.best.pt").stat().st_mtime_ns
    proc = run_recipe(recipe, *opts, "--scheme", "emobox_dev", "--stage", "1", "--stop_stage", "1", env=env)
    assert "frozen_top2 holds the frozen layers" in proc.stdout
    assert (recipe / "exp/emobox_dev/gmp_atl_whisper_custom/phase1/fold1/infer_test/utt2post").is_file()
    assert (recipe / EXP / "phase1/fold1/model.best.pt").stat().st_mtime_ns == before
