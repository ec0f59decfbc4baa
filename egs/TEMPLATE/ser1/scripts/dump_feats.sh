#!/usr/bin/env bash
# Dumps features of a data dir in NJ parallel jobs (one ark each) and merges their scps.
# The store is made for its inputs (scripts/stamp.sh store_stamp: the data dir's utterances and
# audio, kind, upstream, its checkpoint, layers, options): skipped when <out>/.done matches them,
# redone (job outputs included) when they changed; a killed dump of the same inputs resumes its
# finished jobs.
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
if [ "$kind" != upstream ] && { [ -n "$upstream" ] || [ -n "$upstream_path" ]; }; then
  echo "$0: --upstream/--upstream_path are for --kind upstream, not $kind" >&2; exit 1
fi
if ! [[ $nj =~ ^[1-9][0-9]*$ ]]; then echo "$0: --nj '$nj' is not a positive number" >&2; exit 1; fi
. "$(dirname "$0")/stamp.sh"
store_begin "$out" "$(store_stamp "$data" "wav.scp segments utt2spk" "$upstream_path" kind="$kind" \
  upstream="$upstream" upstream_path="$upstream_path" layers="$layers" float16="$float16" nj="$nj" \
  batch_seconds="$batch_seconds" extra="$extra")"
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
store_end "$out"
