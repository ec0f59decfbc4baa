#!/usr/bin/env bash
# SUPERB emotion-recognition baseline on IEMOCAP: frozen s3prl upstream (dumped once), weighted
# layer sum, projection, mean pooling, linear classifier; 5 leave-one-session-out folds.
# The stages are ser.sh's (./run.sh --help lists every option); these are the recipe's defaults,
# and options given to run.sh override them. With IEMOCAP unset: demo mode (conf/demo/run.conf).
set -euo pipefail
. ./path.sh; . ./cmd.sh; . ./db.sh
opts=(
  --corpus_var IEMOCAP --corpus_note "Corpus: ${IEMOCAP:-built-in SYNTHETIC corpus, numbers say nothing about real accuracy}."
  --scheme session              # session (5 folds) or speaker (10 folds)
  --classes "neu,hap,ang,sad"
  --upstream hubert             # any s3prl upstream; a local checkpoint with --upstream_path
  --feats "ssl=upstream:{upstream}:{upstream_path}"  # every layer's hidden states, dumped once
  --systems conf/train.yaml --exp_name "baseline_{upstream}"
  --title "IEMOCAP SUPERB ER baseline" --cmdline "$0${1+$(printf " %q" "$@")}"
)
./ser.sh "${opts[@]}" -- "$@"
