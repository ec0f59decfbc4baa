"""Nearest-centroid search, one class per backend, and the Lloyd's warm-up they share.

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


class _LloydWarmup:
    """The warm-up every backend shares: Lloyd's on all of `x`, each assignment by the backend's own
    nearest-centroid search (`_assign_all`), the means and empty-cluster splits in torch."""

    @torch.no_grad()
    def warmup(self, x: np.ndarray, k: int, niter: int, seed: int, init: str, tol: float = 0.0, start=None):
        """From `start` centroids, or from the seeding (k-means++, or K distinct rows drawn from `seed`),
        until converged or `niter` iterations. Returns (centroids, objectives): objectives[i] is the
        mean squared distance to the centroids iteration i started from."""
        gen = torch.Generator().manual_seed(seed)
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
        c = init_centroids(x, k, seed, init, self.device) if start is None else np.asarray(start, np.float32)
        c = (
            torch.from_numpy(c).to(self.device)
            if c is not None
            else xt[torch.randperm(len(xt), generator=gen)[:k].to(self.device)].clone()
        )
        objectives = []
        for _ in range(niter):
            self.set_centroids(c.cpu().numpy())
            labels, d2 = self._assign_all(xt)
            objectives.append(float(d2.double().mean()))
            sums = torch.zeros_like(c).index_add_(0, labels, xt)
            counts = torch.bincount(labels, minlength=k)
            c = sums / counts.clamp_min(1).unsqueeze(1).to(sums.dtype)
            split_empty(c, counts.cpu(), gen)
            if converged(objectives, tol):
                break
        return c.cpu().numpy(), objectives


class FaissBackend(_LloydWarmup):
    """faiss-cpu: `IndexFlatL2` (BLAS search) for assignment, in the warm-up's Lloyd's iterations too
    (`faiss.Kmeans` itself costs twice a search per iteration at K = 64: it re-checks and re-copies
    the data each call)."""

    name = "faiss"

    def __init__(self, device: str = "auto"):
        try:
            import faiss
        except ImportError as e:  # pragma: no cover - tools/install.sh installs the "cluster" extra
            raise SerError(
                f"the faiss k-means backend needs faiss-cpu ({e}); pip install faiss-cpu, or choose backend: torch"
            ) from e
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
            d, i = self._index.search(np.ascontiguousarray(x[a : a + step], dtype=np.float32), 1)
            out_l[a : a + step], out_d[a : a + step] = i[:, 0], np.maximum(d[:, 0], 0.0)
        return out_l, out_d

    def _assign_all(self, xt: torch.Tensor):
        labels, d2 = self.assign(xt.numpy())
        return torch.from_numpy(labels), torch.from_numpy(d2)


def converged(objectives, tol: float) -> bool:
    """The last iteration lowered the mean squared distance by less than `tol` (relative)."""
    return tol > 0 and len(objectives) >= 2 and objectives[-2] - objectives[-1] < tol * objectives[-2]


class TorchBackend(_LloydWarmup):
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
            xb = x[a : a + self._rows].to(self.device, torch.float32)
            dist = torch.addmm(self._c_sq, xb, self._c.T, alpha=-2.0)  # ||c||^2 - 2 x.c
            val, idx = dist.min(1)
            labels[a : a + len(xb)] = idx
            d2[a : a + len(xb)] = (val + (xb * xb).sum(1)).clamp_min_(0.0)
        return labels, d2

    @torch.no_grad()
    def assign(self, x: np.ndarray):
        labels, d2 = self._assign_tensor(torch.from_numpy(np.ascontiguousarray(x)))
        return labels.cpu().numpy(), d2.cpu().numpy()

    _assign_all = _assign_tensor


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


# Seeding pool: 128 rows per centroid (at least 8 K, at most 256 K); 128 rounds of centres (exact
# greedy k-means++ up to K = 128); distances in the pool's top 128 principal directions.
# On clustered data the pool size matters most: at K = 512, 8 rows per centroid ended 1.4-2.1 %
# above sklearn's best of 20 seedings on 30 K rows, 128 per centroid about level (bench/README.md).
INIT_POINTS_PER_CENTROID = 128
INIT_MIN_POINTS = 8192
INIT_MAX_POINTS = 1 << 18
INIT_ROUNDS = 128
INIT_DIMS = 128
_COV_ROWS = 32768


def seeding_space(xt: torch.Tensor, dims: int):
    """(rows projected on their top `dims` principal directions, squared norm of what is left).

    Squared distances become ||P(x - c)||^2 + r_x + r_c: exact but for the residuals' cross term,
    which is small when what PCA leaves is noise-like. Seeding reads the pool once per round, so
    this divides its memory traffic by D / dims (6 at 768 dims); Lloyd's iterations stay exact."""
    if xt.shape[1] <= dims:
        return xt, torch.zeros(len(xt), dtype=xt.dtype, device=xt.device)
    mean = xt[:_COV_ROWS].mean(0)
    sub = xt[:_COV_ROWS] - mean
    basis = torch.linalg.eigh(sub.T @ sub)[1][:, -dims:]  # eigenvalues ascending: the last are the top
    proj = xt @ basis - mean @ basis  # no centred copy of the pool: it is the largest array here
    centred_sq = torch.linalg.vector_norm(xt, dim=1).square_() - 2 * (xt @ mean) + mean @ mean
    return proj, (centred_sq - (proj * proj).sum(1)).clamp_min_(0)


@torch.no_grad()
def init_centroids(x: np.ndarray, k: int, seed: int, init: str, device) -> np.ndarray | None:
    """Greedy k-means++ seeding on the first min(max(128 K, 8192), 256 K) rows of x, or None for
    "random" (the backend then draws K distinct rows from the seed).

    Greedy k-means++ (scikit-learn's): each new centre is the best of 2 + ln K candidates drawn
    with probability proportional to D^2, "best" meaning the lowest resulting sum of D^2. On
    clustered speech-like data it ends several percent lower than plain k-means++ or random
    seeding after the same Lloyd iterations (bench/README.md). Exact seeding needs K sequential
    passes, minutes at K = 4096; so each of 128 rounds draws K/128 centres at once (each the best
    of its own candidates) and updates D^2 with one matrix product, in the pool's principal
    subspace (`seeding_space`). Trying several seedings is `KMeans(n_init=...)`'s job.
    """
    if init == "random":
        return None
    if init != "kmeans++":
        raise SerError(f"unknown k-means init '{init}' (known: kmeans++, random)")
    gen = torch.Generator().manual_seed(seed)
    n = min(max(INIT_POINTS_PER_CENTROID * k, INIT_MIN_POINTS), max(INIT_MAX_POINTS, k))
    xt = torch.from_numpy(np.ascontiguousarray(x[:n], dtype=np.float32)).to(device)
    proj, resid = seeding_space(xt, INIT_DIMS)
    norms = (proj * proj).sum(1) + resid

    def sq_dist(idx):  # one (pool x candidates) array, updated in place
        return torch.addmm(norms[idx][None, :], proj, proj[idx].T, alpha=-2.0).add_(norms[:, None]).clamp_min_(0)

    trials = 2 + int(math.log(k))
    per_round = max(1, -(-k // INIT_ROUNDS))
    chosen = [int(torch.randint(len(xt), (1,), generator=gen))]
    best = sq_dist(chosen)[:, 0]
    best[chosen] = 0.0
    while len(chosen) < k:
        take = min(per_round, k - len(chosen))
        weights = best.double().cpu()
        if float(weights.sum()) <= 0:  # fewer distinct rows than k: duplicates become empty clusters
            weights = torch.ones_like(weights)
        cand = torch.multinomial(weights, take * trials, replacement=True, generator=gen).to(device)
        d2 = sq_dist(cand)
        d2[cand, torch.arange(len(cand), device=device)] = 0.0  # a row is at distance 0 from itself
        potential = torch.minimum(best[:, None], d2).sum(0).view(take, trials)
        pick = potential.argmin(1) + torch.arange(take, device=device) * trials
        chosen += cand[pick].tolist()
        best = torch.minimum(best, d2[:, pick].min(1).values)
    return xt[chosen].cpu().numpy()


BACKENDS = {"faiss": FaissBackend, "torch": TorchBackend}


def make_backend(name: str, device: str = "auto"):
    if name not in BACKENDS:
        raise SerError(f"unknown k-means backend '{name}' (known: {', '.join(BACKENDS)})")
    return BACKENDS[name](device)
