#!/usr/bin/env bash
# Speed-perturbed copies of data dirs (ser.bin.speed_perturb_dir): each <out-dir> holds its
# <in-dir>'s utterances plus one copy sp<f>-<utt> per factor; the audio goes to dump/speed_perturb
# once and is shared. A pair whose <out-dir> is newer than its <in-dir> and made with the same
# factors is skipped, so re-running a stage does not invalidate features dumped from it.
#   scripts/speed_perturb_dirs.sh [--factors 0.9,1.1] <in-dir> <out-dir> [<in-dir> <out-dir> ...]
#   scripts/speed_perturb_dirs.sh [--factors 0.9,1.1] --scheme session [--folds "1 3"]
# The second form perturbs each fold's training set: data/folds/<scheme>/fold<k>/{train -> train_sp}.
set -euo pipefail
factors=0.9,1.1
scheme=
folds=
. utils/parse_options.sh
if [ -n "$scheme" ]; then
  . scripts/folds.sh
  for k in $fold_ids; do set -- "$@" "data/folds/$scheme/fold$k/train" "data/folds/$scheme/fold$k/train_sp"; done
fi
if [ $# -eq 0 ] || [ $(($# % 2)) -ne 0 ]; then
  echo "usage: $0 [--factors 0.9,1.1] <in-dir> <out-dir> [...] | --scheme <scheme> [--folds \"1 3\"]" >&2; exit 1
fi
pairs=()
while [ $# -gt 0 ]; do
  if [ "$2/utt2spk" -nt "$1/utt2spk" ] && [ "$(cat "$2/.factors" 2>/dev/null)" = "$factors" ]; then
    echo "$0: $2 is up to date"
  else
    pairs+=("$1" "$2")
  fi
  shift 2
done
if [ ${#pairs[@]} -gt 0 ]; then
  echo "$0: speed perturbation x$factors -> ${pairs[*]:1:1}${pairs[2]:+ ...} (audio in dump/speed_perturb)"
  python -m ser.bin.speed_perturb_dir --factors "$factors" --wav-dir dump/speed_perturb "${pairs[@]}"
  for ((i = 1; i < ${#pairs[@]}; i += 2)); do echo "$factors" > "${pairs[$i]}/.factors"; done
fi
