import numpy as np
import pytest

from ser.cluster.kmeans import KMeans, fit_multiscale, label_store
from ser.features.store import FeatReader, FeatWriter
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


@pytest.fixture
def store(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((6, 8)) * 10
    with FeatWriter(tmp_path / "feats", float16=True) as w:
        for i in range(40):
            n = int(rng.integers(1, 90))
            w(f"spk{i % 4}_utt{i:02d}", centers[rng.integers(0, 6, n)] + rng.standard_normal((n, 8)))
    return FeatReader(tmp_path / "feats.scp")


def test_label_store_matches_frame_counts_and_predict(store, tmp_path):
    utts = store.keys()
    models = fit_multiscale(store, utts[:30], [3, 6], max_fit_frames=500, backend="torch", seed=0, verbose=False)
    assert [m.k for m in models] == [3, 6] and all(m.fit_info["fit_frames"] == 500 for m in models)
    # batch_frames smaller than most utterances and larger than others: both code paths
    stats = label_store(store, utts, models, tmp_path / "km", batch_frames=50)
    for m in models:
        labels = FeatReader(tmp_path / "km" / f"labels_k{m.k}.scp")
        assert labels.keys() == utts
        for u in utts:
            lab = labels[u]
            assert lab.dtype == np.int32 and lab.shape == (store.num_frames(u),)
            np.testing.assert_array_equal(lab, m.predict(store[u]))
        s = stats[m.k]
        assert s["frames"] == sum(store.num_frames(u) for u in utts)
        assert 1 <= s["used_clusters"] <= m.k and 1.0 <= s["perplexity"] <= m.k
        assert 0 < s["largest_cluster_share"] <= 1


def test_label_store_refuses_duplicate_scales(store, tmp_path):
    km = KMeans(2, backend="torch", verbose=False).fit(
        store["spk0_utt00"] if store.num_frames("spk0_utt00") > 2 else np.random.default_rng(0).random((10, 8))
    )
    with pytest.raises(SerError, match="same K"):
        label_store(store, store.keys(), [km, km], tmp_path / "km")
