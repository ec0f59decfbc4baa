"""ser.models.bridge_tokens: the multi-task bridge-token model through the registry."""

import numpy as np
import pytest
import torch

from ser.data.dataset import collate
from ser.losses.ccc import batch_ccc
from ser.models import build_model
from ser.utils import SerError

INFO = {
    "num_classes": 4,
    "classes": ["neu", "hap", "ang", "sad"],
    "class_counts": [1, 1, 1, 1],
    "feats": {"ssl": {"num_layers": 3, "dim": 8}, "text_emb": {"num_layers": 2, "dim": 6}},
    "speakers": [],
}
SMALL = {"dim": 16, "heads": 2, "ffn_dim": 32, "num_tokens": 3, "audio_layers": 1, "text_layers": 1}


def model(seed=0, **kw):
    torch.manual_seed(seed)
    return build_model({"name": "bridge_tokens", **SMALL, **kw}, INFO)


def items(text_lens=(4, 0, 6, 2), audio_lens=(7, 5, 9, 3), seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i, (ta, tt) in enumerate(zip(audio_lens, text_lens)):
        out.append(
            {
                "utt": f"u{i}",
                "ssl": rng.normal(size=(ta, 24)).astype(np.float32),
                "text_emb": rng.normal(size=(tt, 12)).astype(np.float32),
                "emo": i % 4,
                "vad": rng.uniform(-1, 1, 3).astype(np.float32),
                "text": "x",
            }
        )
    return out


def test_training_step_with_an_empty_transcript_is_finite():
    m = model(modality_mask_prob=0.5).train()
    out = m(collate(items()))
    assert torch.isfinite(out["loss"]) and {"ce", "reg"} <= set(out["logs"])
    out["loss"].backward()
    grads = [p.grad for p in m.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    # A batch in which no utterance has any text at all (a (B, 0, D) tensor).
    batch = collate(items(text_lens=(0, 0, 0, 0)))
    assert batch["text_emb"].shape == (4, 0, 12)
    assert torch.isfinite(m(batch)["loss"])
    with torch.no_grad():
        pred = m.eval().predict(batch)
    assert torch.isfinite(pred["emo_logits"]).all() and torch.isfinite(pred["vad"]).all()


def test_predictions_do_not_depend_on_padding_or_batch():
    m = model().eval()
    its = items()
    with torch.no_grad():
        together = m.predict(collate(its))
        for i, it in enumerate(its):
            alone = m.predict(collate([it]))
            assert torch.allclose(together["emo_logits"][i], alone["emo_logits"][0], atol=1e-5)
            assert torch.allclose(together["vad"][i], alone["vad"][0], atol=1e-5)


def test_loss_is_ce_plus_weighted_one_minus_ccc():
    m = model(reg_weight=0.5, dropout=0.0).eval()
    batch = collate(items())
    with torch.no_grad():
        out = m.heads(m.encode(batch))
        expected = torch.nn.functional.cross_entropy(out["emo_logits"], batch["emo"]) + 0.5 * (
            1 - batch_ccc(out["vad"], batch["vad"]).mean()
        )
        assert torch.allclose(m.predict(batch)["loss"], expected, atol=1e-6)
        assert torch.allclose(m(batch)["loss"], expected, atol=1e-6)


def test_single_task_and_single_modality_variants():
    batch = collate(items())
    with torch.no_grad():
        assert set(model(tasks=["emo"]).eval().predict(batch)) == {"emo_logits", "loss"}
        assert set(model(tasks=["vad"]).eval().predict(batch)) == {"vad", "loss"}
    info = dict(INFO, feats={"ssl": INFO["feats"]["ssl"]})  # audio-only: no text store at all
    torch.manual_seed(0)
    audio_only = build_model({"name": "bridge_tokens", **SMALL, "modalities": ["audio"]}, info).eval()
    no_text = {k: v for k, v in batch.items() if not k.startswith("text_emb")}
    with torch.no_grad():
        assert audio_only.predict(no_text)["emo_logits"].shape == (4, 4)
    text_only = model(modalities=["text"]).eval()
    assert not any(k.startswith("branches.audio") for k in text_only.state_dict())
    with torch.no_grad():
        pred = text_only.predict({k: v for k, v in batch.items() if not k.startswith("ssl")})
    assert pred["vad"].shape == (4, 3)


def test_concat_pooling_and_no_token_self_attention():
    m = model(token_pooling="concat", token_self_attention=False).eval()
    assert m.emo_head.in_features == 3 * 16
    with torch.no_grad():
        assert torch.isfinite(m.predict(collate(items()))["emo_logits"]).all()


def test_modality_masking_only_while_training():
    m = model(modality_mask_prob=1.0).eval()
    batch = collate(items())
    with torch.no_grad():
        a, b = m.predict(batch), m.predict(batch)  # eval: no masking, deterministic
    assert torch.equal(a["emo_logits"], b["emo_logits"])
    m.train()
    torch.manual_seed(3)
    seqs_masks = {}
    for name, branch in m.branches.items():
        feat = m.feat_names[name]
        seqs_masks[name] = branch(batch[feat], batch[f"{feat}_lens"])[1]
    masked, choice = m.masking(seqs_masks)
    # prob 1: every utterance with both modalities loses one; u1 has no text, so it keeps its audio.
    assert (choice[[0, 2, 3]] >= 0).all() and choice[1] in (-1, 1)
    assert masked["audio"][1].any()


def test_configuration_errors():
    with pytest.raises(SerError, match="modalities"):
        model(modalities=["video"])
    with pytest.raises(SerError, match="tasks"):
        model(tasks=[])
    with pytest.raises(SerError, match="token_pooling"):
        model(token_pooling="max")
    with pytest.raises(SerError, match="cannot be called 'text'"):
        model(text_feat="text")
    with pytest.raises(SerError, match="not among the data.feats"):
        build_model({"name": "bridge_tokens", **SMALL}, dict(INFO, feats={"ssl": INFO["feats"]["ssl"]}))
    with pytest.raises(SerError, match="unknown config keys"):
        build_model({"name": "bridge_tokens", "num_bridges": 4}, INFO)
    bad = collate(items())
    bad["ssl"] = bad["ssl"][..., :20]
    with pytest.raises(SerError, match="meta.json"):
        model().predict(bad)
