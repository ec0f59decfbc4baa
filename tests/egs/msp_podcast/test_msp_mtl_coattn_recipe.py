"""egs/msp_podcast/mtl_coattn end to end on the built-in synthetic MSP-Podcast (one epoch, one ablation)."""

import inspect
import json
import re

import pytest

from ser.data.datadir import DataDir

from conftest import copy_recipe, run_recipe


def test_mtl_coattn_msp_podcast_demo_end_to_end(repo_root, tiny_hubert, tmp_path):
    recipe = copy_recipe(repo_root, "egs/msp_podcast/mtl_coattn", tmp_path / "mtl_coattn")
    proc = run_recipe(
        recipe,
        "--upstream_path",
        str(tiny_hubert),
        "--train_opts",
        "train.max_epochs=1",
        "--ablations",
        "no_swfc",
        env={"MSP_PODCAST": ""},
    )
    assert "demo mode" in proc.stderr and "SYNTHETIC corpus is being generated" in proc.stderr
    assert "dropped by class: O" in proc.stdout

    fold_data = recipe / "data" / "folds" / "official" / "fold1"
    train = DataDir.load(fold_data / "train")
    test = DataDir.load(fold_data / "test")
    assert set(train.get("utt2emo").values()) == set("ASHUFDCN")
    unknown_test = {u for u, s in test.utt2spk.items() if s.startswith("unk_")}
    assert unknown_test and any(s.startswith("unk_") for s in train.utt2spk.values())

    exp = recipe / "exp" / "mtl_coattn_hf_hubert_custom"
    fold = exp / "fold1"
    log = (fold / "train.log").read_text()
    assert "class counts (train): A" in log and "SWFC class weights" in log
    assert "pseudo speakers of unknown identity excluded" in log
    scores = json.loads((fold / "infer_test" / "scores.json").read_text())
    assert {"macro_f1", "ua", "wa", "gender_acc", "spk_eer", "cer"} <= set(scores)
    # Utterances of unknown speakers stay in the emotion scoring but never enter a trial.
    assert scores["num_utts"] == len(test)
    trial_utts = {u for line in (fold / "infer_test" / "trials").read_text().splitlines() for u in line.split()[:2]}
    assert trial_utts and not trial_utts & unknown_test
    # ... and unknown genders stay out of the gender accuracy.
    assert scores["num_gender_utts"] == sum(g != "u" for g in test.get("utt2gender").values())

    # Development (the valid set) is predicted and scored beside the test partition (run.sh --eval_sets valid).
    assert json.loads((fold / "infer_valid" / "scores.json").read_text())["num_utts"] == len(
        DataDir.load(fold_data / "valid")
    )
    assert "## The valid set (mean over folds)" in (exp / "RESULTS.md").read_text()

    ablations = (exp / "ablations" / "RESULTS.md").read_text()
    assert "| full | 1 |" in ablations and "| no_swfc | 1 |" in ablations and "macro-F1" in ablations
    assert "swfc=" not in (exp / "ablations" / "no_swfc" / "fold1" / "train.log").read_text()


@pytest.mark.parametrize("config", ["conf/train.yaml", "conf/demo/train.yaml"])
def test_configs_and_ablation_overlays_are_valid(repo_root, config):
    """The real-corpus config never runs in CI: at least its keys must be ones the code takes."""
    from ser.models.mtl_coattn import MTLCoAttn
    from ser.train.experiment import load_run_config
    from ser.train.trainer import TrainConfig

    recipe = repo_root / "egs/msp_podcast/mtl_coattn"
    params = set(inspect.signature(MTLCoAttn.__init__).parameters) - {"self", "info"}
    overlays = sorted((recipe / "conf" / "tuning").glob("*.yaml"))
    run_sh = (recipe / "run.sh").read_text()
    default = re.search(r'--ablations "([^"]*)"', run_sh).group(1).split()
    systems = (
        re.search(r'--systems "([^"]*)"', run_sh).group(1).split()
    )  # e.g. baseline: an overlay trained as a system
    assert sorted(default + [s for s in systems if not s.endswith(".yaml")]) == sorted(p.stem for p in overlays)
    for overlay in [None, *overlays]:
        conf = load_run_config(recipe / config, [overlay] if overlay else [])
        TrainConfig.from_dict(conf["train"])
        assert conf["model"]["name"] == "mtl_coattn" and set(conf["model"]) - {"name"} <= params
        assert conf["data"]["use_wav"]
