#!/usr/bin/env bash
# GMP-ATL (Pan et al., Interspeech 2024) on RAVDESS, 8 classes, EmoBox's 4 speaker-independent folds,
# with the IEMOCAP recipe's stage scripts and library code. No pretrained weights exist here: the
# "HuBERT" is a small HuBERT-shaped model, randomly initialised and trained from scratch. Per fold:
# 1 HuBERT -> BiLSTM emotion + gender model; 2 its layer -3 frames; 3 multi-scale k-means pseudo-labels
# (GMPs); 4 HuBERT retrained to predict masked GMPs; 5 fine-tuned with AM-softmax; 6 scoring.
# The stages are scripts/gmp_atl.sh (shared with egs/iemocap/gmp_atl; ./run.sh --help lists its
# options); this file only sets RAVDESS' defaults, and options given to run.sh override them.
set -euo pipefail
cmdline="$0${1+$(printf " %q" "$@")}"  # quoted, so the command in RESULTS.md can be pasted
. ./path.sh; . ./cmd.sh; . ./db.sh

opts=(
  --scheme emobox             # emobox (4 folds) or speaker (24 folds)
  --classes neu,cal,hap,sad,ang,fea,dis,sur
  --upstream hf_hubert_custom # s3prl upstream with a trainable transformer; with real weights e.g. hubert
  --upstream_path "$PWD/downloads/small_hubert" --tiny_upstream true  # stage 1 saves a random HuBERT-shaped model there
  --hubert_dim 128 --hubert_layers 4 --hubert_heads 4                 # its size (conv front end 128 channels, 4 heads):
  --hubert_ffn_dim "" --hubert_conv_dim ""                            # empty = 4 x and 1 x hubert_dim
  --parallel 2                # two folds at a time (one torch thread each)
  --title "RAVDESS GMP-ATL" --cmdline "$cmdline"
  --corpus_note "Corpus: RAVDESS speech ($RAVDESS), 8 classes."
)
scripts/gmp_atl.sh "${opts[@]}" "$@"
