#!/usr/bin/env bash
# A scikit-learn classifier on utterance-level features (ser.bin.train_sklearn) for every fold,
# trained on its train + valid speakers, predicting its test speakers. A finished fold is skipped.
#   scripts/train_sklearn_folds.sh --feats dump/compare/feats.scp --scheme emobox --classes a,b,c
#       [--folds "1 3"] [--classifier logreg] [--speaker_norm false] [--speed_copies 0.9,1.1] [--parallel 2]
#       [--pool_layers 3] [--cmd utils/run.py] <exp-dir>
# --speed_copies: also train on those speed-perturbed copies (rows sp<f>-<utt> of --feats).
# --pool_layers: --feats is a frame-level upstream dump; rows are those layers' mean and std over frames.
set -euo pipefail
feats=
scheme=session
folds=
classes=
classifier=logreg
speaker_norm=false
speed_copies=
pool_layers=
parallel=1
cmd=utils/run.py
. utils/parse_options.sh
if [ $# -ne 1 ] || [ -z "$feats" ] || [ -z "$classes" ]; then
  echo "usage: $0 --feats <scp> --classes a,b,c [options] <exp-dir>" >&2; exit 1
fi
exp=$1
. scripts/folds.sh
opts=(--classifier "$classifier" --speed-copies "$speed_copies" --pool-layers "$pool_layers"); [ "$speaker_norm" = true ] && opts+=(--speaker-norm)
one_fold() {
  local k=$1 fd=data/folds/$scheme/fold$1
  if [ -f "$exp/fold$k/search.json" ]; then  # written last by ser.bin.train_sklearn
    echo "$0: $exp/fold$k is complete; skipping"; return 0
  fi
  echo "$0: $classifier on fold $k of $scheme -> $exp/fold$k (log: $exp/fold$k/train.log)"
  $cmd "$exp/fold$k/train.log" python -m ser.bin.train_sklearn --feats "$feats" --classes "$classes" \
    --train-dir "$fd/train" --valid-dir "$fd/valid" --test-dir "$fd/test" --exp-dir "$exp/fold$k" "${opts[@]}"
}
for_each_fold "$parallel" one_fold
