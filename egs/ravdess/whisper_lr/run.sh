#!/usr/bin/env bash
# RAVDESS, 8 classes: frozen Whisper base encoder (unpadded input), mean and standard deviation over
# frames of layers 1-5, standardised, logistic regression with C chosen by an inner cross-validation
# grouped by actor. EmoBox's 4 speaker-independent folds. The weights: tools/get_whisper_base.sh.
# Every choice (layers, no fusion with the ECAPAs or functionals, no prior division) was made on the
# emobox_dev folds (../RESULTS.md).
set -euo pipefail
cmdline="$0${1+$(printf " %q" "$@")}"  # quoted, so the command in RESULTS.md can be pasted
. ./path.sh; . ./cmd.sh; . ./db.sh

stage=0; stop_stage=100
nj=2                          # parallel dumping jobs
parallel=2                    # folds trained at once (one thread each)
scheme=emobox                 # emobox (4 folds), speaker (24) or emobox_dev (exp/emobox_dev/, for choosing)
folds=                        # e.g. "1 3"; empty = every fold
upstream=whisper_base         # any upstream: whisper_base_padded, hubert_local, hf_hubert_custom, ...
upstream_path=                # its checkpoint or folder (Whisper default: tools/whisper/<size>)
layers=1,2,3,4,5              # pooled layers (0 is Whisper's conv/positional input, 6 its top)
speaker_norm=false            # true: z-normalise each speaker's rows over that speaker's own utterances, TEST SPEAKERS
                              # INCLUDED (their unlabelled audio is used; exp/..._spknorm, reported as its own row)
tag=
. utils/parse_options.sh
classes=neu,cal,hap,sad,ang,fea,dis,sur
exp=exp; [ "$scheme" = emobox ] || exp=exp/$scheme  # another scheme's models never mix with emobox's
e=$exp/${upstream}_logreg$([ "$speaker_norm" = true ] && echo _spknorm || true)$tag

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  echo "stage 0: data prep and folds -> data/all, data/folds"
  local/data.sh
fi
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  echo "stage 1: $upstream hidden states of every layer (float16) -> dump/$upstream"
  scripts/dump_feats.sh --nj $nj --cmd "$train_cmd" --kind upstream --upstream $upstream \
    --upstream_path "$upstream_path" --float16 true data/all dump/$upstream
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  echo "stage 2: logistic regression on layers $layers (mean and std over frames), each fold -> $e/fold*"
  scripts/train_sklearn_folds.sh --feats dump/$upstream/feats.scp --pool_layers $layers --scheme $scheme \
    --folds "$folds" --classes $classes --parallel $parallel --speaker_norm $speaker_norm --cmd "$train_cmd" $e
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  echo "stage 3: scoring -> $e/RESULTS.md"
  scripts/score_folds.sh --scheme $scheme --folds "$folds" --classes $classes --title "RAVDESS $(basename $e)" \
    --note "Corpus: RAVDESS speech ($RAVDESS), 8 classes, folds: $scheme. Frozen $upstream${upstream_path:+ ($upstream_path)}, layers $layers pooled (mean, std)$([ "$speaker_norm" = true ] && echo ', z-normalised per speaker over its own utterances (test speakers included)' || true), logistic regression." \
    --command "$cmdline" "$e"
fi
