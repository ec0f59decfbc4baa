"""ser-infer's loop: inputs read one at a time and cut into windows, windows predicted in batches
across files, rows written per input in order: one per window and an utterance summary (the mean
of its windows), or one row for a recording that fits in one window, or one error row."""

from dataclasses import dataclass, field

import numpy as np

from ser.data.audio import SAMPLE_RATE
from ser.packing.inputs import Input, read_input, windows
from ser.packing.predictor import Predictor
from ser.utils import SerError, get_logger, progress

log = get_logger("predict")
VAD = ("valence", "arousal", "dominance")


@dataclass
class Pending:
    item: Input
    spans: list = field(default_factory=list)
    wavs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    error: str | None = None


def output_row(predictor: Predictor, name, segment, start, end, out: dict) -> dict:
    post = out["post"]
    row = {
        "file": name,
        "segment": segment,
        "start": round(start, 3),
        "end": round(end, 3),
        "pred": predictor.classes[int(np.argmax(post))],
        "posteriors": {c: float(p) for c, p in zip(predictor.classes, post)},
    }
    if "vad" in out:
        row.update({k: float(v) for k, v in zip(VAD, out["vad"])})
    if "gender" in out:
        row["gender"] = predictor.genders[int(np.argmax(out["gender"]))]
    return row


def rows_of(predictor: Predictor, p: Pending) -> list[dict]:
    if p.error:
        return [{"file": p.item.name, "error": p.error}]
    rows = []
    many = len(p.spans) > 1
    for i, ((s, e), out) in enumerate(zip(p.spans, p.outputs)):
        rows.append(output_row(predictor, p.item.name, i if many else "all", s / SAMPLE_RATE, e / SAMPLE_RATE, out))
    if many:
        summary = {k: np.mean([o[k] for o in p.outputs], axis=0) for k in p.outputs[0]}
        rows.append(output_row(predictor, p.item.name, "all", 0.0, p.spans[-1][1] / SAMPLE_RATE, summary))
    return rows


def run_batch(predictor: Predictor, chunk: list[Pending]) -> None:
    """Predicts every window of `chunk`; when a batch fails, each input again alone, so the
    failure lands on the input that caused it."""
    live = [p for p in chunk if not p.error]
    if not live:
        return
    try:
        out = predictor([w for p in live for w in p.wavs])
    except SerError as e:
        if len(live) == 1:
            live[0].error = str(e)
            return
        for p in live:
            run_batch(predictor, [p])
        return
    i = 0
    for p in live:
        n = len(p.wavs)
        p.outputs = [{k: v[j] for k, v in out.items()} for j in range(i, i + n)]
        p.wavs, i = [], i + n


def predict_inputs(
    predictor: Predictor,
    inputs: list[Input],
    write,
    window: float = 0.0,
    hop: float = 0.0,
    min_seconds: float = 0.1,
    batch_size: int = 8,
) -> tuple[int, int]:
    """Writes every input's rows through `write(row)`; returns (inputs predicted, inputs failed)."""
    ok = failed = 0
    chunk, queued = [], 0

    def flush():
        nonlocal ok, failed
        run_batch(predictor, chunk)
        for p in chunk:
            for row in rows_of(predictor, p):
                write(row)
            if p.error:
                log.warning("%s: %s", p.item.name, p.error)
                failed += 1
            else:
                ok += 1
        chunk.clear()

    for item in progress(inputs, desc="ser-infer", unit="file"):
        p = Pending(item)
        try:
            wav = read_input(item, min_seconds)
            p.spans = windows(len(wav), window, hop or window)
            p.wavs = [wav[s:e] for s, e in p.spans]
        except SerError as e:
            p.error = str(e)
        chunk.append(p)
        queued += len(p.wavs)
        if queued >= batch_size:
            flush()
            queued = 0
    if chunk:
        flush()
    return ok, failed
