#!/usr/bin/env bash
# Scores every fold's test predictions, then writes <exp-dir>/RESULTS.md.
#   scripts/score_folds.sh --scheme session --classes neu,hap,ang,sad [--title ...] [--note ...] <exp-dir>
set -euo pipefail
scheme=session
folds=
classes=neu,hap,ang,sad
title=Results
note=
command=
. utils/parse_options.sh
if [ $# -ne 1 ]; then echo "usage: $0 [options] <exp-dir>" >&2; exit 1; fi
exp=$1
. scripts/folds.sh
for k in $fold_ids; do
  python -m ser.bin.score fold --data-dir "data/folds/$scheme/fold$k/test" \
    --pred-dir "$exp/fold$k/infer_test" --classes "$classes"
done
python -m ser.bin.score results --exp "$exp" --out "$exp/RESULTS.md" --title "$title" \
  --note "$note" --command "$command"
echo "$0: wrote $exp/RESULTS.md"
