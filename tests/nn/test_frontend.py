"""ser.nn.frontend: the raw-waveform conv front end's frame grid and padding independence."""

import pytest
import torch

from ser.nn.frontend import ConvFrontend


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_frame_grid():
    fe = ConvFrontend(dim=8, channels=4)
    assert fe.frame_shift == 160 and fe.receptive_field == 240
    # A frame exists where its whole receptive field fits: 1 + (S - 240) // 160.
    lens = torch.tensor([240, 399, 400, 16000])
    assert fe.output_lengths(lens).tolist() == [1 + (int(s) - 240) // 160 for s in lens]


def test_output_does_not_depend_on_padding_or_batch():
    torch.manual_seed(0)
    fe = ConvFrontend(dim=8, channels=4).eval()
    wav = torch.randn(2, 8000)
    lens = torch.tensor([8000, 5000])
    wav[1, 5000:] = 0.0
    y, ylens = fe(wav, lens)
    assert y.shape == (2, int(ylens.max()), 8)
    assert torch.all(y[1, ylens[1] :] == 0)
    alone, alone_lens = fe(wav[1:, :5000], lens[1:])
    assert alone_lens.item() == ylens[1].item()
    assert torch.allclose(alone[0], y[1, : ylens[1]], atol=1e-5)
    noisy = wav.clone()
    noisy[1, 5000:] = 3.0  # other padding content
    assert torch.allclose(fe(noisy, lens)[0], y, atol=1e-5)


def test_level_normalisation():
    torch.manual_seed(0)
    fe = ConvFrontend(dim=8, channels=4).eval()
    wav = torch.randn(1, 4000)
    lens = torch.tensor([4000])
    assert torch.allclose(fe(wav, lens)[0], fe(10 * wav, lens)[0], atol=1e-4)


def test_shorter_than_one_frame():
    fe = ConvFrontend(dim=8, channels=4)
    y, lens = fe(torch.randn(1, 100), torch.tensor([100]))
    assert lens.tolist() == [0] and torch.all(y == 0)
