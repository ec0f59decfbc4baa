"""egs/iemocap/gmp_atl end to end on the built-in corpus (fold 1): pseudo-labels aligned with the
upstream's frames, k-means blind to held-out speakers, phase 2 resumed after a kill, RESULTS.md."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ser.data.datadir import DataDir
from ser.features.store import FeatReader, FeatWriter

from conftest import copy_recipe, link_synthetic_iemocap, run_recipe

EXP = "exp/gmp_atl_hf_hubert_custom"
DUMP = "dump/gmp_atl_hf_hubert_custom/L-3/fold1"
SCALES = (8, 16, 32)


def recipe_env():
    return {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def kill_when(recipe: Path, args, marker: Path, timeout=300):
    """Starts run.sh, kills its whole process group as soon as `marker` exists (an interruption)."""
    proc = subprocess.Popen(
        ["bash", "run.sh", *args],
        cwd=recipe,
        env={**os.environ, **recipe_env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    start = time.time()
    try:
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(f"run.sh {args} ended ({proc.returncode}) before {marker} appeared")
            if time.time() - start > timeout:
                raise AssertionError(f"{marker} did not appear in {timeout} s")
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def check_labels_align_with_upstream_frames(recipe: Path):
    """Every label store has one label per s3prl frame of every utterance, as many as the dump and as
    the phase-1 upstream itself produces; labels are inside 0..K-1."""
    import torch

    from ser.data.audio import load_audio
    from ser.features.layer_dump import trained_upstream

    data = DataDir.load(recipe / "data/all")
    dump = FeatReader(recipe / DUMP / "feats.scp")
    stores = {k: FeatReader(recipe / EXP / f"L-3/km/fold1/labels_k{k}.scp") for k in SCALES}
    up = trained_upstream(recipe / EXP / "phase1/fold1", "cpu")
    wav_scp = data.get("wav.scp")
    for i, utt in enumerate(data.utts):
        wav = load_audio(wav_scp[utt], utt=utt)
        expected = (len(wav) - 1) // 320 + 1
        assert dump[utt].shape[0] == expected, utt
        for k, store in stores.items():
            labels = store[utt]
            assert labels.ndim == 1 and labels.dtype.kind in "iu", (utt, labels.dtype)
            assert labels.shape[0] == expected, (utt, k, labels.shape, expected)
            assert labels.min() >= 0 and labels.max() < k
        if i < 5:  # the upstream, run on the utterance, gives that many frames too
            with torch.no_grad():
                hs, lens = up(torch.from_numpy(wav)[None], torch.tensor([len(wav)]))
            assert hs[2].shape[1] == expected and int(lens[0]) == expected
    usage = {k: len(np.unique(np.concatenate([stores[k][u] for u in data.utts]))) for k in SCALES}
    assert all(usage[k] > 1 for k in SCALES), usage


def check_kmeans_never_sees_held_out_speakers(recipe: Path, tmp_path: Path):
    """Poisons the frames of fold 1's valid and test utterances with huge values and runs stage 3's
    script on that dump: the codebooks must stay in the range of the training frames."""
    fold = recipe / "data/folds/session/fold1"
    held_out = set(DataDir.load(fold / "test").utts) | set(DataDir.load(fold / "valid").utts)
    train = set(DataDir.load(fold / "train").utts)
    assert held_out and train and not held_out & train
    real = FeatReader(recipe / DUMP / "feats.scp")
    poisoned_root = tmp_path / "poisoned_dump"
    with FeatWriter(poisoned_root / "fold1" / "feats") as write:
        for utt in real.keys():
            x = real[utt]
            write(utt, x + 1e4 if utt in held_out else x)
    train_max = max(float(np.abs(real[u]).max()) for u in train)
    out = tmp_path / "poisoned_km"
    subprocess.run(
        [
            "bash",
            "-c",
            f". ./path.sh && gmp/kmeans.sh --ks 8,16 --max_fit_frames 20000 --folds 1 {poisoned_root} {out}",
        ],
        cwd=recipe,
        env={**os.environ, **recipe_env()},
        check=True,
        capture_output=True,
    )
    for k in (8, 16):
        with np.load(out / "fold1" / f"km_k{k}.npz") as z:
            centroids = z["centroids"]
        assert centroids.shape[0] == k
        assert float(np.abs(centroids).max()) <= train_max + 1e-3, "a held-out frame entered the k-means fit"
        labels = FeatReader(out / "fold1" / f"labels_k{k}.scp")
        assert set(labels.keys()) == set(real.keys())  # yet every utterance is labelled


def test_gmp_atl_demo_end_to_end(repo_root, synthetic_iemocap, tmp_path):
    recipe = copy_recipe(repo_root, "egs/iemocap/gmp_atl", tmp_path / "gmp_atl")
    link_synthetic_iemocap(recipe, synthetic_iemocap)
    exp = recipe / EXP

    proc = run_recipe(recipe, "--folds", "1", "--stop_stage", "3")
    assert "demo mode" in proc.stderr and "SYNTHETIC" in proc.stderr
    assert (recipe / "downloads/tiny_hubert/config.json").is_file()
    check_labels_align_with_upstream_frames(recipe)
    log = (exp / "L-3/km/fold1/kmeans.log").read_text()
    assert "fold1/train" in log and "cluster usage" in log
    fit = json.loads((exp / "L-3/km/fold1/fit_info.json").read_text())
    train_spks = set(DataDir.load(recipe / "data/folds/session/fold1/train").utt2spk.values())
    assert set(fit["fit_speakers"]) == train_spks
    check_kmeans_never_sees_held_out_speakers(recipe, tmp_path)

    # Stage 4 killed right after its first epoch's checkpoint; the re-run resumes from it.
    phase2 = exp / "L-3/phase2/fold1"
    kill_when(recipe, ["--folds", "1", "--stage", "4"], phase2 / "checkpoint.last.pt")
    assert not (phase2 / ".done").exists()
    run_recipe(recipe, "--folds", "1", "--stage", "4")
    resumed = re.search(r"resuming \S+ from epoch (\d+)", (phase2 / "train.log").read_text())
    assert resumed and int(resumed.group(1)) >= 1, "phase 2 did not resume from its checkpoint"
    history = json.loads((phase2 / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert all("loss" in h["valid"] and "acc_k8" in h["train"] for h in history)

    phase3 = exp / "L-3/phase3/fold1"
    cfg = (phase3 / "config.yaml").read_text()
    assert "L-3/phase2/fold1/model.best.pt" in cfg and "loss: am" in cfg
    scores = json.loads((phase3 / "infer_test/scores.json").read_text())
    assert 0.0 <= scores["ua"] <= 1.0 and 0.0 <= scores["wa"] <= 1.0
    results = (exp / "RESULTS.md").read_text()
    assert "gmp_atl_L-3" in results and "phase1_only" in results
    assert "SYNTHETIC" in results and "run.sh" in results


def test_unknown_ablation_is_refused_before_any_stage(repo_root, tmp_path):
    recipe = copy_recipe(repo_root, "egs/iemocap/gmp_atl", tmp_path / "gmp_atl")
    run_recipe(recipe, "--stage", "99", "--ablations", "no_gmp ce no_gmp_ce layer-1 layer-8")
    proc = subprocess.run(
        ["bash", "run.sh", "--stage", "99", "--ablations", "no_gmp bogus"],
        cwd=recipe,
        env={**os.environ, **recipe_env()},
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "unknown ablation 'bogus'" in proc.stderr
