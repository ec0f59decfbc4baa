# shellcheck shell=bash
# Corpus location for the RAVDESS recipes; the environment overrides it:
#   RAVDESS=/data/Audio_Speech_Actors_01-24 ./run.sh
# The folder holds Actor_01..Actor_24 (48 kHz .wav as released, or any rate, .wav or .flac).
# There is no built-in stand-in: empty makes stage 0 stop and ask for it.
RAVDESS="${RAVDESS:-}"
