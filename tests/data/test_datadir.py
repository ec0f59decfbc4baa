import numpy as np
import pytest

from ser.data.datadir import DataDir, c_sorted, read_kv
from ser.utils import SerError


def make_dd():
    utts = ["b_1", "a_2", "B_3"]
    return DataDir(
        {
            "wav.scp": {u: f"/x/{u}.wav" for u in utts},
            "utt2spk": {"b_1": "b", "a_2": "a", "B_3": "B"},
            "utt2emo": {"b_1": "neu", "a_2": "hap", "B_3": "sad"},
            "utt2gender": {"b_1": "m", "a_2": "f", "B_3": "m"},
            "utt2vad": {"b_1": "1 2 3", "a_2": "2.5 3 3.5", "B_3": "4 4 4"},
            "text": {"b_1": "hello there", "a_2": "hi", "B_3": "bye"},
        }
    )


def test_write_sorted_c_locale_and_spk2utt(tmp_path):
    make_dd().write(tmp_path)
    keys = [line.split()[0] for line in (tmp_path / "utt2spk").read_text().splitlines()]
    assert keys == ["B_3", "a_2", "b_1"]  # uppercase sorts first in C order
    assert (tmp_path / "spk2utt").read_text() == "B B_3\na a_2\nb b_1\n"
    assert (tmp_path / "text").read_text().splitlines()[2] == "b_1 hello there"


def test_roundtrip_and_vad(tmp_path):
    make_dd().write(tmp_path)
    dd = DataDir.load(tmp_path)
    assert dd.utts == c_sorted(["b_1", "a_2", "B_3"])
    np.testing.assert_allclose(dd.utt2vad()["a_2"], [2.5, 3, 3.5])
    sub = dd.subset(["a_2"])
    assert list(sub.utt2spk) == ["a_2"] and sub.get("text") == {"a_2": "hi"}


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("utt2gender", "x", "expected m, f or u"),
        ("utt2vad", "1 2", "three floats"),
    ],
)
def test_validation_errors_name_the_problem(field, value, message):
    dd = make_dd()
    dd.fields[field]["a_2"] = value
    with pytest.raises(SerError, match=message):
        dd.validate()


def test_mismatched_utterance_lists(tmp_path):
    dd = make_dd()
    del dd.fields["utt2emo"]["a_2"]
    with pytest.raises(SerError, match="utt2emo: utterance list differs"):
        dd.validate()


def test_read_kv_names_file_and_line(tmp_path):
    f = tmp_path / "utt2emo"
    f.write_text("a neu\nb\n")
    with pytest.raises(SerError, match=r"utt2emo:2: no value"):
        read_kv(f)
    f.write_text("a neu\na hap\n")
    with pytest.raises(SerError, match=r"utt2emo:2: key 'a' appears twice"):
        read_kv(f)


def test_missing_dir_is_clear(tmp_path):
    with pytest.raises(SerError, match="data dir not found"):
        DataDir.load(tmp_path / "nope")
