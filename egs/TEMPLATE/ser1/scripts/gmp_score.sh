#!/usr/bin/env bash
# Scores the test predictions of several systems (<dir>/fold<k>/infer_test -> scores.json) and
# writes one RESULTS.md with a row per system.
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
exp_opts=(); pairs=()
for sys in "$@"; do
  exp_opts+=(--exp "$sys")
  for k in $fold_ids; do pairs+=("data/folds/$scheme/fold$k/test" "${sys#*=}/fold$k/infer_test"); done
done
# One process scores every (test set, predictions) pair: loading python once per fold and system
# would cost more than the scoring.
python - "$classes" "${pairs[@]}" <<'PY'
import sys
from pathlib import Path

from ser.train.scoring import score_fold
from ser.utils import SerError, run_main


def main():
    classes, pairs = sys.argv[1].split(","), sys.argv[2:]
    for data_dir, pred_dir in zip(pairs[::2], pairs[1::2]):
        if not (Path(pred_dir) / "utt2emo_pred").is_file():
            raise SerError(f"no predictions in {pred_dir}: run the stage that trains and predicts this system")
        s = score_fold(data_dir, pred_dir, classes)
        print(f"{pred_dir}: UA {s['ua']:.4f} WA {s['wa']:.4f} macro-F1 {s['macro_f1']:.4f}", file=sys.stderr)


run_main(main)
PY
python -m ser.bin.score results "${exp_opts[@]}" --out "$out" --title "$title" --note "$note" --command "$command"
echo "$0: wrote $out"
