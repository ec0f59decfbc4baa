"""egs/msp_podcast/local: the data prep on a hand-made fixture, and the synthetic corpus writer."""

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser.data.datadir import DataDir
from ser.utils import SerError

REPO = Path(__file__).resolve().parents[3]
LOCAL = REPO / "egs" / "msp_podcast" / "local"
HEADER = ["FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set"]


def _load(name, filename):
    spec = importlib.util.spec_from_file_location(name, LOCAL / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


prep = _load("msp_prepare_for_tests", "prepare_msp_podcast.py")
synthetic = _load("msp_make_synthetic_for_tests", "make_synthetic_msp_podcast.py")

# FileName, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender, Split_Set
ROWS = [
    ("MSP-PODCAST_0001_0001.wav", "A", "6.0", "2.0", "5.5", "10", "Male", "Train"),
    ("MSP-PODCAST_0001_0002.wav", "N", "4.0", "4.0", "4.0", "10", "Male", "Train"),
    ("MSP-PODCAST_0001_0003.wav", "O", "4.0", "4.0", "4.0", "10", "Male", "Train"),  # other: dropped
    ("MSP-PODCAST_0002_0001.wav", "X", "3.0", "3.0", "3.0", "11", "Female", "Train"),  # no agreement: dropped
    ("MSP-PODCAST_0002_0002.wav", "H", "5.0", "6.0", "4.0", "11", "Female", "Train"),
    ("MSP-PODCAST_0003_0001.wav", "S", "2.0", "2.5", "2.0", "Unknown", "Unknown", "Train"),
    ("MSP-PODCAST_0003_0002.wav", "C", "3.5", "2.5", "4.5", "Unknown", "Female", "Train"),
    ("MSP-PODCAST_0004_0001.wav", "U", "5.0", "4.5", "3.0", "12", "Female", "Development"),
    ("MSP-PODCAST_0004_0002.wav", "X", "5.0", "4.5", "3.0", "12", "Female", "Development"),
    ("MSP-PODCAST_0005_0001.wav", "F", "5.0", "2.0", "2.0", "13", "Male", "Test1"),
    ("MSP-PODCAST_0005_0002.wav", "D", "4.0", "2.0", "4.5", "13", "Male", "Test1"),
    ("MSP-PODCAST_0006_0001.wav", "N", "4.0", "4.0", "4.0", "Unknown", "Unknown", "Test1"),
    ("MSP-PODCAST_0007_0001.wav", "A", "6.0", "2.0", "5.0", "14", "Female", "Test2"),  # not the test set used
    ("MSP-PODCAST_0008_0001.wav", "", "", "", "", "Unknown", "Unknown", "Test3"),  # unlabelled partition
]
NO_TRANSCRIPT = "MSP-PODCAST_0001_0002"


def write_corpus(root: Path, rows=ROWS, header=HEADER, bom=False):
    for sub in ("Audios", "Labels", "Transcripts"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for row in rows:
        stem = row[0][:-4]
        sf.write(root / "Audios" / row[0], (rng.standard_normal(8000) * 0.1).astype(np.float32), 16000)
        if stem != NO_TRANSCRIPT:
            (root / "Transcripts" / f"{stem}.txt").write_text(f"Words of {stem[-4:]}, [laughter] ok.\n")
    with open(root / "Labels" / "labels_consensus.csv", "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return root


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path / "msp")


def test_prepare_official_partitions(corpus, tmp_path, capsys):
    out = prep.prepare(corpus, tmp_path / "data")
    assert out["splits"] == {"train": "Train", "valid": "Development", "test": "Test1"}
    all_dd = DataDir.load(tmp_path / "data" / "all")
    assert len(all_dd) == 9  # 14 rows - O - 2 X - Test2 - Test3
    emo = all_dd.get("utt2emo")
    assert sorted(set(emo.values())) == sorted("ASHUFDCN")
    fold = tmp_path / "data" / "folds" / "official" / "fold1"
    parts = {p: DataDir.load(fold / p).utts for p in ("train", "valid", "test")}
    assert parts["train"] == [
        "MSP-PODCAST_0001_0001",
        "MSP-PODCAST_0001_0002",
        "MSP-PODCAST_0002_0002",
        "MSP-PODCAST_0003_0001",
        "MSP-PODCAST_0003_0002",
    ]
    assert parts["valid"] == ["MSP-PODCAST_0004_0001"]
    assert parts["test"] == ["MSP-PODCAST_0005_0001", "MSP-PODCAST_0005_0002", "MSP-PODCAST_0006_0001"]

    spk, gender = all_dd.utt2spk, all_dd.get("utt2gender")
    assert spk["MSP-PODCAST_0001_0001"] == "spk10"
    # Unknown speakers become one pseudo speaker per utterance; Unknown gender becomes u.
    assert spk["MSP-PODCAST_0003_0001"] == "unk_MSP-PODCAST_0003_0001"
    assert spk["MSP-PODCAST_0003_0002"] == "unk_MSP-PODCAST_0003_0002"
    assert gender["MSP-PODCAST_0003_0001"] == "u" and gender["MSP-PODCAST_0003_0002"] == "f"
    assert gender["MSP-PODCAST_0001_0001"] == "m"
    # utt2vad is valence arousal dominance (EmoVal EmoAct EmoDom)
    assert all_dd.get("utt2vad")["MSP-PODCAST_0001_0001"] == "2.0000 6.0000 5.5000"
    text = all_dd.get("text")
    assert text[NO_TRANSCRIPT] == "<unk>" and text["MSP-PODCAST_0001_0001"] == "Words of 0001, [laughter] ok."
    assert float(all_dd.get("utt2dur")["MSP-PODCAST_0001_0001"]) == pytest.approx(0.5)
    assert all_dd.get("wav.scp")["MSP-PODCAST_0001_0001"] == str(corpus / "Audios" / "MSP-PODCAST_0001_0001.wav")
    report = capsys.readouterr().out
    assert "dropped by class: O 1, X 2" in report and "1 of unknown speaker" in report


def test_test_split_choice_and_bom(tmp_path):
    corpus = write_corpus(tmp_path / "msp", bom=True)
    out = prep.prepare(corpus, tmp_path / "data", test_split="test2")
    assert out["splits"]["test"] == "Test2"
    assert DataDir.load(tmp_path / "data" / "folds" / "official" / "fold1" / "test").utts == ["MSP-PODCAST_0007_0001"]
    # A release that calls its test partition "test" is found by auto.
    rows = [r[:7] + ("test",) if r[7] == "Test1" else r for r in ROWS if r[7] not in ("Test2", "Test3")]
    corpus2 = write_corpus(tmp_path / "msp2", rows)
    assert prep.prepare(corpus2, tmp_path / "data2")["splits"]["test"] == "test"


def test_test_speakers_are_removed_from_train(tmp_path):
    rows = ROWS + [("MSP-PODCAST_0009_0001.wav", "H", "5.0", "6.0", "4.0", "13", "Male", "Train")]
    corpus = write_corpus(tmp_path / "msp", rows)
    out = prep.prepare(corpus, tmp_path / "data")
    assert "MSP-PODCAST_0009_0001" not in out["parts"]["train"]
    assert "MSP-PODCAST_0009_0001" not in DataDir.load(tmp_path / "data" / "all").utts


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda rows, header: (rows, header[:-1]), "missing columns \\['Split_Set'\\]"),
        (
            lambda rows, header: ([r if i else r[:1] + ("Q",) + r[2:] for i, r in enumerate(rows)], header),
            "labels_consensus.csv:2: unknown EmoClass 'Q'",
        ),
        (
            lambda rows, header: ([r if i else r[:6] + ("Other",) + r[7:] for i, r in enumerate(rows)], header),
            "csv:2: Gender 'Other'",
        ),
        (
            lambda rows, header: ([r if i else r[:2] + ("high",) + r[3:] for i, r in enumerate(rows)], header),
            "csv:2: EmoVal/EmoAct/EmoDom must be numbers",
        ),
        (lambda rows, header: ([r for r in rows if r[7] != "Development"], header), "no Development partition"),
        (lambda rows, header: (rows + [rows[0]], header), "already listed on line 2"),
    ],
)
def test_errors_name_the_problem(tmp_path, change, message):
    rows, header = change(list(ROWS), list(HEADER))
    corpus = write_corpus(tmp_path / "msp", rows, header)
    with pytest.raises(SerError, match=message):
        prep.prepare(corpus, tmp_path / "data")


def test_missing_audio_and_corpus(corpus, tmp_path):
    (corpus / "Audios" / "MSP-PODCAST_0002_0002.wav").unlink()
    with pytest.raises(SerError, match=r"MSP-PODCAST_0002_0002.wav \(utterance MSP-PODCAST_0002_0002\): missing"):
        prep.prepare(corpus, tmp_path / "data")
    with pytest.raises(SerError, match="MSP_PODCAST"):
        prep.prepare(tmp_path / "nowhere", tmp_path / "data")


def test_synthetic_corpus_layout(tmp_path):
    root = synthetic.make_corpus(tmp_path / "synth", seed=1, num_utts=100)
    with open(root / "Labels" / "labels_consensus.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == HEADER
        rows = list(reader)
    assert len(rows) == 100
    assert {r["EmoClass"] for r in rows} == set("ASHUFDCNOX")
    assert {r["Split_Set"] for r in rows} == {"Train", "Development", "Test1", "Test2"}
    unknown = [r for r in rows if r["SpkrID"] == "Unknown"]
    assert unknown and any(r["Gender"] == "Unknown" for r in unknown)
    for r in rows:
        assert (root / "Audios" / r["FileName"]).is_file()
        assert (root / "Transcripts" / (r["FileName"][:-4] + ".txt")).read_text().strip()
        assert 1.0 <= float(r["EmoAct"]) <= 7.0
    # Known speakers never cross partitions, as in the release.
    parts = {}
    for r in rows:
        if r["SpkrID"] != "Unknown":
            parts.setdefault(r["SpkrID"], set()).add(r["Split_Set"])
    assert all(len(p) == 1 for p in parts.values())
    out = prep.prepare(root, tmp_path / "data")
    assert out["dropped"]["O"] > 0 and out["dropped"]["X"] > 0
    again = synthetic.make_corpus(tmp_path / "synth2", seed=1, num_utts=100)
    assert (again / "Labels" / "labels_consensus.csv").read_text() == (
        root / "Labels" / "labels_consensus.csv"
    ).read_text()
