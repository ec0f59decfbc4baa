#!/usr/bin/env bash
# Joint emotion classification + V/A/D regression on IEMOCAP (parallel encoders over MFCC, STF, log
# mel, raw waveform, wav2vec 2.0 and HuBERT; self- and co-attention; fixed / dynamic / GradNorm task
# weighting), leave one subject out. See README.md for the paper, every choice made and the results.
# Every system is conf/train.yaml + conf/tuning/<system>.yaml; joint_fixed is trained once per lambda.
# The stages are ser.sh's (./run.sh --help lists every option); these are the recipe's defaults,
# and options given to run.sh override them. With IEMOCAP unset: demo mode (conf/demo/run.conf).
set -euo pipefail
. ./path.sh; . ./cmd.sh; . ./db.sh
lambdas="0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9"
opts=(
  --corpus_var IEMOCAP --corpus_note "Corpus: ${IEMOCAP:-built-in SYNTHETIC corpus, numbers say nothing about real accuracy}."
  --scheme speaker              # speaker: 10 folds, leave one subject out (session: 5 folds)
  --classes "neu,hap,ang,sad"
  --upstream hubert             # the hubert store's upstream; a local checkpoint with --upstream_path
  # Every store a system may read (its config's data.feats picks): Kaldi-style features, STF, two SSL models.
  --feats "mfcc=mfcc stf=stf mel=mel w2v2=upstream:wav2vec2 hubert=upstream:{upstream}:{upstream_path}"
  --float16 true --nj 4
  --systems "cls_only reg_only $(for l in $lambdas; do printf 'joint_fixed_lam%s=conf/train.yaml+conf/tuning/joint_fixed.yaml@model.lam=%s ' "$l" "$l"; done)joint_dwa joint_gradnorm"
  # The fixed-lambda result: per fold the lambda best on the validation speaker (the sweep is reported beside it).
  --valid_select "joint_fixed_selected=$(for l in $lambdas; do printf 'joint_fixed_lam%s,' "$l"; done | sed 's/,$//')"
  --exp_name joint_mtl --title "IEMOCAP joint MTL: task weighting comparison"
  --cmdline "$0${1+$(printf " %q" "$@")}"
)
./ser.sh "${opts[@]}" -- "$@"
