#!/usr/bin/env bash
# GMP-ATL (Pan et al., Interspeech 2024) on RAVDESS, 8 classes, EmoBox's 4 speaker-independent folds,
# with the IEMOCAP recipe's stage scripts and library code. Per fold: 1 upstream -> BiLSTM emotion +
# gender model; 2 its GMP layer's frames; 3 multi-scale k-means pseudo-labels (GMPs); 4 upstream
# retrained to predict masked GMPs; 5 fine-tuned with AM-softmax; 6 scoring.
# Two upstreams (README.md):
#   --upstream whisper_base (or whisper_custom --upstream_path DIR): Whisper base's pre-trained
#       encoder, top layers fine-tuned (conf/whisper/run.conf: partial fine-tuning, GMP layer -2, scales
#       16 128 1024, a schedule of about 90 min on 2 CPU cores);
#   default: a small HuBERT-shaped model, randomly initialised and trained from scratch.
# The stages are gmp/gmp_atl.sh (shared with egs/iemocap/gmp_atl; ./run.sh --help lists its
# options); this file only sets RAVDESS' defaults, and options given to run.sh override them.
set -euo pipefail
cmdline="$0${1+$(printf " %q" "$@")}"  # quoted, so the command in RESULTS.md can be pasted
. ./path.sh; . ./cmd.sh; . ./db.sh

upstream=hf_hubert_custom     # the --upstream given to run.sh decides which defaults apply
for ((i = 1; i <= $#; i++)); do case ${!i} in
  --upstream) j=$((i + 1)); upstream=${!j:-};;
  --upstream=*) upstream=${!i#*=};;
esac; done

opts=(
  --scheme emobox --main_scheme emobox  # emobox (4 folds), speaker (24) or emobox_dev (exp/emobox_dev/: each
                                        # emobox fold's valid actors, by models of its other training actors)
  --classes "neu,cal,hap,sad,ang,fea,dis,sur"
  --parallel 2                # two folds at a time (one torch thread each)
  --title "RAVDESS GMP-ATL" --cmdline "$cmdline"
  --corpus_note "Corpus: RAVDESS speech ($RAVDESS), 8 classes."
)
case $upstream in
  whisper_*)  # conf/whisper/run.conf goes in as --config: options given to run.sh still win
    opts+=(--config conf/whisper/run.conf);;
  *) opts+=(
    --upstream hf_hubert_custom # s3prl upstream with a trainable transformer; with real weights e.g. hubert
    --upstream_path "$PWD/downloads/small_hubert" --tiny_upstream true  # stage 1 saves a random HuBERT-shaped model there
    --hubert_dim 128 --hubert_layers 4 --hubert_heads 4                 # its size (conv front end 128 channels, 4 heads):
    --hubert_ffn_dim "" --hubert_conv_dim ""                            # empty = 4 x and 1 x hubert_dim
  );;
esac
gmp/gmp_atl.sh "${opts[@]}" "$@"
