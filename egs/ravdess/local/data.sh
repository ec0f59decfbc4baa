#!/usr/bin/env bash
# RAVDESS data prep shared by every RAVDESS recipe -> data/all and data/folds/<scheme>/fold<k>.
# Run from a recipe dir (egs/ravdess/<recipe>, where local -> ../local) after `. ./path.sh`:
#   local/data.sh [--schemes emobox,speaker,emobox_dev] [--seed 0]
# The corpus is $RAVDESS from ./db.sh or the environment (the folder holding Actor_01..Actor_24).
# Skipped when data/.done matches the current settings.
set -euo pipefail
schemes=emobox,speaker,emobox_dev  # fold schemes written under data/folds
seed=0                    # draws the emobox validation actors
. utils/parse_options.sh
scripts/prepare_corpus.sh --var RAVDESS --layout "your copy of the speech release (the folder holding Actor_01..Actor_24)" \
  local/prepare_ravdess.py --schemes "$schemes" --seed "$seed"
