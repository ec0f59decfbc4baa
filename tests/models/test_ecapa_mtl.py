"""ser.models.ecapa_mtl: the compact ECAPA-TDNN with a gender head and on-the-fly augmentation."""

import pytest
import torch

from ser.models import build_model
from ser.utils import SerError

INFO = {"num_classes": 8, "classes": list("abcdefgh"), "feats": {"fbank": {"dim": 40, "num_layers": 1}}}
SMALL = {"name": "ecapa_mtl", "channels": 16, "blocks": 2, "res2_scale": 4, "mfa_dim": 32, "emb_dim": 16}


def _batch(lens=(90, 70, 50, 30), seed=0):
    g = torch.Generator().manual_seed(seed)
    lens = torch.tensor(lens)
    x = torch.randn(len(lens), int(lens.max()), 40, generator=g) * 3 + 5
    for i, n in enumerate(lens):
        x[i, n:] = 0
    return {
        "utt": [f"u{i}" for i in range(len(lens))],
        "fbank": x,
        "fbank_lens": lens,
        "emo": torch.tensor([0, 3, 5, 7][: len(lens)]),
        "gender": torch.tensor([0, 1, 0, 1][: len(lens)]),
    }


def test_forward_trains_both_tasks_and_predict_gives_logits():
    torch.manual_seed(0)
    model = build_model(dict(SMALL), INFO)
    model.train()
    out = model(_batch())
    assert out["loss"].requires_grad and {"emo_loss", "gender_loss"} <= set(out["logs"])
    out["loss"].backward()
    assert model.gender_head.weight.grad is not None and model.emo_head.weight.grad.abs().sum() > 0
    model.eval()
    pred = model.predict(_batch())
    assert pred["emo_logits"].shape == (4, 8) and torch.isfinite(pred["loss"])


def test_the_2d_stem_strides_time_and_frequency():
    model = build_model({**SMALL, "cnn_channels": 4, "stem_stride": 3}, INFO)
    x = torch.randn(2, 40, 61)
    y, frames = model.cnn(x, torch.tensor([61, 31]))
    assert y.shape == (2, 4 * 10, 21) and frames.tolist() == [21, 11]
    assert model.stride == 1  # the Conv1d stem no longer strides


def test_gender_weight_zero_drops_the_gender_task():
    model = build_model({**SMALL, "gender_weight": 0.0}, INFO)
    assert model.gender_head is None
    model.train()
    assert "gender_loss" not in model(_batch())["logs"]


def test_augmentation_only_in_training_mode():
    torch.manual_seed(0)
    model = build_model(dict(SMALL), INFO)
    batch = _batch()
    model.train()
    x1, f1 = model.features(batch)
    x2, f2 = model.features(batch)
    assert not torch.equal(x1, x2)  # a new speed factor / masks each call
    model.eval()
    e1, g1 = model.features(batch)
    e2, _ = model.features(batch)
    assert torch.equal(e1, e2) and torch.equal(g1, batch["fbank_lens"])


@pytest.mark.parametrize("norm,cnn", [("utt", 0), ("utt_mean", 0), ("batch", 0), ("batch", 4)])
def test_prediction_does_not_depend_on_the_rest_of_the_batch(norm, cnn):
    torch.manual_seed(0)
    model = build_model({**SMALL, "norm": norm, "cnn_channels": cnn}, INFO)
    model.train()
    for _ in range(2):  # moves the BatchNorm running statistics away from their initial values
        model(_batch(seed=1))["loss"].backward()
    model.eval()
    batch = _batch()
    together = model.predict(batch)["emo_logits"]
    for i in range(4):
        n = int(batch["fbank_lens"][i])
        alone = {
            "fbank": batch["fbank"][i : i + 1, :n],
            "fbank_lens": batch["fbank_lens"][i : i + 1],
            "emo": batch["emo"][i : i + 1],
        }
        assert torch.allclose(model.predict(alone)["emo_logits"][0], together[i], atol=1e-4)


def test_per_utterance_norm_ignores_the_level_of_the_input():
    torch.manual_seed(0)
    model = build_model({**SMALL, "norm": "utt"}, INFO).eval()
    batch = _batch()
    louder = dict(batch, fbank=batch["fbank"] + 4.0 * (batch["fbank"] != 0))
    assert torch.allclose(model.predict(batch)["emo_logits"], model.predict(louder)["emo_logits"], atol=1e-4)


def test_config_errors_are_clear():
    with pytest.raises(SerError, match="norm"):
        build_model({**SMALL, "norm": "speaker"}, INFO)
    with pytest.raises(SerError, match="not in data.feats"):
        build_model({**SMALL, "feat": "mfcc"}, INFO)
    with pytest.raises(SerError, match="multiple of res2_scale"):
        build_model({**SMALL, "channels": 18}, INFO)
