#!/usr/bin/env bash
# RAVDESS, 8 classes, trained from scratch (no pretrained weights): a compact ECAPA-TDNN on 80-dim
# log-mel with speed perturbation, SpecAugment and mixup on the fly, and gender as an auxiliary task.
# EmoBox's 4 speaker-independent folds. The gender ablation is `--tag _nogender --overrides model.gender_weight=0`.
set -euo pipefail
. ./path.sh; . ./cmd.sh; . ./db.sh

stage=0; stop_stage=100
nj=2                          # parallel feature-dumping jobs
scheme=emobox                 # emobox (4 folds) or speaker (24 folds, leave one actor out)
folds=                        # e.g. "1 3"; empty = every fold
train_config=conf/train.yaml
overrides=                    # config keys for this run, e.g. "model.gender_weight=0 train.seed=1"
tag=
fuse=                         # stage 4: exp dirs whose test posteriors are averaged, e.g. "exp/ecapa_mtl exp/ecapa_mtl_cnn32"
. utils/parse_options.sh
classes=neu,cal,hap,sad,ang,fea,dis,sur
exp=exp/ecapa_mtl${tag}
dump=dump/fbank

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  echo "stage 0: data prep and folds -> data/all, data/folds"
  local/data.sh
fi
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  echo "stage 1: 80-dim log-mel (Kaldi fbank), dumped once -> $dump"
  scripts/dump_feats.sh --nj $nj --cmd "$train_cmd" --kind fbank data/all "$dump"
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  echo "stage 2: train ($train_config${overrides:+, $overrides}) and predict each fold -> $exp/fold*"
  scripts/train_folds.sh --train_config "$train_config" --overrides "$overrides" --scheme $scheme \
    --folds "$folds" --feats "fbank=$dump/feats.scp" --cmd "$cuda_cmd" "$exp"
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  echo "stage 3: scoring -> $exp/RESULTS.md"
  scripts/score_folds.sh --scheme $scheme --folds "$folds" --classes $classes \
    --title "RAVDESS ECAPA-TDNN from scratch, emotion + gender" \
    --note "Corpus: RAVDESS speech ($RAVDESS), 8 classes. No pretrained weights. Config: $train_config ${overrides}. Folds: $scheme." \
    --command "$0 $*" "$exp"
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ] && [ -n "$fuse" ]; then
  echo "stage 4: average of the test posteriors of $fuse -> exp/ecapa_mtl_fused"
  . scripts/folds.sh
  for k in $fold_ids; do
    python -m ser.bin.fuse_posteriors --classes $classes --out-dir exp/ecapa_mtl_fused/fold$k/infer_test \
      $(for e in $fuse; do echo "$e/fold$k/infer_test"; done)
  done
  scripts/score_folds.sh --scheme $scheme --folds "$folds" --classes $classes \
    --title "RAVDESS ECAPA-TDNN from scratch, late fusion" --note "Equal-weight average of the posteriors of: $fuse." \
    --command "$0 $*" exp/ecapa_mtl_fused
fi
