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
    assert KMeans(64, backend="torch", verbose=False).plan(4_000_000) == [(1 << 17, 17), (1 << 18, 1), (1 << 19, 1),
                                                                          (1 << 20, 1)]
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
