# shellcheck shell=bash
# Corpus locations for the IEMOCAP recipes. The environment overrides them:
#   IEMOCAP=/data/IEMOCAP_full_release ./run.sh
# Empty means: use the built-in synthetic corpus (numbers then say nothing about real accuracy).
IEMOCAP="${IEMOCAP:-}"
