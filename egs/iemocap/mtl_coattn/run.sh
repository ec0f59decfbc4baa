#!/usr/bin/env bash
# Multi-task SER with co-attention fusion and the SWFC loss (Wang et al. 2025) on IEMOCAP: one SSL
# upstream fine-tuned end to end with emotion, gender, speaker (AAM-softmax) and CTC (ASR) branches,
# leave-one-session-out folds. See README.md for the paper, every choice made and how to reproduce.
set -euo pipefail
. ./path.sh; . ./cmd.sh; . ./db.sh

stage=0; stop_stage=100
scheme=session                # session (5 folds) or speaker (10 folds)
folds=                        # e.g. "1 3"; empty = every fold
upstream=wavlm_large          # any s3prl transformer upstream (fine-tuned)
upstream_path=                # local checkpoint for *_local / hf_*_custom upstreams
train_config=conf/train.yaml
train_opts=                   # extra config overrides for every system, e.g. "train.max_epochs=1"
speed_perturb=false           # stage 1: speed-perturbed copies of each training set (train_sp)
sp_factors=0.9,1.1
ablations="emo_only emo_gender emo_speaker emo_asr no_coattn no_swfc"  # conf/tuning/<name>.yaml
tag=
demo=auto                     # auto: the built-in corpus and conf/demo when IEMOCAP is unset
cmdline="$0${1+$(printf " %q" "$@")}"  # quoted, so the command in RESULTS.md can be pasted
if [ "$demo" = auto ] && [ -z "$IEMOCAP" ]; then . conf/demo/run.conf; fi
. utils/parse_options.sh
exp=exp/mtl_coattn_${upstream}${tag}
train_set=train; [ "$speed_perturb" = true ] && train_set=train_sp
model_opts="model.upstream=$upstream model.upstream_path=$upstream_path $train_opts"
classes=neu,hap,ang,sad
note="Corpus: ${IEMOCAP:-built-in SYNTHETIC corpus, numbers say nothing about real accuracy}. Upstream: $upstream (fine-tuned). Folds: $scheme ${folds:-all}. Training set: $train_set."

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  echo "stage 0: data prep and folds -> data/all, data/folds/$scheme"
  local/data.sh
  if [ "$upstream" = hf_hubert_custom ] && [ -n "$upstream_path" ] && [ ! -f "$upstream_path/config.json" ]; then
    python -c "from ser.features.upstream import make_tiny_hubert as m; m('$upstream_path')"
  fi
fi
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ] && [ "$speed_perturb" = true ]; then
  echo "stage 1: speed perturbation ($sp_factors) of each training set -> data/folds/$scheme/fold*/train_sp"
  scripts/mtl_speed_perturb.sh --scheme $scheme --folds "$folds" --factors $sp_factors
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  echo "stage 2: training with every task -> $exp/fold*"
  scripts/mtl_train_folds.sh --train_config $train_config --scheme $scheme --folds "$folds" --train_set $train_set \
    --overrides "$model_opts" --cmd "$cuda_cmd" $exp
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  echo "stage 3: test predictions of every task -> $exp/fold*/infer_test"
  scripts/mtl_infer_folds.sh --scheme $scheme --folds "$folds" --cmd "$cuda_cmd" $exp
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  echo "stage 4: scoring (macro-F1, UA, WA, confusion, gender acc, speaker EER, CER) -> $exp/RESULTS.md"
  scripts/mtl_score_folds.sh --scheme $scheme --folds "$folds" --classes $classes --out $exp/RESULTS.md \
    --title "IEMOCAP multi-task SER with co-attention and SWFC" --note "$note" --command "$cmdline" full=$exp
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ] && [ -n "$ablations" ]; then
  systems="full=$exp"
  for a in $ablations; do
    echo "stage 5: ablation $a (conf/tuning/$a.yaml) -> $exp/ablations/$a/fold*"
    scripts/mtl_train_folds.sh --train_config $train_config --overlay conf/tuning/$a.yaml --scheme $scheme \
      --folds "$folds" --train_set $train_set --overrides "$model_opts" --infer true --cmd "$cuda_cmd" \
      $exp/ablations/$a
    systems="$systems $a=$exp/ablations/$a"
  done
  echo "stage 5: ablation table -> $exp/ablations/RESULTS.md"
  # shellcheck disable=SC2086
  scripts/mtl_score_folds.sh --scheme $scheme --folds "$folds" --classes $classes --out $exp/ablations/RESULTS.md \
    --title "IEMOCAP multi-task SER: ablations" --note "$note" --command "$cmdline" $systems
fi
