"""Partial fine-tuning in the shared upstream code (ser.features.upstream): only the top N transformer
layers train; the frozen bottom, run once (`forward_frozen`) and continued by `forward_top`, gives
what the whole upstream gives; and batches never change an utterance's features (`exact_batches`)."""

import pytest
import torch

from ser.features.tiny import make_tiny_whisper
from ser.features.upstream import Upstream
from ser.features.whisper import encoder_frames
from ser.utils import SerError

from conftest import save_tiny_s3prl_hubert

WAV_LENS = [16000, 11000, 7050]


@pytest.fixture(scope="module")
def whisper3(tmp_path_factory):
    """A random 3-layer Whisper, so that a split leaves layers on both sides."""
    return make_tiny_whisper(tmp_path_factory.mktemp("whisper3") / "model", layers=3)


@pytest.fixture(scope="module")
def hubert3(tmp_path_factory):
    from ser.features.tiny import make_tiny_hubert

    return make_tiny_hubert(tmp_path_factory.mktemp("hubert3") / "model", num_layers=3)


@pytest.fixture(scope="module")
def fairseq_hubert3(tmp_path_factory):
    """A random 3-layer HuBERT in s3prl's converted fairseq format, pre-LN (layer_norm_first), so the
    encoder's final layer norm belongs to the top."""
    return save_tiny_s3prl_hubert(tmp_path_factory.mktemp("fairseq_hubert3") / "tiny.pt", layer_norm_first=True)


def batch():
    g = torch.Generator().manual_seed(0)
    lens = torch.tensor(WAV_LENS)
    wav = torch.randn(len(lens), int(lens.max()), generator=g) * 0.1
    for i, n in enumerate(WAV_LENS):
        wav[i, n:] = 0.0
    return wav, lens


@pytest.fixture(scope="module")
def families(whisper3, hubert3, fairseq_hubert3):
    return {"whisper_custom": whisper3, "hf_hubert_custom": hubert3, "hubert_local": fairseq_hubert3}


@pytest.mark.parametrize("name", ["whisper_custom", "hf_hubert_custom", "hubert_local"])
def test_only_the_top_layers_get_gradients(name, families):
    up = Upstream(name, str(families[name]), trainable=True, trainable_layers=1, exact_batches=True)
    up.train()
    top = {id(p) for m in up.stack.top_modules(1) for p in m.parameters()}
    assert up.stack.layers[-1] in up.stack.top_modules(1) and up.stack.layers[0] not in up.stack.top_modules(1)
    assert not up.stack.layers[0].training and up.stack.layers[-1].training  # frozen parts: no dropout
    hs, _ = up(*batch())
    hs[-1].pow(2).mean().backward()
    for pname, p in up.named_parameters():
        if id(p) in top:
            assert p.requires_grad and p.grad is not None and p.grad.abs().sum() > 0, pname
        else:
            assert not p.requires_grad and p.grad is None, pname


@pytest.mark.parametrize("name", ["whisper_custom", "hf_hubert_custom", "hubert_local"])
@pytest.mark.parametrize("n", [1, 2])
def test_cached_bottom_then_top_equals_the_whole_upstream(name, n, families):
    up = Upstream(name, str(families[name]), trainable=True, trainable_layers=n, exact_batches=True).eval()
    wav, lens = batch()
    with torch.no_grad():
        full, full_lens = up(wav, lens)
        h, lower, cache_lens = up.forward_frozen(wav, lens)
        top, _ = up.forward_top(h, cache_lens)  # the batch, padded as training pads it
    k = up.first_trainable
    assert k == up.num_layers - 1 - n and len(lower) == k and len(top) == n
    assert cache_lens.tolist() == full_lens.tolist()
    for j, t in enumerate(top):
        for i, f in enumerate(full_lens.tolist()):
            torch.testing.assert_close(t[i, :f], full[k + 1 + j][i, :f], atol=1e-5, rtol=1e-5)
            assert not t[i, f:].any()  # padding stays zero, as for an utterance run alone


def test_frames_are_the_transformers_own(families):
    """Under partial fine-tuning HuBERT's frames are its conv output's, without s3prl's repeated tail."""
    wav, lens = batch()
    up = Upstream("hf_hubert_custom", str(families["hf_hubert_custom"]), trainable=True, trainable_layers=1)
    _, got = up(wav, lens)
    assert got.tolist() == [(n - 400) // 320 + 1 for n in WAV_LENS]
    whisper = Upstream("whisper_custom", str(families["whisper_custom"]), trainable=True, trainable_layers=1)
    _, got = whisper(wav, lens)
    assert got.tolist() == [encoder_frames(n) for n in WAV_LENS]


def test_exact_batches_run_a_padding_dependent_upstream_one_by_one(families):
    """HuBERT's GroupNorm front end normalises over the padded length: in a padded batch the shorter
    utterances' features change. With exact_batches they are what each gives alone."""
    wav, lens = batch()
    plain = Upstream("hf_hubert_custom", str(families["hf_hubert_custom"]))
    exact = Upstream("hf_hubert_custom", str(families["hf_hubert_custom"]), exact_batches=True)
    assert exact.one_by_one and plain.batch_dependence() > 0.1
    assert not Upstream("whisper_custom", str(families["whisper_custom"]), exact_batches=True).one_by_one
    hp, _ = plain(wav, lens)
    he, le = exact(wav, lens)
    i, n = 2, WAV_LENS[2]
    alone, la = plain(wav[i : i + 1, :n], lens[i : i + 1])
    f = int(la[0])
    assert int(le[i]) == f
    torch.testing.assert_close(he[-1][i, :f], alone[-1][0], atol=1e-5, rtol=1e-5)
    assert (hp[-1][i, :f] - alone[-1][0]).abs().max() > 0.1  # what padded batches used to give


def test_fingerprint_covers_the_frozen_weights_only(families):
    up = Upstream("whisper_custom", str(families["whisper_custom"]), trainable=True, trainable_layers=1)
    before = up.frozen_fingerprint()
    with torch.no_grad():
        up.stack.layers[-1].fc1.weight.add_(1.0)  # trainable: the cache stays valid
        up.model.enable_masking()
        assert up.frozen_fingerprint() == before
        up.stack.layers[0].fc1.weight.add_(1.0)  # frozen: the cache is stale
    assert up.frozen_fingerprint() != before


def test_unsupported_settings_are_clear_errors(families, tmp_path):
    from s3prl.upstream.wavlm.WavLM import WavLM, WavLMConfig

    with pytest.raises(SerError, match=r"trainable_layers must be an integer in 1\.\.3"):
        Upstream("whisper_custom", str(families["whisper_custom"]), trainable=True, trainable_layers=4)
    with pytest.raises(SerError, match="needs a trainable upstream"):
        Upstream("whisper_custom", str(families["whisper_custom"]), trainable_layers=1)
    with pytest.raises(SerError, match="forward_top needs trainable_layers"):
        up = Upstream("whisper_custom", str(families["whisper_custom"]), trainable=True)
        up.forward_top(torch.zeros(1, 3, 32), torch.tensor([3]))
    with pytest.raises(SerError, match="unpadded input"):
        up = Upstream("whisper_custom_padded", str(families["whisper_custom"]), trainable=True, trainable_layers=1)
        up.forward_top(torch.zeros(1, 3, 32), torch.tensor([3]))
    cfg = dict(
        encoder_layers=2,
        encoder_embed_dim=48,
        encoder_ffn_embed_dim=96,
        encoder_attention_heads=2,
        conv_pos=16,
        conv_pos_groups=4,
        conv_feature_layers="[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2",
    )
    torch.save({"cfg": cfg, "model": WavLM(WavLMConfig(cfg)).state_dict()}, tmp_path / "wavlm.pt")
    with pytest.raises(SerError, match="WavLM"):
        Upstream("wavlm_local", str(tmp_path / "wavlm.pt"), trainable=True, trainable_layers=1)
