#!/usr/bin/env bash
# GMP-ATL: trains one phase for each fold (resuming from its last checkpoint), then optionally
# predicts the fold's test set. Like train_folds.sh, except that "{fold}" in --feats and
# --overrides becomes the fold number: each phase starts from the same fold's previous phase and
# reads that fold's pseudo-labels.
#   scripts/gmp_train_folds.sh --train_config conf/phase2.yaml --scheme session [--folds "1 3"] \
#       [--feats "km64=exp/x/km/fold{fold}/labels_k64.scp ..."] \
#       [--overrides "model.init_from=exp/x/phase1/fold{fold}/model.best.pt ..."] [--infer false] [--parallel 1] <exp-dir>
# --parallel N trains N folds at once (each its own job through --cmd).
#
# A fold is trained only for its inputs: <exp-dir>/fold<k>/.done records them (checksums of the
# config, the options, the fold's train/valid data dir files, and every file an option names: the
# init checkpoint, the label/feature scps and the arks they point into). A fold is skipped when its
# .done matches the current inputs; otherwise it trains again: from the start when the inputs
# changed (a retrained previous phase, new labels), resuming when an interrupted run had the same
# inputs (.inputs), and from the start when its last run finished but .done was deleted (to retrain).
# Test predictions are redone when the model or the test inputs changed (infer_test/.done).
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

# "<path> <md5>" for a file, and for an scp also for each ark it points into (a rewritten ark can
# keep its scp byte for byte).
file_sums() {
  local f=$1
  echo "$f $(md5sum < "$f" | cut -d' ' -f1)"
  case $f in *.scp)
    awk '{print $2}' "$f" | sed 's/:[0-9]*$//' | sort -u | while read -r ark; do
      if [ -f "$ark" ]; then echo "$ark $(md5sum < "$ark" | cut -d' ' -f1)"; fi; done;;
  esac
}
# Every input of a training or inference run: its options, then the files they name, then data dirs.
input_stamp() {
  local w f
  echo "args $*"
  for w in "$@"; do
    f=${w#*=}
    if [ -f "$f" ]; then file_sums "$f"; fi
  done
  for d in "${data_dirs[@]}"; do
    find "$d" -maxdepth 1 -type f | LC_ALL=C sort | while read -r f; do file_sums "$f"; done
  done
}
same_stamp() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

one_fold() {
  local k=$1 fd=data/folds/$scheme/fold$1 out=$exp/fold$1 feat_opts set_opts f s stamp resume data_dirs
  feat_opts=(); for f in $feats; do feat_opts+=(--feat "${f//"$ph"/$k}"); done
  set_opts=(); for s in $overrides; do set_opts+=(--set "${s//"$ph"/$k}"); done
  data_dirs=("$fd/train" "$fd/valid")
  stamp=$(input_stamp "$train_config" "${feat_opts[@]}" "${set_opts[@]}")
  if same_stamp "$out/.done" "$stamp" && [ -f "$out/model.best.pt" ]; then
    echo "$0: $out is trained for its current inputs; skipping (delete $out/.done to train again)"
  else
    resume=(--restart-finished)  # an interrupted run resumes; a finished one whose .done is gone starts over
    if [ -f "$out/.done" ] || { [ -f "$out/.inputs" ] && ! same_stamp "$out/.inputs" "$stamp"; }; then
      echo "$0: the inputs of $out changed since it was trained (see $out/.inputs); training it from the start"
      resume=(--no-resume)
    fi
    rm -f "$out/.done"
    mkdir -p "$out"
    printf '%s\n' "$stamp" > "$out/.inputs"
    echo "$0: training fold $k of $scheme with $train_config into $out (log: $out/train.log)"
    $cmd "$out/train.log" python -m ser.bin.train --config "$train_config" "${resume[@]}" \
      --train-dir "$fd/train" --valid-dir "$fd/valid" --exp-dir "$out" "${feat_opts[@]}" "${set_opts[@]}"
    cp "$out/.inputs" "$out/.done"
  fi
  if [ "$infer" = true ]; then
    data_dirs=("$fd/test")
    stamp=$(input_stamp "$out/model.best.pt" "${feat_opts[@]}")
    if same_stamp "$out/infer_test/.done" "$stamp"; then return 0; fi
    rm -f "$out/infer_test/.done"
    $cmd "$out/infer_test.log" python -m ser.bin.infer --exp-dir "$out" \
      --data-dir "$fd/test" --out-dir "$out/infer_test" "${feat_opts[@]}"
    printf '%s\n' "$stamp" > "$out/infer_test/.done"
  fi
}
for_each_fold "$parallel" one_fold
