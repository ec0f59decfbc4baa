#!/usr/bin/env bash
# Multi-task SER with co-attention fusion and the SWFC loss (Wang et al. 2025) on IEMOCAP: one SSL
# upstream fine-tuned end to end with emotion, gender, speaker (AAM-softmax) and CTC (ASR) branches,
# leave-one-session-out folds. See README.md for the paper, every choice made and how to reproduce.
# The stages are ser.sh's (./run.sh --help lists every option); these are the recipe's defaults,
# and options given to run.sh override them. With IEMOCAP unset: demo mode (conf/demo/run.conf).
set -euo pipefail
. ./path.sh; . ./cmd.sh; . ./db.sh
opts=(
  --corpus_var IEMOCAP --corpus_note "Corpus: ${IEMOCAP:-built-in SYNTHETIC corpus, numbers say nothing about real accuracy}."
  --scheme session              # session (5 folds) or speaker (10 folds)
  --classes "neu,hap,ang,sad"
  --upstream wavlm_large        # any s3prl transformer upstream (fine-tuned); a local checkpoint with --upstream_path
  --model_opts "model.upstream={upstream} model.upstream_path={upstream_path}"
  --systems "conf/train.yaml baseline" --main_label full --exp_name "mtl_coattn_{upstream}"  # baseline: + conf/tuning/baseline.yaml
  --ablations "emo_only emo_gender emo_speaker emo_asr no_coattn no_swfc"  # conf/tuning/<name>.yaml
  --title "IEMOCAP multi-task SER with co-attention and SWFC" --cmdline "$0${1+$(printf " %q" "$@")}"
)
./ser.sh "${opts[@]}" -- "$@"
