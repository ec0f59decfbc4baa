"""Two writers of the same store at once (a dump job started twice with the same job number) each
write their own temporary files (ser.features.store.FeatWriter): the second used to truncate the
first's temporary ark and die on its missing file. Now both finish and the store is complete."""

import numpy as np

from ser.features.store import FeatReader, FeatWriter


def test_two_writers_of_one_store_do_not_collide(tmp_path):
    feats = {f"u{i}": np.full((3, 2), i, dtype=np.float32) for i in range(4)}
    first, second = FeatWriter(tmp_path / "feats.1"), FeatWriter(tmp_path / "feats.1")
    with first as w1:
        with second as w2:
            for u, x in feats.items():
                w1(u, x)
                w2(u, x)
        # the second finished while the first was still writing
    reader = FeatReader(tmp_path / "feats.1.scp")
    assert sorted(reader.keys()) == sorted(feats)
    for u, x in feats.items():
        assert np.array_equal(reader[u], x)
    assert not list(tmp_path.glob(".feats.1.tmp*"))
