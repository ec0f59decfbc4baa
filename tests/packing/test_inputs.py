"""ser-infer's inputs and windows, without a model."""

import numpy as np
import pytest
import soundfile as sf

from ser.packing.inputs import gather_inputs, read_input, windows
from ser.utils import SerError


def test_windows_cover_the_recording():
    assert windows(1000, 0.0, 0.0) == [(0, 1000)]
    assert windows(16000, 2.0, 1.0) == [(0, 16000)]  # fits in one window
    spans = windows(int(3.3 * 16000), 1.0, 0.5)
    assert spans[0] == (0, 16000) and spans[1] == (8000, 24000)
    assert spans[-1] == (int(3.3 * 16000) - 16000, int(3.3 * 16000))  # the tail, aligned to the end
    assert all(e - s == 16000 for s, e in spans)
    with pytest.raises(SerError, match="--hop"):
        windows(64000, 1.0, -1.0)


def test_gather_inputs(tmp_path):
    d = tmp_path / "d"
    (d / "x").mkdir(parents=True)
    for name in ("b.wav", "x/a.FLAC", "c.txt"):
        (d / name).write_bytes(b"")
    (tmp_path / "empty").mkdir()
    scp = tmp_path / "wav.scp"
    scp.write_text("u1 /some/u1.wav\nu2 sox x.wav -t wav - |\n")
    got = gather_inputs([str(d), str(scp), str(tmp_path / "empty"), str(tmp_path / "nope.wav")])
    assert [(i.name.replace(str(tmp_path), ""), i.error is None) for i in got] == [
        ("/d/b.wav", True),
        ("/d/x/a.FLAC", True),
        ("u1", True),
        ("u2", True),
        ("/empty", False),
        ("/nope.wav", False),
    ]
    assert got[3].spec == "sox x.wav -t wav - |" and "holds no audio file" in got[4].error


def test_read_input_errors(tmp_path):
    from ser.packing.inputs import Input

    sf.write(tmp_path / "short.wav", np.zeros(800, dtype="float32"), 16000)
    with pytest.raises(SerError, match=r"too short: 0\.050 s, below --min-seconds 0\.1"):
        read_input(Input("s", str(tmp_path / "short.wav")), 0.1)
    stereo = np.stack([np.ones(8000), -np.ones(8000)], 1).astype("float32") * 0.5
    sf.write(tmp_path / "st.wav", stereo, 8000)
    wav = read_input(Input("st", str(tmp_path / "st.wav")), 0.1)
    assert len(wav) == 16000 and np.abs(wav).max() < 1e-6  # downmixed (the channels cancel), resampled
