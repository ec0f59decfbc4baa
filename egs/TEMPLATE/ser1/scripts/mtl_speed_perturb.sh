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
for k in $fold_ids; do
  fd=data/folds/$scheme/fold$k
  if [ "$fd/train_sp/utt2spk" -nt "$fd/train/utt2spk" ] && [ "$(cat "$fd/train_sp/.factors" 2>/dev/null)" = "$factors" ]; then
    echo "$0: $fd/train_sp is up to date"
  else
    pairs+=("$fd/train" "$fd/train_sp")
  fi
done
if [ ${#pairs[@]} -gt 0 ]; then
  python -m ser.bin.speed_perturb_dir --factors "$factors" --wav-dir dump/speed_perturb "${pairs[@]}"
  for ((i = 1; i < ${#pairs[@]}; i += 2)); do echo "$factors" > "${pairs[$i]}/.factors"; done
fi
