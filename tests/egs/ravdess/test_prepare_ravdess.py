"""egs/ravdess/local: data prep from the official naming, folds, and data.sh."""

import importlib.util
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser.data.audio import load_audio
from ser.utils import SerError

from conftest import copy_recipe

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared" / "data" / "ravdess16k"
SR = 48000

_spec = importlib.util.spec_from_file_location(
    "ravdess_prepare_for_tests", REPO / "egs/ravdess/local/prepare_ravdess.py"
)
prep = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prep)

ACTORS = ("01", "02", "04", "11", "13", "18")  # fold1 and fold2 test actors, always-train 13 (m) and 18 (f)
# (emotion, intensity, statement, repetition) of every good file per actor; durations differ per file.
GOOD = (("01", "01", "01", "01"), ("03", "02", "02", "01"), ("05", "01", "01", "02"), ("08", "02", "02", "02"))
EMO = {"01": "neu", "03": "hap", "05": "ang", "08": "sur"}
BAD = {
    "Actor_01/03-01-09-01-01-01-01.wav": "emotion 09",  # no such emotion
    "Actor_01/03-02-03-01-01-01-01.wav": "song",  # song, not speech
    "Actor_02/03-01-03-01-01-01-01.wav": "differs from its folder",  # actor 01 filed under Actor_02
    "Actor_02/03-01-01-02-01-01-02.wav": "neutral has no strong",
    "Actor_04/recording 3.wav": "seven two-digit fields",
    "Actor_04/notes.txt": "not an audio file",
}
STEREO = "Actor_11/03-01-05-01-01-02-11.wav"


def _write(path: Path, seconds: float, channels: int = 1, freq: float = 220.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    tone = 0.1 * np.sin(2 * np.pi * freq * t)
    data = tone if channels == 1 else np.stack([tone, np.zeros_like(tone)], axis=1)
    sf.write(path, data, SR, subtype="PCM_16")


def make_fixture(root: Path) -> dict:
    """A small copy in the release's naming (48 kHz .wav); returns {file stem: duration} of good files."""
    durations = {}
    for a in ACTORS:
        for n, (e, i, s, r) in enumerate(GOOD):
            stem = f"03-01-{e}-{i}-{s}-{r}-{a}"
            dur = 0.2 + 0.05 * n + 0.01 * int(a)
            _write(root / f"Actor_{a}" / f"{stem}.wav", dur, channels=2 if f"Actor_{a}/{stem}.wav" == STEREO else 1)
            durations[f"Actor_{a}_{stem}"] = dur
    for name in BAD:
        if name.endswith(".txt"):
            (root / name).write_text("not audio\n")
        else:
            _write(root / name, 0.2)
    (root / "Actor_01" / "._03-01-01-01-01-01-01.wav").write_bytes(b"\0resource fork")  # macOS debris
    (root / "README.md").write_text("a copy\n")
    return durations


@pytest.fixture(scope="module")
def fixture_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("ravdess") / "Audio_Speech_Actors_01-24"
    return root, make_fixture(root)


@pytest.fixture(scope="module")
def prepared(fixture_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared") / "data"
    return out, prep.prepare(fixture_corpus[0], out)


def _kv(path):
    return dict(line.split(" ", 1) for line in Path(path).read_text().splitlines() if line)


def test_fields_follow_the_file_names(fixture_corpus, prepared):
    corpus, durations = fixture_corpus
    out, _ = prepared
    all_dir = out / "all"
    utts = sorted(durations)
    for name in ("wav.scp", "utt2spk", "text", "utt2emo", "utt2gender", "utt2intensity", "utt2dur", "spk2utt"):
        assert (all_dir / name).is_file(), name
    assert sorted(_kv(all_dir / "utt2spk")) == utts
    emo, gender, spk = _kv(all_dir / "utt2emo"), _kv(all_dir / "utt2gender"), _kv(all_dir / "utt2spk")
    text, inten, dur = _kv(all_dir / "text"), _kv(all_dir / "utt2intensity"), _kv(all_dir / "utt2dur")
    wav = _kv(all_dir / "wav.scp")
    for utt in utts:
        fields = utt.split("_")[-1].split("-")
        assert emo[utt] == EMO[fields[2]]
        assert inten[utt] == {"01": "normal", "02": "strong"}[fields[3]]
        assert text[utt] == {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}[fields[4]]
        assert spk[utt] == f"Actor_{fields[6]}"
        assert gender[utt] == ("m" if int(fields[6]) % 2 else "f")
        assert abs(float(dur[utt]) - durations[utt]) < 1e-3
        assert Path(wav[utt]) == corpus / f"Actor_{fields[6]}" / f"{utt[len('Actor_XX_') :]}.wav"


def test_stereo_48k_wav_is_taken_and_loads_as_16k_mono(fixture_corpus, prepared):
    out, _ = prepared
    utt = "Actor_11_" + Path(STEREO).stem
    spec = _kv(out / "all" / "wav.scp")[utt]
    assert sf.info(spec).channels == 2 and sf.info(spec).samplerate == SR
    wav = load_audio(spec)
    assert wav.ndim == 1
    assert abs(len(wav) / 16000 - fixture_corpus[1][utt]) < 1e-3


def test_badly_named_files_are_reported_not_taken(fixture_corpus, prepared):
    corpus, _ = fixture_corpus
    out, result = prepared
    ignored = {str(Path(p).relative_to(corpus)): why for p, why in result["ignored"]}
    assert set(ignored) == set(BAD) | {"README.md"}
    for name, reason in BAD.items():
        assert reason in ignored[name], (name, ignored[name])
    report = (out / "local" / "ignored_files.txt").read_text()
    for name in BAD:
        assert str(corpus / name) in report
    taken = _kv(out / "all" / "wav.scp").values()
    assert not any(Path(p).name.startswith("._") for p in taken)  # hidden files are neither taken nor reported
    assert not any(Path(p).relative_to(corpus).as_posix() in BAD for p in taken)


def _fold_split_spks(fold_dir):
    return {s: set(_kv(fold_dir / s / "utt2spk").values()) for s in ("train", "valid", "test")}


def test_emobox_folds_on_a_partial_copy_keep_their_numbers(prepared):
    out, _ = prepared
    root = out / "folds" / "emobox"
    # Actors 01 and 11 (fold1), 04 (fold2) are present; folds 3 and 4 have none of their test actors.
    assert sorted(p.name for p in root.iterdir()) == ["fold1", "fold2"]
    everyone = {f"Actor_{a}" for a in ACTORS}
    for k, test in ((1, {"Actor_01", "Actor_11"}), (2, {"Actor_04"})):
        spks = _fold_split_spks(root / f"fold{k}")
        assert spks["test"] == test
        assert not (spks["test"] & spks["train"]) and not (spks["test"] & spks["valid"])
        assert not (spks["valid"] & spks["train"])
        assert spks["train"] | spks["valid"] | spks["test"] == everyone
        # one male and one female validation actor, drawn from the EmoBox always-train actors here
        assert spks["valid"] == {"Actor_13", "Actor_18"}
        fold_test_actors = {f"Actor_{a}" for a in prep.EMOBOX_TEST[k - 1]}
        assert fold_test_actors & everyone <= spks["test"]


def test_speaker_folds_leave_one_actor_out(prepared):
    out, _ = prepared
    root = out / "folds" / "speaker"
    assert sorted(int(p.name[4:]) for p in root.iterdir()) == sorted(int(a) for a in ACTORS)
    for a in ACTORS:
        spks = _fold_split_spks(root / f"fold{int(a)}")
        assert spks["test"] == {f"Actor_{a}"}
        assert len(spks["valid"]) == 2 and {int(s[-2:]) % 2 for s in spks["valid"]} == {0, 1}
        assert not (spks["valid"] & spks["train"]) and not (spks["test"] & (spks["train"] | spks["valid"]))
        assert len(spks["train"]) == len(ACTORS) - 3


def test_bad_corpus_paths_give_clear_errors(tmp_path):
    with pytest.raises(SerError, match="set RAVDESS"):
        prep.prepare("", tmp_path / "data")
    with pytest.raises(SerError, match="not found.*RAVDESS"):
        prep.prepare(tmp_path / "missing", tmp_path / "data")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SerError, match="no Actor_XX folders"):
        prep.prepare(tmp_path / "empty", tmp_path / "data")
    _write(tmp_path / "bad" / "Actor_01" / "hello.wav", 0.1)
    with pytest.raises(SerError, match="no file follows the RAVDESS naming"):
        prep.prepare(tmp_path / "bad", tmp_path / "data")
    with pytest.raises(SerError, match="unknown"):
        prep.prepare(tmp_path / "bad", tmp_path / "data", schemes="session")


def test_the_same_utterance_twice_is_an_error(tmp_path):
    _write(tmp_path / "c" / "Actor_01" / "03-01-01-01-01-01-01.wav", 0.1)
    _write(tmp_path / "c" / "Actor_01" / "03-01-01-01-01-01-01.flac", 0.1)
    with pytest.raises(SerError, match="exists twice"):
        prep.prepare(tmp_path / "c", tmp_path / "data")


def _run_data_sh(recipe, env_extra):
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env.pop("RAVDESS", None)
    env.update(env_extra)
    return subprocess.run(["bash", "local/data.sh"], cwd=recipe, env=env, capture_output=True, text=True)


def test_data_sh_needs_ravdess_and_skips_when_done(fixture_corpus, tmp_path):
    recipe = copy_recipe(REPO, "egs/ravdess/baseline", tmp_path / "recipe")
    proc = _run_data_sh(recipe, {})
    assert proc.returncode != 0 and "RAVDESS is not set" in proc.stderr
    proc = _run_data_sh(recipe, {"RAVDESS": str(tmp_path / "nowhere")})
    assert proc.returncode != 0 and "is not a directory" in proc.stderr
    proc = _run_data_sh(recipe, {"RAVDESS": str(fixture_corpus[0])})
    assert proc.returncode == 0, proc.stderr
    assert "NOT taken" in proc.stdout
    assert (recipe / "data/folds/emobox/fold1/test/utt2emo").is_file()
    assert (recipe / "data/folds/speaker/fold13/test/utt2emo").is_file()
    proc = _run_data_sh(recipe, {"RAVDESS": str(fixture_corpus[0])})
    assert proc.returncode == 0 and "already prepared" in proc.stderr


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the shared RAVDESS copy {SHARED} is absent")
def test_emobox_folds_on_the_full_corpus(tmp_path):
    result = prep.prepare(SHARED, tmp_path / "data", schemes="emobox")
    dd = result["dd"]
    assert len(dd) == 1440 and not result["ignored"]
    counts = Counter(dd.get("utt2emo").values())
    assert counts == {"neu": 96, **{c: 192 for c in prep.CLASSES if c != "neu"}}
    assert Counter(dd.get("utt2gender").values()) == {"m": 720, "f": 720}
    sizes = result["sizes"]["emobox"]
    assert sorted(sizes) == [1, 2, 3, 4]
    tested = set()
    for k, test_actors in enumerate(prep.EMOBOX_TEST, 1):
        assert sizes[k] == {"train": 1080, "valid": 120, "test": 240}
        spks = _fold_split_spks(tmp_path / "data/folds/emobox" / f"fold{k}")
        assert spks["test"] == {f"Actor_{a}" for a in test_actors}
        assert spks["valid"] <= {f"Actor_{a}" for a in prep.EMOBOX_ALWAYS_TRAIN}
        assert sorted(int(s[-2:]) % 2 for s in spks["valid"]) == [0, 1]
        assert not (spks["test"] & (spks["train"] | spks["valid"])) and not (spks["train"] & spks["valid"])
        assert len(spks["train"] | spks["valid"] | spks["test"]) == 24
        tested |= spks["test"]
    assert len(tested) == 16  # the four test sets are disjoint


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the shared RAVDESS copy {SHARED} is absent")
def test_emobox_dev_folds_never_hold_their_emobox_folds_test_actors(tmp_path):
    result = prep.prepare(SHARED, tmp_path / "data", schemes="emobox,emobox_dev")
    for k in range(1, len(prep.EMOBOX_TEST) + 1):
        outer = _fold_split_spks(tmp_path / "data/folds/emobox" / f"fold{k}")
        dev = _fold_split_spks(tmp_path / "data/folds/emobox_dev" / f"fold{k}")
        assert dev["test"] == outer["valid"]  # the emobox fold's own development actors
        assert not (dev["train"] | dev["valid"] | dev["test"]) & outer["test"]
        assert dev["train"] | dev["valid"] | dev["test"] == outer["train"] | outer["valid"]
        assert sorted(int(s[-2:]) % 2 for s in dev["valid"]) == [0, 1]
        assert result["sizes"]["emobox_dev"][k] == {"train": 960, "valid": 120, "test": 120}
