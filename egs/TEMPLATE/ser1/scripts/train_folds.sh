#!/usr/bin/env bash
# Trains one system per fold (resuming from checkpoints), then predicts its test set.
#   scripts/train_folds.sh --train_config conf/train.yaml --scheme session [--folds "1 3"]
#       [--feats "ssl=dump/x/feats.scp"] [--cmd utils/run.py] [--overrides "train.lr=1e-3 model.dropout=0.1"]
#       [--parallel 2] [--train_on_valid false] <exp-dir>
# --parallel N trains N folds at once (each its own job through --cmd); a failed fold fails the script.
# --train_on_valid true trains on train + valid (both are training speakers of the fold), e.g. with
# train.select_metric=last, as corpora without a validation split (EmoBox) are used; valid stays the
# set the training log scores each epoch.
set -euo pipefail
train_config=
scheme=session
folds=
feats=
cmd=utils/run.py
overrides=
infer=true
parallel=1
train_on_valid=false
. utils/parse_options.sh
if [ $# -ne 1 ] || [ -z "$train_config" ]; then echo "usage: $0 --train_config conf/x.yaml [options] <exp-dir>" >&2; exit 1; fi
exp=$1
. scripts/folds.sh
feat_opts=(); for f in $feats; do feat_opts+=(--feat "$f"); done
set_opts=(); for s in $overrides; do set_opts+=(--set "$s"); done
one_fold() {
  local k=$1 fd=data/folds/$scheme/fold$1 train=data/folds/$scheme/fold$1/train
  if [ "$train_on_valid" = true ]; then
    train=$exp/fold$k/data_train_valid
    [ -f "$train/spk2utt" ] || utils/combine_data.py "$train" "$fd/train" "$fd/valid"
  fi
  echo "$0: training fold $k of $scheme on $train into $exp/fold$k (log: $exp/fold$k/train.log)"
  $cmd "$exp/fold$k/train.log" python -m ser.bin.train --config "$train_config" \
    --train-dir "$train" --valid-dir "$fd/valid" --exp-dir "$exp/fold$k" "${feat_opts[@]}" "${set_opts[@]}"
  if [ "$infer" = true ]; then
    $cmd "$exp/fold$k/infer_test.log" python -m ser.bin.infer --exp-dir "$exp/fold$k" \
      --data-dir "$fd/test" --out-dir "$exp/fold$k/infer_test" "${feat_opts[@]}"
  fi
}
for_each_fold "$parallel" one_fold
