"""ser.packing.build on hand-made fold dirs: what cannot be packed says why; a logistic regression's
scaler is readable as JSON; a fusion of members with other classes is refused."""

import json
import zipfile

import pytest
import torch
import yaml

from ser.packing.build import pack_system
from ser.utils import SerError

META = {"kind": "fbank", "num_layers": 1, "dim": 2, "float16": False}


def logreg_fold(system, classes=("a", "b"), feats_meta=META, **model):
    fold = system / "fold1"
    fold.mkdir(parents=True)
    conf = {"data": {"classes": list(classes), "feats": ["x"]}, "model": {"name": "logreg", **model}}
    (fold / "config.yaml").write_text(yaml.safe_dump(conf))
    info = {"classes": list(classes), "num_classes": len(classes), "feats": {"x": feats_meta}, "speakers": ["s"]}
    (fold / "info.json").write_text(json.dumps(info))
    arrays = {
        "mean": torch.zeros(2, dtype=torch.float64),
        "scale": torch.ones(2, dtype=torch.float64) * 3,
        "coef": torch.ones(1, 2, dtype=torch.float64),
        "intercept": torch.zeros(1, dtype=torch.float64),
        "seen_classes": torch.tensor([0.0, 1.0], dtype=torch.float64),
        "num_classes": torch.tensor(float(len(classes)), dtype=torch.float64),
    }
    torch.save(arrays, fold / "model.best.pt")
    return system


def test_pack_a_logreg(tmp_path):
    system = logreg_fold(tmp_path / "lr")
    manifest = pack_system(tmp_path / "lr.zip", system, tmp_path / "folds", ["1"], select="1")
    assert manifest["members"]["lr"]["model"] == "logreg" and manifest["checkpoints"] == {}
    with zipfile.ZipFile(tmp_path / "lr.zip") as z:
        assert json.loads(z.read("members/lr/fold1/normalisation.json"))["scale"] == [3.0, 3.0]
        assert json.loads(z.read("members/lr/fold1/features.json")) == {"x": {"kind": "fbank", "float16": False}}


def test_what_cannot_be_packed(tmp_path):
    with pytest.raises(SerError, match="speaker_norm .* cannot be packed"):
        pack_system(tmp_path / "o.zip", logreg_fold(tmp_path / "sn", speaker_norm=True), tmp_path, ["1"], "1")
    with pytest.raises(SerError, match="no recorded kind .* dump the store again"):
        pack_system(tmp_path / "o.zip", logreg_fold(tmp_path / "old", feats_meta={}), tmp_path, ["1"], "1")
    a, b = logreg_fold(tmp_path / "a"), logreg_fold(tmp_path / "b", classes=("b", "a"))
    with pytest.raises(SerError, match="not fusable"):
        pack_system(tmp_path / "o.zip", tmp_path / "a", tmp_path, ["1"], "1", groups=[[str(a)], [str(b)]])
    with pytest.raises(SerError, match="train this fold first"):
        pack_system(tmp_path / "o.zip", tmp_path / "none", tmp_path, ["1"], "1")
    assert not (tmp_path / "o.zip").exists()


def test_unpackable_systems_are_reported_by_the_stage(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    text = {"kind": "text", "num_layers": 1, "dim": 4}
    with pytest.raises(SerError, match="holds text features, which ser-infer cannot compute from audio alone"):
        pack_system(tmp_path / "o.zip", logreg_fold(tmp_path / "t", feats_meta=text), tmp_path, ["1"], "1")
    system = logreg_fold(tmp_path / "sn", speaker_norm=True)
    cmd = [sys.executable, "-m", "ser.bin.pack", "--folds-root", str(tmp_path), "--folds", "1", "--select", "1"]
    cmd += ["--out", str(tmp_path / "o.zip"), str(system)]
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PATH": "/usr/bin:/bin"}
    strict = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert strict.returncode == 1 and "speaker_norm" in strict.stderr
    stage = subprocess.run(cmd + ["--if-packable"], capture_output=True, text=True, env=env)
    assert stage.returncode == 0 and "not packed" in stage.stderr and not (tmp_path / "o.zip").exists()
