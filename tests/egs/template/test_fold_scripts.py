"""The fold scripts' bookkeeping (train_folds.sh, score_folds.sh): a fold is trained for its inputs
(retraining after its .done is deleted, training again from the start when an input changed, resuming an
interrupted run), the trainer's restart of a finished run, and scoring only the asked folds."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[3]

FAKE_CMD = """#!/usr/bin/env bash
# Stands in for utils/run.py: records the command, then fakes what training or inference writes.
log=$1; shift
echo "$*" >> "$CALLS"
[ -z "${FAIL:-}" ] || exit 1
while [ $# -gt 0 ]; do case $1 in --exp-dir) exp=$2; shift;; --out-dir) out=$2; shift;; esac; shift; done
if [ -n "${out:-}" ]; then mkdir -p "$out"; echo post > "$out/utt2post"
else mkdir -p "$exp"; echo "model $RANDOM $RANDOM" > "$exp/model.best.pt"; fi
"""


@pytest.fixture
def recipe(tmp_path):
    """A recipe dir with the shared scripts, one fold of data and the inputs a phase reads."""
    (tmp_path / "utils").symlink_to(REPO / "tools/utils")
    (tmp_path / "scripts").symlink_to(REPO / "egs/TEMPLATE/ser1/scripts")
    for split in ("train", "valid", "test"):
        d = tmp_path / "data/folds/s/fold1" / split
        d.mkdir(parents=True)
        (d / "utt2emo").write_text(f"{split}_a neu\n{split}_b ang\n")
    (tmp_path / "conf.yaml").write_text("model: {name: x}\n")
    (tmp_path / "init.pt").write_text("phase 1 model\n")
    (tmp_path / "labels.ark").write_text("lab0123456789\n")
    (tmp_path / "labels.scp").write_text(f"train_a {tmp_path / 'labels.ark'}:4\n")
    (tmp_path / "fake_cmd.sh").write_text(FAKE_CMD)
    (tmp_path / "fake_cmd.sh").chmod(0o755)
    return tmp_path


def train_folds(recipe: Path, fail=False):
    """Runs train_folds.sh for fold 1; returns the commands it ran ("train"/"infer" + options)."""
    calls = recipe / "calls"
    calls.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # stamps digest audio in Python
        "PYTHONPATH": str(REPO),
        "CALLS": str(calls),
        **({"FAIL": "1"} if fail else {}),
    }
    proc = subprocess.run(
        [
            "bash",
            "scripts/train_folds.sh",
            "--train_config",
            "conf.yaml",
            "--scheme",
            "s",
            "--folds",
            "1",
            "--cmd",
            "./fake_cmd.sh",
            "--feats",
            "km8=labels.scp",
            "--overrides",
            "model.init_from=init.pt model.k=[8]",
            "exp/phase",
        ],
        cwd=recipe,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode != 0) == fail, proc.stderr
    lines = calls.read_text().splitlines() if calls.is_file() else []
    return [("infer" if "ser.bin.infer" in c else "train", c) for c in lines]


def modes(calls):
    """How each training call was asked to treat an earlier run."""
    return [
        next(o for o in ("--restart-finished", "--no-resume") if o in c) if kind == "train" else "infer"
        for kind, c in calls
    ]


def test_a_fold_trains_again_only_when_asked_or_when_its_inputs_changed(recipe):
    fold = recipe / "exp/phase/fold1"
    assert modes(train_folds(recipe)) == ["--restart-finished", "infer"]  # a new fold
    assert train_folds(recipe) == []  # trained for these inputs: nothing to do
    assert "init.pt" in (fold / ".done").read_text() and "labels.ark" in (fold / ".done").read_text()

    (fold / ".done").unlink()  # the user asks for a retrain: a finished run must not just "resume"
    assert modes(train_folds(recipe)) == ["--restart-finished", "infer"]  # new model -> new predictions

    (recipe / "init.pt").write_text("a retrained phase 1\n")  # the previous phase changed
    assert modes(train_folds(recipe)) == ["--no-resume", "infer"]
    assert train_folds(recipe) == []

    (recipe / "labels.ark").write_text("lab9876543210\n")  # new labels, same scp bytes
    assert modes(train_folds(recipe)) == ["--no-resume", "infer"]
    (recipe / "data/folds/s/fold1/train/utt2emo").write_text("train_a sad\ntrain_b ang\n")  # new utterance labels
    assert modes(train_folds(recipe)) == ["--no-resume", "infer"]
    (recipe / "data/folds/s/fold1/test/utt2emo").write_text("test_a sad\ntest_b ang\n")  # new test set: predict again
    assert modes(train_folds(recipe)) == ["infer"]


def test_an_interrupted_fold_resumes_unless_its_inputs_changed(recipe):
    fold = recipe / "exp/phase/fold1"
    assert modes(train_folds(recipe, fail=True)) == ["--restart-finished"]  # killed: no .done
    assert not (fold / ".done").exists() and (fold / ".inputs").is_file()
    assert modes(train_folds(recipe)) == ["--restart-finished", "infer"]  # same inputs: the trainer resumes
    (fold / ".done").unlink()
    train_folds(recipe, fail=True)
    (recipe / "conf.yaml").write_text("model: {name: y}\n")  # changed while interrupted
    assert modes(train_folds(recipe)) == ["--no-resume", "infer"]


def with_audio(recipe: Path) -> Path:
    """The fold's training set names one audio file, returned."""
    wav = recipe / "corpus/a.wav"
    wav.parent.mkdir()
    wav.write_bytes(b"RIFF audio one")
    (recipe / "data/folds/s/fold1/train/wav.scp").write_text(f"train_a {wav}\n")
    return wav


def test_audio_counts_by_content_so_a_corpus_copied_again_retrains_nothing(recipe):
    wav = with_audio(recipe)
    assert modes(train_folds(recipe)) == ["--restart-finished", "infer"]
    os.utime(wav, (1, 1))  # the corpus copied again: the same audio, new times (this retrained every fold)
    assert train_folds(recipe) == []
    wav.write_bytes(b"RIFF audio two")  # a fixed file keeps its name and size
    assert modes(train_folds(recipe)) == ["--no-resume", "infer"]


def test_a_record_of_audio_times_is_kept_once_when_paths_and_sizes_agree(recipe):
    wav = with_audio(recipe)
    train_folds(recipe)
    done = recipe / "exp/phase/fold1/.done"
    recorded = done.read_text()
    assert f"{wav} 14 md5:" in recorded
    as_before = re.sub(r" md5:[0-9a-f]{32}$", " 1796557845.741363006", recorded, flags=re.M)  # the old format
    done.write_text(as_before)
    assert train_folds(recipe) == []
    assert done.read_text() == recorded  # recorded anew: the leniency applies once

    done.write_text(as_before.replace(f"{wav} 14 ", f"{wav} 15 "))  # another size is another file
    assert modes(train_folds(recipe)) == ["--no-resume", "infer"]


class ToySet(torch.utils.data.Dataset):
    def __init__(self, n=8):
        self.n = n

    def lengths(self):
        return [3] * self.n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"utt": f"u{i}", "x": np.full((3, 2), float(i % 2), dtype=np.float32), "emo": i % 2}


class ToyModel(nn.Module):
    def __init__(self, fail_at_epoch=None):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.fail_at_epoch = fail_at_epoch

    def on_epoch_start(self, epoch, history):
        if epoch == self.fail_at_epoch:
            raise KeyboardInterrupt  # a kill in the middle of the run

    def forward(self, batch):
        return {"loss": nn.functional.cross_entropy(self.lin(batch["x"].mean(1)), batch["emo"])}

    def predict(self, batch):
        return {"emo_logits": self.lin(batch["x"].mean(1))}


def test_trainer_restarts_a_finished_run_only_when_asked_and_resumes_an_interrupted_one(tmp_path):
    from ser.train.trainer import TrainConfig, Trainer

    conf = TrainConfig(max_epochs=2, batch_size=4, lr=1e-2, device="cpu")
    exp = tmp_path / "exp"
    Trainer(ToyModel(), conf, exp, 2).fit(ToySet(), ToySet())
    ckpt = exp / "checkpoint.last.pt"
    first = ckpt.stat().st_mtime_ns
    state = Trainer(ToyModel(), conf, exp, 2).fit(ToySet(), ToySet())  # plain resume of a finished run
    assert state["done"] and ckpt.stat().st_mtime_ns == first
    state = Trainer(ToyModel(), conf, exp, 2).fit(ToySet(), ToySet(), restart_finished=True)
    assert state["done"] and ckpt.stat().st_mtime_ns != first
    assert [h["epoch"] for h in json.loads((exp / "history.json").read_text())] == [1, 2]

    other = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        Trainer(ToyModel(fail_at_epoch=2), conf, other, 2).fit(ToySet(), ToySet())
    assert torch.load(other / "checkpoint.last.pt", weights_only=False)["state"]["epoch"] == 1
    state = Trainer(ToyModel(), conf, other, 2).fit(ToySet(), ToySet(), restart_finished=True)
    assert state["epoch"] == 2 and [h["epoch"] for h in state["history"]] == [1, 2]  # resumed, not restarted


def test_score_folds_scores_only_the_asked_folds(recipe):
    classes = "neu,ang"
    for k in (1, 2, 3):
        for split in ("test",):
            d = recipe / f"data/folds/s/fold{k}/{split}"
            d.mkdir(parents=True, exist_ok=True)
            (d / "utt2emo").write_text("a neu\nb ang\n")
            (d / "utt2spk").write_text("a s\nb s\n")
        pred = recipe / f"exp/sys/fold{k}/infer_test"
        pred.mkdir(parents=True)
        (pred / "utt2emo_pred").write_text("a neu\nb ang\n" if k != 2 else "a ang\nb neu\n")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [
            "bash",
            "scripts/score_folds.sh",
            "--scheme",
            "s",
            "--folds",
            "1 3",
            "--classes",
            classes,
            "--out",
            "RESULTS.md",
            "sys=exp/sys",
        ],
        cwd=recipe,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    results = (recipe / "RESULTS.md").read_text()
    assert "| sys | 2 | 100.00 |" in results and "fold2" not in results
    assert not (recipe / "exp/sys/fold2/infer_test/scores.json").exists()
