#!/usr/bin/env bash
# Packs one trained and scored system into <exp-dir>/model.pack.zip (ser.bin.pack): the best fold's
# model (--select best, by test UA), a fold number, or every fold as an ensemble (--select all); a
# fused system (--groups) with its member systems, their weights and (--balance true) the folds'
# training class priors. Repacked only when a packed input changed (model.pack.zip.done).
#   scripts/pack_folds.sh --scheme emobox [--folds "1 3"] [--select best] [--groups "exp/a,exp/b exp/c"]
#       [--balance false] [--name label] <exp-dir>
set -euo pipefail
scheme=session
folds=
select=best
groups=
balance=false
name=
. utils/parse_options.sh
if [ $# -ne 1 ]; then echo "usage: $0 [options] <exp-dir>" >&2; exit 1; fi
exp=$1
. scripts/folds.sh
. scripts/stamp.sh
data_dirs=()
out=$exp/model.pack.zip
inputs=(); for d in ${groups:-$exp}; do for m in ${d//,/ }; do for k in $fold_ids; do
  inputs+=("$m/fold$k/model.best.pt" "$m/fold$k/config.yaml"); done; done; done
[ ! -f "$exp/RESULTS.md" ] || inputs+=("$exp/RESULTS.md")
stamp=$(input_stamp "${inputs[@]}" --select "$select" --balance "$balance" --folds "$fold_ids")
if [ -f "$out" ] && same_stamp "$out.done" "$stamp"; then echo "$0: $out is up to date"; exit 0; fi
rm -f "$out" "$out.done"
python -m ser.bin.pack --if-packable --folds-root "data/folds/$scheme" --folds "$fold_ids" --select "$select" \
  --groups "$groups" --balance "$balance" ${name:+--name "$name"} --out "$out" "$exp"
if [ -f "$out" ]; then
  printf '%s\n' "$stamp" > "$out.done"
  echo "$0: wrote $out"
else
  echo "$0: $exp is not packed (the reason is above)"
fi
