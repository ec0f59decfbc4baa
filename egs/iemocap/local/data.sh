#!/usr/bin/env bash
# IEMOCAP data prep shared by every IEMOCAP recipe -> data/all and data/folds/<scheme>/fold<k>.
# Run from a recipe dir (egs/iemocap/<recipe>, where local -> ../local) after `. ./path.sh`:
#   local/data.sh [--seed 0] [--utts_per_dialog 20] [--classes neu,hap,ang,sad] [--map exc:hap]
#                 [--schemes session,speaker] [--empty_text keep]
# The corpus is $IEMOCAP from ./db.sh or the environment. When it is empty, a SYNTHETIC corpus in
# the IEMOCAP layout is generated into downloads/iemocap_synthetic: it only shows that a recipe runs.
# Both steps are skipped when their .done marker matches the current settings.
set -euo pipefail

seed=0                    # synthetic corpus only
utts_per_dialog=20        # synthetic corpus only: 20 dialogs, so 400 turns (about 230 kept)
classes=neu,hap,ang,sad   # labels kept, after --map
map=exc:hap               # label:label merges, comma separated; '' for none
schemes=session,speaker   # fold schemes written under data/folds
empty_text=keep           # utterances whose transcript is empty: keep, empty (a 0-token text) or drop (ser.bin.empty_text)
help_message="Usage: local/data.sh [--seed 0] [--utts_per_dialog 20]\n"
help_message+="    [--classes neu,hap,ang,sad] [--map exc:hap] [--schemes session,speaker] [--empty_text keep]"

if [ ! -f ./db.sh ]; then
  echo "local/data.sh: no ./db.sh here; run me from a recipe dir (egs/iemocap/<recipe>)" >&2; exit 1
fi
. ./db.sh
. utils/parse_options.sh
if [ $# -ne 0 ]; then printf '%b\n' "$help_message" >&2; exit 1; fi
IEMOCAP=${IEMOCAP:-}

log() { echo "local/data.sh: $*" >&2; }

if [ -z "$IEMOCAP" ]; then
  corpus=$PWD/downloads/iemocap_synthetic
  corpus_stamp="synthetic seed=$seed utts_per_dialog=$utts_per_dialog"
  if [ "$(cat "$corpus/.done" 2>/dev/null)" = "$corpus_stamp" ]; then
    log "IEMOCAP is unset: reusing the SYNTHETIC corpus in $corpus ($corpus_stamp)"
  else
    rm -rf "$corpus"  # ours alone, and a half-written one must not be mixed with a new seed
    python3 local/make_synthetic_iemocap.py --out "$corpus" --seed "$seed" --utts-per-dialog "$utts_per_dialog"
    echo "$corpus_stamp" > "$corpus/.done"
  fi
else
  [ -d "$IEMOCAP" ] || { log "IEMOCAP='$IEMOCAP' is not a directory; set IEMOCAP in db.sh or the environment"; exit 1; }
  corpus=$(cd "$IEMOCAP" && pwd)
  corpus_stamp=real
fi

data_stamp="corpus=$corpus ($corpus_stamp) classes=$classes map=$map schemes=$schemes empty_text=$empty_text"
if [ "$(cat data/.done 2>/dev/null)" = "$data_stamp" ]; then
  log "data/ is already prepared from $corpus; remove data/.done to redo it"
else
  rm -f data/.done
  python3 local/prepare_iemocap.py --corpus "$corpus" --out data \
    --classes "$classes" --map "$map" --schemes "$schemes"
  echo "$data_stamp" > data/.done
fi
# Every time (it changes nothing the second time), so that transcripts emptied after the prep are
# handled too; another policy is another stamp, so the prep is redone first.
if [ "$empty_text" != keep ]; then
  log "empty transcripts: $empty_text"
  python3 -m ser.bin.empty_text --mode "$empty_text" data/all data/folds/*/fold*/{train,valid,test}
fi
