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
