#!/usr/bin/env bash
# Dumps features of a data dir in NJ parallel jobs (one ark each) and merges their scps.
# Finished jobs are skipped on re-runs, so a killed stage resumes.
#   scripts/dump_feats.sh [--nj 2] [--cmd utils/run.py] [--kind fbank|mfcc|mel|stf|upstream|compare|egemaps]
#       [--upstream NAME] [--upstream_path PATH] [--layers all] [--float16 false]
#       [--device auto] [--batch_seconds S] [--num_threads N] <data-dir> <out-dir>
# --device, --batch_seconds: the upstream's device and padded seconds per batch (default 15 on CPU, 60 on CUDA;
# 0: one by one; see python -m ser.bin.dump_feats --help for which upstreams batch with padding).
# --num_threads: torch threads per job (default: $OMP_NUM_THREADS, else cores / nj); also given to
# $cmd, so utils/slurm.py reserves that many CPUs per job.
set -euo pipefail
nj=2
cmd=utils/run.py
kind=fbank
upstream=
upstream_path=
layers=all
float16=false
device=auto
batch_seconds=
num_threads=
extra=
. utils/parse_options.sh
if [ $# -ne 2 ]; then echo "usage: $0 [options] <data-dir> <out-dir>" >&2; exit 1; fi
data=$1; out=$2
if [ -f "$out/feats.scp" ] && [ "$out/feats.scp" -nt "$data/utt2spk" ]; then
  echo "$0: $out/feats.scp is complete; skipping (delete it to recompute)"; exit 0
fi
mkdir -p "$out/log"
opts=(--data-dir "$data" --out "$out" --kind "$kind" --nj "$nj" --layers="$layers" --device "$device")
[ -n "$upstream" ] && opts+=(--upstream "$upstream")
[ -n "$upstream_path" ] && opts+=(--upstream-path "$upstream_path")
[ "$float16" = true ] && opts+=(--float16)
[ -n "$batch_seconds" ] && opts+=(--batch-seconds "$batch_seconds")
cmd_opts=()
if [ -n "$num_threads" ]; then opts+=(--num-threads "$num_threads"); cmd_opts+=(--num-threads "$num_threads"); fi
echo "$0: dumping $kind features of $data into $out with $nj jobs (logs: $out/log/dump.*.log)"
# shellcheck disable=SC2086
$cmd ${cmd_opts[@]+"${cmd_opts[@]}"} JOB=1:"$nj" "$out/log/dump.JOB.log" python -m ser.bin.dump_feats "${opts[@]}" --job JOB $extra
python -m ser.bin.dump_feats --data-dir "$data" --out "$out" --nj "$nj" --merge
