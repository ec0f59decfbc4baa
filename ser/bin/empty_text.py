"""Applies a recipe's policy for utterances with an empty transcript to data dirs, in place.

  python -m ser.bin.empty_text --mode drop data/all data/folds/speaker/fold*/{train,valid,test}

A transcript is empty when it has no characters but blanks, or is the placeholder `<unk>` that
the IEMOCAP prep writes for a turn transcribed as nothing.
  drop   removes those utterances from every file of each dir and logs how many went;
  empty  keeps them; blank lines of `text` get the placeholder, so every program can read the
         dir, and the text dump stores them as 0-token sequences that the models mask.
Running it twice changes nothing the second time.
"""

import argparse

from ser.data.empty_text import apply_policy
from ser.utils import get_logger, run_main

log = get_logger("empty_text")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", required=True, choices=["drop", "empty"])
    ap.add_argument("data_dirs", nargs="+")
    args = ap.parse_args()
    total = sum(apply_policy(d, args.mode) for d in args.data_dirs)
    log.info(
        "empty_text=%s: %d utterances with an empty transcript over %d data dirs", args.mode, total, len(args.data_dirs)
    )


if __name__ == "__main__":
    run_main(main)
