"""egs/iemocap/mtl_coattn end to end on the built-in corpus (one fold, one epoch, one ablation)."""

import inspect
import json
import re

import pytest

from conftest import copy_recipe, link_synthetic_iemocap, run_recipe


def test_mtl_coattn_iemocap_demo_end_to_end(repo_root, synthetic_iemocap, tiny_hubert, tmp_path):
    recipe = copy_recipe(repo_root, "egs/iemocap/mtl_coattn", tmp_path / "mtl_coattn")
    link_synthetic_iemocap(recipe, synthetic_iemocap)
    args = (
        "--folds",
        "1",
        "--upstream_path",
        str(tiny_hubert),
        "--train_opts",
        "train.max_epochs=1",
        "--ablations",
        "emo_only",
    )
    proc = run_recipe(recipe, *args, env={"IEMOCAP": ""})
    assert "demo mode" in proc.stderr and "SYNTHETIC" in proc.stderr
    for stage in (0, 2, 3, 4):  # stage 1 dumps feature stores, which a fine-tuned upstream does not need
        assert f"stage {stage}:" in proc.stdout
    assert "stage 1:" not in proc.stdout

    exp = recipe / "exp" / "mtl_coattn_hf_hubert_custom"
    fold = exp / "fold1"
    assert (fold / "tokens.txt").read_text().startswith("<blank> 0\n<space> 1\n")
    log = (fold / "train.log").read_text()
    # Class imbalance handling is visible: class counts and SWFC weights per class, per epoch too.
    assert "class counts (train): neu" in log and "SWFC class weights" in log and "swfc_w_neu=" in log
    assert "swfc_eff_neu=" in log  # the effective weight: weight x has-positive
    assert "gate_gender=" in log and "spk_aam=" in log and "ctc=" in log
    history = json.loads((fold / "history.json").read_text())
    assert len(history) == 1 and {"swfc_w_ang", "gate_asr"} <= set(history[0])

    scores = json.loads((fold / "infer_test" / "scores.json").read_text())
    for key in ("macro_f1", "ua", "wa", "gender_acc", "cer"):
        assert 0.0 <= scores[key] <= 1.5, (key, scores[key])  # CER may exceed 1 (insertions)
    # A session's test speakers are one woman and one man: no same-gender non-target trial, so no EER
    # (cross-gender trials measured gender, not identity).
    assert scores["spk_trials"] == "same-gender non-targets" and scores["num_nontarget_trials"] == 0
    assert "spk_eer" not in scores
    assert len(scores["confusion"]) == 4 and sum(map(sum, scores["confusion"])) == scores["num_utts"]
    trials = (fold / "infer_test" / "trials").read_text().splitlines()
    assert len(trials) == scores["num_target_trials"] + scores["num_nontarget_trials"] > 0
    results = (exp / "RESULTS.md").read_text()
    assert "SYNTHETIC" in results and "| full | 1 |" in results and "speaker EER" in results
    assert "| reference \\ predicted | neu | hap | ang | sad |" in results

    ablations = (exp / "ablations" / "RESULTS.md").read_text()
    assert "| full | 1 |" in ablations and "| emo_only | 1 |" in ablations
    emo_only = exp / "ablations" / "emo_only" / "fold1"
    assert "gate_" not in (emo_only / "train.log").read_text()
    assert not (emo_only / "infer_test" / "utt2gender_pred").exists()
    assert (emo_only / "infer_test" / "utt2emo_pred").is_file()

    # Re-running training and inference finds everything done and changes nothing.
    before = (fold / "model.best.pt").stat().st_mtime_ns
    again = run_recipe(recipe, *args, "--stage", "2", "--stop_stage", "3", env={"IEMOCAP": ""})
    assert "is trained for its current inputs; skipping" in again.stdout and "up to date" in again.stdout
    assert (fold / "model.best.pt").stat().st_mtime_ns == before


@pytest.mark.parametrize("config", ["conf/train.yaml", "conf/demo/train.yaml"])
def test_configs_and_ablation_overlays_are_valid(repo_root, config):
    """The real-corpus config never runs in CI: at least its keys must be ones the code takes."""
    from ser.models.mtl_coattn import MTLCoAttn
    from ser.train.experiment import load_run_config
    from ser.train.trainer import TrainConfig

    recipe = repo_root / "egs/iemocap/mtl_coattn"
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
