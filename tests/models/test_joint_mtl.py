"""ser.models.joint_mtl: encoder subsets, padding independence, tasks, weighting hooks, resume."""

import json
import math

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from ser.data.dataset import collate
from ser.models import build_model
from ser.models.joint_mtl import JointMTL, RunningCMVN
from ser.train.trainer import TrainConfig, Trainer, make_optimizer
from ser.utils import SerError

INFO = {
    "num_classes": 4,
    "classes": ["neu", "hap", "ang", "sad"],
    "class_counts": [8, 4, 2, 2],
    "feats": {
        "mfcc": {"kind": "mfcc", "num_layers": 1, "dim": 39},
        "stf": {"kind": "stf", "num_layers": 1, "dim": 9},
        "mel": {"kind": "mel", "num_layers": 1, "dim": 64},
        "hub": {"kind": "upstream", "num_layers": 3, "dim": 16, "frame_shift_samples": 320},
    },
}
ALL = ["mfcc", "stf", "mel", "wav", "hub"]
SMALL = {"dim": 16, "heads": 2, "frontend_channels": 4, "dropout": 0.0}


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_item(i, frames, rng):
    """One utterance as UttDataset yields it: 10 ms features, 20 ms SSL layers, the audio."""
    return {
        "utt": f"u{i:03d}",
        "mfcc": rng.normal(size=(frames, 39)).astype(np.float32) * 5 + 3,
        "stf": rng.normal(size=(frames, 9)).astype(np.float32) * 100,
        "mel": rng.normal(size=(frames, 64)).astype(np.float32) - 4,
        "hub": rng.normal(size=((frames + 1) // 2, 48)).astype(np.float32),
        "wav": rng.normal(scale=0.1, size=frames * 160 + 240).astype(np.float32),
        "emo": int(i % 4),
        "vad": rng.uniform(-1, 1, size=3).astype(np.float32),
    }


def make_batch(frames=(37, 20, 9), seed=0):
    rng = np.random.default_rng(seed)
    return collate([make_item(i, f, rng) for i, f in enumerate(frames)])


def model(**kw):
    torch.manual_seed(0)
    return JointMTL(INFO, **{**SMALL, **kw})


@pytest.mark.parametrize("encoders", [["mfcc"], ["mfcc", "mel"], ["hub"], ["wav"], ["stf", "hub"], ALL])
def test_any_subset_of_encoders_trains_and_predicts(encoders):
    m = model(encoders=encoders)
    batch = make_batch()
    out = m(batch)
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    assert set(out["logs"]) == {"loss_cls", "loss_reg", "w_cls", "w_reg"}
    m.eval()
    pred = m.predict(batch)
    assert pred["emo_logits"].shape == (3, 4) and pred["vad"].shape == (3, 3)
    assert pred["vad"].abs().max() <= 1.0  # tanh: the data's [-1, 1] scale


def test_predictions_do_not_depend_on_the_batch():
    m = model(encoders=ALL)
    batch = make_batch()
    m.train()
    for _ in range(2):  # CMVN statistics and some training, so nothing is at its initial value
        m(batch)["loss"].backward()
    m.eval()
    together = m.predict(batch)
    for i in range(3):
        rng = np.random.default_rng(0)
        items = [make_item(j, f, rng) for j, f in enumerate((37, 20, 9))]
        alone = m.predict(collate([items[i]]))
        assert torch.allclose(alone["emo_logits"][0], together["emo_logits"][i], atol=1e-4)
        assert torch.allclose(alone["vad"][0], together["vad"][i], atol=1e-4)


def test_tasks_choose_heads_and_outputs():
    batch = make_batch()
    cls = model(encoders=["mfcc"], tasks=["cls"])
    assert set(cls(batch)["logs"]) == {"loss_cls"}
    cls.eval()
    assert set(cls.predict(batch)) == {"emo_logits", "loss"}
    reg = model(encoders=["mfcc"], tasks=["reg"])
    reg.eval()
    pred = reg.predict(batch)
    assert set(pred) == {"vad", "loss"}
    assert pred["loss"].item() == pytest.approx(reg.reg_loss(pred["vad"], batch["vad"]).item())
    no_targets = {k: v for k, v in batch.items() if k not in ("emo", "vad")}
    assert set(reg.predict(no_targets)) == {"vad"}


def test_fixed_lambda_weights_the_task_losses():
    m = model(encoders=["mfcc"], weighting="fixed", lam=0.2)
    m.eval()
    batch = make_batch()
    out = m.outputs(batch)
    losses = m.task_losses(out, batch)
    total = m.predict(batch)["loss"]
    assert total.item() == pytest.approx(0.2 * losses["cls"].item() + 0.8 * losses["reg"].item(), rel=1e-5)


@pytest.mark.parametrize("tasks", [["cls", "reg"], ["reg", "cls"]])
def test_lambda_is_keyed_by_task_name_not_position(tasks):
    # Before: lambda went to tasks[0], so [reg, cls] silently gave cls the weight 1 - lambda.
    m = model(encoders=["mfcc"], tasks=tasks, weighting="fixed", lam=0.2)
    assert m.weighting.current() == {"w_cls": 0.2, "w_reg": 0.8}
    m = model(encoders=["mfcc"], tasks=tasks, weighting="fixed", lam=0.2, lam_task="reg")
    assert m.weighting.current() == {"w_cls": 0.8, "w_reg": 0.2}
    with pytest.raises(SerError, match="lam_task 'gender'"):
        model(encoders=["mfcc"], tasks=tasks, weighting="fixed", lam=0.2, lam_task="gender")


def test_config_errors_are_clear():
    with pytest.raises(SerError, match="data.feats"):
        model(encoders=["mfcc", "w2v2"])
    with pytest.raises(SerError, match="use_wav"):
        m = model(encoders=["wav"])
        m({k: v for k, v in make_batch().items() if not k.startswith("wav")})
    with pytest.raises(SerError, match="model.tasks"):
        model(tasks=["cls", "gender"])
    with pytest.raises(SerError, match="subsample"):
        model(subsample={"fast": 2})
    with pytest.raises(SerError, match="unknown config keys"):
        build_model({"name": "joint_mtl", "encoder": ["mfcc"]}, INFO)
    with pytest.raises(SerError, match="utt2vad"):
        m = model(encoders=["mfcc"])
        m({k: v for k, v in make_batch().items() if k != "vad"})


def test_registered_and_configurable_per_encoder():
    m = build_model(
        {"name": "joint_mtl", "encoders": ["mfcc", "hub"], "subsample": {"hub": 1, "feat": 2}, **SMALL}, INFO
    )
    assert isinstance(m, JointMTL)
    assert [e.stride for e in m.encoders] == [2, 1]
    # Positions are on one 10 ms axis: mfcc every 2 x 10 ms, hub every 1 x 20 ms.
    assert [e.frame_shift for e in m.encoders] == [2.0, 2.0]


def test_gradnorm_weights_move_and_stay_out_of_the_optimizer():
    m = model(encoders=["mfcc", "stf"], weighting="gradnorm", gradnorm_lr=0.05)
    opt_params = {id(p) for g in make_optimizer(m.parameters(), TrainConfig()).param_groups for p in g["params"]}
    assert id(m.weighting.weights) not in opt_params
    batch = make_batch()
    m.train()
    for _ in range(5):
        out = m(batch)
        out["loss"].backward()
    w = m.weighting.weights.detach()
    assert w.sum().item() == pytest.approx(1.0)
    assert abs(w[0].item() - 0.5) > 0.05
    logs = m.epoch_logs()
    assert {"w_cls", "w_reg", "gnorm_cls", "gnorm_reg"} <= set(logs)


def test_dwa_hook_and_epoch_logs():
    m = model(encoders=["hub"], weighting="dwa", dwa_temperature=2.0)
    history = [
        {"epoch": 1, "train": {"loss_cls": 1.0, "loss_reg": 0.8}},
        {"epoch": 2, "train": {"loss_cls": 0.9, "loss_reg": 0.4}},
    ]
    m.on_epoch_start(3, history)
    e = [math.exp(0.9 / 1.0 / 2), math.exp(0.4 / 0.8 / 2)]
    logs = m.epoch_logs()
    assert logs["w_cls"] == pytest.approx(e[0] / sum(e), abs=1e-5)
    assert logs["layer_weights_hub"] == pytest.approx([1 / 3] * 3, abs=1e-3)


def test_running_cmvn_uses_real_training_frames_only():
    cmvn = RunningCMVN(2)
    x = torch.tensor([[[1.0, 10.0], [3.0, 30.0], [999.0, 999.0]], [[5.0, 50.0], [0.0, 0.0], [0.0, 0.0]]])
    lens = torch.tensor([2, 1])
    y = cmvn(x, lens)
    real = torch.tensor([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0]])
    mean, std = real.mean(0), real.std(0, unbiased=False)
    assert torch.allclose(y[0, :2], (real[:2] - mean) / std, atol=1e-5)
    cmvn.eval()
    cmvn(x * 100, torch.tensor([3, 3]))  # eval: statistics frozen
    assert cmvn.count.item() == 3


class ToyData(Dataset):
    def __init__(self, n=12, seed=0):
        rng = np.random.default_rng(seed)
        self.items = [make_item(i, int(f), rng) for i, f in enumerate(rng.integers(8, 30, size=n))]
        for it in self.items:  # a learnable cue: class shifts the features
            it["mfcc"][:, 0] += 3 * it["emo"]
            it["vad"][:] = (it["emo"] - 1.5) / 1.5

    def lengths(self):
        return [it["mfcc"].shape[0] for it in self.items]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


class Killed(Exception):
    pass


def _fit(tmp, model_obj, kill_at=None):
    if kill_at is not None:  # the process dies as epoch `kill_at` starts, after epoch kill_at-1's checkpoint
        hook = model_obj.on_epoch_start

        def dying(epoch, history):
            if epoch == kill_at:
                raise Killed
            hook(epoch, history)

        model_obj.on_epoch_start = dying
    conf = TrainConfig(max_epochs=3, batch_size=4, lr=5e-3, patience=100, select_metric="ua", seed=0, device="cpu")
    return Trainer(model_obj, conf, tmp, num_classes=4).fit(ToyData(), ToyData(n=8, seed=1))


@pytest.mark.parametrize("scheme", ["dwa", "gradnorm"])
def test_trainer_logs_weights_per_epoch_and_resumes_exactly(tmp_path, scheme):
    kw = {"encoders": ["mfcc", "stf"], "weighting": scheme}
    _fit(tmp_path / "straight", model(**kw))
    with pytest.raises(Killed):
        _fit(tmp_path / "resumed", model(**kw), kill_at=3)
    _fit(tmp_path / "resumed", model(**kw))  # a new process: fresh model, state from checkpoint.last.pt
    straight = json.loads((tmp_path / "straight" / "history.json").read_text())
    resumed = json.loads((tmp_path / "resumed" / "history.json").read_text())
    assert [h["w_cls"] for h in straight] == [h["w_cls"] for h in resumed]
    assert straight[-1]["train"] == resumed[-1]["train"]
    for h in straight:
        assert {"loss_cls", "loss_reg", "w_cls", "w_reg"} <= set(h["train"])
        assert h["w_cls"] + h["w_reg"] == pytest.approx(1.0, abs=1e-5)
    if scheme == "dwa":  # epoch 3's weights come from the per-task losses of epochs 1 and 2
        r = [straight[1]["train"][k] / straight[0]["train"][k] for k in ("loss_cls", "loss_reg")]
        e = [math.exp(x / 2.0) for x in r]
        assert straight[2]["w_cls"] == pytest.approx(e[0] / sum(e), abs=1e-5)
        assert straight[0]["w_cls"] == straight[1]["w_cls"] == 0.5


def test_state_dict_loads_with_weights_only(tmp_path):
    m = model(encoders=["mfcc", "wav"], weighting="gradnorm")
    batch = make_batch()
    for _ in range(2):
        m(batch)["loss"].backward()
    path = tmp_path / "model.pt"
    torch.save(m.state_dict(), path)
    fresh = model(encoders=["mfcc", "wav"], weighting="gradnorm")
    fresh.load_state_dict(torch.load(path, weights_only=True))
    m.eval()
    fresh.eval()
    assert torch.equal(fresh.weighting.weights, m.weighting.weights)
    assert torch.allclose(fresh.predict(batch)["vad"], m.predict(batch)["vad"])
