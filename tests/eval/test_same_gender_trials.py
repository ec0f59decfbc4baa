"""Speaker EER with same-gender non-target trials: an embedding that encodes only gender must not
look like a speaker embedding."""

import numpy as np
import pytest

from ser.eval.verification import make_trials, verification_eer


def gender_only_set(speakers):
    rng = np.random.default_rng(0)
    utt2spk, utt2gender, emb = {}, {}, {}
    for spk, g in speakers.items():
        for i in range(10):
            u = f"{spk}_{i}"
            utt2spk[u], utt2gender[u] = spk, g
            emb[u] = np.array([1.0, 0.0] if g == "f" else [0.0, 1.0]) + rng.normal(0, 0.05, 2)
    return utt2spk, utt2gender, emb


def test_gender_only_embedding_is_caught():
    # An IEMOCAP session's test speakers: one woman, one man. Before: every non-target crossed gender, EER ~0.
    utt2spk, utt2gender, emb = gender_only_set({"Ses01F": "f", "Ses01M": "m"})
    assert verification_eer(emb, utt2spk)["spk_eer"] < 0.01
    same = verification_eer(emb, utt2spk, utt2gender=utt2gender)
    assert same["spk_eer"] is None and same["num_nontarget_trials"] == 0  # no same-gender pair: no EER

    # Two speakers per gender: same-gender trials expose the gender-only embedding (EER near chance).
    utt2spk, utt2gender, emb = gender_only_set({"a": "f", "b": "f", "c": "m", "d": "m"})
    assert verification_eer(emb, utt2spk)["spk_eer"] < 0.35
    assert verification_eer(emb, utt2spk, utt2gender=utt2gender)["spk_eer"] == pytest.approx(0.5, abs=0.15)


def test_non_targets_need_both_genders_known_and_equal():
    utt2spk = {"a1": "A", "b1": "B", "c1": "C", "d1": "D"}
    utt2gender = {"a1": "f", "b1": "f", "c1": "m", "d1": "?"}
    trials = make_trials(utt2spk, utt2gender=utt2gender)
    assert [(a, b) for a, b, t in trials if not t] == [("a1", "b1")]


def test_large_sets_draw_same_gender_non_targets():
    utt2spk = {f"s{s}_{i}": f"s{s}" for s in range(6) for i in range(40)}
    utt2gender = {u: "f" if int(u[1]) < 3 else "m" for u in utt2spk}
    trials = make_trials(utt2spk, max_per_kind=200, utt2gender=utt2gender)
    non = [(a, b) for a, b, t in trials if not t]
    assert len(non) == 200 and all(utt2gender[a] == utt2gender[b] for a, b in non)
