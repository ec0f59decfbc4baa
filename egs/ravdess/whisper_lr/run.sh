#!/usr/bin/env bash
# RAVDESS, 8 classes: frozen Whisper base encoder (unpadded input), mean and standard deviation over
# frames of layers 1-5, standardised, logistic regression with C chosen by an inner cross-validation
# grouped by actor (conf/logreg.yaml). EmoBox's 4 speaker-independent folds. The weights:
# tools/get_whisper_base.sh. Every choice (layers, no fusion with the ECAPAs or functionals, no prior
# division) was made on the emobox_dev folds (../RESULTS.md). Options over ser.sh (./run.sh --help),
# e.g. --train_opts "model.pool_layers=[3]" --tag _L3, or --scheme emobox_dev --stage 2.
set -euo pipefail
. ./path.sh; . ./cmd.sh; . ./db.sh
opts=(
  --corpus_var RAVDESS --corpus_note "Corpus: RAVDESS speech (${RAVDESS:-unset}), 8 classes."
  --scheme emobox                 # emobox (4 folds), speaker (24) or emobox_dev (exp/emobox_dev/, for choosing)
  --classes "neu,cal,hap,sad,ang,fea,dis,sur"
  --upstream whisper_base         # any upstream: whisper_base_padded, hubert_local, hf_hubert_custom, ...
  --feats "ssl=upstream:{upstream}:{upstream_path}" --float16 true  # every hidden state, once
  --systems conf/logreg.yaml --exp_name "{upstream}_logreg" --parallel 2
  --title "RAVDESS frozen upstream + logistic regression" --cmdline "$0${1+$(printf " %q" "$@")}"
)
./ser.sh "${opts[@]}" -- "$@"
