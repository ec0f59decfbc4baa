#!/usr/bin/env bash
# GMP-ATL stage 2: for each fold, the frames of one hidden layer of that fold's trained phase-1
# upstream, for every utterance of <data-dir>, in NJ jobs (each resumable) merged into one scp.
#   gmp/dump_layer.sh --layer -3 [--nj 2] [--cmd utils/run.py] [--scheme session] [--folds "1 3"]
#       [--float16 true] [--layer_norm false] [--frozen dump/x/frozen_top2/feats.scp] <phase1-exp-dir> <data-dir> <out-root>
#       -> <out-root>/fold<k>/feats.scp
# --frozen: the frozen-layer cache a partially fine-tuned phase 1 was trained on; the dump then runs
# only the trainable layers from it, exactly as training did. --layer_norm true normalises each frame
# (no affine) before storing it: k-means then sees what HuBERT's post-LN layers give, also for a
# pre-LN encoder such as Whisper, whose residual stream has a few dimensions hundreds of times
# larger than the rest.
# A fold is skipped when its feats.scp is newer than the phase-1 model (and the cache) and was made
# with the same options (<out>/.opts); job outputs older than them, or made with other options, are
# removed before recomputing, so a retrained phase 1 never mixes with an old dump.
set -euo pipefail
layer=-3
nj=2
cmd=utils/run.py
scheme=session
folds=
float16=true
layer_norm=false
frozen=
. utils/parse_options.sh
if [ $# -ne 3 ]; then echo "usage: $0 --layer N [options] <phase1-exp-dir> <data-dir> <out-root>" >&2; exit 1; fi
p1=$1; data=$2; root=$3
. scripts/folds.sh
opts=(); [ "$float16" = true ] && opts+=(--float16)
[ "$layer_norm" = true ] && opts+=(--layer-norm)
[ -z "$frozen" ] || opts+=(--feat "frozen=$frozen")
for k in $fold_ids; do
  model=$p1/fold$k/model.best.pt; out=$root/fold$k
  [ -f "$model" ] || { echo "$0: $model not found: run phase 1 (stage 1) first" >&2; exit 1; }
  newest=$model; [ -z "$frozen" ] || [ "$model" -nt "$frozen" ] || newest=$frozen
  stamp="layer=$layer layer_norm=$layer_norm float16=$float16 frozen=$frozen data=$data"
  if [ "$out/feats.scp" -nt "$newest" ] && [ "$(cat "$out/.opts" 2>/dev/null)" = "$stamp" ]; then
    echo "$0: $out/feats.scp is complete; skipping"; continue
  fi
  mkdir -p "$out/log"
  if [ "$(cat "$out/.opts" 2>/dev/null)" = "$stamp" ]; then
    find "$out" -maxdepth 1 -name 'feats.*' ! -newer "$newest" -delete
  else  # other options: no job output of the earlier dump may be reused
    find "$out" -maxdepth 1 -name 'feats.*' -delete
    echo "$stamp" > "$out/.opts"
  fi
  echo "$0: layer $layer of $p1/fold$k for $data -> $out with $nj jobs (logs: $out/log/dump.*.log)"
  $cmd JOB=1:"$nj" "$out/log/dump.JOB.log" python -m ser.bin.dump_layer --model-dir "$p1/fold$k" \
    --layer "$layer" --data-dir "$data" --out "$out" --nj "$nj" --job JOB "${opts[@]}"
  [ "$nj" -eq 1 ] || python -m ser.bin.dump_layer --out "$out" --nj "$nj" --merge
done
