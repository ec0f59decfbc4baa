#!/usr/bin/env bash
# RAVDESS, 8 classes, no pretrained weights: compact ECAPA-TDNNs on log-mel (speed perturbation,
# SpecAugment and mixup on the fly, gender as an auxiliary task), one per seed, late-fused with a
# logistic regression on openSMILE ComParE functionals and divided by the training class priors.
# EmoBox's 4 speaker-independent folds; all 20 non-test actors train, the last epoch is kept.
# Options over ser.sh (./run.sh --help; README.md shows the gender ablation, development folds,
# speaker-normalised row and the Whisper member as options).
set -euo pipefail
. ./path.sh; . ./cmd.sh; . ./db.sh
opts=(
  --corpus_var RAVDESS --corpus_note "Corpus: RAVDESS speech (${RAVDESS:-unset}), 8 classes. Pretrained weights: none."
  --scheme emobox                 # emobox (4 folds), speaker (24) or emobox_dev (exp/emobox_dev/, for choosing)
  --classes "neu,cal,hap,sad,ang,fea,dis,sur"
  --feats "fbank=fbank compare=compare"
  --systems "ecapa_s0=conf/train.yaml ecapa_s1=conf/train.yaml@train.seed=1 ecapa_s2=conf/train.yaml@train.seed=2
             compare_logreg=conf/compare_logreg.yaml"
  --train_on_valid true --parallel 2
  --fusions "fusion=ecapa_s0,ecapa_s1,ecapa_s2+compare_logreg" --balance true
  --exp_name ecapa_mtl --title "RAVDESS ECAPA-TDNN + ComParE LR" --cmdline "$0${1+$(printf " %q" "$@")}"
)
./ser.sh "${opts[@]}" -- "$@"
