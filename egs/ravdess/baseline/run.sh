#!/usr/bin/env bash
# SUPERB emotion-recognition baseline on RAVDESS (8 classes): frozen s3prl upstream (dumped once),
# weighted layer sum, projection, mean pooling, linear classifier; EmoBox's 4 speaker-independent folds.
# The default needs no weights at all: s3prl's download-free `fbank` upstream (80 log-mel + deltas);
# with a real one set e.g. --upstream whisper_base (after tools/get_whisper_base.sh), --upstream hubert,
# or --upstream hf_hubert_custom --upstream_path DIR. conf/upstream/<upstream>.yaml, when it exists,
# adjusts conf/train.yaml to that upstream.
# The stages are ser.sh's (./run.sh --help lists every option); these are the recipe's defaults,
# and options given to run.sh override them.
set -euo pipefail
. ./path.sh; . ./cmd.sh; . ./db.sh
opts=(
  --corpus_var RAVDESS --corpus_note "Corpus: RAVDESS speech (${RAVDESS:-unset}), 8 classes."
  --scheme emobox               # emobox (4 folds) or speaker (24 folds, leave one actor out)
  --classes "neu,cal,hap,sad,ang,fea,dis,sur"
  --upstream fbank              # any s3prl upstream; a local checkpoint with --upstream_path
  --feats "ssl=upstream:{upstream}:{upstream_path}"  # every layer's hidden states, dumped once
  --systems "conf/train.yaml+conf/upstream/{upstream}.yaml?" --exp_name "baseline_{upstream}"
  --title "RAVDESS SUPERB ER baseline" --cmdline "$0${1+$(printf " %q" "$@")}"
)
./ser.sh "${opts[@]}" -- "$@"
