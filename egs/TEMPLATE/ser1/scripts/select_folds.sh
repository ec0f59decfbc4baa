#!/usr/bin/env bash
# Selection on validation (ser.bin.select_on_valid) for every fold: per fold, the candidate system
# whose model scored best on the fold's validation set gives its test predictions to <out-exp-dir>.
#   scripts/select_folds.sh --scheme speaker --candidates "exp/a exp/b" [--folds "1 3"] <out-exp-dir>
set -euo pipefail
scheme=session
folds=
candidates=
. utils/parse_options.sh
if [ $# -ne 1 ] || [ -z "$candidates" ]; then
  echo "usage: $0 --candidates \"exp/a exp/b\" [--scheme s] [--folds \"1 2\"] <out-exp-dir>" >&2; exit 1
fi
out=$1
. scripts/folds.sh
# shellcheck disable=SC2086
python -m ser.bin.select_on_valid --folds "$fold_ids" --out "$out" $candidates
