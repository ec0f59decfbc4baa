import numpy as np
import pytest
from sklearn.datasets import make_blobs

from ser.cluster.kmeans import KMeans
from ser.utils import SerError


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny problems: a second thread only adds synchronisation (costly on a busy CI machine)."""
    import faiss
    import torch

    before = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    yield
    torch.set_num_threads(before[0])
    faiss.omp_set_num_threads(before[1])


def blobs(n=3000, k=8, dim=16, seed=0):
    x, y = make_blobs(n, n_features=dim, centers=k, cluster_std=0.3, center_box=(-20, 20), random_state=seed)
    return x.astype(np.float32), y


def matches_up_to_permutation(pred, truth):
    pairs = set(zip(pred.tolist(), truth.tolist()))
    return len(pairs) == len(set(pred.tolist())) == len(set(truth.tolist()))


@pytest.mark.parametrize("backend", ["faiss", "torch"])
def test_recovers_separated_blobs(backend):
    x, y = blobs()
    km = KMeans(8, backend=backend, seed=0, verbose=False).fit(x.astype(np.float16))
    labels = km.predict(x)
    assert labels.dtype == np.int32 and labels.shape == (len(x),)
    assert matches_up_to_permutation(labels, y)
    assert km.centroids.shape == (8, 16) and km.centroids.dtype == np.float32


@pytest.mark.parametrize("backend", ["faiss", "torch"])
def test_same_seed_same_model(backend):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4000, 12)).astype(np.float32)  # no structure: init decides everything
    a = KMeans(20, backend=backend, seed=3, verbose=False).fit(x)
    b = KMeans(20, backend=backend, seed=3, verbose=False).fit(x)
    c = KMeans(20, backend=backend, seed=4, verbose=False).fit(x)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    assert not np.allclose(a.centroids, c.centroids)


def test_torch_inertia_close_to_faiss():
    x, _ = make_blobs(6000, n_features=24, centers=60, cluster_std=2.0, random_state=2)
    x = x.astype(np.float32)
    inertia = {b: KMeans(32, backend=b, seed=0, verbose=False).fit(x).inertia(x) for b in ("faiss", "torch")}
    assert abs(inertia["torch"] - inertia["faiss"]) / inertia["faiss"] < 0.02
    # inertia is the sum of squared distances to the nearest centroid
    km = KMeans(32, backend="torch", seed=0, verbose=False).fit(x)
    d2 = ((x[:, None, :] - km.centroids[None]) ** 2).sum(-1).min(1)
    assert km.inertia(x) == pytest.approx(float(d2.sum()), rel=1e-4)


@pytest.mark.parametrize("backend", ["faiss", "torch"])
def test_warmup_stops_once_converged(backend):
    x, _ = blobs()
    early = KMeans(8, backend=backend, niter=30, seed=0, verbose=False).fit(x)
    assert 2 <= early.fit_info["warmup_iterations"] < 30  # separated blobs settle in a few iterations
    objectives = early.fit_info["warmup_mean_sq_dist"]
    assert all(b <= a * (1 + 1e-6) for a, b in zip(objectives, objectives[1:]))  # Lloyd's never gets worse
    full = KMeans(8, backend=backend, niter=30, seed=0, tol=0, verbose=False).fit(x)
    assert full.fit_info["warmup_iterations"] == 30


def test_progressive_plan_grows_to_the_cap():
    km = KMeans(8192, backend="torch", niter=20, verbose=False)
    plan = km.plan(4_000_000)
    assert plan[0] == (8192 * 32, 17)  # warm-up on 32 frames per centroid
    assert [n for n, _ in plan[1:]] == [8192 * 64, 8192 * 128, 8192 * 256] and sum(it for _, it in plan) == 20
    # small codebooks: at least 128 K warm-up frames and 1 M in the end
    assert KMeans(64, backend="torch", verbose=False).plan(4_000_000) == [
        (1 << 17, 17),
        (1 << 18, 1),
        (1 << 19, 1),
        (1 << 20, 1),
    ]
    assert km.plan(1000) == [(1000, 20)]  # too few frames to subsample: plain Lloyd's on all
    assert KMeans(8192, backend="torch", schedule="full", verbose=False).plan(4_000_000) == [(8192 * 256, 20)]


def test_save_load_roundtrip_and_other_backend(tmp_path):
    x, _ = blobs(seed=3)
    km = KMeans(8, backend="faiss", seed=0, verbose=False).fit(x)
    km.save(tmp_path / "km.npz")
    back = KMeans.load(tmp_path / "km.npz")
    np.testing.assert_array_equal(back.centroids, km.centroids)
    assert back.config() == km.config() and back.fit_info == km.fit_info
    np.testing.assert_array_equal(KMeans.load(tmp_path / "km.npz", backend="torch").predict(x), km.predict(x))


def test_bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(SerError, match="at least one frame per cluster"):
        KMeans(10, backend="torch", verbose=False).fit(np.zeros((5, 3), np.float32))
    with pytest.raises(SerError, match="unknown k-means backend"):
        KMeans(10, backend="sklearn")
    with pytest.raises(SerError, match="not been fitted"):
        KMeans(10, backend="torch").predict(np.zeros((5, 3), np.float32))
    (tmp_path / "bad.npz").write_text("nope")
    with pytest.raises(SerError, match="bad.npz"):
        KMeans.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("backend", ["faiss", "torch"])
def test_n_init_finishes_the_best_screened_seeding(backend):
    x, _ = make_blobs(6000, n_features=24, centers=60, cluster_std=2.0, random_state=2)
    km = KMeans(32, backend=backend, seed=0, n_init=4, verbose=False).fit(x.astype(np.float32))
    tries = km.fit_info["warmup_tries_mean_sq_dist"]
    assert len(tries) == 4 and len(set(tries)) > 1  # each seeding is its own
    objectives = km.fit_info["warmup_mean_sq_dist"]
    assert objectives[2] == min(tries)  # the kept run is the one whose screening ended lowest ...
    assert objectives[-1] <= min(tries)  # ... and its further iterations only lower it
    assert km.config()["n_init"] == 4  # saved with the model
    with pytest.raises(SerError, match="n_init >= 1"):
        KMeans(8, n_init=0)


def test_default_n_init_by_codebook_size():
    from ser.cluster.kmeans import default_n_init

    assert [default_n_init(k) for k in (64, 255, 256, 512, 1024, 4096)] == [1, 1, 3, 3, 3, 1]


def test_seeding_space_keeps_distances_of_low_rank_data():
    import torch

    from ser.cluster.backends import seeding_space

    rng = np.random.default_rng(0)
    x = torch.from_numpy((rng.standard_normal((5000, 16)) @ rng.standard_normal((16, 96))).astype(np.float32))
    proj, resid = seeding_space(x, 32)  # rank 16 < 32 dims: the projection is exact
    assert proj.shape == (5000, 32) and float(resid.max()) < 1e-3 * float((x * x).sum(1).mean())
    exact = torch.cdist(x[:50], x[50:100]) ** 2
    approx = torch.cdist(proj[:50], proj[50:100]) ** 2
    assert torch.allclose(approx, exact, rtol=1e-3, atol=1e-2 * float(exact.mean()))
