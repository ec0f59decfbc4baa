#!/usr/bin/env bash
# Scores the test predictions of several systems (<dir>/fold<k>/infer_test -> scores.json) and
# writes one RESULTS.md with a row per system, over the asked folds only (--folds, else every fold
# of the scheme): predictions of other folds that happen to exist in the same dirs are left out.
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
# One process scores every (system, fold) and writes the table: loading python once per fold and
# system would cost more than the scoring.
python - "$out" "$classes" "$title" "$note" "$command" "$scheme" "$fold_ids" "$@" <<'PY'
import sys
from pathlib import Path

from ser.train.scoring import results_table, score_fold, summary_table
from ser.utils import SerError, run_main, write_text_atomic


def score_system(exp_dir: str, scheme: str, folds: list, classes: list) -> dict:
    """{fold<k>: scores} of the asked folds, each scored against the fold's test set now."""
    scores = {}
    for k in folds:
        pred_dir = Path(exp_dir) / f"fold{k}" / "infer_test"
        if not (pred_dir / "utt2emo_pred").is_file():
            raise SerError(f"no predictions in {pred_dir}: run the stage that trains and predicts this system")
        s = score_fold(f"data/folds/{scheme}/fold{k}/test", pred_dir, classes)
        print(f"{pred_dir}: UA {s['ua']:.4f} WA {s['wa']:.4f} macro-F1 {s['macro_f1']:.4f}", file=sys.stderr)
        scores[f"fold{k}"] = s
    return scores


def main():
    out, classes, title, note, command, scheme, folds, *systems = sys.argv[1:]
    folds = folds.split()
    table = {}
    for item in systems:
        name, _, path = item.rpartition("=")
        table[name or Path(path).name] = score_system(path, scheme, folds, classes.split(","))
    text = [f"# {title}\n"]
    if note:
        text.append(note + "\n")
    if command:
        text.append(f"Produced by:\n\n```\n{command}\n```\n")
    text += ["## Summary (mean over folds)\n", summary_table(table), "\n## Per fold\n", results_table(table)]
    write_text_atomic(out, "\n".join(text))


run_main(main)
PY
echo "$0: wrote $out"
