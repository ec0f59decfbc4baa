#!/usr/bin/env bash
# Stage 0 of a corpus: runs its prep program on the corpus folder that a db.sh variable names ->
# data/all and data/folds/<scheme>/fold<k>/{train,valid,test}. Skipped when data/.done records the
# same corpus and program options; a missing or wrong corpus path stops here, naming the variable.
#   scripts/prepare_corpus.sh --var RAVDESS --layout "the folder holding Actor_01..Actor_24" \
#       local/prepare_ravdess.py [program options, e.g. --schemes emobox --seed 0]
# The program is called as: <program> --corpus <absolute corpus dir> --out data [program options].
set -euo pipefail
var=
layout="the corpus release"
. utils/parse_options.sh
if [ $# -lt 1 ] || [ -z "$var" ]; then
  echo "usage: $0 --var CORPUS_VARIABLE [--layout TEXT] <prep program> [program options]" >&2; exit 1
fi
program=$1; shift
log() { echo "$0: $*" >&2; }
[ -f ./db.sh ] || { log "no ./db.sh here; run me from a recipe dir (egs/<corpus>/<recipe>)"; exit 1; }
. ./db.sh
corpus=${!var:-}
if [ -z "$corpus" ]; then
  log "$var is not set. Set it in db.sh or the environment to $layout, e.g. $var=/data/corpus ./run.sh"
  exit 1
fi
[ -d "$corpus" ] || { log "$var='$corpus' is not a directory; set $var in db.sh or the environment to $layout"; exit 1; }
corpus=$(cd "$corpus" && pwd)
stamp="corpus=$corpus program=$program options=$*"
if [ "$(cat data/.done 2>/dev/null)" = "$stamp" ]; then
  log "data/ is already prepared from $corpus; remove data/.done to redo it"
  exit 0
fi
rm -f data/.done
log "preparing $corpus -> data/all, data/folds ($program $*)"
python3 "$program" --corpus "$corpus" --out data "$@"
echo "$stamp" > data/.done
