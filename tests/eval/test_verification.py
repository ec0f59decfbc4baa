"""ser.eval.verification: EER, trials, cosine scoring."""

import numpy as np
import pytest

from ser.eval.verification import cosine_scores, eer, make_trials, verification_eer, write_trials
from ser.utils import SerError


def test_eer_exact_crossing():
    # threshold 0.5: one of three targets missed (0.3), one of three non-targets accepted (0.7)
    assert eer([0.9, 0.8, 0.3, 0.7, 0.2, 0.1], [1, 1, 1, 0, 0, 0]) == pytest.approx(1 / 3)


def test_eer_interpolated_between_operating_points():
    # Targets 1.0, 0.5; non-targets 0.75, 0, 0, 0. Thresholds in (0.5, 0.75]: FA 1/4, miss 1/2;
    # in (0, 0.5]: FA 1/4, miss 0. The miss rate falls from 1/2 to 0 at a false-alarm rate of 1/4,
    # so the curves cross at 1/4.
    assert eer([1.0, 0.5, 0.75, 0.0, 0.0, 0.0], [1, 1, 0, 0, 0, 0]) == pytest.approx(0.25)


def test_eer_extremes_and_errors():
    assert eer([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0]) == 0.0
    assert eer([0.1, 0.2, 0.9, 0.8], [1, 1, 0, 0]) == 1.0
    with pytest.raises(SerError):
        eer([0.1, 0.2], [1, 1])


def test_trials_skip_unknown_speakers(tmp_path):
    utt2spk = {"a1": "A", "a2": "A", "b1": "B", "b2": "B", "u1": "unk_u1", "u2": "unk_u2"}
    trials = make_trials(utt2spk)
    assert sorted(trials) == [
        ("a1", "a2", True),
        ("a1", "b1", False),
        ("a1", "b2", False),
        ("a2", "b1", False),
        ("a2", "b2", False),
        ("b1", "b2", True),
    ]
    write_trials(tmp_path / "trials", trials)
    assert "a1 a2 target" in (tmp_path / "trials").read_text()


def test_trials_subsampled_deterministically():
    utt2spk = {f"s{s}_{i}": f"s{s}" for s in range(30) for i in range(10)}  # 300 utts, 1350 target pairs
    t1, t2 = make_trials(utt2spk, max_per_kind=200, seed=3), make_trials(utt2spk, max_per_kind=200, seed=3)
    assert t1 == t2
    assert sum(t for *_, t in t1) == 200 and sum(not t for *_, t in t1) == 200
    assert all((utt2spk[a] == utt2spk[b]) == t for a, b, t in t1)


def test_verification_eer_on_embeddings(tmp_path):
    rng = np.random.default_rng(0)
    centres = {s: rng.standard_normal(16) * 3 for s in "ABC"}
    utt2spk, emb = {}, {}
    for s in "ABC":
        for i in range(4):
            utt2spk[f"{s}{i}"] = s
            emb[f"{s}{i}"] = centres[s] + rng.standard_normal(16) * 0.1
    utt2spk["x"], emb["x"] = "unk_x", rng.standard_normal(16)
    out = verification_eer(emb, utt2spk, trials_out=tmp_path / "trials")
    assert out["spk_eer"] == 0.0 and out["num_target_trials"] == 18 and out["num_nontarget_trials"] == 48
    assert len((tmp_path / "trials").read_text().splitlines()) == 66
    with pytest.raises(SerError, match="no speaker embedding"):
        cosine_scores({"A0": emb["A0"]}, [("A0", "A1", True)])
    assert verification_eer(emb, {"A0": "A", "A1": "A"})["spk_eer"] is None
