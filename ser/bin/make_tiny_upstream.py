"""Saves a small randomly initialised HuBERT or Whisper in transformers format (ser.features.tiny):
the download-free stand-in for a pretrained upstream in demo runs, or a from-scratch encoder.
Does nothing when DIR already holds a model.

  python -m ser.bin.make_tiny_upstream --kind hubert [--dim 64 --layers 2 --heads 2 --ffn-dim 128 --conv-dim 32] DIR
  python -m ser.bin.make_tiny_upstream --kind whisper [--dim 32 --layers 2 --heads 2] DIR
"""

import argparse

from ser.features.tiny import make_tiny_hubert, make_tiny_whisper
from ser.utils import SerError, run_main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--kind", choices=("hubert", "whisper"), default="hubert")
    ap.add_argument("--dim", type=int, help="hidden dims (default: 64 HuBERT, 32 Whisper)")
    ap.add_argument("--layers", type=int, default=2, help="transformer layers")
    ap.add_argument("--heads", type=int, default=2, help="attention heads")
    ap.add_argument("--ffn-dim", type=int, help="HuBERT feed-forward dims (default 128; 4 x dim with --dim)")
    ap.add_argument("--conv-dim", type=int, help="HuBERT conv front-end channels (default 32; dim with --dim)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.kind == "whisper":
        if args.ffn_dim or args.conv_dim:
            raise SerError("--ffn-dim and --conv-dim are HuBERT options")
        make_tiny_whisper(args.out_dir, d_model=args.dim or 32, layers=args.layers, heads=args.heads, seed=args.seed)
        return
    dim = args.dim or 64
    make_tiny_hubert(
        args.out_dir,
        hidden_size=dim,
        num_layers=args.layers,
        heads=args.heads,
        intermediate_size=args.ffn_dim or (4 * dim if args.dim else 128),
        conv_dim=args.conv_dim or (dim if args.dim else 32),
        seed=args.seed,
    )


if __name__ == "__main__":
    run_main(main)
