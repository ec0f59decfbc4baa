"""gmp/kmeans.sh's bookkeeping, with a fake job launcher in place of ser.bin.kmeans: --parallel fits
folds at once, every fold's dump is checked before any fit starts, and labelled folds are skipped."""

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

# Stands in for utils/run.py + ser.bin.kmeans: logs when each fold's job starts and ends, writes labels.
FAKE_CMD = """#!/usr/bin/env bash
log=$1; shift
while [ $# -gt 0 ]; do case $1 in --out) out=$2; shift;; --ks) ks=$2; shift;; esac; shift; done
fold=$(basename "$out")
echo "start $fold" >> "$CALLS"
sleep 1
mkdir -p "$out"
for K in ${ks//,/ }; do echo "labels" > "$out/labels_k$K.scp"; done
echo "end $fold" >> "$CALLS"
"""


def run_kmeans(root: Path, *opts):
    env = {**os.environ, "CALLS": str(root / "calls")}
    cmd = ["bash", "gmp/kmeans.sh", "--ks", "4,8", "--cmd", str(root / "fake_cmd.sh"), "--scheme", "s", *opts]
    return subprocess.run([*cmd, "dump", "km"], cwd=root, env=env, capture_output=True, text=True)


def make_tree(root: Path, folds=(1, 2)):
    (root / "utils").symlink_to(REPO / "tools/utils")
    (root / "scripts").symlink_to(REPO / "egs/TEMPLATE/ser1/scripts")
    (root / "gmp").symlink_to(REPO / "egs/TEMPLATE/ser1/gmp_atl")
    (root / "fake_cmd.sh").write_text(FAKE_CMD)
    (root / "fake_cmd.sh").chmod(0o755)
    for k in folds:
        (root / f"data/folds/s/fold{k}/train").mkdir(parents=True)
        (root / f"dump/fold{k}").mkdir(parents=True)
        (root / f"dump/fold{k}/feats.scp").write_text("u1 x.ark:1\n")


def test_parallel_folds_overlap_and_labelled_folds_are_skipped(tmp_path):
    make_tree(tmp_path)
    proc = run_kmeans(tmp_path, "--parallel", "2")
    assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / "calls").read_text().split("\n")
    assert calls.index("start fold2") < calls.index("end fold1"), calls  # both folds ran at once
    assert all((tmp_path / f"km/fold{k}/labels_k{K}.scp").is_file() for k in (1, 2) for K in (4, 8))
    (tmp_path / "calls").unlink()
    proc = run_kmeans(tmp_path, "--parallel", "2")
    assert proc.returncode == 0 and not (tmp_path / "calls").exists()
    assert "km/fold1 has labels for k = 4,8; skipping" in proc.stdout


def test_one_at_a_time_by_default(tmp_path):
    make_tree(tmp_path)
    assert run_kmeans(tmp_path).returncode == 0
    calls = (tmp_path / "calls").read_text().split()
    assert calls == ["start", "fold1", "end", "fold1", "start", "fold2", "end", "fold2"]


def test_a_missing_dump_fails_before_any_fit(tmp_path):
    make_tree(tmp_path, folds=(1,))
    (tmp_path / "data/folds/s/fold2/train").mkdir(parents=True)
    proc = run_kmeans(tmp_path, "--parallel", "2")
    assert proc.returncode != 0 and "dump/fold2/feats.scp not found: run the layer dump (stage 2) first" in proc.stderr
    assert not (tmp_path / "calls").exists()
