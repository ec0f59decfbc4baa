"""Speed-perturbed copies of Kaldi data dirs (ser.data.speed_perturb_dir): each output dir holds its
input's utterances plus one copy sp<f>-<utt> per factor; the audio is written once under --wav-dir.

  python -m ser.bin.speed_perturb_dir --factors 0.9,1.1 --wav-dir dump/speed_perturb \
      data/folds/session/fold1/train data/folds/session/fold1/train_sp [<in> <out> ...]
"""

import argparse

from ser.data.speed_perturb_dir import perturb_dir
from ser.utils import SerError, get_logger, run_main

log = get_logger("speed_perturb_dir")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--factors", default="0.9,1.1", help="comma-separated speed factors besides 1.0")
    ap.add_argument("--wav-dir", required=True, help="where the perturbed audio is written")
    ap.add_argument("dirs", nargs="+", help="<in-dir> <out-dir> pairs")
    args = ap.parse_args()
    try:
        factors = [float(x) for x in args.factors.split(",") if x.strip()]
    except ValueError:
        raise SerError(f"--factors '{args.factors}' must be comma-separated numbers") from None
    if not factors or any(f <= 0 or f == 1.0 for f in factors):
        raise SerError(f"--factors '{args.factors}': give positive factors other than 1.0 (the originals are kept)")
    if len(args.dirs) % 2:
        raise SerError("give data dirs as <in-dir> <out-dir> pairs")
    for src, dst in zip(args.dirs[::2], args.dirs[1::2]):
        n = perturb_dir(src, dst, factors, args.wav_dir)
        log.info("%s -> %s: %d utterances (originals and x%s)", src, dst, n, ",".join(f"{f:g}" for f in factors))


if __name__ == "__main__":
    run_main(main)
