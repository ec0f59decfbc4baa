"""An exp dir's config.yaml describes its model (ser.train.config_record): re-running a finished or
interrupted fold with another config used to print "nothing to do" (or crash on another model size)
after overwriting config.yaml; now it is refused before, naming the keys and the flag that starts over."""

import torch

from ser.train.config_record import config_diff
from tests.train.toy_fold import make_fold, run_train


def test_a_changed_config_is_refused_before_config_yaml_is_rewritten(tmp_path):
    root = make_fold(tmp_path)
    run_train(root)
    exp = root / "exp"
    config = (exp / "config.yaml").read_text()
    model = (exp / "model.best.pt").read_bytes()

    for change in (["--set", "train.lr=0.1", "--set", "train.max_epochs=3"], ["--set", "model.proj_dim=16"]):
        proc = run_train(root, *change, check=False)
        assert proc.returncode == 1
        assert "trained with another config" in proc.stderr and "--no-resume" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert (exp / "config.yaml").read_text() == config
        assert (exp / "model.best.pt").read_bytes() == model
    assert "train.lr: 0.005 -> 0.1" in proc.stderr or "model.proj_dim: 8 -> 16" in proc.stderr

    proc = run_train(root)  # the same config: finished, nothing to do
    assert "already finished" in proc.stderr and (exp / "config.yaml").read_text() == config

    run_train(root, "--set", "model.proj_dim=16", "--no-resume")  # asked: a fresh run
    assert "proj_dim: 16" in (exp / "config.yaml").read_text()
    # the replaced model stays, with the config that describes it
    assert (exp / "previous/model.best.pt").read_bytes() == model
    assert (exp / "previous/config.yaml").read_text() == config
    weights = torch.load(exp / "model.best.pt", weights_only=True)
    assert any(v.shape[0] == 16 for v in weights.values() if v.ndim)


def test_config_diff_names_dotted_keys():
    old = {"train": {"lr": 0.1, "seed": 0}, "model": {"name": "x"}}
    new = {"train": {"lr": 0.2, "seed": 0}, "model": {"name": "x", "dim": 4}}
    assert config_diff(old, new) == ["model.dim: (unset) -> 4", "train.lr: 0.1 -> 0.2"]
