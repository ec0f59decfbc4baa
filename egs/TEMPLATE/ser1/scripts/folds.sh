# Sourced: sets `fold_ids` to the requested folds ($folds, e.g. "1 3") or every fold of $scheme, and
# defines `for_each_fold N FUNC`: runs `FUNC k` for every fold k, N at a time (each in the background
# when N > 1), and fails when any of them failed. Call it as a plain command, not behind `||` or `if`:
# there bash would ignore `set -e` inside FUNC, which must stop at its first failing step.
# `exp_scheme EXP [write]` refuses an experiment dir made under another fold scheme (its .scheme):
# fold k of one scheme tests speakers that fold k of another trains on, so a model of one scheme
# must never predict or be scored on another's folds; `write` records $scheme in a new dir.
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
exp_scheme() {
  local exp=$1 had
  if [ -f "$exp/.scheme" ]; then
    had=$(cat "$exp/.scheme")
    if [ "$had" != "$scheme" ]; then
      echo "$0: $exp holds models of the '$had' fold scheme, not '$scheme': give this scheme its own" \
        "experiment dir (ser.sh: another --exp_name or --tag), or delete $exp to reuse the name" >&2
      exit 1
    fi
  elif [ "${2:-}" = write ]; then
    mkdir -p "$exp"; echo "$scheme" > "$exp/.scheme"
  fi
}
if [ ! -d "data/folds/$scheme" ]; then
  have=$(find data/folds -mindepth 1 -maxdepth 1 -type d -printf '%f ' 2>/dev/null || true)
  echo "$0: no fold scheme '$scheme' under data/folds (${have:+schemes made here: $have; }stage 0 makes a corpus's schemes)" >&2
  exit 1
fi
if [ -n "${folds:-}" ]; then
  fold_ids=$folds
  for k in $fold_ids; do  # checked before any fold's dir is made
    if [[ ! $k =~ ^[0-9]+$ ]] || [ ! -d "data/folds/$scheme/fold$k" ]; then
      echo "$0: fold '$k' is not a fold of the $scheme scheme (folds: $(find "data/folds/$scheme" -maxdepth 1 \
        -name 'fold*' -printf '%f\n' | sed 's/fold//' | sort -n | xargs))" >&2
      exit 1
    fi
  done
else
  fold_ids=$(find "data/folds/$scheme" -maxdepth 1 -name 'fold*' -printf '%f\n' 2>/dev/null | sed 's/fold//' | sort -n | tr '\n' ' ')
  if [ -z "$fold_ids" ]; then echo "no folds under data/folds/$scheme: run stage 0 first" >&2; exit 1; fi
fi
