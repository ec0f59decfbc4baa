#!/usr/bin/env bash
# Multi-task recipes (mtl_coattn): trains one system per fold with ser.bin.train_mtl, which builds
# the fold's CTC character vocabulary from its training transcripts and resumes from checkpoints.
# With --infer true the fold's test set is predicted in the same process (used by the ablations);
# otherwise scripts/mtl_infer_folds.sh does it.
#   scripts/mtl_train_folds.sh --train_config conf/train.yaml --scheme session [--folds "1 3"]
#       [--train_set train] [--overlay conf/tuning/no_swfc.yaml] [--overrides "model.upstream=x ..."]
#       [--infer false] [--cmd utils/run.py] <exp-dir>
# A fold whose training finished is skipped (delete <exp-dir>/fold<k>/.done to train it again).
set -euo pipefail
train_config=
scheme=session
folds=
train_set=train   # train_sp after stage 1's speed perturbation
overlay=
overrides=
infer=false
cmd=utils/run.py
. utils/parse_options.sh
if [ $# -ne 1 ] || [ -z "$train_config" ]; then echo "usage: $0 --train_config conf/x.yaml [options] <exp-dir>" >&2; exit 1; fi
exp=$1
. scripts/folds.sh
opts=(--config "$train_config")
[ -n "$overlay" ] && opts+=(--overlay "$overlay")
for s in $overrides; do opts+=(--set "$s"); done
for k in $fold_ids; do
  fd=data/folds/$scheme/fold$k
  out=$exp/fold$k
  [ -d "$fd/$train_set" ] || { echo "$0: $fd/$train_set not found (run stage 0, and stage 1 for train_sp)" >&2; exit 1; }
  infer_opts=()
  if [ "$infer" = true ] && ! [ "$out/infer_test/utt2post" -nt "$out/model.best.pt" ]; then
    infer_opts=(--infer-data "$fd/test" --infer-out "$out/infer_test")
  fi
  if [ -f "$out/.done" ] && [ -f "$out/model.best.pt" ] && [ ${#infer_opts[@]} -eq 0 ]; then
    echo "$0: $out is trained; skipping (delete $out/.done to train again)"
    continue
  fi
  echo "$0: training fold $k of $scheme${overlay:+ with $overlay} into $out (log: $out/train.log)"
  $cmd "$out/train.log" python -m ser.bin.train_mtl "${opts[@]}" --train-dir "$fd/$train_set" \
    --valid-dir "$fd/valid" --exp-dir "$out" "${infer_opts[@]}"
  touch "$out/.done"
done
