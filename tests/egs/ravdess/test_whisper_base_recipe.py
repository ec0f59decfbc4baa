"""egs/ravdess/baseline with the real Whisper base encoder, end to end on a tiny subset of the real
corpus: prep, unpadded Whisper dump of every layer, the SUPERB head for two epochs, scoring.
Needs the converted model (tools/get_whisper_base.sh -> tools/whisper/base): skipped without it."""

import json
from pathlib import Path

import pytest

from conftest import RAVDESS_SHARED as SHARED
from conftest import copy_recipe, ravdess_subset, run_recipe

REPO = Path(__file__).resolve().parents[3]
WHISPER = REPO / "tools" / "whisper" / "base"

pytestmark = [
    pytest.mark.skipif(not SHARED.is_dir(), reason=f"the shared RAVDESS copy {SHARED} is absent"),
    pytest.mark.skipif(
        not (WHISPER / "config.json").is_file(),
        reason=f"Whisper base is not converted ({WHISPER}): run tools/get_whisper_base.sh",
    ),
]


def test_baseline_on_whisper_base(tmp_path):
    corpus = ravdess_subset(tmp_path / "ravdess_subset")
    recipe = copy_recipe(REPO, "egs/ravdess/baseline", tmp_path / "recipe")
    run_recipe(
        recipe,
        "--upstream",
        "whisper_base",
        "--train_opts",
        "train.max_epochs=2",
        "--folds",
        "1",
        env={"RAVDESS": str(corpus)},
    )
    # conf/train.yaml + conf/upstream/whisper_base.yaml (its layer norm and learning rate), 2 epochs
    config = (recipe / "exp/baseline_whisper_base/fold1/config.yaml").read_text()
    assert "layer_norm: true" in config and "lr: 0.001" in config and "max_epochs: 2" in config
    meta = json.loads((recipe / "dump/ssl_whisper_base/feats.meta.json").read_text())
    assert (meta["num_layers"], meta["dim"], meta["frame_shift_samples"]) == (7, 512, 320)
    frames = dict(
        line.split() for line in (recipe / "dump/ssl_whisper_base/feats.utt2num_frames").read_text().splitlines()
    )
    durs = dict(line.split() for line in (recipe / "data/all/utt2dur").read_text().splitlines())
    assert len(frames) == 48
    for utt, n in frames.items():  # 20 ms frames of the real audio only (unpadded input)
        assert abs(int(n) - float(durs[utt]) * 50) <= 1
    scores = json.loads((recipe / "exp/baseline_whisper_base/fold1/infer_test/scores.json").read_text())
    assert 0.0 <= scores["ua"] <= 1.0
    assert "| baseline_whisper_base | 1 |" in (recipe / "exp/baseline_whisper_base/RESULTS.md").read_text()
