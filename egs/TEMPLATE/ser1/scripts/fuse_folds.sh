#!/usr/bin/env bash
# Late fusion of systems' test posteriors (ser.bin.fuse_posteriors) for every fold. Systems are
# given in groups: within a group (comma separated) they are averaged, and the groups (space
# separated) weigh equally, e.g. --groups "exp/a,exp/a_s1 exp/lin" gives 1/4, 1/4, 1/2.
# --balance true divides the fused posteriors by the class frequencies of the fold's training
# speakers (train + valid), the decision for unweighted accuracy (ser.bin.fuse_posteriors).
#   scripts/fuse_folds.sh --scheme emobox --groups "exp/x,exp/y exp/z" [--classes a,b,c] [--folds "1 3"]
#       [--balance false] <out-exp-dir>
# --classes: the fused classes, in order (empty: the first system's classes.txt, fold by fold).
set -euo pipefail
scheme=session
folds=
classes=
groups=
balance=false
. utils/parse_options.sh
if [ $# -ne 1 ] || [ -z "$groups" ]; then
  echo "usage: $0 --groups \"exp/a,exp/b exp/c\" [--classes a,b,c] [options] <out-exp-dir>" >&2; exit 1
fi
out=$1
. scripts/folds.sh
for g in ${groups//,/ }; do exp_scheme "$g"; done
exp_scheme "$out" write
systems=(); weights=()
n_groups=$(wc -w <<< "$groups")
for g in $groups; do
  IFS=, read -r -a members <<< "$g"
  for m in "${members[@]}"; do
    systems+=("$m"); weights+=("$(awk -v g="$n_groups" -v m="${#members[@]}" 'BEGIN { printf "%.17g", 1 / (g * m) }')")
  done
done
for k in $fold_ids; do
  prior=(); [ "$balance" = true ] && prior=(--prior-data "data/folds/$scheme/fold$k/train,data/folds/$scheme/fold$k/valid")
  preds=(); for s in "${systems[@]}"; do preds+=("$s/fold$k/infer_test"); done
  fold_classes=$classes
  [ -n "$fold_classes" ] || fold_classes=$(paste -sd, "${preds[0]}/classes.txt") || {
    echo "$0: ${preds[0]}/classes.txt not found: predict that system first, or give --classes" >&2; exit 1; }
  python -m ser.bin.fuse_posteriors --classes "$fold_classes" --weights "$(IFS=,; echo "${weights[*]}")" "${prior[@]}" \
    --out-dir "$out/fold$k/infer_test" "${preds[@]}"
done
echo "$0: fused ${systems[*]} (weights ${weights[*]}$([ "$balance" = true ] && echo ', divided by training class priors')) -> $out/fold*/infer_test"
