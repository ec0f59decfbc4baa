# shellcheck shell=bash
# Corpus location for the MSP-Podcast recipes. The environment overrides it:
#   MSP_PODCAST=/data/MSP-Podcast ./run.sh
# The folder holds the official release layout: Audios/*.wav, Labels/labels_consensus.csv,
# Transcripts/*.txt. Empty means: use the built-in synthetic corpus in that layout (numbers then
# say nothing about real accuracy).
MSP_PODCAST="${MSP_PODCAST:-}"
