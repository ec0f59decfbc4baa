"""ser.data.prep: the pieces every corpus's data prep shares."""

import random

import numpy as np
import pytest
import soundfile as sf

from ser.data.prep import build_datadir, corpus_var, one_per_gender, scan_release, write_ignored
from ser.utils import SerError


def parse(path, folder):
    spk, emo = path.stem.split("-")
    if emo not in ("ang", "neu"):
        raise SerError(f"emotion {emo} is not ang or neu")
    return {"utt": f"{folder.group(1)}_{path.stem}", "wav.scp": str(path), "utt2spk": spk, "utt2emo": emo}


def release(root, files):
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.zeros(1600, dtype=np.float32), 16000)
    return root


def scan(root):
    return scan_release(root, r"^spk(\d)$", "spkN", parse, "Toy Corpus", "the folder holding spk1..spk9")


def test_taken_ignored_and_hidden_files(tmp_path):
    root = release(
        tmp_path / "rel",
        [
            "spk1/s1-ang.wav",
            "spk1/s1-neu.flac",
            "spk2/s2-sad.wav",
            "spk2/._s2-ang.wav",
            "spk2/sub/s2-ang.wav",
            "other/s3-ang.wav",
            ".DS_Store/x.wav",
        ],
    )
    (root / "spk1" / "notes.txt").write_text("x")
    records, ignored = scan(root)
    assert [r["utt"] for r in records] == ["1_s1-ang", "1_s1-neu"]
    why = {p.relative_to(root).as_posix(): reason for p, reason in ignored}
    assert why == {
        "other": "not a spkN folder",
        "spk1/notes.txt": "not an audio file (.wav/.flac)",
        "spk2/s2-sad.wav": "emotion sad is not ang or neu",
        "spk2/sub": "unexpected folder",
    }
    report = write_ignored(tmp_path / "data", ignored).read_text()
    assert "spk2/s2-sad.wav\temotion sad is not ang or neu" in report

    dd = build_datadir(records, ("wav.scp", "utt2spk", "utt2emo"))
    assert dd.get("utt2dur") == {"1_s1-ang": "0.1000", "1_s1-neu": "0.1000"} and dd.utt2spk["1_s1-neu"] == "s1"


def test_release_errors_name_the_corpus_and_what_is_wrong(tmp_path):
    with pytest.raises(SerError, match="Toy Corpus corpus path is empty: set TOY_CORPUS in db.sh"):
        scan("")
    with pytest.raises(SerError, match="not found: .*Set TOY_CORPUS"):
        scan(tmp_path / "missing")
    with pytest.raises(SerError, match="no spkN folders; is this the folder holding spk1..spk9"):
        scan(release(tmp_path / "a", ["x/s1-ang.wav"]))
    with pytest.raises(SerError, match="no file follows the Toy Corpus naming scheme"):
        scan(release(tmp_path / "b", ["spk1/s1-sad.wav"]))
    with pytest.raises(SerError, match="exists twice"):
        scan(release(tmp_path / "c", ["spk1/s1-ang.wav", "spk1/s1-ang.flac"]))
    assert corpus_var("MSP-Podcast") == "MSP_PODCAST"


def test_one_validation_speaker_per_gender_seeded():
    gender = {"a": "m", "b": "m", "c": "f", "d": "f", "e": "m"}.get
    picks = {tuple(one_per_gender("abcde", gender, random.Random(f"x{i}"))) for i in range(20)}
    assert all(gender(m) == "m" and gender(f) == "f" for m, f in picks) and len(picks) > 1
    assert one_per_gender("abcde", gender, random.Random(1)) == one_per_gender("edcba", gender, random.Random(1))
    assert one_per_gender("ab", gender, random.Random(1)) in (["a"], ["b"])
