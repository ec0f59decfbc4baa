#!/usr/bin/env bash
# GMP-ATL stage 3: for each fold, one k-means codebook per scale fitted on frames of that fold's
# training utterances only (never its valid or test speakers), then integer frame labels for every
# utterance of the dump, one label store per scale (python -m ser.bin.kmeans).
#   gmp/kmeans.sh --ks 64,512,4096 [--max_fit_frames N] [--backend faiss] [--seed 0]
#       [--cmd utils/run.py] [--scheme session] [--folds "1 3"] [--parallel 1] <dump-root> <out-root>
# -> <out-root>/fold<k>/labels_k<K>.scp and km_k<K>.npz; cluster usage in <out-root>/fold<k>/kmeans.log.
# A fold is skipped when every labels_k<K>.scp is newer than its features; older outputs are removed.
# --parallel N fits N folds at once (one job each, one thread: each job holds its fold's frames, ~1 GB
# for a RAVDESS fold of Whisper base).
set -euo pipefail
ks=64,512,4096
max_fit_frames=            # empty: ser.bin.kmeans's default (max(256 x the largest K, 2^20) frames, or all if fewer)
backend=faiss
seed=0
cmd=utils/run.py
scheme=session
folds=
parallel=1
. utils/parse_options.sh
if [ $# -ne 2 ]; then echo "usage: $0 --ks 64,512,4096 [options] <dump-root> <out-root>" >&2; exit 1; fi
dump=$1; root=$2
. scripts/folds.sh
opts=(); [ -n "$max_fit_frames" ] && opts+=(--max-fit-frames "$max_fit_frames")
for k in $fold_ids; do  # every fold's dump first, so that no fit starts before a missing one fails
  [ -f "$dump/fold$k/feats.scp" ] || { echo "$0: $dump/fold$k/feats.scp not found: run the layer dump (stage 2) first" >&2; exit 1; }
done

one_fold() {
  local k=$1 feats=$dump/fold$1/feats.scp out=$root/fold$1 complete=true K
  for K in ${ks//,/ }; do [ "$out/labels_k$K.scp" -nt "$feats" ] || complete=false; done
  if [ $complete = true ]; then echo "$0: $out has labels for k = $ks; skipping"; return 0; fi
  # outputs older than the features belong to an earlier dump: ser.bin.kmeans would reuse them
  if [ -d "$out" ]; then find "$out" -maxdepth 1 -type f ! -newer "$feats" -delete; fi
  echo "$0: k-means k = $ks on the frames of $scheme fold $k's training utterances -> $out (log: $out/kmeans.log)"
  $cmd "$out/kmeans.log" python -m ser.bin.kmeans --feats "$feats" --fit-dir "data/folds/$scheme/fold$k/train" \
    --label-all --ks "$ks" --backend "$backend" --seed "$seed" --out "$out" "${opts[@]}"
}
for_each_fold "$parallel" one_fold
