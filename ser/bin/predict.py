"""ser-infer: a packed model (ser.bin.pack, or a recipe's stage 5) on any recordings, features
computed from the audio by the archive's own recipe (no data dir, no dump).

  ser-infer exp/x/model.pack.zip my_recording.wav              # CSV on stdout
  ser-infer exp/x/model.pack.zip recordings/ more.flac data/test/wav.scp --out preds.jsonl \\
      [--window 4 --hop 2] [--device cuda] [--upstream-path whisper_base=tools/whisper/base]
  python -m ser.bin.predict ...                                  # the same

Inputs: audio files (anything soundfile reads; resampled to 16 kHz and downmixed to mono), the audio
files of a directory (recursively), or a Kaldi wav.scp (*.scp). A row per input with the predicted
class and every class's posterior, V/A/D and gender when the model has them; with --window, a
recording longer than the window gets a row per window (segment 0, 1, ...) and a summary row
(segment "all", the mean of its windows). An unreadable, empty or too short input gets its error in
its row and the rest go on; the exit status is 1 only when no input could be predicted.
"""

import argparse
import sys
from pathlib import Path

from ser.packing.inputs import gather_inputs
from ser.packing.output import RowWriter
from ser.packing.predictor import Predictor
from ser.packing.run import predict_inputs
from ser.utils import SerError, get_logger, pick_device, run_main, write_text_atomic

log = get_logger("predict")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="ser-infer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("model", help="a packed model (.zip made by ser.bin.pack)")
    ap.add_argument("inputs", nargs="+", help="audio files, directories, or wav.scp files")
    ap.add_argument("--out", default="-", help="output file (default: stdout)")
    ap.add_argument("--format", choices=("csv", "jsonl"), help="default: from --out's extension, else csv")
    ap.add_argument("--window", type=float, default=0.0, help="window seconds for long recordings (0: whole)")
    ap.add_argument("--hop", type=float, default=0.0, help="seconds between window starts (default: --window)")
    ap.add_argument("--min-seconds", type=float, default=0.1, help="shorter recordings are reported as errors")
    ap.add_argument("--batch-size", type=int, default=8, help="windows predicted at once")
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1")
    ap.add_argument(
        "--upstream-path",
        action="append",
        default=[],
        help="NAME=PATH: the local copy of an upstream checkpoint the archive references but does not hold",
    )
    ap.add_argument("--show-results", action="store_true", help="print the packed RESULTS.md and exit")
    args = ap.parse_args(argv)
    if args.window < 0 or args.hop < 0 or args.batch_size < 1:
        ap.error("--window and --hop must be >= 0, --batch-size >= 1")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    given = {}
    for item in args.upstream_path:
        if "=" not in item:
            raise SerError(f"--upstream-path '{item}' must look like NAME=PATH (e.g. whisper_base=tools/whisper/base)")
        name, path = item.split("=", 1)
        given[name] = path
    predictor = Predictor(args.model, pick_device(args.device), given)
    if args.show_results:
        print(predictor.results or f"{args.model} holds no RESULTS.md")
        return
    fmt = args.format or ("jsonl" if args.out.endswith((".jsonl", ".json")) else "csv")
    writer = RowWriter(fmt, predictor.classes)
    ok, failed = predict_inputs(
        predictor, gather_inputs(args.inputs), writer, args.window, args.hop, args.min_seconds, args.batch_size
    )
    if args.out == "-":
        sys.stdout.write(writer.render())
    else:
        write_text_atomic(Path(args.out), writer.render())
        log.info("wrote %s", args.out)
    log.info("%d inputs predicted, %d failed (their rows hold the error)", ok, failed)
    if ok == 0:
        raise SerError(f"none of the {failed} inputs could be predicted")


def entry_point() -> None:
    run_main(main)


if __name__ == "__main__":
    entry_point()
