"""Nearest-centroid search and Lloyd's warm-up, one class per backend.

Both backends compute squared distances as ||x||^2 - 2 x.c + ||c||^2, i.e. one BLAS matrix product
per block of frames; the (frames x K) distance block is kept under about 64 MB, so K = 4096 costs
no more memory than K = 64. Frames may arrive as float16 (the feature store's storage type); they
are converted to float32 one block at a time.
"""

import math

import numpy as np
import torch

from ser.utils import SerError, pick_device

_DIST_BLOCK_VALUES = 16 * 1024 * 1024  # floats in one (frames x K) distance block: 64 MB


def _rows_per_block(k: int) -> int:
    return int(min(65536, max(256, _DIST_BLOCK_VALUES // k)))


class FaissBackend:
    """faiss-cpu: `faiss.Kmeans` for the warm-up, `IndexFlatL2` (BLAS search) for assignment."""

    name = "faiss"

    def __init__(self, device: str = "auto"):
        try:
            import faiss
        except ImportError as e:  # pragma: no cover - tools/install.sh installs the "cluster" extra
            raise SerError(f"the faiss k-means backend needs faiss-cpu ({e}); pip install faiss-cpu, "
                           "or choose backend: torch") from e
        self.faiss = faiss
        self.device = torch.device("cpu")
        self._index = None

    def set_centroids(self, centroids: np.ndarray) -> None:
        self._index = self.faiss.IndexFlatL2(centroids.shape[1])
        self._index.add(np.ascontiguousarray(centroids, dtype=np.float32))

    def assign(self, x: np.ndarray):
        """(labels int64, squared distances float32) of each row's nearest centroid."""
        out_l = np.empty(len(x), dtype=np.int64)
        out_d = np.empty(len(x), dtype=np.float32)
        step = 32768  # float32 copy of one step: 100 MB at 768 dims; faiss blocks the search itself
        for a in range(0, len(x), step):
            d, i = self._index.search(np.ascontiguousarray(x[a:a + step], dtype=np.float32), 1)
            out_l[a:a + step], out_d[a:a + step] = i[:, 0], np.maximum(d[:, 0], 0.0)
        return out_l, out_d

    def warmup(self, x: np.ndarray, k: int, niter: int, seed: int, init: str, tol: float = 0.0):
        """faiss's own Lloyd's on all of `x`, from k-means++ or faiss's random init (both from `seed`),
        one iteration per call so that it can stop once converged. Returns (centroids, objectives)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        c = init_centroids(x, k, seed, init, self.device)
        objectives = []
        for i in range(niter):
            # max_points_per_centroid: faiss would otherwise subsample to 256 K points without saying
            # so; the caller already chose exactly which frames to fit on.
            km = self.faiss.Kmeans(x.shape[1], k, niter=1, seed=seed + i, spherical=False, verbose=False,
                                   max_points_per_centroid=len(x) // k + 1, min_points_per_centroid=1)
            km.train(x, init_centroids=c)
            c = np.array(km.centroids, dtype=np.float32)
            objectives.append(float(km.obj[-1]) / len(x))  # of the centroids this iteration started from
            if converged(objectives, tol):
                break
        return c, objectives


def converged(objectives, tol: float) -> bool:
    """The last iteration lowered the mean squared distance by less than `tol` (relative)."""
    return tol > 0 and len(objectives) >= 2 and objectives[-2] - objectives[-1] < tol * objectives[-2]


class TorchBackend:
    """PyTorch: chunked `addmm` + argmin, on CUDA when present; Lloyd's warm-up with random or
    k-means++ initialisation drawn from the seed."""

    name = "torch"

    def __init__(self, device: str = "auto"):
        self.device = pick_device(device)
        self._c = None

    def set_centroids(self, centroids: np.ndarray) -> None:
        self._c = torch.as_tensor(np.asarray(centroids, dtype=np.float32), device=self.device)
        self._c_sq = (self._c * self._c).sum(1)
        self._rows = _rows_per_block(len(self._c))

    def _assign_tensor(self, x: torch.Tensor):
        labels = torch.empty(len(x), dtype=torch.long, device=self.device)
        d2 = torch.empty(len(x), dtype=torch.float32, device=self.device)
        for a in range(0, len(x), self._rows):
            xb = x[a:a + self._rows].to(self.device, torch.float32)
            dist = torch.addmm(self._c_sq, xb, self._c.T, alpha=-2.0)  # ||c||^2 - 2 x.c
            val, idx = dist.min(1)
            labels[a:a + len(xb)] = idx
            d2[a:a + len(xb)] = (val + (xb * xb).sum(1)).clamp_min_(0.0)
        return labels, d2

    @torch.no_grad()
    def assign(self, x: np.ndarray):
        labels, d2 = self._assign_tensor(torch.from_numpy(np.ascontiguousarray(x)))
        return labels.cpu().numpy(), d2.cpu().numpy()

    @torch.no_grad()
    def warmup(self, x: np.ndarray, k: int, niter: int, seed: int, init: str, tol: float = 0.0):
        """Lloyd's on all of `x`, stopping once converged; returns (centroids, objectives)."""
        gen = torch.Generator().manual_seed(seed)
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
        c = init_centroids(x, k, seed, init, self.device)
        c = torch.from_numpy(c).to(self.device) if c is not None else \
            xt[torch.randperm(len(xt), generator=gen)[:k].to(self.device)].clone()
        objectives = []
        for _ in range(niter):
            self.set_centroids(c.cpu().numpy())
            labels, d2 = self._assign_tensor(xt)
            objectives.append(float(d2.double().mean()))
            sums = torch.zeros_like(c).index_add_(0, labels, xt)
            counts = torch.bincount(labels, minlength=k)
            c = sums / counts.clamp_min(1).unsqueeze(1).to(sums.dtype)
            split_empty(c, counts.cpu(), gen)
            if converged(objectives, tol):
                break
        return c.cpu().numpy(), objectives


def split_empty(c: torch.Tensor, counts: torch.Tensor, gen: torch.Generator) -> None:
    """Gives each empty cluster half of a populous one, as faiss does: the empty centroid becomes a
    slightly perturbed copy of a centroid drawn with probability proportional to its size - 1."""
    counts = counts.clone().double()
    eps = 1.0 / 1024
    sign = torch.ones(c.shape[1], dtype=c.dtype, device=c.device)
    sign[1::2] = -1
    for j in torch.nonzero(counts == 0).flatten().tolist():
        weights = (counts - 1).clamp_min(0)
        if float(weights.sum()) <= 0:
            return
        src = int(torch.multinomial(weights, 1, generator=gen))
        c[j] = c[src] * (1 + eps * sign)
        c[src] = c[src] * (1 - eps * sign)
        counts[j] = counts[src] // 2
        counts[src] -= counts[j]


INIT_POINTS_PER_CENTROID = 8
INIT_MIN_POINTS = 8192
INIT_ROUNDS = 64


@torch.no_grad()
def init_centroids(x: np.ndarray, k: int, seed: int, init: str, device, n_init: int = 1) -> np.ndarray | None:
    """Greedy k-means++ seeding on the first max(8 K, 8192) rows of x, or None for "random" (the
    backend then draws K distinct rows from the seed).

    Greedy k-means++ (scikit-learn's): each new centre is the best of 2 + ln K candidates drawn
    with probability proportional to D^2, "best" meaning the lowest resulting sum of D^2. On
    clustered speech-like data it ends several percent lower than plain k-means++ or random
    seeding after the same Lloyd iterations (bench/README.md). Exact seeding needs K sequential
    passes, minutes at K = 4096; so each of 64 rounds draws K/64 centres at once (each the best of its
    own candidates) and updates D^2 with one matrix product: exact greedy k-means++ when K <= 64.
    """
    if init == "random":
        return None
    if init != "kmeans++":
        raise SerError(f"unknown k-means init '{init}' (known: kmeans++, random)")
    gen = torch.Generator().manual_seed(seed)
    n = max(INIT_POINTS_PER_CENTROID * k, INIT_MIN_POINTS)
    xt = torch.from_numpy(np.ascontiguousarray(x[:n], dtype=np.float32)).to(device)
    x_sq = (xt * xt).sum(1)

    def sq_dist(idx):
        return (x_sq[:, None] - 2 * xt @ xt[idx].T + x_sq[idx][None, :]).clamp_min_(0)

    trials = 2 + int(math.log(k))
    per_round = max(1, -(-k // INIT_ROUNDS))
    result, result_potential = None, float("inf")
    for _ in range(n_init):
        chosen = [int(torch.randint(len(xt), (1,), generator=gen))]
        best = sq_dist(chosen)[:, 0]
        while len(chosen) < k:
            take = min(per_round, k - len(chosen))
            weights = best.double().cpu()
            if float(weights.sum()) <= 0:  # fewer distinct rows than k: duplicates become empty clusters
                weights = torch.ones_like(weights)
            cand = torch.multinomial(weights, take * trials, replacement=True, generator=gen).to(device)
            d2 = sq_dist(cand)
            potential = torch.minimum(best[:, None], d2).sum(0).view(take, trials)
            pick = potential.argmin(1) + torch.arange(take, device=device) * trials
            chosen += cand[pick].tolist()
            best = torch.minimum(best, d2[:, pick].min(1).values)
        if float(best.sum()) < result_potential:
            result, result_potential = chosen, float(best.sum())
    return xt[result].cpu().numpy()


BACKENDS = {"faiss": FaissBackend, "torch": TorchBackend}


def make_backend(name: str, device: str = "auto"):
    if name not in BACKENDS:
        raise SerError(f"unknown k-means backend '{name}' (known: {', '.join(BACKENDS)})")
    return BACKENDS[name](device)
