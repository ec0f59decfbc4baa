#!/usr/bin/env bash
# Predicts each fold's test set with the fold's trained model (exp/fold<k>/model.best.pt).
#   scripts/infer_folds.sh --scheme session [--folds "1 3"] [--feats "ssl=dump/x/feats.scp"]
#       [--cmd utils/run.py] <exp-dir>
set -euo pipefail
scheme=session
folds=
feats=
cmd=utils/run.py
. utils/parse_options.sh
if [ $# -ne 1 ]; then echo "usage: $0 [options] <exp-dir>" >&2; exit 1; fi
exp=$1
. scripts/folds.sh
feat_opts=(); for f in $feats; do feat_opts+=(--feat "$f"); done
for k in $fold_ids; do
  echo "$0: predicting data/folds/$scheme/fold$k/test -> $exp/fold$k/infer_test (log: $exp/fold$k/infer_test.log)"
  $cmd "$exp/fold$k/infer_test.log" python -m ser.bin.infer --exp-dir "$exp/fold$k" \
    --data-dir "data/folds/$scheme/fold$k/test" --out-dir "$exp/fold$k/infer_test" "${feat_opts[@]}"
done
