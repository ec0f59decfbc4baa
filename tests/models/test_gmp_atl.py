"""GMP-ATL phase models on tiny random HuBERTs (transformers and fairseq-style s3prl families)."""

import pytest
import torch
import torch.nn.functional as F

from ser.features.upstream import Upstream
from ser.features.upstream_masking import MaskableUpstream, conv_output_lengths, prepare_for_finetuning
from ser.models import build_model
from ser.utils import SerError

from conftest import save_tiny_s3prl_hubert

INFO = {"num_classes": 4, "classes": ["neu", "hap", "ang", "sad"], "feats": {"km8": {}, "km16": {}}}
WAV_LENS = [16000, 11000, 7050]


@pytest.fixture(scope="module")
def fairseq_hubert(tmp_path_factory):
    """A random 3-layer HuBERT in s3prl's converted fairseq format (loadable as hubert_local)."""
    return save_tiny_s3prl_hubert(tmp_path_factory.mktemp("fairseq_hubert") / "tiny_hubert.pt")


@pytest.fixture(scope="module")
def wavlm_tiny(tmp_path_factory):
    """A random 2-layer WavLM in the checkpoint format s3prl's wavlm_local reads."""
    from s3prl.upstream.wavlm.WavLM import WavLM, WavLMConfig

    torch.manual_seed(0)
    cfg = dict(
        encoder_layers=2,
        encoder_embed_dim=48,
        encoder_ffn_embed_dim=96,
        encoder_attention_heads=2,
        conv_pos=16,
        conv_pos_groups=4,
        conv_feature_layers="[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2",
    )
    path = tmp_path_factory.mktemp("wavlm") / "tiny_wavlm.pt"
    torch.save({"cfg": cfg, "model": WavLM(WavLMConfig(cfg)).state_dict()}, path)
    return path


def make_batch(seed=0, scales=(8, 16)):
    g = torch.Generator().manual_seed(seed)
    lens = torch.tensor(WAV_LENS)
    wav = torch.randn(len(lens), int(lens.max()), generator=g) * 0.1
    for i, n in enumerate(lens.tolist()):
        wav[i, n:] = 0.0
    batch = {
        "utt": [f"u{i}" for i in range(len(lens))],
        "wav": wav,
        "wav_lens": lens,
        "emo": torch.tensor([0, 2, 3]),
        "gender": torch.tensor([0, 1, -1]),
    }
    frames = (lens - 1) // 320 + 1  # s3prl's frame count, what the label stores hold
    for k in scales:
        batch[f"km{k}"] = torch.randint(0, k, (len(lens), int(frames.max())), generator=g, dtype=torch.int32)
        batch[f"km{k}_lens"] = frames.clone()
    return batch


def phase1(tiny_hubert, **kw):
    conf = {
        "name": "gmp_atl_phase1",
        "upstream": "hf_hubert_custom",
        "upstream_path": str(tiny_hubert),
        "lstm_hidden": 16,
        "proj_hidden": 16,
        "proj_dim": 8,
        **kw,
    }
    return build_model(conf, INFO)


def phase2(tiny_hubert, **kw):
    conf = {
        "name": "gmp_atl_phase2",
        "upstream": "hf_hubert_custom",
        "upstream_path": str(tiny_hubert),
        "scales": [8, 16],
        "proj_hidden": 16,
        **kw,
    }
    return build_model(conf, INFO)


def test_phase1_loss_is_alpha_mix_and_only_the_transformer_trains(tiny_hubert):
    torch.manual_seed(0)
    m = phase1(tiny_hubert, alpha=0.9, dropout=0.0)
    m.eval()  # no dropout, so the loss can be recomputed by hand
    batch = make_batch()
    out = m(batch)
    z = m.embed(batch)
    ce_emo = F.cross_entropy(m.emo_head(z), batch["emo"])
    ce_gen = F.cross_entropy(m.gender_head(z)[:2], batch["gender"][:2])  # the unknown gender is ignored
    assert out["loss"].item() == pytest.approx((0.9 * ce_emo + 0.1 * ce_gen).item(), rel=1e-5)
    out["loss"].backward()
    core = m.upstream.model.upstream.model
    assert all(p.grad is None for p in core.feature_extractor.parameters()), "conv features must stay frozen"
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in core.encoder.parameters())
    assert m.predict(batch)["emo_logits"].shape == (3, 4)


def test_phase1_frozen_upstream_gets_no_gradient(tiny_hubert):
    m = phase1(tiny_hubert, finetune_upstream=False)
    m(make_batch())["loss"].backward()
    assert all(p.grad is None for p in m.upstream.parameters())
    assert m.emo_head.weight.grad is not None


def test_phase2_predicts_masked_frames_only(tiny_hubert):
    m = phase2(tiny_hubert)
    m.eval()
    batch = make_batch()
    with torch.no_grad():
        base = m.predict(batch)["loss"].item()
        # recover the mask predict() draws (seeded by the utterance ids)
        import zlib

        from ser.nn.masking import span_mask

        gen = torch.Generator().manual_seed(zlib.crc32(" ".join(batch["utt"]).encode()))
        conv = m.masker.conv_lengths(batch["wav_lens"])
        mask = span_mask(conv, int(conv.max()), 0.08, 10, 2, gen)
        assert mask.any() and (~mask).any()
        changed = dict(batch)
        for k in (8, 16):
            lab = batch[f"km{k}"].clone()
            t = mask.shape[1]
            lab[:, :t][~mask] = (lab[:, :t][~mask] + 1) % k  # unmasked frames only
            lab[:, t:] = (lab[:, t:] + 1) % k  # s3prl's repeated tail frames
            changed[f"km{k}"] = lab
        assert m.predict(changed)["loss"].item() == pytest.approx(base, rel=1e-6)
        changed["km8"] = batch["km8"].clone()
        changed["km8"][:, : mask.shape[1]][mask] = (changed["km8"][:, : mask.shape[1]][mask] + 3) % 8
        assert m.predict(changed)["loss"].item() != pytest.approx(base, rel=1e-6)
    m.train()
    out = m(batch)
    assert {"ce_k8", "ce_k16", "acc_k8", "masked_frac"} <= set(out["logs"])
    assert out["loss"].item() == pytest.approx(out["logs"]["ce_k8"] + out["logs"]["ce_k16"], rel=1e-5)
    out["loss"].backward()
    assert m.masker.mask_embedding.grad is not None


def test_phase2_rejects_labels_shorter_than_the_frames(tiny_hubert):
    m = phase2(tiny_hubert)
    batch = make_batch()
    batch["km16_lens"] = batch["km16_lens"] - 5
    with pytest.raises(SerError, match="km16.*u0"):
        m(batch)


def test_phase2_needs_its_label_stores(tiny_hubert):
    with pytest.raises(SerError, match="km64"):
        phase2(tiny_hubert, scales=[8, 64])
    swapped = {**INFO, "feats": {"km8": {"k": 16}, "km16": {"k": 8}}}
    with pytest.raises(SerError, match="k = 16 codebook, not 8"):
        build_model(
            {
                "name": "gmp_atl_phase2",
                "upstream": "hf_hubert_custom",
                "upstream_path": str(tiny_hubert),
                "scales": [8, 16],
            },
            swapped,
        )


def test_phase3_starts_from_the_phase2_upstream(tiny_hubert, tmp_path):
    torch.manual_seed(0)
    p2 = phase2(tiny_hubert)
    with torch.no_grad():
        for p in p2.upstream.parameters():
            p.add_(0.01)  # make it differ from the random tiny model on disk
    torch.save(p2.state_dict(), tmp_path / "p2.pt")
    conf = {
        "name": "gmp_atl_phase3",
        "upstream": "hf_hubert_custom",
        "upstream_path": str(tiny_hubert),
        "init_from": str(tmp_path / "p2.pt"),
        "lstm_hidden": 16,
        "proj_hidden": 16,
        "proj_dim": 8,
    }
    p3 = build_model(conf, INFO)
    want = p2.upstream.state_dict()
    for k, v in p3.upstream.state_dict().items():
        assert torch.equal(v, want[k]), k
    from ser.losses.margin import AMSoftmax, SoftmaxHead

    assert isinstance(p3.head, AMSoftmax) and p3.head.margin == 0.2 and p3.head.scale == 30.0
    batch = make_batch()
    p3(batch)["loss"].backward()
    assert p3.predict(batch)["emo_logits"].shape == (3, 4)
    ce = build_model({**conf, "loss": "ce"}, INFO)
    assert isinstance(ce.head, SoftmaxHead)


def test_init_from_a_checkpoint_of_another_upstream_is_a_clear_error(tiny_hubert, fairseq_hubert, tmp_path):
    p1 = phase1(tiny_hubert)
    torch.save(p1.state_dict(), tmp_path / "p1.pt")
    with pytest.raises(SerError, match="lacks"):
        build_model(
            {
                "name": "gmp_atl_phase3",
                "upstream": "hubert_local",
                "upstream_path": str(fairseq_hubert),
                "init_from": str(tmp_path / "p1.pt"),
            },
            INFO,
        )
    with pytest.raises(SerError, match="not found"):
        phase2(tiny_hubert, init_from=str(tmp_path / "nothing.pt"))


@pytest.mark.parametrize("name", ["hf_hubert_custom", "hubert_local", "wavlm_local"])
def test_masking_adapter_on_each_family(name, tiny_hubert, fairseq_hubert, wavlm_tiny):
    path = {"hf_hubert_custom": tiny_hubert, "hubert_local": fairseq_hubert, "wavlm_local": wavlm_tiny}[name]
    up = Upstream(name, str(path), trainable=True)
    prepare_for_finetuning(up)
    masker = MaskableUpstream(up)
    assert masker.family == ("transformers" if name.startswith("hf_") else "fairseq")
    up.eval()
    lens = torch.tensor(WAV_LENS)
    wavs = make_batch()["wav"]
    with torch.no_grad():
        plain, s3prl_lens = up(wavs, lens)
        same, _, conv_lens, none = masker.masked_forward(
            wavs, lens, lambda cl, t: torch.zeros(len(cl), t, dtype=torch.bool)
        )
        assert not none.any() and torch.allclose(plain[-1], same[-1], atol=1e-5)
        masked, _, _, mask = masker.masked_forward(wavs, lens, lambda cl, t: torch.ones(len(cl), t, dtype=torch.bool))
        assert mask.all() and not torch.allclose(plain[-1], masked[-1], atol=1e-3)
    # HuBERT's conv stack: floor((n - 400) / 320) + 1 frames, while s3prl reports (n - 1) // 320 + 1
    assert conv_lens.tolist() == [(n - 400) // 320 + 1 for n in WAV_LENS]
    assert s3prl_lens.tolist() == [(n - 1) // 320 + 1 for n in WAV_LENS]
    assert ((s3prl_lens - conv_lens) >= 1).all() and ((s3prl_lens - conv_lens) <= 2).all()
    assert conv_output_lengths(masker.core.feature_extractor, torch.tensor([400, 399])).tolist() == [1, 0]


def test_a_feature_only_upstream_cannot_be_masked_or_trained():
    up = Upstream("fbank", None, trainable=False)
    with pytest.raises(SerError, match="trainable transformer"):
        MaskableUpstream(up)
    with pytest.raises(SerError, match="no trainable transformer"):
        build_model({"name": "gmp_atl_phase2", "upstream": "fbank", "scales": [8, 16]}, INFO)


def test_unfrozen_conv_stack_of_a_fairseq_upstream_gets_gradients(fairseq_hubert):
    # s3prl's fairseq experts run the conv stack without gradients; freeze_cnn: false must undo that
    m = build_model(
        {
            "name": "gmp_atl_phase1",
            "upstream": "hubert_local",
            "upstream_path": str(fairseq_hubert),
            "freeze_cnn": False,
            "lstm_hidden": 8,
            "proj_hidden": 8,
            "proj_dim": 8,
        },
        INFO,
    )
    m(make_batch())["loss"].backward()
    conv = m.upstream.model.upstream.model.feature_extractor
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in conv.parameters())


# ---- Whisper-shaped upstream, partial fine-tuning and its frozen-layer cache ----


def whisper_batch(scales=(8, 16)):
    """make_batch with label stores as long as Whisper's exact frame counts (no repeated tail)."""
    from ser.features.whisper import encoder_frames

    batch = make_batch(scales=scales)
    frames = torch.tensor([encoder_frames(n) for n in WAV_LENS])
    for k in scales:
        batch[f"km{k}"] = (
            batch[f"km{k}"][:, : int(frames.max())]
            if batch[f"km{k}"].shape[1] >= int(frames.max())
            else torch.randint(0, k, (len(WAV_LENS), int(frames.max())), dtype=torch.int32)
        )
        batch[f"km{k}_lens"] = frames.clone()
    return batch


def test_whisper_masking_replaces_conv_frames_before_the_positions(tiny_whisper):
    """The mask embedding takes the place of the masked frames' conv output; their positional
    embedding is still added (HuBERT masks its projected conv features before its positional conv)."""
    up = Upstream("whisper_custom", str(tiny_whisper), trainable=True)
    masker = MaskableUpstream(up)
    assert masker.family == "whisper" and masker.mask_embedding.shape == (32,)
    enc = up.model.encoder
    seen = {}  # the first layer's input: the transformer input
    layer0 = enc.layers[0]
    hook = layer0.register_forward_pre_hook(lambda m, args: seen.update(x=args[0].detach().clone()))
    up.eval()
    wavs, lens = make_batch()["wav"], torch.tensor(WAV_LENS)

    def no_mask(conv_lens, t):
        return torch.zeros(len(conv_lens), t, dtype=torch.bool)

    with torch.no_grad():
        plain, _ = up(wavs, lens)
        seen.clear()
        same, _, conv_lens, _ = masker.masked_forward(wavs, lens, no_mask)
        torch.testing.assert_close(plain[-1], same[-1])
        seen.clear()
        mask = torch.zeros(3, int(conv_lens.max()), dtype=torch.bool)
        mask[0, 3:8] = True
        mask[2, 0] = True
        masked, lens_out, _, used = masker.masked_forward(wavs, lens, lambda cl, t: mask.clone())
    hook.remove()
    assert torch.equal(used, mask) and lens_out.tolist() == conv_lens.tolist()
    x, pos = seen["x"], enc.embed_positions.weight
    emb = masker.mask_embedding.detach()
    for b, t in mask.nonzero().tolist():
        torch.testing.assert_close(x[b, t], emb + pos[t])
    n1 = int(conv_lens[1])
    torch.testing.assert_close(x[1, :n1], plain[0][1, :n1])  # an unmasked utterance is unchanged
    assert not torch.allclose(plain[-1][0], masked[-1][0], atol=1e-4)


def test_whisper_phase2_trains_top_layers_and_mask_embedding(tiny_whisper, tmp_path):
    """Phase 2 on Whisper with partial fine-tuning: masking at the transformer input, exact frame
    counts for the labels, gradients only for the top layer, the mask embedding and the heads; the
    mask embedding is optional when loading a phase-1 checkpoint (Whisper has none before)."""
    p1 = build_model(
        {
            "name": "gmp_atl_phase1",
            "upstream": "whisper_custom",
            "upstream_path": str(tiny_whisper),
            "trainable_layers": 1,
            "lstm_hidden": 8,
            "proj_hidden": 8,
            "proj_dim": 8,
        },
        INFO,
    )
    torch.save(p1.state_dict(), tmp_path / "p1.pt")
    m = build_model(
        {
            "name": "gmp_atl_phase2",
            "upstream": "whisper_custom",
            "upstream_path": str(tiny_whisper),
            "scales": [8, 16],
            "proj_hidden": 8,
            "trainable_layers": 1,
            "init_from": str(tmp_path / "p1.pt"),
        },
        INFO,
    )
    m.train()
    batch = whisper_batch()
    out = m(batch)
    assert 0.2 < out["logs"]["masked_frac"] < 0.9
    out["loss"].backward()
    top = {id(p) for mod in m.upstream.stack.top_modules(1) for p in mod.parameters()}  # layer 2 and the final norm
    for name, p in m.upstream.named_parameters():
        wants = id(p) in top or name.endswith("mask_embed")
        assert (p.grad is not None and p.grad.abs().sum() > 0) == wants, name
    short = dict(batch, km8_lens=batch["km8_lens"] - 1)
    with pytest.raises(SerError, match="km8.*u0"):
        m(short)


def frozen_meta(up, **changes):
    return {
        "kind": "upstream_frozen",
        "upstream": up.name,
        "trainable_layers": up.trainable_layers,
        "layer": up.first_trainable,
        "fingerprint": up.frozen_fingerprint(),
        "store": "dump/x/feats.scp",
        **changes,
    }


def test_phases_1_and_3_read_the_frozen_cache(tiny_whisper, tmp_path):
    """A model reading the cached frozen bottom gives what it gives on the audio; a cache of other
    weights, of another split, or a layer below the cache are refused."""
    conf = {
        "name": "gmp_atl_phase1",
        "upstream": "whisper_custom",
        "upstream_path": str(tiny_whisper),
        "trainable_layers": 1,
        "lstm_hidden": 8,
        "proj_hidden": 8,
        "proj_dim": 8,
        "dropout": 0.0,
    }
    torch.manual_seed(0)
    audio = build_model(conf, INFO)
    info = {**INFO, "feats": {"frozen": frozen_meta(audio.upstream)}}
    torch.manual_seed(0)
    cached = build_model(conf, info)
    assert audio.cache is None and cached.cache == "frozen"
    batch = make_batch()
    h, _, lens = audio.upstream.forward_frozen(batch["wav"], batch["wav_lens"])
    cbatch = {k: v for k, v in batch.items() if not k.startswith("wav")}
    cbatch.update(frozen=h.half().float(), frozen_lens=lens)  # the store is float16
    audio.eval()
    cached.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            audio.predict(batch)["emo_logits"], cached.predict(cbatch)["emo_logits"], atol=2e-3, rtol=1e-3
        )
    cached.train()
    cached(cbatch)["loss"].backward()
    assert all(p.grad is None for p in cached.upstream.stack.layers[0].parameters())

    torch.save(audio.state_dict(), tmp_path / "p1.pt")
    p3 = {
        "name": "gmp_atl_phase3",
        "upstream": "whisper_custom",
        "upstream_path": str(tiny_whisper),
        "trainable_layers": 1,
        "lstm_hidden": 8,
        "proj_hidden": 8,
        "proj_dim": 8,
        "init_from": str(tmp_path / "p1.pt"),
    }
    assert build_model(p3, info).cache == "frozen"
    with torch.no_grad():
        audio.upstream.stack.layers[0].fc1.weight.add_(0.1)  # a phase that trained the "frozen" layers
    torch.save(audio.state_dict(), tmp_path / "p1_changed.pt")
    with pytest.raises(SerError, match="weights differ"):
        build_model({**p3, "init_from": str(tmp_path / "p1_changed.pt")}, info)
    with pytest.raises(SerError, match="trainable_layers 2, not 1"):
        build_model(conf, {**INFO, "feats": {"frozen": frozen_meta(cached.upstream, trainable_layers=2)}})
    with pytest.raises(SerError, match="reads below the cached layer 1"):
        build_model({**conf, "input_layer": 0}, info)
    with pytest.raises(SerError, match="contradicts freeze_cnn"):
        build_model({**conf, "freeze_cnn": False}, info)
