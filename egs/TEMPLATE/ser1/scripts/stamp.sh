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
