"""Dumps frame features of a data dir to ark/scp, one job's share at a time.

  python -m ser.bin.dump_feats --data-dir data/all --out dump/fbank --kind fbank --nj 4 --job 2
  python -m ser.bin.dump_feats --data-dir data/all --out dump/hubert --kind upstream --upstream hubert \\
      --device cuda --batch-seconds 120 --float16 --nj 2 --job 1
  python -m ser.bin.dump_feats --data-dir data/all --out dump/fbank --nj 4 --merge

Job J writes <out>/feats.J.{ark,scp} atomically and is skipped when they exist, so a killed
stage resumes where it stopped. `--kind upstream` stores every hidden layer of an upstream side
by side in one row (frames x layers*dim) with the layout in feats.meta.json, which also records
float16, device, batch_seconds, batch_size and the batching the job used.

Batches (--kind upstream). The upstream and each batch go to --device (auto: CUDA when present);
features come back to the CPU to be written. The job's utterances are sorted by duration (utt2dur,
else the audio headers), longest first, and cut into batches of at most --batch-seconds of padded
audio (batch size x longest clip; whisper_*_padded counts 30 s per clip, as it pads to that;
default 15 s on CPU, where larger batches measured slower, and 60 s on CUDA).
--batch-seconds 0 or --batch-size 1 dumps one by one. The ark is written in batch order; the scp
is sorted as always.

Stored features must not depend on the batch an utterance lands in, and zero padding changes the
output of several upstreams. Measured on 4 noise clips of 0.5-1.5 s padded to 1.5 s, with the tiny
random models of tests/bin/test_dump_feats.py (largest |batched - alone| relative to the layer's
largest value; in brackets the same on 40 RAVDESS clips with hubert-base-shaped and Whisper-base
weights, bench/dump.py):
  fbank (s3prl)       0.8 (0.22)  only the last 2-3 frames: Kaldi gives 1 + (n - 400) // 160 frames,
                                  s3prl's length convention (n - 1) // 160 + 1; alone the missing
                                  frames repeat the last one, in a batch they are zeros
  mel (s3prl)         0.5         every frame: per-utterance CMVN whose statistics include frames
                                  reaching into the padding (log of ~0)
  hf_hubert_custom    1.1 (1.2)   every frame: the conv front end's GroupNorm normalises over the
                                  padded length (as in HuBERT/wav2vec2/WavLM base front ends)
  whisper_* (ours)    2e-7 (3e-5) padding masked (ser.features.whisper); whisper_*_padded: 0
Hence --batching auto (the default) probes the upstream when a job starts: two noise clips alone and
as one padded batch. If any layer differs by more than 1e-3 of its largest value, the job batches
only utterances of equal length (no padding, so the same as one by one up to float rounding; RAVDESS
has many clips of identical length); otherwise it uses padded batches. --batching padded forces
padding (then the features depend on the batch; on a CPU it was not even faster), --batching
equal-length never pads.

Threads: --num-threads (default: $OMP_NUM_THREADS when set, else the usable cores divided by
--nj), because OpenMP threads of several jobs competing for the same cores preempt each other at
every parallel region and can run many times slower than one thread each.
"""

import argparse
import math
from collections.abc import Callable

import numpy as np

from ser.data.audio import SAMPLE_RATE
from ser.features.jobs import add_job_args, add_thread_args, job_stem, job_utts, merge_jobs, set_num_threads
from ser.utils import SerError, get_logger, progress, run_main

log = get_logger("dump_feats")

FLOAT16_MAX = 65504.0
BATCHINGS = ("auto", "padded", "equal-length")
# Relative difference above which padding counts as changing an upstream's features. Float rounding
# of a batched matmul is ~1e-7 relative (Whisper base: 3e-5; TF32 on a GPU ~1e-4); the padding
# effects above are 0.2-1.3. A false alarm only costs speed (equal-length batches), never correctness.
# Default --batch-seconds. On a CPU a clip already fills a core's matrix units, so batches save little
# and big ones cost memory traffic (bench/README.md section 5, 1 thread, 40 RAVDESS clips: 15 s
# batches ran Whisper base 1.12x and padded HuBERT base 0.96x as fast as one by one, within that
# run's noise; 60 s batches 1.03x and 0.81x, as HuBERT's first conv output alone reaches ~400 MB).
# On a GPU, batching is what keeps it busy; 60 s is a conservative start (not measured: no GPU).
DEFAULT_BATCH_SECONDS = {"cpu": 15.0, "cuda": 60.0}


class UpstreamDumper:
    """An upstream on a device that turns a batch of waveforms into each one's (frames, layers*dim)
    matrix, cut to that waveform's own frame count."""

    def __init__(self, name: str, path: str | None = None, layers: str = "all", device: str = "auto"):
        import torch

        from ser.features.upstream import Upstream, select_layer
        from ser.utils import pick_device

        self.device = pick_device(device)
        self.up = Upstream(name, path, trainable=False).to(self.device)
        n = self.up.num_layers
        self.chosen = None if layers == "all" else [select_layer(int(x), n) for x in str(layers).split(",")]
        self.num_layers = n if self.chosen is None else len(self.chosen)
        self.meta = {
            "kind": "upstream",
            "upstream": name,
            "upstream_path": path,
            "num_layers": self.num_layers,
            "dim": self.up.hidden_size,
            "layers": self.chosen or list(range(n)),
            "frame_shift_samples": self.up.downsample_rate,
        }
        self._torch = torch

    def __call__(self, wavs: list[np.ndarray]) -> list[np.ndarray]:
        torch = self._torch
        lens = torch.tensor([len(w) for w in wavs], device=self.device)
        x = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(w) for w in wavs], batch_first=True)
        with torch.no_grad():
            hs, frames = self.up(x.to(self.device), lens)
        if self.chosen is not None:
            hs = [hs[i] for i in self.chosen]
        # One concatenation on the device and one copy back, not one per utterance and layer.
        h = torch.cat(hs, dim=-1).float().cpu()
        return [h[b, : int(frames[b])].numpy() for b in range(len(wavs))]

    def batch_dependence(self) -> float:
        """Largest relative difference between two noise clips run alone and as one padded batch
        (the upstream's own probe, the one `Upstream(exact_batches=True)` uses)."""
        return self.up.batch_dependence()


def max_rel_diff(a: np.ndarray, b: np.ndarray, num_layers: int = 1) -> float:
    """max |a - b| over each layer's columns, divided by that layer's largest |a|; the worst layer.
    Per layer, because layers differ in scale by orders of magnitude (e.g. a conv input vs the
    normalised top layer). Different shapes are infinitely different."""
    if a.shape != b.shape:
        return math.inf
    a = a.reshape(a.shape[0], num_layers, -1).astype(np.float64)
    b = b.reshape(b.shape[0], num_layers, -1).astype(np.float64)
    if a.size == 0:
        return 0.0
    diff = np.abs(a - b).max(axis=(0, 2))
    scale = np.maximum(np.abs(a).max(axis=(0, 2)), 1e-12)
    return float((diff / scale).max())


def input_seconds(upstream: str):
    """Seconds of input an upstream really computes on for a clip of d seconds: padded Whisper
    always encodes whole 30 s windows, so a batch budget must count those."""
    from ser.features.whisper import parse_name

    parsed = parse_name(upstream)
    if parsed is not None and parsed[1]:
        return lambda d: 30.0 * max(1, math.ceil(d / 30.0))
    return lambda d: d


def plan_batches(durations: dict, max_seconds: float, max_utts: int = 0, cost=None) -> list[list[str]]:
    """Utterances longest first, cut into batches whose padded cost (size x longest) stays within
    max_seconds (an utterance longer than that goes alone) and with at most max_utts (0: no limit).

    Longest first: the biggest batch comes first, so a batch too large for memory fails at the start
    of a job, not hours into it. Ties are broken by utterance id, so a plan is reproducible."""
    cost = cost or (lambda d: d)
    batches, cur = [], []
    for utt in sorted(durations, key=lambda u: (-durations[u], u)):
        if cur and ((len(cur) + 1) * cost(durations[cur[0]]) > max_seconds or 0 < max_utts <= len(cur)):
            batches.append(cur)
            cur = []
        cur.append(utt)
    return batches + [cur] if cur else batches


def equal_length_groups(wavs: list[np.ndarray]) -> list[list[int]]:
    """Indices of the waveforms grouped by exact sample count: batches that need no padding."""
    groups = {}
    for i, w in enumerate(wavs):
        groups.setdefault(len(w), []).append(i)
    return list(groups.values())


def utt_seconds(data, utts) -> dict:
    """Duration of each utterance: utt2dur when the data dir has it, else the audio file's header."""
    from ser.data.audio import audio_duration, load_audio

    if data.has("utt2dur"):
        durs = data.utt2dur()
        return {u: durs[u] for u in utts}
    wav_scp = data.get("wav.scp")
    # A pipe has no header to read: its audio is decoded here once more than needed (an utt2dur in
    # the data dir avoids that on a piped corpus). Durations only order the batches.
    return {
        u: len(load_audio(wav_scp[u], utt=u)) / SAMPLE_RATE if wav_scp[u].endswith("|") else audio_duration(wav_scp[u])
        for u in utts
    }


def auto_batching(dumper: UpstreamDumper) -> tuple[str, float]:
    """--batching auto: padded batches only when padding leaves this upstream's features unchanged.

    Probed rather than listed by name: whether padding leaks into the features depends on the model's
    configuration (GroupNorm or LayerNorm front end, CMVN, masking), not on its s3prl name, and a
    wrong guess would make stored features depend on which utterances shared a batch."""
    from ser.features.upstream import PROBE_TOLERANCE

    diff = dumper.batch_dependence()
    return ("padded" if diff <= PROBE_TOLERANCE else "equal-length"), diff


def resolve_batching(args, dumper: UpstreamDumper) -> tuple[str, dict]:
    """'none' (one by one), 'padded' or 'equal-length', and what to record about the choice.
    Fills in the device's default --batch-seconds when none was given."""
    if args.batch_seconds is None:
        args.batch_seconds = DEFAULT_BATCH_SECONDS.get(dumper.device.type, DEFAULT_BATCH_SECONDS["cpu"])
    if args.batch_seconds <= 0 or args.batch_size == 1:
        return "none", {}
    if args.batching != "auto":
        return args.batching, {}
    mode, diff = auto_batching(dumper)
    log.info("padding changes %s's features by %.2g of their scale: %s batches", args.upstream, diff, mode)
    return mode, {"batch_probe_rel_diff": diff}


def check_float16(stem, utt: str, feats: np.ndarray) -> None:
    peak = float(np.abs(feats).max()) if feats.size else 0.0
    if peak > FLOAT16_MAX:
        raise SerError(
            f"{stem}.ark: utterance '{utt}' has a feature value of {peak:.4g}, beyond float16's "
            f"range ({FLOAT16_MAX:g}); drop --float16"
        )


def dump_upstream(
    dumper: Callable[[list], list],
    wav_scp: dict,
    batches: list[list[str]],
    batching: str,
    write: Callable[[str, np.ndarray], None],
    desc: str = "upstream",
) -> None:
    """Runs every batch through `dumper` (an UpstreamDumper: waveforms -> feature matrices) and
    writes each utterance's features; equal-length batching splits a batch by exact sample count."""
    from ser.data.audio import load_audio

    with progress(None, total=sum(map(len, batches)), unit="utt", desc=desc) as bar:
        for batch in batches:
            wavs = [load_audio(wav_scp[u], utt=u) for u in batch]
            groups = equal_length_groups(wavs) if batching == "equal-length" else [list(range(len(batch)))]
            for group in groups:
                for i, feats in zip(group, dumper([wavs[i] for i in group])):
                    write(batch[i], feats)
            bar.update(len(batch))


def upstream_job(args, data, utts, stem) -> None:
    from ser.features.store import FeatWriter

    if not args.upstream:
        raise SerError("--kind upstream needs --upstream NAME")
    dumper = UpstreamDumper(args.upstream, args.upstream_path, args.layers, args.device)
    batching, probe = resolve_batching(args, dumper)
    if batching == "none":
        batches = [[u] for u in utts]
    else:
        durs = utt_seconds(data, utts)
        batches = plan_batches(durs, args.batch_seconds, args.batch_size, input_seconds(args.upstream))
        padded = sum(len(b) * durs[b[0]] for b in batches) or 1.0
        log.info(
            "%d utterances in %d batches of at most %g s (%s%s)",
            len(utts),
            len(batches),
            args.batch_seconds,
            batching,
            f", {100 * (1 - sum(durs.values()) / padded):.1f} % padding" if batching == "padded" else "",
        )
    meta = {
        **dumper.meta,
        "float16": args.float16,
        "device": str(dumper.device),
        "batch_seconds": args.batch_seconds,
        "batch_size": args.batch_size,
        "batching": batching,
        **probe,
    }
    wav_scp = data.get("wav.scp")
    with FeatWriter(stem, float16=args.float16, meta=meta) as writer:

        def write(utt, feats):
            if args.float16:
                check_float16(stem, utt, feats)
            writer(utt, feats)

        dump_upstream(dumper, wav_scp, batches, batching, write, desc=f"{args.upstream} job {args.job}/{args.nj}")


def utterance_job(args, data, utts, stem) -> None:
    """Classical features and openSMILE functionals: one utterance at a time on the CPU."""
    from ser.data.audio import load_audio
    from ser.features.classical import get_extractor
    from ser.features.functionals import SETS, functionals_extractor
    from ser.features.store import FeatWriter

    if args.kind in SETS:
        if args.float16:
            raise SerError(f"--kind {args.kind}: openSMILE functionals exceed float16's range; drop --float16")
        extract, meta = functionals_extractor(args.kind), {"kind": args.kind, "num_layers": 1, "functionals": True}
    else:
        extract, meta = get_extractor(args.kind), {"kind": args.kind, "num_layers": 1}
    meta["float16"] = args.float16
    wav_scp = data.get("wav.scp")
    with FeatWriter(stem, float16=args.float16, meta=meta) as write:
        for utt in progress(utts, desc=f"{args.kind} job {args.job}/{args.nj}"):
            feats = extract(load_audio(wav_scp[utt], utt=utt))
            if "dim" not in meta:
                meta["dim"] = int(feats.shape[1])
            write(utt, feats)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir")
    ap.add_argument("--out", required=True)
    ap.add_argument(
        "--kind",
        default="fbank",
        help="fbank, mfcc, mel, stf, upstream, or openSMILE functionals (one row per utterance): compare, egemaps",
    )
    ap.add_argument("--upstream", default=None, help="s3prl upstream name or whisper_* (with --kind upstream)")
    ap.add_argument("--upstream-path", default=None, help="local checkpoint for *_local / *_custom upstreams")
    ap.add_argument("--layers", default="all", help="'all' or comma-separated layer indices (negative from the top)")
    ap.add_argument("--device", default="auto", help="upstream device: auto (CUDA when present), cpu, cuda, cuda:1")
    ap.add_argument(
        "--batch-seconds",
        type=float,
        default=None,
        help="padded audio seconds per upstream batch (0: one by one; default: 15 on CPU, 60 on CUDA; "
        "raise it on a GPU with memory to spare)",
    )
    ap.add_argument(
        "--batch-size", type=int, default=0, help="at most this many utterances per batch (0: no limit; 1: one by one)"
    )
    ap.add_argument(
        "--batching",
        default="auto",
        choices=BATCHINGS,
        help="auto: padded batches only if padding leaves this upstream's features unchanged (probed), "
        "else equal-length; see above",
    )
    add_job_args(ap)
    add_thread_args(ap)
    args = ap.parse_args(argv)
    if args.batch_size < 0:
        ap.error("--batch-size must be 0 (no limit) or positive")
    if not args.merge and not args.data_dir:
        ap.error("--data-dir is needed (unless --merge)")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.merge:
        return merge_jobs(args.out, args.nj)
    stem = job_stem(args.out, args.job, args.nj)
    if stem is None:
        return
    from ser.data.datadir import DataDir

    data = DataDir.load(args.data_dir)
    utts = job_utts(data.utts, args.nj, args.job)
    threads = set_num_threads(args.num_threads, args.nj)
    log.info("job %d/%d: %d utterances, %d torch threads", args.job, args.nj, len(utts), threads)
    if args.kind == "upstream":
        upstream_job(args, data, utts, stem)
    else:
        utterance_job(args, data, utts, stem)
    log.info("wrote %d utterances to %s.{ark,scp}", len(utts), stem)


if __name__ == "__main__":
    run_main(main)
