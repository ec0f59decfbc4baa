"""GMP-ATL phase models on tiny random HuBERTs (transformers and fairseq-style s3prl families)."""

import pytest
import torch
import torch.nn.functional as F

from ser.features.upstream import Upstream
from ser.features.upstream_masking import MaskableUpstream, conv_output_lengths, prepare_for_finetuning
from ser.models import build_model
from ser.utils import SerError

INFO = {"num_classes": 4, "classes": ["neu", "hap", "ang", "sad"], "feats": {"km8": {}, "km16": {}}}
WAV_LENS = [16000, 11000, 7050]


@pytest.fixture(scope="module")
def fairseq_hubert(tmp_path_factory):
    """A random 3-layer HuBERT in s3prl's converted fairseq format (loadable as hubert_local)."""
    from s3prl.upstream.hubert.hubert_model import HubertConfig, HubertModel, HubertPretrainingConfig
    from s3prl.upstream.utils import merge_with_parent

    torch.manual_seed(0)
    model_cfg = dict(label_rate=50, encoder_layers=3, encoder_embed_dim=48, encoder_ffn_embed_dim=96,
                     encoder_attention_heads=2, conv_pos=16, conv_pos_groups=4, final_dim=16,
                     conv_feature_layers="[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2")
    task_cfg = dict(sample_rate=16000, normalize=False, label_rate=50)
    model = HubertModel(merge_with_parent(HubertConfig, model_cfg),
                        merge_with_parent(HubertPretrainingConfig, task_cfg), [None])
    path = tmp_path_factory.mktemp("fairseq_hubert") / "tiny_hubert.pt"
    torch.save({"task_cfg": task_cfg, "model_cfg": model_cfg, "model_weight": model.state_dict(),
                "dictionaries_symbols": [None]}, path)
    return path


@pytest.fixture(scope="module")
def wavlm_tiny(tmp_path_factory):
    """A random 2-layer WavLM in the checkpoint format s3prl's wavlm_local reads."""
    from s3prl.upstream.wavlm.WavLM import WavLM, WavLMConfig

    torch.manual_seed(0)
    cfg = dict(encoder_layers=2, encoder_embed_dim=48, encoder_ffn_embed_dim=96, encoder_attention_heads=2,
               conv_pos=16, conv_pos_groups=4, conv_feature_layers="[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2")
    path = tmp_path_factory.mktemp("wavlm") / "tiny_wavlm.pt"
    torch.save({"cfg": cfg, "model": WavLM(WavLMConfig(cfg)).state_dict()}, path)
    return path


def make_batch(seed=0, scales=(8, 16)):
    g = torch.Generator().manual_seed(seed)
    lens = torch.tensor(WAV_LENS)
    wav = torch.randn(len(lens), int(lens.max()), generator=g) * 0.1
    for i, n in enumerate(lens.tolist()):
        wav[i, n:] = 0.0
    batch = {"utt": [f"u{i}" for i in range(len(lens))], "wav": wav, "wav_lens": lens,
             "emo": torch.tensor([0, 2, 3]), "gender": torch.tensor([0, 1, -1])}
    frames = (lens - 1) // 320 + 1  # s3prl's frame count, what the label stores hold
    for k in scales:
        batch[f"km{k}"] = torch.randint(0, k, (len(lens), int(frames.max())), generator=g, dtype=torch.int32)
        batch[f"km{k}_lens"] = frames.clone()
    return batch


def phase1(tiny_hubert, **kw):
    conf = {"name": "gmp_atl_phase1", "upstream": "hf_hubert_custom", "upstream_path": str(tiny_hubert),
            "lstm_hidden": 16, "proj_hidden": 16, "proj_dim": 8, **kw}
    return build_model(conf, INFO)


def phase2(tiny_hubert, **kw):
    conf = {"name": "gmp_atl_phase2", "upstream": "hf_hubert_custom", "upstream_path": str(tiny_hubert),
            "scales": [8, 16], "proj_hidden": 16, **kw}
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
            lab[:, :t][~mask] = (lab[:, :t][~mask] + 1) % k   # unmasked frames only
            lab[:, t:] = (lab[:, t:] + 1) % k                  # s3prl's repeated tail frames
            changed[f"km{k}"] = lab
        assert m.predict(changed)["loss"].item() == pytest.approx(base, rel=1e-6)
        changed[f"km8"] = batch["km8"].clone()
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
        build_model({"name": "gmp_atl_phase2", "upstream": "hf_hubert_custom", "upstream_path": str(tiny_hubert),
                     "scales": [8, 16]}, swapped)


def test_phase3_starts_from_the_phase2_upstream(tiny_hubert, tmp_path):
    torch.manual_seed(0)
    p2 = phase2(tiny_hubert)
    with torch.no_grad():
        for p in p2.upstream.parameters():
            p.add_(0.01)  # make it differ from the random tiny model on disk
    torch.save(p2.state_dict(), tmp_path / "p2.pt")
    conf = {"name": "gmp_atl_phase3", "upstream": "hf_hubert_custom", "upstream_path": str(tiny_hubert),
            "init_from": str(tmp_path / "p2.pt"), "lstm_hidden": 16, "proj_hidden": 16, "proj_dim": 8}
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
        build_model({"name": "gmp_atl_phase3", "upstream": "hubert_local", "upstream_path": str(fairseq_hubert),
                     "init_from": str(tmp_path / "p1.pt")}, INFO)
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
        same, _, conv_lens, none = masker.masked_forward(wavs, lens, lambda cl, t: torch.zeros(len(cl), t, dtype=torch.bool))
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
    m = build_model({"name": "gmp_atl_phase1", "upstream": "hubert_local", "upstream_path": str(fairseq_hubert),
                     "freeze_cnn": False, "lstm_hidden": 8, "proj_hidden": 8, "proj_dim": 8}, INFO)
    m(make_batch())["loss"].backward()
    conv = m.upstream.model.upstream.model.feature_extractor
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in conv.parameters())
