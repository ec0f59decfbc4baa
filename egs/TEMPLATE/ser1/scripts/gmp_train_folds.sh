#!/usr/bin/env bash
# GMP-ATL: trains one phase for each fold (resuming from its last checkpoint), then optionally
# predicts the fold's test set. Like train_folds.sh, except that "{fold}" in --feats and
# --overrides becomes the fold number: each phase starts from the same fold's previous phase and
# reads that fold's pseudo-labels.
#   scripts/gmp_train_folds.sh --train_config conf/phase2.yaml --scheme session [--folds "1 3"] \
#       [--feats "km64=exp/x/km/fold{fold}/labels_k64.scp ..."] \
#       [--overrides "model.init_from=exp/x/phase1/fold{fold}/model.best.pt ..."] [--infer false] [--parallel 1] <exp-dir>
# --parallel N trains N folds at once (each its own job through --cmd).
# A fold whose training finished is skipped (delete <exp-dir>/fold<k>/.done to train it again);
# predictions are redone only when model.best.pt is newer than them.
set -euo pipefail
train_config=
scheme=session
folds=
feats=
cmd=utils/run.py
overrides=
infer=true
parallel=1
. utils/parse_options.sh
if [ $# -ne 1 ] || [ -z "$train_config" ]; then echo "usage: $0 --train_config conf/x.yaml [options] <exp-dir>" >&2; exit 1; fi
exp=$1
. scripts/folds.sh
set -f  # overrides such as model.scales=[64,512] are words, not glob patterns
ph='{fold}'
one_fold() {
  local k=$1 fd=data/folds/$scheme/fold$1 out=$exp/fold$1 feat_opts set_opts f s
  feat_opts=(); for f in $feats; do feat_opts+=(--feat "${f//"$ph"/$k}"); done
  set_opts=(); for s in $overrides; do set_opts+=(--set "${s//"$ph"/$k}"); done
  if [ -f "$out/.done" ] && [ -f "$out/model.best.pt" ]; then
    echo "$0: $out is trained; skipping (delete $out/.done to train again)"
  else
    echo "$0: training fold $k of $scheme with $train_config into $out (log: $out/train.log)"
    $cmd "$out/train.log" python -m ser.bin.train --config "$train_config" \
      --train-dir "$fd/train" --valid-dir "$fd/valid" --exp-dir "$out" "${feat_opts[@]}" "${set_opts[@]}"
    touch "$out/.done"
  fi
  if [ "$infer" = true ] && ! [ "$out/infer_test/utt2post" -nt "$out/model.best.pt" ]; then
    $cmd "$out/infer_test.log" python -m ser.bin.infer --exp-dir "$out" \
      --data-dir "$fd/test" --out-dir "$out/infer_test" "${feat_opts[@]}"
  fi
}
for_each_fold "$parallel" one_fold
