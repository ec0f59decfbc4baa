"""ser.data.empty_text: the drop/empty policy for utterances with an empty transcript."""

import pytest

from ser.data.datadir import DataDir, read_kv
from ser.data.empty_text import apply_policy
from ser.utils import SerError

from conftest import text_data_dir


def test_empty_text_policy(tmp_path):
    texts = {"a1": "Great news!", "a2": "", "a3": "<unk>", "a4": "Sorry."}
    keep = text_data_dir(tmp_path / "keep", texts)
    assert apply_policy(keep, "empty") == 2
    dd = DataDir.load(keep)  # readable without allow_empty_text now
    assert dd.utts == ["a1", "a2", "a3", "a4"] and dd.get("text")["a2"] == "<unk>"
    assert apply_policy(keep, "empty") == 2  # idempotent

    drop = text_data_dir(tmp_path / "drop", texts)
    assert apply_policy(drop, "drop") == 2
    dd = DataDir.load(drop)
    assert dd.utts == ["a1", "a4"] and set(dd.get("utt2emo")) == {"a1", "a4"}
    assert read_kv(drop / "spk2utt") == {"spk1": "a1 a4"}
    assert apply_policy(drop, "drop") == 0

    allempty = text_data_dir(tmp_path / "allempty", {"b1": "", "b2": "<unk>"})
    with pytest.raises(SerError, match="every transcript is empty"):
        apply_policy(allempty, "drop")
    with pytest.raises(SerError, match="drop or empty"):
        apply_policy(keep, "skip")
