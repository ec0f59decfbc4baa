import numpy as np
import pytest

from ser.features.store import FeatReader, FeatWriter, compute_cmvn, merge_scps
from ser.utils import SerError


def test_ark_roundtrip_float16_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    mats = {f"u{i}": rng.standard_normal((5 + i, 4)).astype(np.float32) for i in range(3)}
    with FeatWriter(tmp_path / "feats.1", meta={"num_layers": 1, "dim": 4}) as w:
        for u in ("u0", "u1"):
            w(u, mats[u])
    with FeatWriter(tmp_path / "feats.2", float16=True) as w:
        w("u2", mats["u2"])
    with FeatWriter(tmp_path / "labels") as w:
        w("u0", np.array([3, 1, 4, 1, 5]))
    merge_scps([tmp_path / "feats.1.scp", tmp_path / "feats.2.scp"], tmp_path / "feats.scp")
    r = FeatReader(tmp_path / "feats.scp")
    assert r.keys() == ["u0", "u1", "u2"]
    np.testing.assert_array_equal(r["u1"], mats["u1"])
    np.testing.assert_allclose(r["u2"], mats["u2"], atol=2e-3)  # half precision
    assert r["u2"].dtype == np.float32
    assert r.num_frames("u2") == 7 and r.meta == {"num_layers": 1, "dim": 4}
    assert FeatReader(tmp_path / "labels.scp")["u0"].tolist() == [3, 1, 4, 1, 5]
    assert (tmp_path / "feats.utt2num_frames").read_text().splitlines()[0] == "u0 5"


def test_killed_writer_leaves_no_scp(tmp_path):
    with pytest.raises(RuntimeError):
        with FeatWriter(tmp_path / "feats") as w:
            w("u0", np.zeros((2, 2)))
            raise RuntimeError("killed")
    assert not (tmp_path / "feats.scp").exists() and not (tmp_path / "feats.ark").exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_store_names_stage(tmp_path):
    with pytest.raises(SerError, match="made by stage 1"):
        FeatReader(tmp_path / "feats.scp", stage_hint="stage 1")


def test_cmvn(tmp_path):
    with FeatWriter(tmp_path / "f") as w:
        w("a", np.array([[1.0, 2.0], [3.0, 2.0]]))
        w("b", np.array([[5.0, 2.0]]))
    stats = compute_cmvn(FeatReader(tmp_path / "f.scp"))
    np.testing.assert_allclose(stats["mean"], [3.0, 2.0])
    np.testing.assert_allclose(stats["std"][0], np.std([1, 3, 5]), rtol=1e-5)
    assert stats["count"] == 3
