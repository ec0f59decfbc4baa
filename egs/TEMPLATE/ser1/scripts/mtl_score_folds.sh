#!/usr/bin/env bash
# Multi-task recipes (mtl_coattn): scores every fold of one or more systems (emotion macro-F1, UA,
# WA, confusion; gender accuracy; speaker EER; CER) and writes one RESULTS.md comparing them.
#   scripts/mtl_score_folds.sh --scheme session [--folds "1 3"] --classes neu,hap,ang,sad --out exp/x/RESULTS.md \
#       [--title ...] [--note ...] [--command ...] name=exp-dir [name=exp-dir ...]
set -euo pipefail
scheme=session
folds=
classes=
out=
title=Results
note=
command=
. utils/parse_options.sh
if [ $# -lt 1 ] || [ -z "$classes" ] || [ -z "$out" ]; then
  echo "usage: $0 --classes a,b,c --out RESULTS.md [options] name=exp-dir ..." >&2; exit 1
fi
. scripts/folds.sh
exp_opts=(); score_opts=()
for system in "$@"; do exp_opts+=(--exp "$system"); score_opts+=(--exp "${system#*=}"); done
python -m ser.bin.score_mtl folds "${score_opts[@]}" --folds-root "data/folds/$scheme" --folds "$fold_ids" \
  --classes "$classes"
python -m ser.bin.score results "${exp_opts[@]}" --out "$out" --title "$title" --note "$note" --command "$command"
python -m ser.bin.score_mtl append "${exp_opts[@]}" --into "$out"
echo "$0: wrote $out"
