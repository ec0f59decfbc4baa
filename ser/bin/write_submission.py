"""Predicts a blind test set (audio files whose labels are not public) with a trained fold model and
writes the challenge submission CSV (`FileName,EmoClass`; ser.eval.submission).

  python -m ser.bin.write_submission --exp-dir exp/mtl_coattn_wavlm_large/fold1 \
      --audio-dir $MSP_PODCAST/Audios --file-list test3_files.txt --out exp/mtl_coattn_wavlm_large/submission_test3.csv

Only models that read the audio (data.use_wav) can predict files without dumped features.
"""

import argparse
from pathlib import Path

from ser.eval.submission import blind_data_dir, write_submission
from ser.train.experiment import FeatStores, infer
from ser.utils import pick_device, run_main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exp-dir", required=True, help="a trained fold (model.best.pt, config.yaml)")
    ap.add_argument("--audio-dir", required=True)
    ap.add_argument("--file-list", help="file names of the blind set, one per line (default: every audio file)")
    ap.add_argument("--out", required=True, help="the submission CSV")
    ap.add_argument("--work-dir", help="data dir and predictions (default: <exp-dir>/blind)")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    work = Path(args.work_dir or Path(args.exp_dir) / "blind")
    blind_data_dir(args.audio_dir, work / "data", args.file_list)
    infer(args.exp_dir, work / "data", work / "infer", FeatStores(), pick_device(args.device))
    write_submission(work / "infer", work / "data", args.out)


if __name__ == "__main__":
    run_main(main)
