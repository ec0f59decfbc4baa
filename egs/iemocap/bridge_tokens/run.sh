#!/usr/bin/env bash
# Multi-task (4 classes + V/A/D), multi-modal SER with learnable bridge tokens on IEMOCAP:
# SSL audio and text-encoder tokens, each refined by self-attention, fused by K tokens through
# cross-attention; CE + (1 - CCC). 10 speaker folds. Systems: conf/train.yaml + conf/tuning/<system>.yaml.
# The stages are ser.sh's (./run.sh --help lists every option); these are the recipe's defaults,
# and options given to run.sh override them. With IEMOCAP unset: demo mode (conf/demo/run.conf).
set -euo pipefail
. ./path.sh; . ./cmd.sh; . ./db.sh
opts=(
  --corpus_var IEMOCAP --corpus_note "Corpus: ${IEMOCAP:-built-in SYNTHETIC corpus, numbers say nothing about real accuracy}."
  --scheme speaker              # speaker (10 folds, as the paper) or session (5)
  --local_data_opts "--empty_text empty"  # empty transcript: empty (0-token text, masked) or drop (remove the utterance)
  --classes "neu,hap,ang,sad"
  --upstream hubert_large_ll60k --text_encoder microsoft/deberta-v3-large  # empty encoder: packaged all-MiniLM-L6-v2
  --feats "ssl=upstream:{upstream}:{upstream_path} text_emb=text"  # frozen, every layer; text at token level
  --float16 true
  --systems "multitask cls_only reg_only audio_only text_only" --exp_name "bridge_tokens_{upstream}_{text}"
  --title "IEMOCAP bridge tokens: multi-task vs single-task, audio+text vs one modality"
  --cmdline "$0${1+$(printf " %q" "$@")}"
)
./ser.sh "${opts[@]}" -- "$@"
