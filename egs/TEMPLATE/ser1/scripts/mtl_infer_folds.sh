#!/usr/bin/env bash
# Multi-task recipes (mtl_coattn): predicts each fold's test set with every task's head
# (ser.bin.infer_mtl: emotion, gender, speaker embeddings, CTC transcripts). Predictions are
# redone only when model.best.pt is newer than them.
#   scripts/mtl_infer_folds.sh --scheme session [--folds "1 3"] [--cmd utils/run.py] <exp-dir>
set -euo pipefail
scheme=session
folds=
cmd=utils/run.py
. utils/parse_options.sh
if [ $# -ne 1 ]; then echo "usage: $0 [options] <exp-dir>" >&2; exit 1; fi
exp=$1
. scripts/folds.sh
for k in $fold_ids; do
  out=$exp/fold$k
  if [ "$out/infer_test/utt2post" -nt "$out/model.best.pt" ]; then
    echo "$0: $out/infer_test is up to date"; continue
  fi
  echo "$0: predicting data/folds/$scheme/fold$k/test -> $out/infer_test (log: $out/infer_test.log)"
  $cmd "$out/infer_test.log" python -m ser.bin.infer_mtl --exp-dir "$out" \
    --data-dir "data/folds/$scheme/fold$k/test" --out-dir "$out/infer_test"
done
