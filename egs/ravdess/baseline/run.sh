#!/usr/bin/env bash
# SUPERB emotion-recognition baseline on RAVDESS (8 classes): frozen s3prl upstream (dumped once),
# weighted layer sum, projection, mean pooling, linear classifier; EmoBox's 4 speaker-independent folds.
# The default needs no weights at all: s3prl's download-free
# `fbank` upstream (80 log-mel + deltas); with a real one set e.g. --upstream whisper_base (after
# tools/get_whisper_base.sh), --upstream hubert, or --upstream hf_hubert_custom --upstream_path DIR.
set -euo pipefail
cmdline="$0${1+$(printf " %q" "$@")}"  # quoted, so the command in RESULTS.md can be pasted
. ./path.sh; . ./cmd.sh; . ./db.sh

stage=0; stop_stage=100
nj=2                          # parallel feature-dumping jobs
parallel=1                    # folds trained at once (one thread each)
scheme=emobox                 # emobox (4 folds) or speaker (24 folds, leave one actor out)
folds=                        # e.g. "1 3"; empty = every fold
upstream=fbank                # any s3prl upstream name
upstream_path=                # local checkpoint for *_local / hf_*_custom upstreams
train_config=                 # empty: conf/train_<upstream>.yaml if it exists, else conf/train.yaml
tag=
. utils/parse_options.sh
if [ -z "$train_config" ]; then
  train_config=conf/train.yaml; [ -f "conf/train_$upstream.yaml" ] && train_config=conf/train_$upstream.yaml
fi
classes=neu,cal,hap,sad,ang,fea,dis,sur
exp=exp/baseline_${upstream}${tag}
dump=dump/$upstream

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  echo "stage 0: data prep and folds -> data/all, data/folds"
  local/data.sh
fi
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  echo "stage 1: $upstream hidden states of every layer -> $dump"
  scripts/dump_feats.sh --nj $nj --cmd "$train_cmd" --kind upstream --upstream "$upstream" \
    --upstream_path "$upstream_path" data/all "$dump"
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  echo "stage 2: train ($train_config) and predict each fold -> $exp/fold*"
  scripts/train_folds.sh --train_config "$train_config" --scheme $scheme --folds "$folds" \
    --feats "ssl=$dump/feats.scp" --parallel $parallel --cmd "$cuda_cmd" "$exp"
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  echo "stage 3: scoring -> $exp/RESULTS.md"
  scripts/score_folds.sh --scheme $scheme --folds "$folds" --classes $classes \
    --title "RAVDESS SUPERB ER baseline" \
    --note "Corpus: RAVDESS speech ($RAVDESS), 8 classes. Upstream: $upstream (frozen, weighted layer sum). Folds: $scheme." \
    --command "$cmdline" "$exp"
fi
