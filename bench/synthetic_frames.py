"""Synthetic 768-dim "speech-like" frames with cluster structure, for the k-means benchmark.

A frame is drawn from one of 2048 latent states (phone-state-like), with Zipf-like state
frequencies (p ~ 1 / (rank + 10)): a few states are common, most are rare, as with phones.
State means lie in a random 64-dim subspace (upstream features are far from full-rank); each state
spreads along 32 shared random directions (scaled per state by 1-3) plus small isotropic noise in
all 768 dims. Within an utterance a state lasts a few frames (geometric, mean 6), like a phone
segment. Everything is drawn from torch generators seeded by (seed, block), so any block can be
regenerated alone and the data never has to exist twice in memory.
"""

import numpy as np
import torch

DIM, STATES, SUBSPACE, NOISE_RANK = 768, 2048, 64, 32
BLOCK = 65536


class SyntheticFrames:
    def __init__(self, seed: int = 0, dim: int = DIM, states: int = STATES):
        g = torch.Generator().manual_seed(10_000 + seed)
        basis = torch.randn(SUBSPACE, dim, generator=g) / SUBSPACE**0.5
        self.means = (torch.randn(states, SUBSPACE, generator=g) @ basis) * 4.0
        self.noise_dirs = torch.randn(NOISE_RANK, dim, generator=g) / NOISE_RANK**0.5
        self.spread = 1.0 + 2.0 * torch.rand(states, generator=g)
        w = 1.0 / (torch.arange(states, dtype=torch.float64) + 10.0)
        self.weights = w / w.sum()
        self.seed, self.dim = seed, dim

    def _states(self, n: int, g: torch.Generator) -> torch.Tensor:
        """State per frame, constant over geometric-length segments (mean 6 frames)."""
        seg_states = torch.multinomial(self.weights, n, replacement=True, generator=g)
        new_segment = torch.rand(n, generator=g) < 1.0 / 6
        new_segment[0] = True
        return seg_states[torch.cumsum(new_segment.long(), 0) - 1]

    def block(self, index: int, n: int = BLOCK) -> np.ndarray:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        s = self._states(n, g)
        x = self.means[s] + (torch.randn(n, NOISE_RANK, generator=g) @ self.noise_dirs) * self.spread[s, None]
        x += 0.3 * torch.randn(n, self.dim, generator=g)
        return x.numpy()

    def frames(self, n: int, dtype=np.float32) -> np.ndarray:
        out = np.empty((n, self.dim), dtype=dtype)
        for i, a in enumerate(range(0, n, BLOCK)):
            m = min(BLOCK, n - a)
            out[a : a + m] = self.block(i, m)
        return out

    def utterances(self, n_frames: int, min_len: int = 100, max_len: int = 500):
        """Yields (index, (T, dim) float32) utterances totalling exactly n_frames."""
        rng = np.random.default_rng(self.seed)
        done, i, buf = 0, 0, np.empty((0, self.dim), np.float32)
        block = 0
        while done < n_frames:
            t = int(min(rng.integers(min_len, max_len + 1), n_frames - done))
            while len(buf) < t:
                buf = np.concatenate([buf, self.block(block)])
                block += 1
            yield i, buf[:t]
            buf = buf[t:]
            done += t
            i += 1
