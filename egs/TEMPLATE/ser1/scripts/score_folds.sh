#!/usr/bin/env bash
# Scores the test predictions of one or more systems on the asked folds (--folds, else every fold of
# the scheme; predictions of other folds left in the same dirs stay out) and writes one RESULTS.md
# with a row per system (ser.bin.score: every output a system predicted is scored).
#   scripts/score_folds.sh --scheme session [--folds "1 3"] [--classes neu,hap,ang,sad] [--title ...]
#       [--note ...] [--command ...] [--out <exp-dir>/RESULTS.md] <exp-dir> | <name>=<exp-dir> ...
# Without --folds every fold of the scheme must have predictions; with it, the summary covers those
# folds (RESULTS.md says which). --classes orders the confusion matrices (default: the predictions'
# classes.txt); --out defaults to the RESULTS.md of the first system. --extra_sets "valid": fold
# subsets also scored (their predictions in fold<k>/infer_<set>), each as a section of the same
# RESULTS.md beside the test set.
set -euo pipefail
scheme=session
folds=
classes=
title=Results
note=
command=
out=
extra_sets=
. utils/parse_options.sh
if [ $# -lt 1 ]; then echo "usage: $0 [options] <exp-dir> | <name>=<exp-dir> ..." >&2; exit 1; fi
. scripts/folds.sh
for s in "$@"; do exp_scheme "${s#*=}"; done
out=${out:-${1#*=}/RESULTS.md}
extra=(); for s in $extra_sets; do extra+=(--extra-set "$s"); done
[ -z "$folds" ] || extra+=(--allow-partial)  # an explicit --folds asks for a summary of those folds
python -m ser.bin.score --folds-root "data/folds/$scheme" --folds "$fold_ids" ${classes:+--classes "$classes"} \
  --title "$title" --note "$note" --command "$command" --out "$out" ${extra[@]+"${extra[@]}"} "$@"
echo "$0: wrote $out"
