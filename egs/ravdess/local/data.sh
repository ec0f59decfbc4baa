#!/usr/bin/env bash
# RAVDESS data prep shared by every RAVDESS recipe -> data/all and data/folds/<scheme>/fold<k>.
# Run from a recipe dir (egs/ravdess/<recipe>, where local -> ../local) after `. ./path.sh`:
#   local/data.sh [--schemes emobox,speaker,emobox_dev] [--seed 0]
# The corpus is $RAVDESS from ./db.sh or the environment (the folder holding Actor_01..Actor_24).
# Skipped when data/.done matches the current settings.
set -euo pipefail

schemes=emobox,speaker,emobox_dev  # fold schemes written under data/folds
seed=0                    # draws the emobox validation actors
help_message="Usage: local/data.sh [--schemes emobox,speaker,emobox_dev] [--seed 0]"

[ -f ./db.sh ] || { echo "local/data.sh: no ./db.sh here; run me from a recipe dir (egs/ravdess/<recipe>)" >&2; exit 1; }
. ./db.sh
. utils/parse_options.sh
if [ $# -ne 0 ]; then printf '%b\n' "$help_message" >&2; exit 1; fi
RAVDESS=${RAVDESS:-}

log() { echo "local/data.sh: $*" >&2; }

if [ -z "$RAVDESS" ]; then
  log "RAVDESS is not set. Set it in egs/ravdess/db.sh or the environment to your copy of the"
  log "speech release (the folder holding Actor_01..Actor_24), e.g. RAVDESS=/data/ravdess bash run.sh"
  exit 1
fi
[ -d "$RAVDESS" ] || { log "RAVDESS='$RAVDESS' is not a directory; set RAVDESS in db.sh or the environment"; exit 1; }
corpus=$(cd "$RAVDESS" && pwd)

stamp="corpus=$corpus schemes=$schemes seed=$seed"
if [ "$(cat data/.done 2>/dev/null)" = "$stamp" ]; then
  log "data/ is already prepared from $corpus; remove data/.done to redo it"
  exit 0
fi
rm -f data/.done
log "preparing $corpus -> data/all, data/folds/{${schemes}}"
python3 local/prepare_ravdess.py --corpus "$corpus" --out data --schemes "$schemes" --seed "$seed"
echo "$stamp" > data/.done
