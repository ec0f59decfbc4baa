"""Feature stores: Kaldi ark/scp through kaldiio.

Writers produce `<name>.ark` + `<name>.scp` under temporary names and rename both only when every
utterance is written, so a killed stage never leaves an scp pointing into a half-written ark.
Values are 2-D float matrices (frames x dims), optionally stored as float16, or 1-D int32 vectors
(frame labels).
"""

import json
import os
import uuid
from pathlib import Path

import kaldiio
import numpy as np

from ser.data.datadir import c_sorted, read_kv, write_kv
from ser.utils import SerError, write_text_atomic


class FeatWriter:
    """Context manager: `with FeatWriter(dir/'feats') as w: w(utt, mat)` -> dir/feats.{ark,scp}."""

    def __init__(self, stem, float16: bool = False, meta: dict | None = None):
        self.stem = Path(stem)
        self.float16 = float16
        self.meta = meta
        self.ark = sibling(self.stem, ".ark")
        self.scp = sibling(self.stem, ".scp")
        # Per writer: two jobs writing the same store at once (a job started twice) must not share
        # a temporary file; each finishes, and the last rename wins with a complete ark and scp.
        tag = f"{os.getpid()}.{uuid.uuid4().hex[:8]}"
        self.tmp_ark = self.stem.with_name(f".{self.stem.name}.tmp{tag}.ark")
        self.tmp_scp = self.stem.with_name(f".{self.stem.name}.tmp{tag}.scp")
        self.num_frames = {}

    def __enter__(self):
        self.stem.parent.mkdir(parents=True, exist_ok=True)
        # The scp must name the final ark, not the temporary one it is written through.
        self._ark_f = open(self.tmp_ark, "wb")
        self._entries = {}
        return self

    def __call__(self, utt: str, value: np.ndarray) -> None:
        value = np.asarray(value)
        if value.dtype.kind == "f":
            value = value.astype(np.float16 if self.float16 else np.float32)
        elif value.dtype.kind in "iu":
            value = value.astype(np.int32)
        pos = self._ark_f.tell()
        # float16 goes in as an NPY record (kaldiio reads it back; Kaldi's binary format has no half).
        kaldiio.save_ark(self._ark_f, {utt: value}, write_function="numpy" if value.dtype == np.float16 else None)
        # save_ark writes "<utt> " then the payload; the scp offset points at the payload.
        self._entries[utt] = f"{self.ark.resolve()}:{pos + len(utt.encode()) + 1}"
        self.num_frames[utt] = int(value.shape[0])

    def __exit__(self, exc_type, exc, tb):
        self._ark_f.close()
        if exc_type is not None:
            self.tmp_ark.unlink(missing_ok=True)
            return False
        write_kv(self.tmp_scp, self._entries)
        os.replace(self.tmp_ark, self.ark)
        os.replace(self.tmp_scp, self.scp)
        write_kv(sibling(self.stem, ".utt2num_frames"), self.num_frames)
        if self.meta is not None:
            write_meta(self.stem, self.meta)
        return False


def write_meta(stem, meta: dict) -> None:
    """`<stem>.meta.json`: what a matrix row holds (e.g. num_layers x dim of an upstream dump)."""
    write_text_atomic(sibling(stem, ".meta.json"), json.dumps(meta, indent=1))


def sibling(stem, ext: str) -> Path:
    """`dump/feats.3` + `.ark` -> `dump/feats.3.ark` (Path.with_suffix would eat the `.3`)."""
    stem = Path(stem)
    return stem.parent / (stem.name + ext)


def stem_of(scp) -> Path:
    scp = Path(scp)
    return scp.parent / scp.name[: -len(".scp")] if scp.name.endswith(".scp") else scp


class FeatReader:
    """Random access to an scp: `reader[utt] -> np.ndarray` (float16 comes back as float32)."""

    def __init__(self, scp, stage_hint: str = ""):
        self.scp = Path(scp)
        if not self.scp.is_file():
            hint = f"; it is made by {stage_hint}" if stage_hint else ""
            raise SerError(f"feature store {self.scp} not found{hint}")
        self.entries = read_kv(self.scp)
        self._reader = kaldiio.load_scp(str(self.scp))
        nf = sibling(stem_of(self.scp), ".utt2num_frames")
        self._num_frames = {u: int(v) for u, v in read_kv(nf).items()} if nf.is_file() else None
        meta = sibling(stem_of(self.scp), ".meta.json")
        self.meta = json.loads(meta.read_text()) if meta.is_file() else {}

    def __contains__(self, utt):
        return utt in self.entries

    def __len__(self):
        return len(self.entries)

    def keys(self):
        return c_sorted(self.entries)

    def __getitem__(self, utt) -> np.ndarray:
        if utt not in self.entries:
            raise SerError(f"{self.scp}: no features for utterance '{utt}'")
        value = self._reader[utt]
        if value.dtype == np.float16:
            value = value.astype(np.float32)
        return value

    def num_frames(self, utt) -> int:
        if self._num_frames is not None:
            return self._num_frames[utt]
        return int(self[utt].shape[0])


def merge_scps(parts, out_scp) -> None:
    """Concatenates per-job scps (and their utt2num_frames) into one sorted scp."""
    entries, frames = {}, {}
    for p in parts:
        p = Path(p)
        if not p.is_file():
            raise SerError(f"job output {p} is missing: that job did not finish")
        entries.update(read_kv(p))
        nf = sibling(stem_of(p), ".utt2num_frames")
        if nf.is_file():
            frames.update(read_kv(nf))
    out_scp = Path(out_scp)
    meta = sibling(stem_of(parts[0]), ".meta.json")
    if meta.is_file():
        write_meta(stem_of(out_scp), json.loads(meta.read_text()))
    write_kv(out_scp, entries)
    if frames:
        write_kv(sibling(stem_of(out_scp), ".utt2num_frames"), frames)


def compute_cmvn(reader: FeatReader, utts=None) -> dict:
    """Global mean/std over all frames of `utts` (e.g. a fold's training set only)."""
    total, sq, n = None, None, 0
    for utt in utts if utts is not None else reader.keys():
        x = reader[utt].astype(np.float64)
        total = x.sum(0) if total is None else total + x.sum(0)
        sq = (x * x).sum(0) if sq is None else sq + (x * x).sum(0)
        n += x.shape[0]
    if n == 0:
        raise SerError(f"{reader.scp}: no frames to compute CMVN stats from")
    mean = total / n
    std = np.sqrt(np.maximum(sq / n - mean * mean, 1e-10))
    return {"mean": mean.astype(np.float32), "std": std.astype(np.float32), "count": n}


def save_cmvn(stats: dict, path) -> None:
    from ser.utils import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **stats)


def load_cmvn(path) -> dict:
    if not Path(path).is_file():
        raise SerError(f"CMVN stats {path} not found")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}
