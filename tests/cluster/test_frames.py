import numpy as np
import pytest

from ser.cluster.frames import LayerView, sample_frames
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
    """Utterance i, frame t holds (i, t, i, t): every sampled row says where it came from."""
    lengths = [30, 5, 120, 64, 1, 77]
    with FeatWriter(tmp_path / "feats", float16=True, meta={"num_layers": 2, "dim": 2}) as w:
        for i, n in enumerate(lengths):
            t = np.arange(n)
            w(f"utt{i}", np.stack([np.full(n, i), t, np.full(n, i), t], 1).astype(np.float32))
    return FeatReader(tmp_path / "feats.scp"), lengths


def test_sample_respects_budget_utts_and_seed(store):
    reader, lengths = store
    utts = ["utt0", "utt2", "utt3"]
    x = sample_frames(reader, utts, max_frames=100, seed=0)
    assert x.shape == (100, 4) and x.dtype == np.float16
    rows = {(int(a), int(b)) for a, b in x[:, :2]}
    assert len(rows) == 100  # no frame twice
    assert {i for i, _ in rows} <= {0, 2, 3}
    assert all(t < lengths[i] for i, t in rows)
    np.testing.assert_array_equal(x, sample_frames(reader, utts, max_frames=100, seed=0))
    assert not np.array_equal(x, sample_frames(reader, utts, max_frames=100, seed=1))


def test_sample_takes_everything_when_budget_is_large(store):
    reader, lengths = store
    x = sample_frames(reader, reader.keys(), max_frames=10**6, seed=0, dtype=np.float32)
    assert len(x) == sum(lengths)
    got = sorted((int(a), int(b)) for a, b in x[:, :2])
    assert got == sorted((i, t) for i, n in enumerate(lengths) for t in range(n))
    assert not np.array_equal(x[:, :2], np.array(got))  # rows come back shuffled


def test_sample_unknown_utterance_is_an_error(store):
    reader, _ = store
    with pytest.raises(SerError, match="lacks 1 of the 2"):
        sample_frames(reader, ["utt0", "nope"], 10, 0)


def test_layer_view_picks_one_layer(store):
    reader, _ = store
    top = LayerView(reader, -1)
    assert top.layer == 1 and top["utt2"].shape == (120, 2)
    np.testing.assert_array_equal(top["utt3"], reader["utt3"][:, 2:])
    with pytest.raises(SerError, match="out of range"):
        LayerView(reader, 2)
