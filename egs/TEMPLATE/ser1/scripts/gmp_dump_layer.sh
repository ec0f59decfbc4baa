#!/usr/bin/env bash
# GMP-ATL stage 2: for each fold, the frames of one hidden layer of that fold's trained phase-1
# upstream, for every utterance of <data-dir>, in NJ jobs (each resumable) merged into one scp.
#   scripts/gmp_dump_layer.sh --layer -3 [--nj 2] [--cmd utils/run.py] [--scheme session] [--folds "1 3"]
#       [--float16 true] <phase1-exp-dir> <data-dir> <out-root>     -> <out-root>/fold<k>/feats.scp
# A fold is skipped when its feats.scp is newer than the phase-1 model; job outputs older than the
# model are removed before recomputing, so a retrained phase 1 never mixes with an old dump.
set -euo pipefail
layer=-3
nj=2
cmd=utils/run.py
scheme=session
folds=
float16=true
. utils/parse_options.sh
if [ $# -ne 3 ]; then echo "usage: $0 --layer N [options] <phase1-exp-dir> <data-dir> <out-root>" >&2; exit 1; fi
p1=$1; data=$2; root=$3
. scripts/folds.sh
opts=(); [ "$float16" = true ] && opts+=(--float16)
for k in $fold_ids; do
  model=$p1/fold$k/model.best.pt; out=$root/fold$k
  [ -f "$model" ] || { echo "$0: $model not found: run phase 1 (stage 1) first" >&2; exit 1; }
  if [ "$out/feats.scp" -nt "$model" ]; then
    echo "$0: $out/feats.scp is complete; skipping"; continue
  fi
  mkdir -p "$out/log"
  find "$out" -maxdepth 1 -name 'feats.*' ! -newer "$model" -delete
  echo "$0: layer $layer of $p1/fold$k for $data -> $out with $nj jobs (logs: $out/log/dump.*.log)"
  $cmd JOB=1:"$nj" "$out/log/dump.JOB.log" python -m ser.bin.dump_layer --model-dir "$p1/fold$k" \
    --layer "$layer" --data-dir "$data" --out "$out" --nj "$nj" --job JOB "${opts[@]}"
  [ "$nj" -eq 1 ] || python -m ser.bin.dump_layer --out "$out" --nj "$nj" --merge
done
