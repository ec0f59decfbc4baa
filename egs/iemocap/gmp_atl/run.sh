#!/usr/bin/env bash
# GMP-ATL (Pan et al., Interspeech 2024) on IEMOCAP, 4 classes, leave-one-session-out. Per fold:
# 1 HuBERT -> BiLSTM emotion + gender model; 2 its layer -3 frames; 3 multi-scale k-means pseudo-labels
# (GMPs); 4 HuBERT retrained to predict masked GMPs; 5 fine-tuned with AM-softmax; 6 scoring.
# The stages are gmp/gmp_atl.sh (shared with egs/ravdess/gmp_atl; ./run.sh --help lists its
# options); this file only sets IEMOCAP's defaults, and options given to run.sh override them.
set -euo pipefail
cmdline="$0${1+$(printf " %q" "$@")}"  # quoted, so the command in RESULTS.md can be pasted
. ./path.sh; . ./cmd.sh; . ./db.sh

demo=auto                     # auto: the built-in corpus and conf/demo when IEMOCAP is unset; true/false force it
args=()
while [ $# -gt 0 ]; do case $1 in
  --demo) demo=${2:?"--demo needs a value"}; shift 2;;
  --demo=*) demo=${1#*=}; shift;;
  *) args+=("$1"); shift;;
esac; done

opts=(
  --scheme session            # session (5 folds) or speaker (10 folds)
  --classes "neu,hap,ang,sad"
  --title "IEMOCAP GMP-ATL" --cmdline "$cmdline"
  --corpus_note "Corpus: ${IEMOCAP:-built-in SYNTHETIC corpus: the numbers say nothing about GMP-ATL}."
)
# Demo: conf/demo/run.conf (tiny random HuBERT, small scales, conf/demo/*.yaml) goes in as --config,
# which parse_options.sh sources before applying any option, so options given to run.sh still win.
if [ "$demo" = true ] || { [ "$demo" = auto ] && [ -z "$IEMOCAP" ]; }; then opts+=(--config conf/demo/run.conf); fi
gmp/gmp_atl.sh "${opts[@]}" "${args[@]}"
