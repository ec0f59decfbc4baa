#!/usr/bin/env bash
# Scores the test predictions of several systems (<dir>/fold<k>/infer_test) and writes one
# RESULTS.md with a row per system.
#   scripts/gmp_score.sh --scheme session [--folds "1 3"] [--classes neu,hap,ang,sad] [--title ...] \
#       [--note ...] [--command ...] <results.md> <name>=<exp-dir> [<name>=<exp-dir> ...]
set -euo pipefail
scheme=session
folds=
classes=neu,hap,ang,sad
title=Results
note=
command=
. utils/parse_options.sh
if [ $# -lt 2 ]; then echo "usage: $0 [options] <results.md> <name>=<exp-dir> ..." >&2; exit 1; fi
out=$1; shift
. scripts/folds.sh
exp_opts=()
for sys in "$@"; do
  dir=${sys#*=}
  for k in $fold_ids; do
    python -m ser.bin.score fold --data-dir "data/folds/$scheme/fold$k/test" \
      --pred-dir "$dir/fold$k/infer_test" --classes "$classes"
  done
  exp_opts+=(--exp "$sys")
done
python -m ser.bin.score results "${exp_opts[@]}" --out "$out" --title "$title" --note "$note" --command "$command"
echo "$0: wrote $out"
