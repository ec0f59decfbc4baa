#!/usr/bin/env bash
# SUPERB emotion-recognition baseline on IEMOCAP: frozen s3prl upstream (dumped once), weighted
# layer sum, projection, mean pooling, linear classifier; 5 leave-one-session-out folds.
set -euo pipefail
cmdline="$0${1+$(printf " %q" "$@")}"  # quoted, so the command in RESULTS.md can be pasted
. ./path.sh; . ./cmd.sh; . ./db.sh

stage=0; stop_stage=100
nj=2                          # parallel feature-dumping jobs
scheme=session                # session (5 folds) or speaker (10 folds)
folds=                        # e.g. "1 3"; empty = every fold
upstream=hubert               # any s3prl upstream name
upstream_path=                # local checkpoint for *_local / hf_*_custom upstreams
train_config=conf/train.yaml
tag=
demo=auto                     # auto: the built-in corpus and conf/demo when IEMOCAP is unset
if [ "$demo" = auto ] && [ -z "$IEMOCAP" ]; then . conf/demo/run.conf; fi
. utils/parse_options.sh
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
  echo "stage 2: train and predict each fold -> $exp/fold*"
  scripts/train_folds.sh --train_config "$train_config" --scheme $scheme --folds "$folds" \
    --feats "ssl=$dump/feats.scp" --cmd "$cuda_cmd" "$exp"
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  echo "stage 3: scoring -> $exp/RESULTS.md"
  scripts/score_folds.sh --scheme $scheme --folds "$folds" --title "IEMOCAP SUPERB ER baseline" \
    --note "Corpus: ${IEMOCAP:-built-in SYNTHETIC corpus, numbers say nothing about real accuracy}. Upstream: $upstream (frozen, weighted layer sum). Folds: $scheme." \
    --command "$cmdline" "$exp"
fi
