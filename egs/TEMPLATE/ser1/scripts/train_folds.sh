#!/usr/bin/env bash
# Trains one system per fold (resuming from checkpoints), then predicts its test set.
#   scripts/train_folds.sh --train_config conf/train.yaml --scheme session [--folds "1 3"]
#       [--feats "ssl=dump/x/feats.scp"] [--cmd utils/run.py] [--overrides "train.lr=1e-3 model.dropout=0.1"] <exp-dir>
set -euo pipefail
train_config=
scheme=session
folds=
feats=
cmd=utils/run.py
overrides=
infer=true
. utils/parse_options.sh
if [ $# -ne 1 ] || [ -z "$train_config" ]; then echo "usage: $0 --train_config conf/x.yaml [options] <exp-dir>" >&2; exit 1; fi
exp=$1
. scripts/folds.sh
feat_opts=(); for f in $feats; do feat_opts+=(--feat "$f"); done
set_opts=(); for s in $overrides; do set_opts+=(--set "$s"); done
for k in $fold_ids; do
  fd=data/folds/$scheme/fold$k
  echo "$0: training fold $k of $scheme into $exp/fold$k (log: $exp/fold$k/train.log)"
  $cmd "$exp/fold$k/train.log" python -m ser.bin.train --config "$train_config" \
    --train-dir "$fd/train" --valid-dir "$fd/valid" --exp-dir "$exp/fold$k" "${feat_opts[@]}" "${set_opts[@]}"
  if [ "$infer" = true ]; then
    $cmd "$exp/fold$k/infer_test.log" python -m ser.bin.infer --exp-dir "$exp/fold$k" \
      --data-dir "$fd/test" --out-dir "$exp/fold$k/infer_test" "${feat_opts[@]}"
  fi
done
