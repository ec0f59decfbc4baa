"""Length-bucketed batching: utterances of similar length share a batch, so little is padding."""

import numpy as np
from torch.utils.data import Sampler


class BucketBatchSampler(Sampler):
    """Sorts by length within shuffled windows of `bucket_windows` batches, then shuffles the batches.

    Order depends only on (seed, epoch): call `set_epoch` so a resumed run replays the same batches.
    `shuffle=False` gives length-sorted batches (deterministic inference).
    """

    def __init__(
        self,
        lengths,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        bucket_windows: int = 20,
        max_frames: int | None = None,
    ):
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.window = batch_size * bucket_windows
        self.max_frames = max_frames
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

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
        if rng is not None:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self):
        return iter(self._batches())

    def __len__(self):
        return len(self._batches())


class RandomBatchSampler(BucketBatchSampler):
    """Plain shuffled batches (for comparison in bench/batching.py)."""

    def _batches(self):
        rng = np.random.default_rng((self.seed, self.epoch))
        order = rng.permutation(len(self.lengths)) if self.shuffle else np.arange(len(self.lengths))
        return [order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)]
