"""Frame features of a data dir's utterances into a feature store: classical features and openSMILE
functionals one utterance at a time, upstream hidden layers in length-sorted batches whose padding
is probed so that stored features never depend on the batch (ser.bin.dump_feats explains the
measurements behind the defaults).
"""

import math
from collections.abc import Callable

import numpy as np

from ser.data.audio import SAMPLE_RATE
from ser.utils import SerError, get_logger, progress

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


def resolve_batching(dumper: UpstreamDumper, batch_seconds, batch_size: int, batching: str) -> tuple[str, float, dict]:
    """'none' (one by one), 'padded' or 'equal-length', the batch budget in seconds (the device's
    default when `batch_seconds` is None) and what to record about the choice."""
    if batch_seconds is None:
        batch_seconds = DEFAULT_BATCH_SECONDS.get(dumper.device.type, DEFAULT_BATCH_SECONDS["cpu"])
    if batch_seconds <= 0 or batch_size == 1:
        return "none", batch_seconds, {}
    if batching != "auto":
        return batching, batch_seconds, {}
    mode, diff = auto_batching(dumper)
    log.info("padding changes %s's features by %.2g of their scale: %s batches", dumper.meta["upstream"], diff, mode)
    return mode, batch_seconds, {"batch_probe_rel_diff": diff}


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


def upstream_job(
    data,
    utts: list,
    stem,
    upstream: str,
    upstream_path=None,
    layers: str = "all",
    device: str = "auto",
    float16: bool = False,
    batch_seconds=None,
    batch_size: int = 0,
    batching: str = "auto",
    desc: str = "upstream",
) -> None:
    """Every hidden layer (or `layers`) of an upstream for `utts` of data dir `data`, in batches."""
    from ser.features.store import FeatWriter

    if not upstream:
        raise SerError("--kind upstream needs --upstream NAME")
    dumper = UpstreamDumper(upstream, upstream_path, layers, device)
    batching, batch_seconds, probe = resolve_batching(dumper, batch_seconds, batch_size, batching)
    if batching == "none":
        batches = [[u] for u in utts]
    else:
        durs = utt_seconds(data, utts)
        batches = plan_batches(durs, batch_seconds, batch_size, input_seconds(upstream))
        padded = sum(len(b) * durs[b[0]] for b in batches) or 1.0
        log.info(
            "%d utterances in %d batches of at most %g s (%s%s)",
            len(utts),
            len(batches),
            batch_seconds,
            batching,
            f", {100 * (1 - sum(durs.values()) / padded):.1f} % padding" if batching == "padded" else "",
        )
    meta = {
        **dumper.meta,
        "float16": float16,
        "device": str(dumper.device),
        "batch_seconds": batch_seconds,
        "batch_size": batch_size,
        "batching": batching,
        **probe,
    }
    wav_scp = data.get("wav.scp")
    with FeatWriter(stem, float16=float16, meta=meta) as writer:

        def write(utt, feats):
            if float16:
                check_float16(stem, utt, feats)
            writer(utt, feats)

        dump_upstream(dumper, wav_scp, batches, batching, write, desc=desc)


def utterance_job(data, utts: list, stem, kind: str, float16: bool = False, desc: str = "features") -> None:
    """Classical features and openSMILE functionals: one utterance at a time on the CPU."""
    from ser.data.audio import load_audio
    from ser.features.classical import get_extractor
    from ser.features.functionals import SETS, functionals_extractor
    from ser.features.store import FeatWriter

    if kind in SETS:
        if float16:
            raise SerError(f"--kind {kind}: openSMILE functionals exceed float16's range; drop --float16")
        extract, meta = functionals_extractor(kind), {"kind": kind, "num_layers": 1, "functionals": True}
    else:
        extract, meta = get_extractor(kind), {"kind": kind, "num_layers": 1}
    meta["float16"] = float16
    wav_scp = data.get("wav.scp")
    with FeatWriter(stem, float16=float16, meta=meta) as write:
        for utt in progress(utts, desc=desc):
            feats = extract(load_audio(wav_scp[utt], utt=utt))
            if "dim" not in meta:
                meta["dim"] = int(feats.shape[1])
            write(utt, feats)
