"""Frames to cluster, streamed from a feature store: a seeded subsample, and one layer of a dump."""

import numpy as np

from ser.utils import SerError, get_logger, progress

log = get_logger("frames")


class LayerView:
    """One layer of an upstream dump stored as (T, L*D) rows (feats.meta.json: num_layers, dim).

    Behaves like the FeatReader it wraps (`[utt]`, `keys()`, `num_frames`, `scp`, `meta`, `in`).
    """

    def __init__(self, reader, layer: int):
        from ser.features.upstream import select_layer

        meta = reader.meta
        if "num_layers" not in meta or "dim" not in meta:
            raise SerError(f"{reader.scp}: picking a layer needs num_layers and dim in its feats.meta.json")
        self.reader = reader
        self.num_layers, self.dim = int(meta["num_layers"]), int(meta["dim"])
        self.layer = select_layer(int(layer), self.num_layers)
        self.scp = reader.scp
        self.meta = {**meta, "num_layers": 1, "dim": self.dim, "picked_layer": self.layer}

    def __getitem__(self, utt):
        return self.pick(self.reader[utt], utt)

    def pick(self, x, utt):
        """This layer's columns of `utt`'s already-read (T, L*D) matrix."""
        if x.shape[1] != self.num_layers * self.dim:
            raise SerError(
                f"{self.scp}: '{utt}' has {x.shape[1]} dims per frame, but feats.meta.json says "
                f"{self.num_layers} layers x {self.dim}"
            )
        return x[:, self.layer * self.dim : (self.layer + 1) * self.dim]

    def __contains__(self, utt):
        return utt in self.reader

    def __len__(self):
        return len(self.reader)

    def keys(self):
        return self.reader.keys()

    def num_frames(self, utt) -> int:
        return self.reader.num_frames(utt)


def check_utts(reader, utts) -> list:
    utts = list(utts)
    missing = [u for u in utts if u not in reader]
    if missing:
        raise SerError(
            f"{reader.scp} lacks {len(missing)} of the {len(utts)} requested utterances, "
            f"e.g. {missing[:3]}: re-run the stage that dumps these features"
        )
    if not utts:
        raise SerError(f"{reader.scp}: no utterances given to read frames from")
    return utts


def sample_frames(reader, utts, max_frames: int, seed: int, dtype=np.float16) -> np.ndarray:
    """A uniform random sample of at most `max_frames` frames of `utts` (all of them if fewer).

    Which frames: `max_frames` distinct indices drawn with numpy's default_rng(seed) out of all the
    frames of `utts`, in the given order, counted with the store's utt2num_frames. The utterances are
    then read one by one (those with no drawn frame are skipped), so memory is the output array
    only. Rows come back in a random order (from the same seed): any prefix is itself a uniform
    sample, which KMeans' growing iterations and smaller scales rely on.
    """
    utts = check_utts(reader, utts)
    if max_frames < 1:
        raise SerError(f"max_frames must be positive, got {max_frames}")
    counts = np.array([reader.num_frames(u) for u in utts], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)])
    total = int(starts[-1])
    if total == 0:
        raise SerError(f"{reader.scp}: the {len(utts)} utterances hold no frames")
    rng = np.random.default_rng(seed)
    n = min(int(max_frames), total)
    chosen = np.arange(total) if n == total else np.sort(rng.choice(total, size=n, replace=False))
    slots = rng.permutation(n)
    bounds = np.searchsorted(chosen, starts)
    out = None
    for i in progress(np.flatnonzero(bounds[1:] > bounds[:-1]), desc="sampling frames"):
        utt = utts[i]
        x = reader[utt]
        if x.ndim != 2 or len(x) != counts[i]:
            raise SerError(
                f"{reader.scp}: '{utt}' has shape {x.shape} but utt2num_frames says {counts[i]} "
                "frames; the store is inconsistent, re-dump it"
            )
        if out is None:
            out = np.empty((n, x.shape[1]), dtype=dtype)
        a, b = bounds[i], bounds[i + 1]
        out[slots[a:b]] = x[chosen[a:b] - starts[i]]
    log.info(
        "sampled %d of %d frames (%.1f%%) from %d utterances (seed %d)", n, total, 100.0 * n / total, len(utts), seed
    )
    return out
