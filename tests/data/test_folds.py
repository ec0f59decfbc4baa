import pytest

from ser.data.datadir import DataDir
from ser.data.folds import Fold, check_speaker_independent, fold_dirs, write_folds
from ser.utils import SerError


def corpus():
    utt2spk = {f"{s}_{i}": s for s in "ABCD" for i in range(3)}
    return DataDir({"utt2spk": utt2spk, "utt2emo": {u: "neu" for u in utt2spk}})


def test_write_folds_disjoint(tmp_path):
    folds = [Fold(("A",), ("B",)), Fold(("C",), ("D",))]
    sizes = write_folds(corpus(), tmp_path, "spk", folds)
    assert sizes[0] == {"train": 6, "valid": 3, "test": 3}
    dirs = fold_dirs(tmp_path, "spk")
    assert [d.name for d in dirs] == ["fold1", "fold2"]
    for d in dirs:
        test_spk = set(DataDir.load(d / "test").utt2spk.values())
        for split in ("train", "valid"):
            assert not test_spk & set(DataDir.load(d / split).utt2spk.values())


def test_leak_is_refused():
    utt2spk = {"a": "A", "b": "A", "c": "B"}
    with pytest.raises(SerError, match="test speakers"):
        check_speaker_independent({"train": ["a"], "valid": ["c"], "test": ["b"]}, utt2spk, "x")


def test_missing_folds_point_to_stage_0(tmp_path):
    with pytest.raises(SerError, match="stage 0"):
        fold_dirs(tmp_path, "session")


def test_excluded_speakers_are_in_no_split(tmp_path):
    write_folds(corpus(), tmp_path, "dev", [Fold(("A",), ("B",), excluded_spks=("C",))])
    d = fold_dirs(tmp_path, "dev")[0]
    assert set(DataDir.load(d / "train").utt2spk.values()) == {"D"}


def test_numbered_folds_replace_every_earlier_fold_of_the_scheme(tmp_path):
    write_folds(corpus(), tmp_path, "spk", [Fold(("A",), ("B",)), Fold(("B",), ("C",)), Fold(("C",), ("D",))])
    sizes = write_folds(corpus(), tmp_path, "spk", {7: Fold(("D",), ("A",))})
    assert [d.name for d in fold_dirs(tmp_path, "spk")] == ["fold7"] and len(sizes) == 1
    with pytest.raises(SerError, match="no fold could be made"):
        write_folds(corpus(), tmp_path, "spk", {})
