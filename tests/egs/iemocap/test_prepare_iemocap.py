"""egs/iemocap/local: the synthetic corpus writer, the data prep and data.sh."""

import importlib.util
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser.utils import SerError, run_main

REPO = Path(__file__).resolve().parents[3]
LOCAL = REPO / "egs" / "iemocap" / "local"
SR = 16000


def _load(name, filename):
    spec = importlib.util.spec_from_file_location(name, LOCAL / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


prep = _load("iemocap_prepare_for_tests", "prepare_iemocap.py")
synthetic = _load("iemocap_make_synthetic_for_tests", "make_synthetic_iemocap.py")


def _read_kv(path):
    return dict(line.split(" ", 1) for line in Path(path).read_text().splitlines() if line)


# ---- the synthetic corpus -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synth_corpus(tmp_path_factory):
    return synthetic.make_corpus(tmp_path_factory.mktemp("iemocap") / "corpus", seed=0, utts_per_dialog=4)


@pytest.fixture(scope="module")
def prepared(synth_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared") / "data"
    prep.prepare(synth_corpus, out)
    return out


def _labels_from_files(corpus):
    """utt -> (label, [v, a, d]) read straight from the EmoEvaluation files, independently of the prep."""
    labels = {}
    for path in sorted(Path(corpus).glob("Session*/dialog/EmoEvaluation/*.txt")):
        for line in path.read_text().splitlines():
            if line.startswith("["):
                _, utt, label, bracket = line.split("\t")
                labels[utt] = (label, [float(x) for x in bracket.strip("[]").split(",")])
    return labels


def test_synthetic_layout(synth_corpus):
    sessions = sorted(p.name for p in synth_corpus.glob("Session*"))
    assert sessions == [f"Session{i}" for i in range(1, 6)]
    dialogs = {p.stem for p in synth_corpus.glob("Session1/dialog/EmoEvaluation/*.txt")}
    assert {"Ses01F_impro01", "Ses01M_impro01", "Ses01F_script01_1", "Ses01M_script01_1"} <= dialogs
    emo = (synth_corpus / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt").read_text().splitlines()
    assert emo[0] == "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]" and emo[1] == ""
    vad = r"\[\d\.\d{4}, \d\.\d{4}, \d\.\d{4}\]"
    assert re.match(rf"^\[\d+\.\d{{4}} - \d+\.\d{{4}}\]\tSes01F_impro01_[FM]\d{{3}}\t[a-z]{{3}}\t{vad}$", emo[2])
    assert re.match(r"^C-E1:\t\w+;\t\(\)$", emo[3])
    assert any(re.match(r"^A-E\d:\tval \d; act \d; dom  \d;\t\(", line) for line in emo)
    trans = (synth_corpus / "Session1/dialog/transcriptions/Ses01F_impro01.txt").read_text().splitlines()
    assert re.match(r"^Ses01F_impro01_[FM]\d{3} \[\d{3}\.\d{4}-\d{3}\.\d{4}\]: \S", trans[0])
    labels = _labels_from_files(synth_corpus)
    utt = next(iter(labels))
    info = sf.info(synth_corpus / f"Session{int(utt[3:5])}/sentences/wav/{utt.rsplit('_', 1)[0]}/{utt}.wav")
    assert info.samplerate == SR and info.subtype == "PCM_16" and info.channels == 1
    # Both speakers of a dialog speak, and the protocol-dropped labels are present.
    assert {u[-4] for u in labels if u.startswith("Ses01F_impro01_")} == {"F", "M"}
    assert set(prep.LABELS) <= {v[0] for v in labels.values()}


def test_synthetic_is_deterministic(tmp_path):
    a = synthetic.make_corpus(tmp_path / "a", seed=3, utts_per_dialog=2)
    b = synthetic.make_corpus(tmp_path / "b", seed=3, utts_per_dialog=2)
    for rel in (
        "Session2/dialog/EmoEvaluation/Ses02M_script01_1.txt",
        "Session5/dialog/transcriptions/Ses05F_impro01.txt",
    ):
        assert (a / rel).read_text() == (b / rel).read_text()
    wav = next((a / "Session3/sentences/wav").rglob("*.wav")).relative_to(a)
    assert (a / wav).read_bytes() == (b / wav).read_bytes()


def test_counts_match_emoevaluation(synth_corpus, prepared):
    labels = _labels_from_files(synth_corpus)
    expected = {
        u: ("hap" if lab == "exc" else lab)
        for u, (lab, _) in labels.items()
        if lab in ("neu", "hap", "exc", "ang", "sad")
    }
    utt2emo = _read_kv(prepared / "all/utt2emo")
    assert utt2emo == expected
    assert Counter(utt2emo.values()) == Counter(expected.values())
    assert not any(labels[u][0] in ("fru", "xxx", "sur", "fea", "oth", "dis") for u in utt2emo)
    assert any(labels[u][0] == "exc" for u in utt2emo)  # exc was kept, as hap
    for name in ("wav.scp", "utt2spk", "text", "utt2gender", "utt2vad", "utt2dur"):
        assert set(_read_kv(prepared / "all" / name)) == set(expected)


def test_speakers_gender_vad_and_wavs(synth_corpus, prepared):
    labels = _labels_from_files(synth_corpus)
    utt2spk, utt2gender = _read_kv(prepared / "all/utt2spk"), _read_kv(prepared / "all/utt2gender")
    for utt, spk in utt2spk.items():
        letter = utt.rsplit("_", 1)[1][0]
        assert spk == utt[:5] + letter and utt2gender[utt] == letter.lower()
    for utt, vad in _read_kv(prepared / "all/utt2vad").items():
        assert [float(x) for x in vad.split()] == pytest.approx(labels[utt][1])
    for utt, path in _read_kv(prepared / "all/wav.scp").items():
        assert Path(path).is_absolute() and Path(path).is_file() and path.endswith(f"/{utt}.wav")
    assert set(utt2spk.values()) == {f"Ses0{s}{g}" for s in range(1, 6) for g in "FM"}


def test_speaker_of():
    assert prep.speaker_of("Ses01F_impro01_M013") == ("Ses01M", "m")
    assert prep.speaker_of("Ses05M_script02_2_F021") == ("Ses05F", "f")


def test_vad_parsed_from_bracket_in_order():
    line = "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 3.0000, 3.5000]"
    u = prep.parse_emo_line(line, "x.txt:3")
    assert (u.utt, u.emotion, u.vad) == ("Ses01F_impro01_F000", "neu", (2.5, 3.0, 3.5))


def _fold_speakers(root, scheme):
    folds = sorted((root / "folds" / scheme).glob("fold*"), key=lambda p: int(p.name[4:]))
    return [
        {split: set(_read_kv(f / split / "utt2spk").values()) for split in ("train", "valid", "test")} for f in folds
    ]


def test_folds_are_speaker_independent(prepared):
    session = _fold_speakers(prepared, "session")
    speaker = _fold_speakers(prepared, "speaker")
    assert len(session) == 5 and len(speaker) == 10
    all_spks = set(_read_kv(prepared / "all/utt2spk").values())
    for fold in session + speaker:
        assert not fold["test"] & (fold["train"] | fold["valid"])
        assert not fold["train"] & fold["valid"]
        assert fold["train"] | fold["valid"] | fold["test"] == all_spks
    for k, fold in enumerate(session, 1):
        nxt = k % 5 + 1
        assert fold["test"] == {f"Ses0{k}F", f"Ses0{k}M"}
        assert fold["valid"] == {f"Ses0{nxt}{'F' if k % 2 else 'M'}"}
    order = [f"Ses0{s}{g}" for s in range(1, 6) for g in "FM"]
    for spk, fold in zip(order, speaker):
        assert fold["test"] == {spk} and fold["valid"] == {spk[:5] + ("M" if spk[5] == "F" else "F")}


def test_other_classes_without_map(synth_corpus, tmp_path):
    labels = _labels_from_files(synth_corpus)
    prep.prepare(synth_corpus, tmp_path / "data", classes="neu,hap,ang,sad,exc,fru", map_spec="", schemes="session")
    utt2emo = _read_kv(tmp_path / "data/all/utt2emo")
    assert utt2emo == {u: lab for u, (lab, _) in labels.items() if lab in ("neu", "hap", "ang", "sad", "exc", "fru")}
    assert not (tmp_path / "data/folds/speaker").exists()


# ---- a hand-written corpus with known values -----------------------------------------------------------

# utt -> (label, (v, a, d), text, duration in seconds); one improvised and one scripted dialog per session.
FIXTURE = {}
for _s in range(1, 6):
    FIXTURE.update(
        {
            f"Ses0{_s}F_impro01_F000": ("neu", (2.5, 2.5, 2.5), "Excuse me.", 0.5 + _s / 10),
            f"Ses0{_s}F_impro01_M013": ("exc", (4.0, 3.5, 3.0), "Do you have your forms?", 0.75),
            f"Ses0{_s}F_impro01_F001": ("fru", (2.0, 3.5, 3.0), "Yeah.", 0.25),
            f"Ses0{_s}M_script01_1_F002": ("sad", (1.5, 2.0, 2.5), "I miss him.", 1.0),
            f"Ses0{_s}M_script01_1_M000": ("ang", (1.0, 4.5, 4.0), "Stop it!", 0.5),
            f"Ses0{_s}M_script01_1_M001": ("xxx", (3.0, 3.0, 3.0), "Well.", 0.5),
        }
    )


def write_fixture(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    by_dialog = {}
    for utt in FIXTURE:
        by_dialog.setdefault(utt.rsplit("_", 1)[0], []).append(utt)
    for dialog, utts in by_dialog.items():
        sess = root / f"Session{int(dialog[3:5])}"
        emo = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        trans = []
        for i, utt in enumerate(utts):
            label, (v, a, d), text, dur = FIXTURE[utt]
            emo += [
                f"[{i * 3 + 1:.4f} - {i * 3 + 1 + dur:.4f}]\t{utt}\t{label}\t[{v:.4f}, {a:.4f}, {d:.4f}]",
                "C-E2:\tNeutral;\t()",
                "A-E3:\tval 3; act 2; dom  2;\t(a comment: Ses01F_impro01_F000)",
                "",
            ]
            trans.append(f"{utt} [{i * 3 + 1:08.4f}-{i * 3 + 1 + dur:08.4f}]: {text}")
            wav_dir = sess / "sentences" / "wav" / dialog
            wav_dir.mkdir(parents=True, exist_ok=True)
            t = np.arange(int(dur * SR)) / SR
            sf.write(wav_dir / f"{utt}.wav", 0.1 * np.sin(2 * np.pi * 200 * t), SR, subtype="PCM_16")
        trans += [f"{dialog}_MXX0 [020.0000-021.0000]: Not evaluated.", "M: [LAUGHTER]"]
        (sess / "dialog" / "EmoEvaluation" / "Categorical").mkdir(parents=True, exist_ok=True)
        (sess / "dialog" / "transcriptions").mkdir(parents=True, exist_ok=True)
        (sess / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text("\n".join(emo) + "\n")
        (sess / "dialog" / "transcriptions" / f"{dialog}.txt").write_text("\n".join(trans) + "\n")
        # Files the prep must ignore: per-evaluator files and macOS resource forks.
        (sess / "dialog" / "EmoEvaluation" / "Categorical" / f"{dialog}_e1_cat.txt").write_text("garbage\n")
        (sess / "dialog" / "EmoEvaluation" / f"._{dialog}.txt").write_bytes(b"\x00\x05\x16\x07")
    return root


@pytest.fixture
def fixture_corpus(tmp_path):
    return write_fixture(tmp_path / "IEMOCAP_full_release")


def test_fixture_parsed_exactly(fixture_corpus, tmp_path):
    prep.prepare(fixture_corpus, tmp_path / "data")
    all_dir = tmp_path / "data/all"
    kept = {u: v for u, v in FIXTURE.items() if v[0] in ("neu", "exc", "sad", "ang")}
    assert _read_kv(all_dir / "utt2emo") == {u: ("hap" if v[0] == "exc" else v[0]) for u, v in kept.items()}
    assert _read_kv(all_dir / "text") == {u: v[2] for u, v in kept.items()}
    assert _read_kv(all_dir / "utt2vad") == {u: " ".join(f"{x:.4f}" for x in v[1]) for u, v in kept.items()}
    for utt, dur in _read_kv(all_dir / "utt2dur").items():
        assert float(dur) == pytest.approx(kept[utt][3], abs=1e-3)
    assert _read_kv(all_dir / "utt2spk")["Ses03F_impro01_M013"] == "Ses03M"
    assert _read_kv(all_dir / "utt2gender")["Ses03F_impro01_M013"] == "m"
    assert _read_kv(all_dir / "utt2spk")["Ses03M_script01_1_F002"] == "Ses03F"
    assert _read_kv(all_dir / "wav.scp")["Ses02M_script01_1_M000"] == str(
        fixture_corpus / "Session2/sentences/wav/Ses02M_script01_1/Ses02M_script01_1_M000.wav"
    )
    assert _read_kv(all_dir / "spk2utt")["Ses01M"].split() == ["Ses01F_impro01_M013", "Ses01M_script01_1_M000"]
    assert len(_fold_speakers(tmp_path / "data", "session")) == 5


def test_error_names_file_and_line_of_bad_emo_line(fixture_corpus, tmp_path):
    path = fixture_corpus / "Session2/dialog/EmoEvaluation/Ses02F_impro01.txt"
    lines = path.read_text().splitlines()
    n = next(i for i, line in enumerate(lines, 1) if "Ses02F_impro01_M013" in line and line.startswith("["))
    lines[n - 1] = lines[n - 1].replace("[4.0000, 3.5000, 3.0000]", "[4.0000, 3.5000]")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SerError, match=re.escape(f"{path}:{n}")):
        prep.prepare(fixture_corpus, tmp_path / "data")


def test_error_for_unknown_label(fixture_corpus, tmp_path):
    path = fixture_corpus / "Session4/dialog/EmoEvaluation/Ses04M_script01_1.txt"
    path.write_text(path.read_text().replace("\tsad\t", "\tsadness\t"))
    with pytest.raises(SerError, match=re.escape(f"{path}:3") + ".*sadness"):
        prep.prepare(fixture_corpus, tmp_path / "data")


def test_error_names_missing_wav(fixture_corpus, tmp_path):
    wav = fixture_corpus / "Session5/sentences/wav/Ses05F_impro01/Ses05F_impro01_F000.wav"
    wav.unlink()
    with pytest.raises(SerError, match=re.escape(str(wav))):
        prep.prepare(fixture_corpus, tmp_path / "data")


def test_missing_wav_of_a_dropped_label_is_fine(fixture_corpus, tmp_path):
    (fixture_corpus / "Session5/sentences/wav/Ses05F_impro01/Ses05F_impro01_F001.wav").unlink()  # fru
    prep.prepare(fixture_corpus, tmp_path / "data")


def test_error_for_utterance_without_transcription(fixture_corpus, tmp_path):
    path = fixture_corpus / "Session1/dialog/transcriptions/Ses01M_script01_1.txt"
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines() if "_M000 " not in line))
    with pytest.raises(SerError, match="Ses01M_script01_1_M000.*no line in"):
        prep.prepare(fixture_corpus, tmp_path / "data")


def test_error_for_missing_corpus_and_no_sessions(tmp_path):
    with pytest.raises(SerError, match="IEMOCAP in db.sh"):
        prep.prepare(tmp_path / "nowhere", tmp_path / "data")
    with pytest.raises(SerError, match="IEMOCAP"):
        prep.prepare("", tmp_path / "data")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SerError, match="no Session1..Session5"):
        prep.prepare(tmp_path / "empty", tmp_path / "data")


def test_bad_options(fixture_corpus, tmp_path):
    with pytest.raises(SerError, match="--map"):
        prep.prepare(fixture_corpus, tmp_path / "data", map_spec="exc")
    with pytest.raises(SerError, match="not in --classes"):
        prep.prepare(fixture_corpus, tmp_path / "data", classes="neu,ang", map_spec="exc:hap")
    with pytest.raises(SerError, match="--classes"):
        prep.prepare(fixture_corpus, tmp_path / "data", classes="neu,happy")
    with pytest.raises(SerError, match="--schemes"):
        prep.prepare(fixture_corpus, tmp_path / "data", schemes="session,dialog")


def _env():
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env.pop("IEMOCAP", None)
    return env


def test_cli_error_is_one_line_without_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        sys, "argv", ["prepare_iemocap.py", "--corpus", str(tmp_path / "nope"), "--out", str(tmp_path / "data")]
    )
    with pytest.raises(SystemExit) as exit_info:
        run_main(prep.main)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("ERROR:") and str(tmp_path / "nope") in err and "Traceback" not in err


@pytest.mark.skipif(not (REPO / "tools/utils/parse_options.sh").is_file(), reason="needs tools/utils/parse_options.sh")
def test_data_sh_generates_prepares_and_skips(tmp_path):
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "local").symlink_to(LOCAL)
    (recipe / "utils").symlink_to(REPO / "tools" / "utils")
    (recipe / "db.sh").write_text('IEMOCAP="${IEMOCAP:-}"\n')
    cmd = ["bash", "local/data.sh", "--utts_per_dialog", "2", "--schemes", "session"]
    first = subprocess.run(cmd, cwd=recipe, capture_output=True, text=True, env=_env())
    assert first.returncode == 0, first.stderr
    assert "SYNTHETIC" in first.stderr
    corpus = recipe / "downloads" / "iemocap_synthetic"
    assert (corpus / ".done").is_file() and (recipe / "data/all/utt2emo").is_file()
    assert str(corpus) in (recipe / "data/.done").read_text()
    assert len(list((recipe / "data/folds/session").glob("fold*"))) == 5
    second = subprocess.run(cmd, cwd=recipe, capture_output=True, text=True, env=_env())
    assert second.returncode == 0 and "already prepared" in second.stderr
    bad = subprocess.run(
        ["bash", "local/data.sh", "--no_such_option", "1"], cwd=recipe, capture_output=True, text=True, env=_env()
    )
    assert bad.returncode != 0
