# Sourced: sets `fold_ids` to the requested folds ($folds, e.g. "1 3") or every fold of $scheme.
# shellcheck shell=bash
if [ -n "${folds:-}" ]; then
  fold_ids=$folds
else
  fold_ids=$(find "data/folds/$scheme" -maxdepth 1 -name 'fold*' -printf '%f\n' 2>/dev/null | sed 's/fold//' | sort -n | tr '\n' ' ')
  if [ -z "$fold_ids" ]; then echo "no folds under data/folds/$scheme: run stage 0 first" >&2; exit 1; fi
fi
