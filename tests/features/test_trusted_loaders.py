"""s3prl loaders that unpickle a checkpoint in full (distiller_local, mockingjay_local, ...) load a
file only when it is trusted (SER_TRUST_CHECKPOINTS=1, ser.sh --trust_checkpoints true): before, a
planted pickle ran when the dump loaded it. A waveform-only upstream refuses a checkpoint path
instead of ignoring it."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from ser.features.upstream import load_upstream
from ser.utils import SerError

REPO = Path(__file__).resolve().parents[2]


class Planted:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("name", ["distiller_local", "mockingjay_local"])
def test_an_unpickling_loader_needs_trust(tmp_path, name):
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "model.ckpt"
    with open(ckpt, "wb") as f:
        pickle.dump({"Config": Planted(marker)}, f)
    env = {k: v for k, v in os.environ.items() if k != "SER_TRUST_CHECKPOINTS"}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from ser.features.upstream import load_upstream; load_upstream({name!r}, {str(ckpt)!r})",
        ],
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "SER_TRUST_CHECKPOINTS=1" in proc.stderr
    assert not marker.exists()


def test_a_waveform_upstream_refuses_a_checkpoint_path(tmp_path):
    with pytest.raises(SerError, match="takes no checkpoint; drop --upstream_path x"):
        load_upstream("fbank", "x")
