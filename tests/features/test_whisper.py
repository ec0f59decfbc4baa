"""The Whisper encoder upstream on a tiny random Whisper saved by the test: layers, frame rate,
padded and unpadded input, windows over 30 s, the log-mel against transformers' feature extractor."""

import numpy as np
import pytest
import torch

from ser.features.upstream import Upstream
from ser.features.whisper import encoder_frames, log_mel, mel_filters, parse_name, resolve_weights
from ser.utils import SerError


def test_names():
    assert parse_name("whisper_base") == ("base", False)
    assert parse_name("whisper_large_v3_padded") == ("large_v3", True)
    assert parse_name("whisper_huge") is None and parse_name("hubert") is None


def test_layers_frame_rate_and_lengths(tiny_whisper):
    up = Upstream("whisper_custom", str(tiny_whisper))
    assert (up.num_layers, up.hidden_size, up.downsample_rate) == (3, 32, 320)
    wavs = torch.randn(2, 16000) * 0.1
    hs, lens = up(wavs, torch.tensor([16000, 8001]))
    assert len(hs) == 3 and hs[0].shape == (2, 50, 32)
    assert lens.tolist() == [50, 25] == [encoder_frames(16000), encoder_frames(8001)]


def test_padded_keeps_real_frames_and_matches_transformers(tiny_whisper):
    """Padded input is Whisper's own: the transformers encoder on the feature extractor's 30 s
    log-mel gives the same frames, of which only those of the real audio are kept."""
    from transformers import WhisperFeatureExtractor, WhisperModel

    wav = (torch.randn(24000) * 0.1).numpy()
    up = Upstream("whisper_custom_padded", str(tiny_whisper))
    hs, lens = up(torch.from_numpy(wav)[None], torch.tensor([24000]))
    assert lens.tolist() == [75]
    feats = WhisperFeatureExtractor.from_pretrained(tiny_whisper)(wav, sampling_rate=16000, return_tensors="pt")
    enc = WhisperModel.from_pretrained(tiny_whisper).get_encoder().eval()
    with torch.no_grad():
        ref = enc(feats.input_features).last_hidden_state[0, :75]
    torch.testing.assert_close(hs[-1][0], ref, atol=2e-3, rtol=1e-3)


def test_unpadded_differs_from_padded_but_has_same_shape(tiny_whisper):
    wav = torch.randn(1, 24000) * 0.1
    a, la = Upstream("whisper_custom", str(tiny_whisper))(wav, torch.tensor([24000]))
    b, lb = Upstream("whisper_custom_padded", str(tiny_whisper))(wav, torch.tensor([24000]))
    assert la.tolist() == lb.tolist() and a[-1].shape == b[-1].shape
    assert not torch.allclose(a[-1], b[-1], atol=1e-3)  # attention no longer sees 30 s of padding


def test_batched_equals_one_by_one(tiny_whisper):
    up = Upstream("whisper_custom", str(tiny_whisper))
    lens = [16000, 9000, 3211]
    wavs = [torch.randn(n) * 0.1 for n in lens]
    batch = torch.nn.utils.rnn.pad_sequence(wavs, batch_first=True)
    hb, lb = up(batch, torch.tensor(lens))
    for i, w in enumerate(wavs):
        hs, ls = up(w[None], torch.tensor([len(w)]))
        assert lb[i] == ls[0]
        for layer in range(up.num_layers):
            torch.testing.assert_close(hb[layer][i, : ls[0]], hs[layer][0], atol=1e-4, rtol=1e-4)


def test_audio_over_30s_goes_in_windows(tiny_whisper):
    up = Upstream("whisper_custom", str(tiny_whisper))
    n = 30 * 16000 + 16000  # 31 s: a full window and a 1 s one
    wav = torch.randn(1, n) * 0.1
    hs, lens = up(wav, torch.tensor([n]))
    assert lens.tolist() == [1500 + 50] and hs[-1].shape[1] == 1550
    tail, _ = up(wav[:, 30 * 16000 :], torch.tensor([16000]))
    torch.testing.assert_close(hs[-1][0, 1500:], tail[-1][0], atol=1e-4, rtol=1e-4)
    padded = Upstream("whisper_custom_padded", str(tiny_whisper))
    hp, lp = padded(wav, torch.tensor([n]))
    assert lp.tolist() == [1550]


def test_log_mel_matches_whisper_feature_extractor():
    from transformers import WhisperFeatureExtractor

    wav = (np.random.default_rng(0).standard_normal(16000 * 30) * 0.1).astype(np.float32)
    ref = WhisperFeatureExtractor(feature_size=80)(wav, sampling_rate=16000, return_tensors="np").input_features[0]
    ours = log_mel(torch.from_numpy(wav), 80, mel_filters(80)).numpy()
    assert ours.shape == ref.shape == (80, 3000)
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_missing_weights_are_named(tmp_path, monkeypatch):
    with pytest.raises(SerError, match="is not a folder"):
        resolve_weights("whisper_custom", str(tmp_path / "nothing"))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(SerError, match="lacks model weights"):
        resolve_weights("whisper_custom", str(tmp_path))
    with pytest.raises(SerError, match="needs --upstream_path"):
        resolve_weights("whisper_custom", None)
    monkeypatch.setenv("SER_WHISPER_DIR", str(tmp_path / "none_here"))
    assert resolve_weights("whisper_small", None) == "openai/whisper-small"
    with pytest.raises(SerError, match="get_whisper_base.sh"):
        Upstream("whisper_small")  # offline: the hub id cannot be fetched


def test_too_short_clip_is_an_error(tiny_whisper):
    up = Upstream("whisper_custom", str(tiny_whisper))
    with pytest.raises(SerError, match="20 ms"):
        up(torch.randn(1, 200), torch.tensor([200]))
