"""Stage 0 check that every pretrained model a recipe needs loads (ser.features.model_check):
exits 1 listing each one that does not, with how to get it.

  python -m ser.bin.check_models --upstream wavlm_large --upstream hf_hubert_custom=downloads/tiny_hubert \
      --text microsoft/deberta-v3-large --text ""      # "" : the packaged all-MiniLM-L6-v2
"""

import argparse

from ser.features.model_check import check_models
from ser.utils import SerError, get_logger, run_main

log = get_logger("check_models")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", action="append", default=[], help="name or name=checkpoint path")
    ap.add_argument("--text", action="append", default=[], help="text encoder: hub name, local folder, or ''")
    args = ap.parse_args()
    upstreams = [tuple(u.split("=", 1)) if "=" in u else (u, None) for u in args.upstream]
    problems = check_models(upstreams, args.text)
    if problems:
        raise SerError(
            f"{len(problems)} pretrained model(s) needed by this recipe do not load:\n  - " + "\n  - ".join(problems)
        )
    log.info("every pretrained model needed loads (%d upstreams, %d text encoders)", len(upstreams), len(args.text))


if __name__ == "__main__":
    run_main(main)
