"""Deterministic synthetic emotional speech, shared by the built-in synthetic corpora.

The audio is not speech, but it has the acoustic cues emotion recognisers rely on, each drawn per
utterance around an emotion-dependent mean so that classes overlap: a harmonic voiced source with a
pitch contour (mean, range, slope, jitter), syllables at an emotion-dependent rate, an energy level,
a one-pole spectral tilt, vowel-like formants that change per syllable, breath noise, consonant
bursts and background noise. Speakers differ in base pitch (female higher), vocal-tract length and
voice quality, so a model must generalise across speakers as on a real corpus.

Arousal drives the energy level and the speaking rate actually used, so dimensional targets
(valence, arousal, dominance on IEMOCAP's 1..5 scale) are learnable from the audio too.

API (every function takes a numpy Generator, so one seed fixes everything):
    make_speaker(rng, spk_id, gender) -> Speaker
    sample_vad(rng, emotion) -> (valence, arousal, dominance)
    synth_utterance(rng, speaker, emotion, sr=16000, vad=None, min_dur=1.0, max_dur=2.5) -> float32 array
    make_transcript(rng, emotion) -> str
Unknown emotion labels fall back to neutral.
"""

from dataclasses import dataclass

import numpy as np

# Per-emotion means. f0_shift/f0_range/f0_slope are in semitones (shift relative to the speaker's
# base pitch, slope over the whole utterance); tilt is the one-pole coefficient (higher = darker);
# jitter is the relative cycle-to-cycle f0 perturbation; breath is the aspiration level in dB
# relative to the voiced part; vad are the valence/arousal/dominance means on the 1..5 scale.
PROFILES = {
    "neu": dict(f0_shift=0.0, f0_range=2.5, f0_slope=-1.0, tilt=0.78, jitter=0.006, breath=-28.0, vad=(3.0, 2.8, 2.9)),
    "hap": dict(f0_shift=3.0, f0_range=5.5, f0_slope=1.5, tilt=0.62, jitter=0.007, breath=-28.0, vad=(4.0, 3.4, 3.2)),
    "exc": dict(f0_shift=3.5, f0_range=6.0, f0_slope=1.5, tilt=0.58, jitter=0.008, breath=-28.0, vad=(4.0, 3.8, 3.4)),
    "ang": dict(f0_shift=1.5, f0_range=3.0, f0_slope=-2.5, tilt=0.30, jitter=0.020, breath=-30.0, vad=(1.8, 3.9, 3.9)),
    "sad": dict(f0_shift=-2.0, f0_range=1.5, f0_slope=-2.5, tilt=0.90, jitter=0.010, breath=-20.0, vad=(2.0, 2.2, 2.3)),
    "fru": dict(f0_shift=0.5, f0_range=2.5, f0_slope=-1.5, tilt=0.50, jitter=0.014, breath=-24.0, vad=(2.1, 3.2, 3.0)),
    "sur": dict(f0_shift=5.0, f0_range=7.0, f0_slope=3.5, tilt=0.68, jitter=0.008, breath=-26.0, vad=(3.3, 3.8, 2.8)),
    "fea": dict(f0_shift=4.0, f0_range=3.0, f0_slope=0.5, tilt=0.72, jitter=0.025, breath=-18.0, vad=(2.0, 3.6, 2.1)),
    "dis": dict(f0_shift=-1.0, f0_range=2.0, f0_slope=-2.0, tilt=0.65, jitter=0.012, breath=-22.0, vad=(1.9, 3.0, 3.3)),
    "cal": dict(f0_shift=-1.0, f0_range=1.8, f0_slope=-1.0, tilt=0.86, jitter=0.005, breath=-24.0, vad=(3.4, 2.0, 3.0)),
    # "No agreement" and "other" sit between classes: neutral means with wider spread (see SPREAD).
    "xxx": dict(f0_shift=1.0, f0_range=3.5, f0_slope=-0.5, tilt=0.70, jitter=0.010, breath=-26.0, vad=(2.8, 3.1, 3.0)),
    "oth": dict(f0_shift=0.5, f0_range=3.0, f0_slope=0.0, tilt=0.75, jitter=0.008, breath=-26.0, vad=(3.0, 2.9, 3.0)),
}
# Per-utterance standard deviations around the emotion means: large enough that classes overlap.
SPREAD = dict(f0_shift=1.5, f0_range=1.2, f0_slope=1.2, tilt=0.07, jitter=0.004, breath=4.0, vad=0.45)
WIDE_SPREAD_EMOTIONS = {"xxx": 1.6, "oth": 1.4}  # multiplies SPREAD

# Arousal (1..5) -> level and rate, the cues that make arousal audible.
LEVEL_DB_AT_3, LEVEL_DB_PER_AROUSAL = -24.0, 4.0  # RMS of the voiced part in dBFS
RATE_AT_3, RATE_PER_AROUSAL = 4.2, 0.8  # syllables per second

# A few vowels as (F1, F2, F3) in Hz for an adult male vocal tract; one is drawn per syllable.
VOWELS = np.array(
    [
        (730, 1090, 2440),
        (270, 2290, 3010),
        (530, 1840, 2480),
        (300, 870, 2240),
        (660, 1720, 2410),
        (570, 840, 2410),
        (440, 1020, 2240),
        (490, 1350, 1690),
    ],
    dtype=np.float64,
)
FORMANT_BW = np.array([90.0, 110.0, 170.0])
MAX_HARMONIC_HZ = 4500.0  # the cost grows with the number of harmonics; above this noise is enough
FRAME_HOP = 40  # samples between updates of the harmonic amplitudes (2.5 ms at 16 kHz)


@dataclass(frozen=True)
class Speaker:
    """Speaker-specific voice: base pitch (Hz), vocal-tract scale (>1 = shorter tract, higher formants),
    tilt offset added to the emotion's tilt, breathiness offset (dB), level offset (dB), rate factor."""

    id: str
    gender: str  # "m" or "f"
    f0: float
    vtl: float = 1.0
    tilt: float = 0.0
    breath: float = 0.0
    level: float = 0.0
    rate: float = 1.0


def make_speaker(rng: np.random.Generator, spk_id: str, gender: str) -> Speaker:
    """Draws a speaker: male base pitch about 100-140 Hz, female about 180-240 Hz."""
    gender = gender.lower()
    if gender not in ("m", "f"):
        raise ValueError(f"gender must be 'm' or 'f', got '{gender}'")
    female = gender == "f"
    return Speaker(
        id=spk_id,
        gender=gender,
        f0=float(rng.uniform(180, 240) if female else rng.uniform(100, 140)),
        vtl=float((1.17 if female else 1.0) * rng.uniform(0.95, 1.05)),
        tilt=float(rng.normal(0, 0.04)),
        breath=float(rng.normal(0, 3.0)),
        level=float(rng.normal(0, 1.5)),
        rate=float(rng.uniform(0.9, 1.1)),
    )


def profile(emotion: str) -> dict:
    return PROFILES.get(emotion, PROFILES["neu"])


def sample_vad(rng: np.random.Generator, emotion: str) -> tuple:
    """Valence, arousal, dominance on the 1..5 scale: the emotion's means plus noise, clipped."""
    spread = SPREAD["vad"] * WIDE_SPREAD_EMOTIONS.get(emotion, 1.0)
    vad = np.asarray(profile(emotion)["vad"]) + rng.normal(0, spread, 3)
    return tuple(float(x) for x in np.clip(vad, 1.0, 5.0))


def _draw_params(rng, speaker: Speaker, emotion: str, vad) -> dict:
    prof = profile(emotion)
    widen = WIDE_SPREAD_EMOTIONS.get(emotion, 1.0)
    keys = ("f0_shift", "f0_range", "f0_slope", "tilt", "jitter", "breath")
    p = {k: prof[k] + rng.normal(0, SPREAD[k] * widen) for k in keys}
    arousal = vad[1]
    p["f0_range"] = max(p["f0_range"], 0.3)
    p["jitter"] = max(p["jitter"], 0.001)
    p["tilt"] = float(np.clip(p["tilt"] + speaker.tilt, 0.1, 0.97))
    p["breath"] += speaker.breath
    # Level and rate follow the sampled arousal (plus a little noise), so arousal labels match the audio.
    p["level_db"] = LEVEL_DB_AT_3 + LEVEL_DB_PER_AROUSAL * (arousal - 3) + speaker.level + rng.normal(0, 1.0)
    p["rate"] = max(1.5, (RATE_AT_3 + RATE_PER_AROUSAL * (arousal - 3)) * speaker.rate + rng.normal(0, 0.25))
    return p


def _syllables(rng, n_speech: int, sr: int, rate: float) -> np.ndarray:
    """Syllable boundaries (sample indices, length n_syl + 1) with irregular durations."""
    n_syl = max(2, int(round(n_speech / sr * rate)))
    lengths = rng.gamma(8.0, 1.0, n_syl)  # shape 8: durations vary by about +-35 %
    bounds = np.concatenate([[0], np.cumsum(lengths)]) / lengths.sum() * n_speech
    return bounds.astype(np.int64)


def _pitch_contour(rng, t_frames: np.ndarray, dur: float, speaker: Speaker, p: dict, syl_centres: np.ndarray):
    """f0 in Hz at each frame time: base * 2^(semitones/12) with a slope, per-syllable accents and drift."""
    accents = rng.uniform(-0.5, 0.5, len(syl_centres)) * p["f0_range"]
    semis = p["f0_shift"] + p["f0_slope"] * (t_frames / dur - 0.5) + np.interp(t_frames, syl_centres, accents)
    drift = np.cumsum(rng.normal(0, 0.02, len(t_frames)))  # slow wander, as real pitch never sits still
    jitter = rng.normal(0, p["jitter"], len(t_frames))
    return speaker.f0 * 2.0 ** ((semis + drift - drift.mean()) / 12.0) * (1.0 + jitter)


def _one_pole_gain(freqs: np.ndarray, a: float, sr: int) -> np.ndarray:
    """|H(f)| of y[n] = (1-a) x[n] + a y[n-1]: unity at DC, falling with frequency (the spectral tilt)."""
    w = 2 * np.pi * freqs / sr
    return (1 - a) / np.abs(1 - a * np.exp(-1j * w))


def _formant_gain(freqs: np.ndarray, formants: np.ndarray, sr: int) -> np.ndarray:
    """Cascade of two-pole resonators, each normalised to unity at DC (as in a Klatt cascade)."""
    z = np.exp(-1j * 2 * np.pi * freqs / sr)
    gain = np.ones(freqs.shape)
    for i, bw in enumerate(FORMANT_BW):
        f = formants[i]
        r = np.exp(-np.pi * bw / sr)
        pole = r * np.exp(1j * 2 * np.pi * f / sr)
        dc = np.abs((1 - pole) * (1 - np.conj(pole)))
        gain = gain * dc / np.abs((1 - pole * z) * (1 - np.conj(pole) * z))
    return gain


def _upsample(frames: np.ndarray, n: int) -> np.ndarray:
    """Linear interpolation of frame-rate rows (last axis) to n samples."""
    pos = np.arange(n) / FRAME_HOP
    i0 = np.minimum(pos.astype(np.int64), frames.shape[-1] - 2)
    frac = (pos - i0).astype(frames.dtype)
    return frames[..., i0] * (1 - frac) + frames[..., i0 + 1] * frac


def _voiced(rng, n: int, sr: int, speaker: Speaker, p: dict, bounds: np.ndarray) -> np.ndarray:
    """Harmonic source shaped by tilt and per-syllable formants, evaluated per harmonic (no filtering loop)."""
    n_frames = n // FRAME_HOP + 2
    t_frames = np.arange(n_frames) * FRAME_HOP / sr
    centres = (bounds[:-1] + bounds[1:]) / 2 / sr
    f0_frames = _pitch_contour(rng, t_frames, n / sr, speaker, p, centres)

    # Formants jump to a new vowel each syllable, smoothed by interpolating between syllable centres.
    vowels = VOWELS[rng.integers(0, len(VOWELS), len(centres))] * speaker.vtl
    vowels *= rng.uniform(0.92, 1.08, vowels.shape)
    formants = np.stack([np.interp(t_frames, centres, vowels[:, i]) for i in range(3)])

    n_harm = int(MAX_HARMONIC_HZ // f0_frames.min())
    k = np.arange(1, n_harm + 1)[:, None]
    hfreq = k * f0_frames[None, :]
    amp = _one_pole_gain(hfreq, p["tilt"], sr) * _formant_gain(hfreq, formants, sr) / k
    amp[hfreq > MAX_HARMONIC_HZ] = 0.0

    f0 = _upsample(f0_frames, n)
    # Wrapping the phase is exact for integer harmonics and lets the big (harmonic x sample) arrays be float32.
    phase = (2 * np.pi * np.cumsum(f0) / sr % (2 * np.pi)).astype(np.float32)
    offsets = rng.uniform(0, 2 * np.pi, (n_harm, 1)).astype(np.float32)
    harmonics = np.sin(k.astype(np.float32) * phase[None, :] + offsets)
    return (_upsample(amp.astype(np.float32), n) * harmonics).sum(axis=0, dtype=np.float64)


def _envelopes(rng, n: int, bounds: np.ndarray):
    """Per syllable: a short consonant (noise) onset, then a vowel with a smooth rise and fall.

    Returns (vowel envelope, consonant envelope), both length n.
    """
    vowel = np.zeros(n)
    cons = np.zeros(n)
    for start, end in zip(bounds[:-1], bounds[1:]):
        length = end - start
        c_len = int(length * rng.uniform(0.15, 0.35))
        v_len = length - c_len - int(length * rng.uniform(0.0, 0.1))  # a short gap before the next syllable
        stress = rng.uniform(0.6, 1.0)
        if c_len > 1:
            cons[start : start + c_len] = np.hanning(c_len) * rng.uniform(0.1, 0.3)
        if v_len > 1:
            vowel[start + c_len : start + c_len + v_len] = np.hanning(v_len) ** 0.6 * stress
    return vowel, cons


def _db(x):
    return 10 ** (x / 20)


def _rms(x):
    return float(np.sqrt(np.mean(x**2)) + 1e-12)


def synth_utterance(
    rng: np.random.Generator,
    speaker: Speaker,
    emotion: str,
    sr: int = 16000,
    vad=None,
    min_dur: float = 1.0,
    max_dur: float = 2.5,
) -> np.ndarray:
    """One utterance of float32 audio in [-1, 1], min_dur..max_dur seconds long.

    vad: the (valence, arousal, dominance) this utterance should express; drawn with sample_vad when
    None. Pass the same values you write as labels, so arousal labels match the energy and rate.
    """
    if vad is None:
        vad = sample_vad(rng, emotion)
    p = _draw_params(rng, speaker, emotion, vad)
    n = int(rng.uniform(min_dur, max_dur) * sr)
    # Leading and trailing silence, as in segmented corpora.
    lead, trail = (int(rng.uniform(0.05, 0.15) * sr) for _ in range(2))
    n_speech = max(n - lead - trail, sr // 4)
    bounds = _syllables(rng, n_speech, sr, p["rate"])

    vowel_env, cons_env = _envelopes(rng, n_speech, bounds)
    voiced = _voiced(rng, n_speech, sr, speaker, p, bounds) * vowel_env
    voiced /= _rms(voiced[vowel_env > 0.1])
    breath = rng.normal(0, 1, n_speech) * vowel_env * _db(p["breath"])
    consonant = np.diff(rng.normal(0, 1, n_speech + 1)) * cons_env  # first difference: a hissy high-pass
    speech = (voiced + breath + consonant) * _db(p["level_db"])

    wav = np.zeros(lead + n_speech + trail)
    wav[lead : lead + n_speech] = speech
    wav += rng.normal(0, 1, len(wav)) * _db(p["level_db"] - rng.uniform(25, 40))  # background noise, 25-40 dB SNR
    return np.clip(wav, -0.99, 0.99).astype(np.float32)


# ---- transcripts -----------------------------------------------------------------------------------

NEUTRAL_SUBJECTS = ["I", "you", "we", "they", "she", "he", "my brother", "the manager", "everyone"]
NEUTRAL_VERBS = ["needed", "wanted", "had", "saw", "took", "found", "called", "asked for", "brought"]
NEUTRAL_OBJECTS = [
    "the forms",
    "a ticket",
    "the car",
    "the letter",
    "some coffee",
    "the keys",
    "an answer",
    "the money",
    "the house",
    "a minute",
    "the news",
    "the job",
]
NEUTRAL_TAILS = ["today", "yesterday", "at the office", "this morning", "again", "last week", "", "", ""]
EMOTION_WORDS = {
    "hap": ["great", "wonderful", "amazing", "love it", "so happy", "fantastic"],
    "exc": ["great", "wonderful", "amazing", "awesome", "can't wait", "fantastic"],
    "ang": ["hate", "stop", "ridiculous", "shut up", "damn", "unbelievable"],
    "sad": ["sorry", "miss", "lost", "alone", "cry", "gone"],
    "fru": ["why", "again", "annoying", "cannot", "whatever", "enough"],
    "sur": ["really", "wow", "no way", "what"],
    "fea": ["afraid", "scared", "help", "worried"],
    "dis": ["gross", "disgusting", "sick"],
    "cal": ["fine", "relax", "okay"],
}
EXCLAIM = {"hap": 0.4, "exc": 0.6, "ang": 0.6, "sur": 0.5, "fea": 0.3}
EMOTION_WORD_PROB = 0.5


def make_transcript(rng: np.random.Generator, emotion: str) -> str:
    """A short sentence such as 'We found the keys today.'; with probability 0.5 it also carries a
    word typical of the emotion ('great', 'hate', 'sorry', ...), so text holds some of the signal."""
    words = [_pick(rng, part) for part in (NEUTRAL_SUBJECTS, NEUTRAL_VERBS, NEUTRAL_OBJECTS, NEUTRAL_TAILS)]
    cues = EMOTION_WORDS.get(emotion)
    if cues and rng.random() < EMOTION_WORD_PROB:
        cue = _pick(rng, cues)
        # Either leads the sentence ("Great, we found ...") or closes it ("... the keys, great").
        if rng.random() < 0.5:
            words.insert(0, cue + ",")
        else:
            words = [w for w in words if w]
            words[-1] += ","
            words.append(cue)
    sentence = " ".join(w for w in words if w)
    end = "!" if rng.random() < EXCLAIM.get(emotion, 0.05) else ("?" if rng.random() < 0.1 else ".")
    return sentence[0].upper() + sentence[1:] + end


def _pick(rng, items):
    return items[int(rng.integers(0, len(items)))]
