#!/usr/bin/env bash
# Partial fine-tuning's cache: the output of a pre-trained upstream's frozen bottom (everything below
# its top N transformer layers) for every utterance of <data-dir>, once, in NJ resumable jobs. The
# bottom never trains, so one cache serves every fold and every phase that trains only the top N.
#   gmp/dump_frozen.sh --upstream whisper_base [--upstream_path DIR] --trainable_layers 2 \
#       [--nj 2] [--cmd utils/run.py] [--float16 true] <data-dir> <out-dir>     -> <out-dir>/feats.scp
# Skipped when <out-dir>/.done records the same upstream, path, N and data dir; otherwise the old
# outputs are removed first. (Weights changed in place under the same path are caught later: a
# model refuses a cache whose fingerprint of the frozen weights is not its own.)
set -euo pipefail
upstream=
upstream_path=
trainable_layers=
nj=2
cmd=utils/run.py
float16=true
. utils/parse_options.sh
if [ $# -ne 2 ] || [ -z "$upstream" ] || [ -z "$trainable_layers" ]; then
  echo "usage: $0 --upstream NAME --trainable_layers N [options] <data-dir> <out-dir>" >&2; exit 1
fi
data=$1; out=$2
stamp="upstream=$upstream path=$upstream_path trainable_layers=$trainable_layers float16=$float16 data=$data $(md5sum < "$data/wav.scp" | cut -d' ' -f1)"
if [ -f "$out/feats.scp" ] && [ "$(cat "$out/.done" 2>/dev/null)" = "$stamp" ]; then
  echo "$0: $out holds the frozen layers of $upstream (top $trainable_layers trainable); skipping"; exit 0
fi
rm -rf "$out"; mkdir -p "$out/log"
opts=(--upstream "$upstream" --trainable-layers "$trainable_layers")
[ -z "$upstream_path" ] || opts+=(--upstream-path "$upstream_path")
[ "$float16" = true ] && opts+=(--float16)
echo "$0: frozen bottom of $upstream (all but the top $trainable_layers layers) for $data -> $out with $nj jobs (logs: $out/log/dump.*.log)"
$cmd JOB=1:"$nj" "$out/log/dump.JOB.log" python -m ser.bin.dump_layer --data-dir "$data" --out "$out" \
  --nj "$nj" --job JOB "${opts[@]}"
[ "$nj" -eq 1 ] || python -m ser.bin.dump_layer --out "$out" --nj "$nj" --merge
echo "$stamp" > "$out/.done"
