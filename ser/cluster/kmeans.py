"""K-means over frame features: the clustering engine behind multi-scale pseudo-labels.

    km = KMeans(512, backend="faiss", seed=0).fit(frames)      # frames: (N, D) float16 or float32
    labels = km.predict(frames)                                # int32, nearest centroid
    models = fit_multiscale(reader, train_utts, [64, 512, 4096], max_fit_frames=None, backend="faiss", seed=0)
    stats = label_store(reader, all_utts, models, "exp/x/kmeans")  # labels_k{K}.{ark,scp}

How a scale is fitted (`schedule="progressive"`, the default). The fit sample is put in a seeded
random order. The first iterations (warm-up: greedy k-means++ seeding, then Lloyd's with the
backend's nearest-centroid search) run on the first 32 K frames (at least 128 K frames); with
`n_init` > 1 several seedings get 3 iterations each and the lowest goes on (`default_n_init`: 3
seedings for 256 <= K <= 1024, where seedings end furthest apart). The remaining iterations run on
prefixes that grow geometrically up to 256 K frames (at least 1 M) or the whole sample. Early
iterations move centroids far and need few frames; the last ones refine the means, whose noise
shrinks as 1 / frames per centroid. At K = 4096 this costs about a fifth of 20 full iterations on
256 K frames (faiss's default) at a lower inertia (bench/README.md). `schedule="full"` is plain
Lloyd's: all iterations on all the (capped) frames.

Refinement iterations stream the float16 sample in blocks, so the only float32 copy of a whole
set is the warm-up set (max(32 K, 128 K) frames x D).
"""

import json
import math
import time

import numpy as np
import torch

from ser.cluster.backends import make_backend
from ser.cluster.frames import sample_frames  # noqa: F401  (part of this module's interface)
from ser.cluster.labels import label_store  # noqa: F401  (part of this module's interface)
from ser.utils import SerError, atomic_path, get_logger, progress

log = get_logger("kmeans")

# Frames per iteration of one scale: the warm-up uses 32 per centroid, and the growing iterations
# end at 256 per centroid (faiss's own cap), but never fewer than 128 K and 1 M frames resp.
# (or the whole sample if smaller): small codebooks are cheap per frame, and on clustered data
# their Lloyd's iterations settle in clearly better optima with more frames (bench/README.md).
WARMUP_POINTS_PER_CENTROID = 32
MIN_WARMUP_FRAMES = 1 << 17
MAX_POINTS_PER_CENTROID = 256
MIN_MAX_FRAMES = 1 << 20
DEFAULT_MAX_FIT_FRAMES = 1 << 20  # the shared fit sample: 1.5 GB at 768 dims in float16
SCREEN_ITERATIONS = 3  # with n_init > 1, each seeding's Lloyd's iterations before the best one goes on


def default_n_init(k: int) -> int:
    """Seedings tried per scale: 3 for 256 <= K <= 1024, else 1. On the benchmark's clustered frames
    (bench/README.md) the warm-ups of three seedings ended up to 1 % apart at K = 512, so their best
    is worth the extra seedings; at K = 4096 they ended within 0.1 %, and at K = 64 one seeding is
    already under the reference's best of 20."""
    return 3 if 256 <= k <= 1024 else 1


def default_max_fit_frames(ks) -> int:
    """Sample size for fitting scales `ks`: 256 frames per centroid of the largest K, at least 1 M."""
    return int(max(MAX_POINTS_PER_CENTROID * max(ks), DEFAULT_MAX_FIT_FRAMES))


class KMeans:
    """Euclidean k-means with a seeded model that can be saved and loaded (`save` / `load`).

    `niter` is the most iterations per scale: the warm-up stops early once an iteration lowers the
    mean squared distance by less than `tol` (relative; 0 runs them all). With greedy k-means++
    seeding few iterations are needed: at K = 4096 iterations 6 to 20 together gained 0.2%.
    `n_init` seedings are screened per scale (None: `default_n_init(k)`).

    `inertia(x)` is the SUM of squared distances of the rows of x to their nearest centroid
    (scikit-learn's `inertia_` convention); divide by len(x) for the per-frame mean.
    """

    def __init__(
        self,
        k: int,
        backend: str = "faiss",
        niter: int = 20,
        seed: int = 0,
        device: str = "auto",
        schedule: str = "progressive",
        warmup_points_per_centroid: int = WARMUP_POINTS_PER_CENTROID,
        max_points_per_centroid: int | None = MAX_POINTS_PER_CENTROID,
        init: str = "kmeans++",
        tol: float = 5e-4,
        n_init: int | None = None,
        verbose: bool = True,
    ):
        if k < 1:
            raise SerError(f"k-means needs k >= 1, got {k}")
        if niter < 1:
            raise SerError(f"k-means needs niter >= 1, got {niter}")
        if n_init is not None and n_init < 1:
            raise SerError(f"k-means needs n_init >= 1, got {n_init}")
        if schedule not in ("progressive", "full"):
            raise SerError(f"unknown k-means schedule '{schedule}' (known: progressive, full)")
        self.k = int(k)
        self.backend_name = backend
        self.niter = int(niter)
        self.seed = int(seed)
        self.device = device
        self.schedule = schedule
        self.warmup_ppc = int(warmup_points_per_centroid)
        self.max_ppc = max_points_per_centroid
        self.init = init
        self.tol = float(tol)
        self.n_init = default_n_init(self.k) if n_init is None else int(n_init)
        self.verbose = verbose
        self.centroids = None
        self.fit_info = {}
        self._backend = make_backend(backend, device)

    # ---- fitting ----
    def plan(self, n: int) -> list:
        """[(frames, iterations), ...]: the warm-up, then one iteration per growing prefix."""
        cap = n if self.max_ppc is None else min(n, max(self.max_ppc * self.k, MIN_MAX_FRAMES))
        if self.schedule == "full":
            return [(cap, self.niter)]
        start = min(cap, max(self.warmup_ppc * self.k, MIN_WARMUP_FRAMES))
        steps = 0 if start >= cap else min(math.ceil(math.log2(cap / start)), self.niter // 2)
        sizes = [int(round(start * (cap / start) ** (i / steps))) for i in range(1, steps + 1)]
        return [(start, self.niter - steps)] + [(s, 1) for s in sizes]

    def fit(self, x: np.ndarray) -> "KMeans":
        x = _check_frames(x)
        if len(x) < self.k:
            raise SerError(f"cannot fit {self.k} clusters on {len(x)} frames: need at least one frame per cluster")
        order = np.random.default_rng(self.seed).permutation(len(x))
        plan = self.plan(len(x))
        log.info(
            "k-means K=%d (%s backend on %s): %d fit frames, plan %s",
            self.k,
            self.backend_name,
            self._backend.device,
            len(x),
            " + ".join(f"{it} it x {n}" for n, it in plan),
        )
        n0, warm_iters = plan[0]
        t = time.perf_counter()
        warm = np.empty((n0, x.shape[1]), dtype=np.float32)  # random order: k-means++ seeds from its first rows
        for a in range(0, n0, 65536):
            warm[a : a + 65536] = _gather(x, order[a : min(a + 65536, n0)])
        if self.n_init == 1:
            c, objectives = self._backend.warmup(warm, self.k, warm_iters, self.seed, self.init, self.tol)
            tries = [objectives[-1]]
        else:  # screen n_init seedings by a few iterations each; finish the lowest one
            screen = min(SCREEN_ITERATIONS, warm_iters)
            runs = [
                self._backend.warmup(warm, self.k, screen, self.seed + i * 1_000_003, self.init)
                for i in range(self.n_init)
            ]
            tries = [obj[-1] for _, obj in runs]
            c, objectives = runs[int(np.argmin(tries))]
            del runs
            if warm_iters > screen:
                c, more = self._backend.warmup(
                    warm, self.k, warm_iters - screen, self.seed, self.init, self.tol, start=c
                )
                objectives = objectives + more
        del warm
        log.info(
            "K=%d: warm-up (%s init, best of %d: %d of at most %d iterations on %d frames) took %.1f s",
            self.k,
            self.init,
            self.n_init,
            len(objectives),
            warm_iters,
            n0,
            time.perf_counter() - t,
        )
        t = time.perf_counter()
        mean_d2 = None
        steps = progress(plan[1:], desc=f"k-means K={self.k} refine", disable=not self.verbose or len(plan) < 2)
        for n, _ in steps:
            c, mean_d2 = self._lloyd_step(x, order[:n], c)
        if len(plan) > 1:
            log.info(
                "K=%d: %d growing iterations up to %d frames took %.1f s (mean squared distance %.4g)",
                self.k,
                len(plan) - 1,
                plan[-1][0],
                time.perf_counter() - t,
                mean_d2,
            )
        self.centroids = np.ascontiguousarray(c, dtype=np.float32)
        self.fit_info = {
            "fit_frames": int(len(x)),
            "plan": [[int(n), int(it)] for n, it in plan],
            "warmup_iterations": len(objectives),
            "warmup_mean_sq_dist": objectives,
            "warmup_tries_mean_sq_dist": tries,
            "last_mean_sq_dist": None if mean_d2 is None else float(mean_d2),
        }
        self._backend.set_centroids(self.centroids)
        return self

    def _lloyd_step(self, x, rows, c):
        """One assignment + mean update over x[rows], streamed in blocks; empty clusters keep their centroid."""
        self._backend.set_centroids(c)
        sums = torch.zeros(self.k, x.shape[1], dtype=torch.float64)
        counts = torch.zeros(self.k, dtype=torch.float64)
        total = 0.0
        step = 65536
        for a in range(0, len(rows), step):
            idx = np.sort(rows[a : a + step])  # sorted gathers read the sample front to back
            block = _gather(x, idx)  # one float32 copy, for assignment and sums
            labels, d2 = self._backend.assign(block)
            lab = torch.from_numpy(labels)
            sums += torch.zeros(self.k, x.shape[1]).index_add_(0, lab, torch.from_numpy(block)).double()
            counts += torch.bincount(lab, minlength=self.k).double()
            total += float(d2.astype(np.float64).sum())
        keep = counts == 0
        new = (sums / counts.clamp_min(1).unsqueeze(1)).float().numpy()
        new[keep.numpy()] = c[keep.numpy()]
        return new, total / len(rows)

    # ---- using a fitted model ----
    def _require_fit(self):
        if self.centroids is None:
            raise SerError("this KMeans has not been fitted (call fit or KMeans.load)")

    def assign(self, x: np.ndarray, batch_size: int = 65536):
        """(labels int32, squared distances float32) for every row, batch by batch."""
        self._require_fit()
        x = _check_frames(x, self.centroids.shape[1])
        labels = np.empty(len(x), dtype=np.int32)
        d2 = np.empty(len(x), dtype=np.float32)
        for a in range(0, len(x), batch_size):
            lab, dist = self._backend.assign(x[a : a + batch_size])
            labels[a : a + len(lab)], d2[a : a + len(lab)] = lab, dist
        return labels, d2

    def predict(self, x: np.ndarray, batch_size: int = 65536) -> np.ndarray:
        return self.assign(x, batch_size)[0]

    def inertia(self, x: np.ndarray, batch_size: int = 65536) -> float:
        """Sum over the rows of x of the squared distance to the nearest centroid."""
        return float(self.assign(x, batch_size)[1].astype(np.float64).sum())

    # ---- persistence ----
    def config(self) -> dict:
        return {
            "k": self.k,
            "backend": self.backend_name,
            "niter": self.niter,
            "seed": self.seed,
            "schedule": self.schedule,
            "warmup_points_per_centroid": self.warmup_ppc,
            "max_points_per_centroid": self.max_ppc,
            "init": self.init,
            "tol": self.tol,
            "n_init": self.n_init,
        }

    def save(self, path) -> None:
        self._require_fit()
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(
                    f, centroids=self.centroids, config=json.dumps(self.config()), fit_info=json.dumps(self.fit_info)
                )

    @classmethod
    def load(cls, path, backend: str | None = None, device: str = "auto") -> "KMeans":
        """A saved model; `backend` overrides the one it was fitted with (labels do not depend on it)."""
        try:
            with np.load(path) as z:
                centroids = z["centroids"]
                conf = json.loads(str(z["config"]))
                fit_info = json.loads(str(z["fit_info"]))
        except (OSError, KeyError, ValueError) as e:
            raise SerError(f"cannot read k-means model {path}: {e}") from e
        if backend is not None:
            conf["backend"] = backend
        km = cls(device=device, verbose=False, **conf)
        km.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        km.fit_info = fit_info
        km._backend.set_centroids(km.centroids)
        return km


def _gather(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """x[rows] as float32; torch's multi-threaded gather is about 9x numpy's on float16 rows."""
    return torch.from_numpy(x).index_select(0, torch.from_numpy(rows)).float().numpy()


def _check_frames(x, dim: int | None = None) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.dtype.kind != "f":
        raise SerError(f"k-means expects a (frames, dims) float matrix, got shape {x.shape} dtype {x.dtype}")
    if dim is not None and x.shape[1] != dim:
        raise SerError(f"frames have {x.shape[1]} dims but the k-means centroids have {dim}")
    if len(x) and not np.isfinite(x[: min(len(x), 4096)]).all():
        raise SerError("k-means input frames contain NaN or inf")
    return x


def fit_multiscale(
    reader,
    train_utts,
    ks,
    max_fit_frames: int | None = None,
    backend: str = "faiss",
    seed: int = 0,
    dtype=np.float16,
    **kmeans_kwargs,
) -> list:
    """One KMeans per K in `ks`, all fitted on ONE seeded frame sample of `train_utts` only.

    `max_fit_frames` None means `default_max_fit_frames(ks)` (1 M frames for K up to 4096).
    Each scale uses a prefix of the (randomly ordered) sample, as set by its points-per-centroid cap.
    """
    ks = [int(k) for k in ks]
    if max_fit_frames is None:
        max_fit_frames = default_max_fit_frames(ks)
    frames = sample_frames(reader, train_utts, max_fit_frames, seed, dtype=dtype)
    log.info(
        "fit sample: %d frames x %d dims (%s, %.0f MB) from %d utterances",
        len(frames),
        frames.shape[1],
        np.dtype(dtype).name,
        frames.nbytes / 2**20,
        len(train_utts),
    )
    models = []
    for k in ks:
        models.append(KMeans(k, backend=backend, seed=seed, **kmeans_kwargs).fit(frames))
    return models
