"""The CTranslate2 -> transformers Whisper converter, on a small file in CTranslate2's format written
by the test (binary version 6, fused q/k/v, float16 weights, int8/int16 scalars, one alias)."""

import json
import struct

import numpy as np
import pytest
import torch

from ser.features.ct2_whisper import convert_ct2_whisper, read_ct2_model
from ser.utils import SerError

DTYPE_IDS = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.float16): 4}


def write_ct2(path, variables: dict, aliases: dict, spec="WhisperSpec", version=6):
    """CTranslate2's model.bin layout (python/ctranslate2/specs/model_spec.py, _serialize)."""

    def string(f, s):
        b = s.encode()
        f.write(struct.pack("<H", len(b) + 1) + b + b"\0")

    with open(path, "wb") as f:
        f.write(struct.pack("<I", version))
        string(f, spec)
        f.write(struct.pack("<I", 3))
        f.write(struct.pack("<I", len(variables)))
        for name, arr in variables.items():
            string(f, name)
            f.write(struct.pack("<B", arr.ndim))
            for d in arr.shape:
                f.write(struct.pack("<I", d))
            f.write(struct.pack("<B", DTYPE_IDS[arr.dtype]))
            f.write(struct.pack("<I", arr.nbytes))
            f.write(arr.tobytes())
        f.write(struct.pack("<I", len(aliases)))
        for alias, target in aliases.items():
            string(f, alias)
            string(f, target)


def ct2_variables(model) -> dict:
    """The variables CTranslate2's Whisper converter writes for a transformers Whisper model."""
    sd = {k: v.detach().numpy().astype(np.float16) for k, v in model.state_dict().items()}
    v = {}

    def attn(src, dst, cross):
        q, k, val = (sd[f"{src}.{p}_proj.weight"] for p in "qkv")
        kb = np.zeros_like(sd[f"{src}.q_proj.bias"])
        v[f"{dst}/layer_norm/gamma"] = sd[f"{src}_layer_norm.weight"]
        v[f"{dst}/layer_norm/beta"] = sd[f"{src}_layer_norm.bias"]
        if cross:
            v[f"{dst}/linear_0/weight"], v[f"{dst}/linear_0/bias"] = q, sd[f"{src}.q_proj.bias"]
            v[f"{dst}/linear_1/weight"] = np.concatenate([k, val])
            v[f"{dst}/linear_1/bias"] = np.concatenate([kb, sd[f"{src}.v_proj.bias"]])
            out = "linear_2"
        else:
            v[f"{dst}/linear_0/weight"] = np.concatenate([q, k, val])
            v[f"{dst}/linear_0/bias"] = np.concatenate([sd[f"{src}.q_proj.bias"], kb, sd[f"{src}.v_proj.bias"]])
            out = "linear_1"
        v[f"{dst}/{out}/weight"], v[f"{dst}/{out}/bias"] = sd[f"{src}.out_proj.weight"], sd[f"{src}.out_proj.bias"]

    def ffn(src, dst):
        v[f"{dst}/ffn/layer_norm/gamma"], v[f"{dst}/ffn/layer_norm/beta"] = (
            sd[f"{src}.final_layer_norm.weight"],
            sd[f"{src}.final_layer_norm.bias"],
        )
        for i, fc in ((0, "fc1"), (1, "fc2")):
            v[f"{dst}/ffn/linear_{i}/weight"], v[f"{dst}/ffn/linear_{i}/bias"] = (
                sd[f"{src}.{fc}.weight"],
                sd[f"{src}.{fc}.bias"],
            )

    def stack(side, cross):
        cfg = model.config
        for i in range(getattr(cfg, f"{side}_layers")):
            src, dst = f"model.{side}.layers.{i}", f"{side}/layer_{i}"
            attn(f"{src}.self_attn", f"{dst}/self_attention", cross=False)
            if cross:
                attn(f"{src}.encoder_attn", f"{dst}/attention", cross=True)
            ffn(src, dst)
        v[f"{side}/layer_norm/gamma"] = sd[f"model.{side}.layer_norm.weight"]
        v[f"{side}/layer_norm/beta"] = sd[f"model.{side}.layer_norm.bias"]
        v[f"{side}/num_heads"] = np.array(getattr(cfg, f"{side}_attention_heads"), np.int16)
        v[f"{side}/position_encodings/encodings"] = sd[f"model.{side}.embed_positions.weight"]

    v["decoder/activation"] = np.array(0, np.int8)  # scalars CTranslate2 stores beside the weights
    v["decoder/embeddings/weight"] = sd["model.decoder.embed_tokens.weight"]
    stack("decoder", cross=True)
    for name in ("conv1", "conv2"):
        v[f"encoder/{name}/weight"] = sd[f"model.encoder.{name}.weight"]
        v[f"encoder/{name}/bias"] = sd[f"model.encoder.{name}.bias"]
    stack("encoder", cross=False)
    return v


@pytest.fixture(scope="module")
def ct2_model(tiny_whisper, tmp_path_factory):
    from transformers import WhisperForConditionalGeneration

    model = WhisperForConditionalGeneration.from_pretrained(tiny_whisper).eval()
    ct2_dir = tmp_path_factory.mktemp("ct2")
    write_ct2(ct2_dir / "model.bin", ct2_variables(model), {"decoder/projection/weight": "decoder/embeddings/weight"})
    (ct2_dir / "config.json").write_text(json.dumps({"suppress_ids": [1, 2], "suppress_ids_begin": [3]}))
    # The special tokens' ids come from the tokenizer shipped beside model.bin, as in a real copy.
    special = [{"id": 63, "content": "<|endoftext|>"}, {"id": 62, "content": "<|startoftranscript|>"}]
    (ct2_dir / "tokenizer.json").write_text(json.dumps({"added_tokens": special}))
    return model, ct2_dir


def test_reader_resolves_aliases_and_dtypes(ct2_model):
    _, ct2_dir = ct2_model
    spec, v = read_ct2_model(ct2_dir / "model.bin")
    assert spec == "WhisperSpec"
    assert v["decoder/projection/weight"] is v["decoder/embeddings/weight"]
    assert v["encoder/num_heads"].dtype == np.int16 and int(v["encoder/num_heads"]) == 2
    assert v["encoder/conv1/weight"].dtype == np.float16


def test_converted_model_equals_the_original(ct2_model, tmp_path):
    from transformers import WhisperForConditionalGeneration

    model, ct2_dir = ct2_model
    out = convert_ct2_whisper(ct2_dir, tmp_path / "hf")
    conv = WhisperForConditionalGeneration.from_pretrained(out).eval()
    assert conv.config.encoder_layers == model.config.encoder_layers and conv.config.d_model == 32
    assert conv.config.suppress_tokens == [1, 2] and conv.config.begin_suppress_tokens == [3]
    assert (conv.config.eos_token_id, conv.config.decoder_start_token_id) == (63, 62)
    ref_sd, conv_sd = model.state_dict(), conv.state_dict()
    assert set(ref_sd) == set(conv_sd)
    for k in ref_sd:  # float16 storage: equal to the original rounded to half precision
        torch.testing.assert_close(conv_sd[k], ref_sd[k].half().float(), atol=0, rtol=0, msg=k)
    mel = torch.randn(1, 80, 3000)
    ids = torch.tensor([[model.config.decoder_start_token_id, 5, 6]])
    with torch.no_grad():
        a = model(input_features=mel, decoder_input_ids=ids).logits
        b = conv(input_features=mel, decoder_input_ids=ids).logits
    torch.testing.assert_close(a, b, atol=5e-2, rtol=5e-2)
    assert (out / "preprocessor_config.json").is_file()


def test_bad_files_are_named(tmp_path, ct2_model):
    with pytest.raises(SerError, match="model.bin not found"):
        convert_ct2_whisper(tmp_path, tmp_path / "out")
    (tmp_path / "model.bin").write_bytes(struct.pack("<I", 99))
    with pytest.raises(SerError, match="binary version 99"):
        read_ct2_model(tmp_path / "model.bin")
    _, ct2_dir = ct2_model
    data = (ct2_dir / "model.bin").read_bytes()
    (tmp_path / "model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(SerError, match="truncated"):
        read_ct2_model(tmp_path / "model.bin")
