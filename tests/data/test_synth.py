"""ser.data.synth: deterministic, and its emotion cues are real but overlapping."""

import numpy as np
import pytest

from ser.data import synth

SR = 16000
FOUR = ("neu", "hap", "ang", "sad")


def _speakers(rng, n=8):
    return [synth.make_speaker(rng, f"spk{i}", "fm"[i % 2]) for i in range(n)]


def _frames(wav, size=512, hop=160):
    n = (len(wav) - size) // hop
    idx = np.arange(size)[None, :] + hop * np.arange(n)[:, None]
    return wav[idx] * np.hanning(size)


def _active(frames):
    # The louder half of the frames: the speech, not the leading/trailing silence.
    energy = (frames**2).mean(axis=1)
    return frames[energy > np.median(energy)]


def _log_rms(wav):
    return float(np.log(np.sqrt((_active(_frames(wav)) ** 2).mean())))


def _f0(wav):
    """Median autocorrelation pitch (Hz) of the active frames: crude, enough to compare classes."""
    frames = _active(_frames(wav, size=640))
    ac = np.fft.irfft(np.abs(np.fft.rfft(frames, 2048, axis=1)) ** 2, axis=1)
    lo, hi = SR // 400, SR // 70
    lag = np.argmax(ac[:, lo:hi], axis=1) + lo
    return float(np.median(SR / lag))


def _band_features(wav):
    """Mean and std of log energy in 9 bands over the active frames."""
    power = np.abs(np.fft.rfft(_active(_frames(wav)), axis=1)) ** 2
    edges = [0, 4, 8, 16, 32, 64, 96, 128, 192, 257]
    bands = np.log(np.stack([power[:, a:b].sum(1) for a, b in zip(edges[:-1], edges[1:])], 1) + 1e-10)
    return np.concatenate([bands.mean(0), bands.std(0)])


@pytest.fixture(scope="module")
def corpus():
    """40 utterances per class from 8 speakers; returns (wavs, labels, speaker index, vads)."""
    rng = np.random.default_rng(123)
    spks = _speakers(rng)
    wavs, labels, spk_idx, vads = [], [], [], []
    for i in range(160):
        emo, s = FOUR[i % 4], (i // 4) % len(spks)
        vad = synth.sample_vad(rng, emo)
        wavs.append(synth.synth_utterance(rng, spks[s], emo, sr=SR, vad=vad))
        labels.append(i % 4)
        spk_idx.append(s)
        vads.append(vad)
    return wavs, np.array(labels), np.array(spk_idx), np.array(vads)


def test_same_seed_same_output_other_seed_differs():
    def draw(seed):
        rng = np.random.default_rng(seed)
        spk = synth.make_speaker(rng, "s", "f")
        vad = synth.sample_vad(rng, "ang")
        return spk, vad, synth.synth_utterance(rng, spk, "ang", vad=vad), synth.make_transcript(rng, "ang")

    a, b, c = draw(7), draw(7), draw(8)
    assert a[0] == b[0] and a[1] == b[1] and a[3] == b[3]
    np.testing.assert_array_equal(a[2], b[2])
    assert a[0] != c[0]
    assert len(a[2]) != len(c[2]) or not np.array_equal(a[2], c[2])


def test_audio_format_and_length():
    rng = np.random.default_rng(0)
    spk = synth.make_speaker(rng, "s", "m")
    for emo in ("neu", "exc", "fru", "xxx", "oth", "cal", "sur", "fea", "dis", "not-a-label"):
        wav = synth.synth_utterance(rng, spk, emo, sr=SR, min_dur=1.0, max_dur=2.5)
        assert wav.dtype == np.float32 and wav.ndim == 1
        assert 1.0 * SR <= len(wav) <= 2.5 * SR + 1
        assert np.isfinite(wav).all() and np.abs(wav).max() < 1.0
        assert np.abs(wav).max() > 0.01


def test_speakers_female_higher_and_gender_checked():
    rng = np.random.default_rng(0)
    f = [synth.make_speaker(rng, "f", "f").f0 for _ in range(20)]
    m = [synth.make_speaker(rng, "m", "M").f0 for _ in range(20)]
    assert min(f) > max(m)
    with pytest.raises(ValueError):
        synth.make_speaker(rng, "x", "x")


def test_vad_in_range_and_ordered_by_emotion():
    rng = np.random.default_rng(0)
    mean = {e: np.mean([synth.sample_vad(rng, e) for _ in range(200)], axis=0) for e in FOUR}
    allv = np.array([synth.sample_vad(rng, e) for e in FOUR for _ in range(50)])
    assert allv.min() >= 1.0 and allv.max() <= 5.0
    assert mean["hap"][0] > mean["neu"][0] > mean["ang"][0]  # valence
    assert mean["ang"][1] > mean["neu"][1] > mean["sad"][1]  # arousal
    assert mean["ang"][2] > mean["sad"][2]  # dominance


def test_energy_and_pitch_depend_on_emotion(corpus):
    wavs, labels, spk_idx, _ = corpus
    energy = np.array([_log_rms(w) for w in wavs])
    assert energy[labels == FOUR.index("ang")].mean() > energy[labels == FOUR.index("sad")].mean() + 0.3
    # Pitch relative to each speaker's own mean, so gender does not swamp the emotion effect.
    f0 = np.log([_f0(w) for w in wavs])
    rel = f0 - np.array([f0[spk_idx == s].mean() for s in spk_idx])
    assert rel[labels == FOUR.index("hap")].mean() > rel[labels == FOUR.index("sad")].mean() + 0.05


def test_arousal_label_tracks_energy(corpus):
    wavs, _, _, vads = corpus
    energy = np.array([_log_rms(w) for w in wavs])
    assert np.corrcoef(vads[:, 1], energy)[0, 1] > 0.5


def test_simple_classifier_well_above_chance_but_not_perfect(corpus):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    wavs, labels, spk_idx, _ = corpus
    feats = np.array([_band_features(w) for w in wavs])
    train, test = spk_idx < 6, spk_idx >= 6  # unseen speakers, as in a real evaluation
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(feats[train], labels[train])
    acc = model.score(feats[test], labels[test])
    assert acc > 0.45, acc  # chance is 0.25
    assert model.score(feats[train], labels[train]) < 1.0  # classes overlap


def test_transcripts_carry_some_emotion_words():
    rng = np.random.default_rng(0)
    for emo in ("neu", "hap", "ang", "sad", "xxx", "unknown"):
        for _ in range(20):
            t = synth.make_transcript(rng, emo)
            assert t.strip() and t[0].isupper() and t[-1] in ".!?"
    texts = [synth.make_transcript(rng, "hap").lower() for _ in range(300)]
    share = np.mean([any(w in t for w in synth.EMOTION_WORDS["hap"]) for t in texts])
    assert 0.35 < share < 0.65
    neutral = [synth.make_transcript(rng, "neu").lower() for _ in range(100)]
    assert not any(w in t for t in neutral for w in ("hate", "sorry", "wonderful"))
