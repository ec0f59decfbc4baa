#!/usr/bin/env bash
# MSP-Podcast data prep shared by every MSP-Podcast recipe -> data/all and data/folds/official/fold1.
# Run from a recipe dir (egs/msp_podcast/<recipe>, where local -> ../local) after `. ./path.sh`:
#   local/data.sh [--seed 0] [--num_utts 300] [--classes A,S,H,U,F,D,C,N] [--test_split auto]
# The corpus is $MSP_PODCAST from ./db.sh or the environment. When it is empty, a SYNTHETIC corpus
# in the release layout is generated into downloads/msp_podcast_synthetic: it only shows that a
# recipe runs. Both steps are skipped when their .done marker matches the current settings.
set -euo pipefail

seed=0                    # synthetic corpus only
num_utts=300              # synthetic corpus only (about 225 kept after dropping O, X and Test2)
classes=A,S,H,U,F,D,C,N   # EmoClass letters kept (O and X are dropped)
test_split=auto           # Split_Set used as test: auto = Test1, else test, else Test2
help_message="Usage: local/data.sh [--seed 0] [--num_utts 300] [--classes A,S,H,U,F,D,C,N] [--test_split auto]"

[ -f ./db.sh ] || { echo "local/data.sh: no ./db.sh here; run me from a recipe dir (egs/msp_podcast/<recipe>)" >&2; exit 1; }
. ./db.sh
. utils/parse_options.sh
if [ $# -ne 0 ]; then printf '%b\n' "$help_message" >&2; exit 1; fi
MSP_PODCAST=${MSP_PODCAST:-}

log() { echo "local/data.sh: $*" >&2; }

if [ -z "$MSP_PODCAST" ]; then
  corpus=$PWD/downloads/msp_podcast_synthetic
  corpus_stamp="synthetic seed=$seed num_utts=$num_utts"
  if [ "$(cat "$corpus/.done" 2>/dev/null)" = "$corpus_stamp" ]; then
    log "MSP_PODCAST is unset: reusing the SYNTHETIC corpus in $corpus ($corpus_stamp)"
  else
    rm -rf "$corpus"  # ours alone, and a half-written one must not be mixed with a new seed
    python3 local/make_synthetic_msp_podcast.py --out "$corpus" --seed "$seed" --num-utts "$num_utts"
    echo "$corpus_stamp" > "$corpus/.done"
  fi
else
  [ -d "$MSP_PODCAST" ] || { log "MSP_PODCAST='$MSP_PODCAST' is not a directory; set MSP_PODCAST in db.sh or the environment"; exit 1; }
  corpus=$(cd "$MSP_PODCAST" && pwd)
  corpus_stamp=real
fi

data_stamp="corpus=$corpus ($corpus_stamp) classes=$classes test_split=$test_split"
if [ "$(cat data/.done 2>/dev/null)" = "$data_stamp" ]; then
  log "data/ is already prepared from $corpus; remove data/.done to redo it"
  exit 0
fi
rm -f data/.done
python3 local/prepare_msp_podcast.py --corpus "$corpus" --out data --classes "$classes" --test-split "$test_split"
echo "$data_stamp" > data/.done
