import numpy as np
import pytest
import torch

from ser.features.upstream import Upstream, select_layer
from ser.nn.layer_sum import WeightedLayerSum
from ser.utils import SerError


def test_select_layer_negative_and_range():
    assert select_layer(-1, 13) == 12 and select_layer(-3, 13) == 10 and select_layer(0, 13) == 0
    with pytest.raises(SerError, match="out of range"):
        select_layer(-14, 13)


def test_tiny_hubert_through_s3prl(tiny_hubert):
    up = Upstream("hf_hubert_custom", str(tiny_hubert), trainable=True)
    assert (up.num_layers, up.hidden_size, up.downsample_rate) == (3, 64, 320)
    wavs = torch.randn(2, 16000)
    hs, lens = up(wavs, torch.tensor([16000, 8000]))
    assert len(hs) == 3 and hs[0].shape == (2, 50, 64)
    assert lens.tolist() == [50, 25]
    hs[-1].sum().backward()
    assert any(p.grad is not None for p in up.parameters())


def test_frozen_upstream_has_no_grad_and_stays_in_eval(tiny_hubert):
    up = Upstream("hf_hubert_custom", str(tiny_hubert), trainable=False)
    up.train()
    assert not up.model.training
    hs, _ = up(torch.randn(1, 8000), torch.tensor([8000]))
    assert not hs[-1].requires_grad


def test_feature_only_upstream_cannot_train():
    with pytest.raises(SerError, match="no trainable transformer"):
        Upstream("fbank", trainable=True)


def test_unknown_and_missing_checkpoint_are_clear(tmp_path):
    with pytest.raises(SerError, match="unknown s3prl upstream"):
        Upstream("not_an_upstream")
    with pytest.raises(SerError, match="does not exist"):
        Upstream("hf_hubert_custom", str(tmp_path / "nothing"))


def test_weighted_layer_sum_starts_uniform():
    layers = [torch.full((1, 2, 3), float(i)) for i in range(4)]
    ws = WeightedLayerSum(4)
    np.testing.assert_allclose(ws(layers).detach().numpy(), np.full((1, 2, 3), 1.5))
    stacked = torch.stack(layers, dim=2)
    assert torch.equal(ws(stacked), ws(layers))
