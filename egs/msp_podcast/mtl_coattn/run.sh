#!/usr/bin/env bash
# Multi-task SER with co-attention fusion and the SWFC loss (Wang et al. 2025) on MSP-Podcast, the
# categorical task of the SER in Naturalistic Conditions Challenge (Interspeech 2025; 8 classes, macro-F1):
# one SSL upstream fine-tuned end to end with emotion, gender, speaker (AAM-softmax) and CTC (ASR)
# branches; official Train / Development / test partitions (one split, written as fold 1; the test
# Split_Set: --local_data_opts "--test_split Test2", default auto = Test1, else test, else Test2).
# The stages are ser.sh's (./run.sh --help lists every option); these are the recipe's defaults,
# and options given to run.sh override them. With MSP_PODCAST unset: demo mode (conf/demo/run.conf).
set -euo pipefail
. ./path.sh; . ./cmd.sh; . ./db.sh
opts=(
  --corpus_var MSP_PODCAST --corpus_note "Corpus: ${MSP_PODCAST:-built-in SYNTHETIC corpus, numbers say nothing about real accuracy}. Partitions: official (test: see the data prep log)."
  --scheme official --local_data_opts "--test_split auto"
  --eval_sets valid             # Development (the valid set) scored beside the test partition in RESULTS.md
  --classes "A,S,H,U,F,D,C,N"
  --upstream wavlm_large        # any s3prl transformer upstream (fine-tuned); a local checkpoint with --upstream_path
  --model_opts "model.upstream={upstream} model.upstream_path={upstream_path}"
  --systems "conf/train.yaml baseline" --main_label full --exp_name "mtl_coattn_{upstream}"  # baseline: + conf/tuning/baseline.yaml
  --ablations "emo_only emo_gender emo_speaker emo_asr no_coattn no_swfc"  # conf/tuning/<name>.yaml
  --title "MSP-Podcast multi-task SER with co-attention and SWFC" --cmdline "$0${1+$(printf " %q" "$@")}"
)
./ser.sh "${opts[@]}" -- "$@"
