from ser.data.sampler import BucketBatchSampler


def test_buckets_cover_all_and_are_seeded():
    lengths = [5, 50, 7, 48, 6, 52, 8, 49] * 5
    s = BucketBatchSampler(lengths, batch_size=4, seed=1, bucket_windows=10)
    batches = list(s)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    # Within a batch lengths are close: short and long utterances are not mixed.
    assert all(max(lengths[i] for i in b) - min(lengths[i] for i in b) <= 5 for b in batches)
    s.set_epoch(1)
    assert list(s) != batches
    s.set_epoch(0)
    assert list(s) == batches


def test_max_frames_caps_batch():
    s = BucketBatchSampler([10] * 10, batch_size=8, shuffle=False, max_frames=30)
    assert [len(b) for b in s] == [3, 3, 3, 1]


def test_one_utterance_batch_is_merged_into_a_neighbour(caplog):
    # 9 utterances in batches of 4 leave a remainder of 1: BatchNorm fails on it and a CCC loss has no gradient.
    lengths = list(range(10, 19))
    plain = BucketBatchSampler(lengths, batch_size=4, shuffle=False)
    assert sorted(len(b) for b in plain) == [1, 4, 4]
    s = BucketBatchSampler(lengths, batch_size=4, shuffle=False, min_batch_size=2)
    with caplog.at_level("INFO"):
        batches = list(s)
    assert sorted(len(b) for b in batches) == [4, 5]
    assert sorted(i for b in batches for i in b) == list(range(9))
    assert "min_batch_size=2" in caplog.text
    # The merged batch holds the longest utterances: its neighbour in length.
    assert set(max(batches, key=len)) == {4, 5, 6, 7, 8}


def test_shuffled_batches_never_fall_below_minimum():
    lengths = [5, 50, 7, 48, 6, 52, 8, 49, 30] * 7
    s = BucketBatchSampler(lengths, batch_size=8, seed=2, bucket_windows=2, max_frames=200, min_batch_size=2)
    for epoch in range(5):
        s.set_epoch(epoch)
        batches = list(s)
        assert min(len(b) for b in batches) >= 2
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))


def test_epoch_batches_are_built_once(monkeypatch):
    s = BucketBatchSampler([10, 12, 14] * 20, batch_size=4, seed=0)
    calls = []
    original = BucketBatchSampler._batches
    monkeypatch.setattr(BucketBatchSampler, "_batches", lambda self: calls.append(1) or original(self))
    for _ in range(5):
        assert len(s) == 15
    list(s)
    assert len(calls) == 1
    s.set_epoch(1)
    len(s)
    assert len(calls) == 2
