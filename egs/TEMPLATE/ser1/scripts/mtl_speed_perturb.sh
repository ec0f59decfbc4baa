#!/usr/bin/env bash
# Multi-task recipes (mtl_coattn), optional stage 1: speed-perturbed copies of each fold's training
# set, data/folds/<scheme>/fold<k>/train_sp (originals + one copy per factor; audio written once
# to dump/speed_perturb and shared by the folds). Skipped for a fold whose train_sp is newer than
# its train.
#   scripts/mtl_speed_perturb.sh --scheme session [--folds "1 3"] [--factors 0.9,1.1]
set -euo pipefail
scheme=session
folds=
factors=0.9,1.1
. utils/parse_options.sh
. scripts/folds.sh
pairs=()
for k in $fold_ids; do pairs+=("data/folds/$scheme/fold$k/train" "data/folds/$scheme/fold$k/train_sp"); done
scripts/speed_perturb_dirs.sh --factors "$factors" "${pairs[@]}"
