#!/usr/bin/env bash
# Predicts each fold's test set with the fold's trained model (<exp-dir>/fold<k>/model.best.pt) and
# every output it gives (ser.bin.infer). Predictions are redone only when the model or the test
# inputs changed since they were made (infer_test/.done, scripts/stamp.sh).
#   scripts/infer_folds.sh --scheme session [--folds "1 3"] [--feats "ssl=dump/x/feats.scp"]
#       [--feats_hint "stage 1"] [--cmd utils/run.py] [--sets "test valid"] <exp-dir>
# --sets: the fold subsets predicted, each into <exp-dir>/fold<k>/infer_<set> (default: test).
set -euo pipefail
scheme=session
folds=
feats=
feats_hint="the feature-dumping stage"
cmd=utils/run.py
sets="test"
. utils/parse_options.sh
if [ $# -ne 1 ]; then echo "usage: $0 [options] <exp-dir>" >&2; exit 1; fi
exp=$1
. scripts/folds.sh
. scripts/stamp.sh
exp_scheme "$exp"
ph='{fold}'
for k in $fold_ids; do
  out=$exp/fold$k; fd=data/folds/$scheme/fold$k
  feat_opts=(--feat-hint "$feats_hint"); for f in $feats; do feat_opts+=(--feat "${f//"$ph"/$k}"); done
  data_dirs=("$fd/test")
  [ -f "$out/model.best.pt" ] || { echo "$0: $out/model.best.pt not found: run the training stage first" >&2; exit 1; }
  stamp=$(input_stamp "$out/model.best.pt" "${feat_opts[@]}")
  for set in $sets; do
    if same_stamp "$out/infer_$set/.done" "$stamp"; then echo "$0: $out/infer_$set is up to date"; continue; fi
    echo "$0: predicting $fd/$set -> $out/infer_$set (log: $out/infer_$set.log)"
    $cmd "$out/infer_$set.log" python -m ser.bin.infer --exp-dir "$out" \
      --data-dir "$fd/$set" --out-dir "$out/infer_$set" "${feat_opts[@]}"
    printf '%s\n' "$stamp" > "$out/infer_$set/.done"
  done
done
