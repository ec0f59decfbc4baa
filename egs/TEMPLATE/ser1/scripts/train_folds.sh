#!/usr/bin/env bash
# Trains one system on every fold (ser.bin.train), then predicts each fold's test set (ser.bin.infer).
#   scripts/train_folds.sh --train_config conf/train.yaml --scheme session [--folds "1 3"]
#       [--overlay "conf/tuning/no_swfc.yaml ..."] [--overrides "train.lr=1e-3 model.dropout=0.1"]
#       [--feats "ssl=dump/x/feats.scp ..."] [--feats_hint "stage 1"] [--train_set train] [--train_on_valid false]
#       [--infer true] [--parallel 1] [--ngpu 1] [--num_nodes 1] [--cmd utils/run.py] <exp-dir>
# "{fold}" in --feats and --overrides becomes the fold number (e.g. a phase starting from the same
# fold's previous phase: model.init_from=exp/phase1/fold{fold}/model.best.pt).
# --feats: every store a system may read (a config reads those of its data.feats); --feats_hint: the
# stage that makes them, named when one is missing.
# --train_set: the fold's training data dir (train_sp after speed perturbation).
# --train_on_valid true trains on train + valid (both are training speakers of the fold), e.g. with
# train.select_metric=last, as corpora without a validation split (EmoBox) are used; valid stays the
# set the training log scores each epoch.
# --parallel N trains N folds at once (each its own job through --cmd); a failed fold fails the script.
# --ngpu N (> 1) trains each fold data-parallel on N GPUs through scripts/torchrun.sh, asking --cmd for
# N GPUs (--gpu N); --num_nodes M spreads it over M nodes (--cmd utils/slurm.py: --num-nodes M).
# train.batch_size stays the global batch. --ngpu 1 on one node is the single-process run.
#
# A fold is trained only for its inputs: <exp-dir>/fold<k>/.done records them (scripts/stamp.sh: the
# options, the config and overlays, every file an option names, the fold's data dirs). A fold is
# skipped when its .done matches the current inputs; otherwise it trains again: from the start when
# the inputs changed (a retrained previous phase, new labels, a new config), resuming when an
# interrupted run had the same inputs (.inputs), and from the start when its last run finished but
# .done was deleted (to retrain). A changed fold's log shows what changed, and the model it replaces
# stays in fold<k>/previous/ (ser/train/config_record.py) until the next replacement. Audio counts by
# content, not time, so a corpus copied again retrains nothing. Test predictions are redone when the
# model or the test inputs changed (infer_test/.done).
set -euo pipefail
train_config=
overlay=
overrides=
feats=
feats_hint="the feature-dumping stage"
scheme=session
folds=
train_set=train
train_on_valid=false
infer=true
parallel=1
ngpu=1
num_nodes=1
cmd=utils/run.py
. utils/parse_options.sh
if [ $# -ne 1 ] || [ -z "$train_config" ]; then echo "usage: $0 --train_config conf/x.yaml [options] <exp-dir>" >&2; exit 1; fi
exp=$1
. scripts/folds.sh
. scripts/stamp.sh
exp_scheme "$exp" write
set -f  # overrides such as model.scales=[64,512] are words, not glob patterns
ph='{fold}'
launch=(python -m ser.bin.train); launch_opts=()
if [ "$ngpu" != 1 ] || [ "$num_nodes" != 1 ]; then
  launch=(scripts/torchrun.sh --ngpu "$ngpu" --num_nodes "$num_nodes" ser.bin.train); launch_opts=(--gpu "$ngpu")
  [ "$num_nodes" = 1 ] || launch_opts+=(--num-nodes "$num_nodes")
fi

one_fold() {
  local k=$1 fd=data/folds/$scheme/fold$1 out=$exp/fold$1 train conf_opts feat_opts f s stamp resume data_dirs
  [ -d "$fd/$train_set" ] || { echo "$0: $fd/$train_set not found (run the stage that makes it)" >&2; return 1; }
  conf_opts=(--config "$train_config"); for f in $overlay; do conf_opts+=(--overlay "$f"); done
  for s in $overrides; do conf_opts+=(--set "${s//"$ph"/$k}"); done
  feat_opts=(--feat-hint "$feats_hint"); for f in $feats; do feat_opts+=(--feat "${f//"$ph"/$k}"); done
  data_dirs=("$fd/$train_set" "$fd/valid")
  stamp=$(input_stamp "train_on_valid=$train_on_valid" "${conf_opts[@]}" "${feat_opts[@]}")
  if same_stamp "$out/.done" "$stamp" && [ -f "$out/model.best.pt" ]; then
    echo "$0: $out is trained for its current inputs; skipping (delete $out/.done to train again)"
  else
    resume=(--restart-finished)  # an interrupted run resumes; a finished one whose .done is gone starts over
    if [ -f "$out/.done" ] || { [ -f "$out/.inputs" ] && ! same_stamp "$out/.inputs" "$stamp"; }; then
      echo "$0: the inputs of $out changed since it was trained; training it from the start. Changed (< before, > now):"
      diff <(cat "$out/.done" 2>/dev/null || cat "$out/.inputs") <(printf '%s\n' "$stamp") | grep '^[<>]' | head -n 10 || true
      resume=(--no-resume)
    fi
    rm -f "$out/.done"
    mkdir -p "$out"
    printf '%s\n' "$stamp" > "$out/.inputs"
    train=$fd/$train_set
    if [ "$train_on_valid" = true ]; then
      train=$out/data_train_valid
      rm -rf "$train"; utils/combine_data.py "$train" "$fd/$train_set" "$fd/valid"
    fi
    echo "$0: training fold $k of $scheme on $train into $out (log: $out/train.log)"
    $cmd ${launch_opts[@]+"${launch_opts[@]}"} "$out/train.log" "${launch[@]}" "${conf_opts[@]}" "${resume[@]}" \
      --train-dir "$train" --valid-dir "$fd/valid" --exp-dir "$out" "${feat_opts[@]}"
    cp "$out/.inputs" "$out/.done"
  fi
  if [ "$infer" = true ]; then  # redone only when the model or the test inputs changed
    scripts/infer_folds.sh --scheme "$scheme" --folds "$k" --feats "$feats" --feats_hint "$feats_hint" --cmd "$cmd" "$exp"
  fi
}
for_each_fold "$parallel" one_fold
