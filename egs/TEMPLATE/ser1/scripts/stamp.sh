# Sourced: `input_stamp ARG...` prints what a training or inference run depends on, so that a fold
# is skipped only when it was made from exactly these inputs: the options, then for every option
# value naming a file its checksum (an scp's arks by size and modification time: checksumming
# gigabytes of features would cost minutes per fold, and a rewritten ark always gets a new time),
# then every file of the data dirs in the array `data_dirs`, a wav.scp's audio by content
# (audio_sums). `same_stamp FILE STAMP` tests a record.
# shellcheck shell=bash disable=SC2154  # data_dirs: set by the caller
# `audio_sums WAV_SCP` prints "path size md5:DIGEST" per audio file (ser/data/file_digest.py, cached):
# by content, not time, as a corpus copied or unpacked again has new times for the same audio.
audio_sums() { awk 'NF == 2 {print $2}' "$1" | python -m ser.data.file_digest; }
file_sums() {
  local f=$1
  echo "$f $(md5sum < "$f" | cut -d' ' -f1)"
  case $f in
    wav.scp|*/wav.scp) audio_sums "$f";;
    *.scp) awk '{print $2}' "$f" | sed 's/:[0-9]*$//' | sort -u | while read -r ark; do
      if [ -f "$ark" ]; then echo "$ark $(stat -c '%s %.9Y' "$ark")"; fi; done;;
  esac
}
input_stamp() {
  local w f d
  echo "args $*"
  for w in "$@"; do
    f=${w#*=}
    if [ -f "$f" ]; then file_sums "$f"; fi
  done
  for d in "${data_dirs[@]}"; do
    find "$d" -maxdepth 1 -type f | LC_ALL=C sort | while read -r f; do file_sums "$f"; done
  done
}
same_stamp() {
  [ -f "$1" ] || return 1
  [ "$(cat "$1")" = "$2" ] && return 0
  if grep -q ' md5:' <<< "$2" && ! grep -q ' md5:' "$1" \
      && [ "$(legacy_audio < "$1")" = "$(printf '%s\n' "$2" | legacy_audio)" ]; then
    echo "$0: $1 was recorded before audio was fingerprinted by content; its audio paths and sizes agree, so it is kept and recorded anew" >&2
    printf '%s\n' "$2" > "$1.tmp" && mv "$1.tmp" "$1"
    return 0
  fi
  return 1
}
# A record's lines with audio times ("path size TIME", before audio_sums) and content ("path size
# md5:DIGEST") both reduced to "path size": an old record is accepted once when nothing else differs.
legacy_audio() {
  awk 'NF == 3 && ($3 ~ /^md5:/ || $3 ~ /^[0-9]+\.[0-9]+$/) && !/\.(ark|scp)( |$)/ {print $1, $2; next} {print}'
}
# `store_stamp DATA "FILES" PATH OPTION...` prints what a feature store is made from: the options
# (kind, upstream, layers, nj...), the content of the data dir's FILES that define its utterances
# (labels are left out: relabelling must not redo an hours-long dump), and by content the audio of
# its wav.scp and the checkpoint PATH (file or folder), as a fixed audio file or a re-trained
# checkpoint keeps its name while a copied corpus or a re-converted checkpoint gets new times.
store_stamp() {
  local data=$1 files=$2 path=$3 f
  shift 3
  echo "options $*"
  for f in $files; do
    if [ -f "$data/$f" ]; then echo "$f $(md5sum < "$data/$f" | cut -d' ' -f1)"; fi
  done
  if [[ " $files " == *" wav.scp "* ]] && [ -f "$data/wav.scp" ]; then  # one line: corpora have 100k+ files
    echo "audio $(audio_sums "$data/wav.scp" | md5sum | cut -d' ' -f1) (size and content of every wav.scp file)"
  fi
  if [ -n "$path" ] && [ -e "$path" ]; then
    find "$path" -type f | LC_ALL=C sort | python -m ser.data.file_digest
  fi
}
# `store_begin OUT STAMP`: exits 0 when OUT is complete for STAMP (.done); otherwise clears every
# output made from other inputs (job arks and scps included: merging them again would bring back
# features of the old inputs), saying what changed, and records STAMP in OUT/.stamp so that a killed
# dump resumes its finished jobs. `store_end OUT` marks it complete.
store_begin() {
  local out=$1 stamp=$2
  if same_stamp "$out/.done" "$stamp" && [ -f "$out/feats.scp" ]; then
    echo "$0: $out is complete for its current inputs; skipping (delete $out to recompute)"; exit 0
  fi
  if [ -n "$(find "$out" -maxdepth 1 -name 'feats*' 2>/dev/null)" ] && ! same_stamp "$out/.stamp" "$stamp"; then
    if [ -f "$out/.stamp" ]; then
      echo "$0: $out was made from other inputs; redoing it. Changed (< before, > now):"
      diff <(cat "$out/.stamp") <(printf '%s\n' "$stamp") | grep '^[<>]' | head -n 10 || true
    else
      echo "$0: $out holds features of unrecorded inputs (made before stores were stamped); redoing it"
    fi
    find "$out" -maxdepth 1 \( -name 'feats*' -o -name '.feats*' \) -delete
  fi
  rm -f "$out/.done"
  mkdir -p "$out/log"
  printf '%s\n' "$stamp" > "$out/.stamp.tmp" && mv "$out/.stamp.tmp" "$out/.stamp"
}
store_end() { cp "$1/.stamp" "$1/.done.tmp" && mv "$1/.done.tmp" "$1/.done"; }
