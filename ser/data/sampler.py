"""Length-bucketed batching: utterances of similar length share a batch, so little is padding."""

import numpy as np
from torch.utils.data import Sampler

from ser.utils import get_logger

log = get_logger("sampler")


class BucketBatchSampler(Sampler):
    """Sorts by length within shuffled windows of `bucket_windows` batches, then shuffles the batches.

    Order depends only on (seed, epoch): call `set_epoch` so a resumed run replays the same batches.
    `shuffle=False` gives length-sorted batches (deterministic inference).
    A batch smaller than `min_batch_size` (a length bucket's remainder) is merged into its length
    neighbour: BatchNorm fails on one item and a CCC loss over one item has zero gradient.
    The epoch's batches are built once and cached, so `len()` costs nothing per step.
    """

    def __init__(
        self,
        lengths,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        bucket_windows: int = 20,
        max_frames: int | None = None,
        min_batch_size: int = 1,
    ):
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.window = batch_size * bucket_windows
        self.max_frames = max_frames
        self.min_batch_size = max(1, int(min_batch_size))
        self.epoch = 0
        self._cache: tuple[int, list] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_batches(self) -> list:
        """This epoch's batches, built on first use and kept until the epoch changes."""
        if self._cache is None or self._cache[0] != self.epoch:
            # _batches merged small ones already; a DDP rank's share of a batch must not merge again
            # (every rank has to take the same number of steps).
            self._cache = (self.epoch, self._batches())
        return self._cache[1]

    def _batches(self):
        n = len(self.lengths)
        if self.shuffle:
            rng = np.random.default_rng((self.seed, self.epoch))
            order = rng.permutation(n)
        else:
            rng, order = None, np.arange(n)
        batches = []
        for start in range(0, n, self.window):
            win = order[start : start + self.window]
            win = win[np.argsort(self.lengths[win], kind="stable")]
            batch = []
            for idx in win:
                too_long = self.max_frames and batch and (len(batch) + 1) * self.lengths[idx] > self.max_frames
                if len(batch) == self.batch_size or too_long:
                    batches.append(batch)
                    batch = []
                batch.append(int(idx))
            if batch:
                batches.append(batch)
        # Before the shuffle, so a small batch joins its length neighbour in the sorted window.
        batches = merge_small(batches, self.min_batch_size)
        if rng is not None:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self):
        return iter(self.epoch_batches())

    def __len__(self):
        return len(self.epoch_batches())


def merge_small(batches: list, min_size: int) -> list:
    """Merges each batch below `min_size` into the previous batch (the next one for the first),
    logging how many were merged; with fewer than `min_size` items in all, one batch remains."""
    if min_size <= 1 or len(batches) < 2:
        return batches
    out, merged = [], 0
    for batch in batches:
        if len(batch) < min_size and out:
            out[-1] = out[-1] + batch
            merged += 1
        else:
            out.append(list(batch))
    if len(out) > 1 and len(out[0]) < min_size:
        out[1] = out[0] + out[1]
        out.pop(0)
        merged += 1
    if merged:
        log.info("merged %d batch(es) below train.min_batch_size=%d into a neighbour", merged, min_size)
    return out


class RandomBatchSampler(BucketBatchSampler):
    """Plain shuffled batches (for comparison in bench/batching.py)."""

    def _batches(self):
        rng = np.random.default_rng((self.seed, self.epoch))
        order = rng.permutation(len(self.lengths)) if self.shuffle else np.arange(len(self.lengths))
        return [order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)]
