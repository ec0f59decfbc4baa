"""Converts a CTranslate2 Whisper folder into a transformers Whisper folder (no CTranslate2 needed),
and optionally checks the converted encoder against CTranslate2's own runtime.

  python -m ser.bin.convert_ct2_whisper --ct2-dir downloads/ct2 --out tools/whisper/base [--check]
"""

import argparse

from ser.features.ct2_whisper import check_against_ctranslate2, convert_ct2_whisper
from ser.utils import run_main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ct2-dir", required=True, help="folder with model.bin (and config.json, tokenizer.json)")
    ap.add_argument("--out", required=True, help="transformers folder to write")
    ap.add_argument("--check", action="store_true", help="compare the encoder with CTranslate2's (needs ctranslate2)")
    args = ap.parse_args()
    convert_ct2_whisper(args.ct2_dir, args.out)
    if args.check:
        check_against_ctranslate2(args.ct2_dir, args.out)


if __name__ == "__main__":
    run_main(main)
