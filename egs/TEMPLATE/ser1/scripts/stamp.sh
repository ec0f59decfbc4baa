# Sourced: `input_stamp ARG...` prints what a training or inference run depends on, so that a fold
# is skipped only when it was made from exactly these inputs: the options, then for every option
# value naming a file its checksum (an scp's arks by size and modification time: checksumming
# gigabytes of features would cost minutes per fold, and a rewritten ark always gets a new time),
# then every file of the data dirs in the array `data_dirs`. `same_stamp FILE STAMP` tests a record.
# shellcheck shell=bash disable=SC2154  # data_dirs: set by the caller
file_sums() {
  local f=$1
  echo "$f $(md5sum < "$f" | cut -d' ' -f1)"
  case $f in *.scp)
    awk '{print $2}' "$f" | sed 's/:[0-9]*$//' | sort -u | while read -r ark; do
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
same_stamp() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
# `store_stamp DATA "FILES" PATH OPTION...` prints what a feature store is made from: the options
# (kind, upstream, layers, nj...), the content of the data dir's FILES that define its utterances
# (labels are left out: relabelling must not redo an hours-long dump), the audio wav.scp names and
# the checkpoint PATH (file or folder) by size and modification time, as a fixed audio file or a
# re-trained checkpoint keeps its name.
store_stamp() {
  local data=$1 files=$2 path=$3 f
  shift 3
  echo "options $*"
  for f in $files; do
    if [ -f "$data/$f" ]; then echo "$f $(md5sum < "$data/$f" | cut -d' ' -f1)"; fi
  done
  if [[ " $files " == *" wav.scp "* ]] && [ -f "$data/wav.scp" ]; then  # one line: corpora have 100k+ files
    echo "audio $({ awk 'NF == 2 {print $2}' "$data/wav.scp" | xargs -r -d '\n' stat -c '%n %s %.9Y' 2>/dev/null || true; } \
      | md5sum | cut -d' ' -f1) (size and time of every wav.scp file)"
  fi
  if [ -n "$path" ] && [ -e "$path" ]; then
    find "$path" -type f | LC_ALL=C sort | xargs -r -d '\n' stat -c '%n %s %.9Y'
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
