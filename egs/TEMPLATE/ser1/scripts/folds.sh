# Sourced: sets `fold_ids` to the requested folds ($folds, e.g. "1 3") or every fold of $scheme, and
# defines `for_each_fold N FUNC`: runs `FUNC k` for every fold k, N at a time (each in the background
# when N > 1), and fails when any of them failed. Call it as a plain command, not behind `||` or `if`:
# there bash would ignore `set -e` inside FUNC, which must stop at its first failing step.
# shellcheck shell=bash disable=SC2154  # scheme, folds: the caller's options
for_each_fold() {
  local n=$1 fn=$2 k p failed=0 pids=()
  for k in $fold_ids; do
    if [ "$n" -le 1 ]; then "$fn" "$k"; continue; fi
    while [ "$(jobs -rp | wc -l)" -ge "$n" ]; do sleep 2; done  # polled: `wait -n` would reap a status
    "$fn" "$k" & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  [ $failed -eq 0 ] || echo "$0: at least one fold failed; see its log above" >&2
  return $failed
}
if [ -n "${folds:-}" ]; then
  fold_ids=$folds
else
  fold_ids=$(find "data/folds/$scheme" -maxdepth 1 -name 'fold*' -printf '%f\n' 2>/dev/null | sed 's/fold//' | sort -n | tr '\n' ' ')
  if [ -z "$fold_ids" ]; then echo "no folds under data/folds/$scheme: run stage 0 first" >&2; exit 1; fi
fi
