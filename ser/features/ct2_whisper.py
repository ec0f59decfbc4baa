"""CTranslate2 Whisper models -> transformers Whisper folders, with no CTranslate2 install needed.

CTranslate2's `model.bin` (binary version 6, as written by its `model_spec.py`) is a flat list of
named arrays: a version, the spec name and revision, then per variable its name, shape, dtype id
and raw bytes, then aliases (tied weights). A Whisper spec fuses the query, key and value
projections of each self-attention (and key and value of the decoder's cross-attention) into one
linear layer; Whisper's key projection has no bias, so the fused bias carries zeros there.
The only offline copy of real Whisper weights on the package index is in this format.
"""

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import torch

from ser.utils import SerError, get_logger

log = get_logger("ct2_whisper")

# CTranslate2's DataType enum (include/ctranslate2/types.h).
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}
SUPPORTED_BINARY_VERSIONS = (5, 6)


def read_ct2_model(path) -> tuple[str, dict[str, np.ndarray]]:
    """(spec name, {variable name: array}) of a CTranslate2 model.bin; aliases resolved."""
    path = Path(path)
    data = path.read_bytes()
    pos = 0

    def take(fmt):
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > len(data):
            raise SerError(f"{path}: truncated CTranslate2 model (ends at byte {len(data)})")
        value = struct.unpack_from(fmt, data, pos)
        pos += size
        return value[0]

    def string():
        nonlocal pos
        n = take("<H")
        s = data[pos : pos + n - 1].decode("utf-8")
        pos += n
        return s

    version = take("<I")
    if version not in SUPPORTED_BINARY_VERSIONS:
        raise SerError(
            f"{path}: CTranslate2 binary version {version} is not supported "
            f"(supported: {SUPPORTED_BINARY_VERSIONS}); is this a CTranslate2 model.bin?"
        )
    spec = string()
    take("<I")  # spec revision
    variables = {}
    for _ in range(take("<I")):
        name = string()
        shape = [take("<I") for _ in range(take("<B"))]
        dtype_id = take("<B")
        nbytes = take("<I")
        raw = data[pos : pos + nbytes]
        if len(raw) != nbytes:
            raise SerError(f"{path}: truncated CTranslate2 model in variable {name}")
        pos += nbytes
        dtype = _CT2_DTYPES.get(dtype_id)
        if dtype is None:
            raise SerError(f"{path}: variable {name} has unknown CTranslate2 dtype id {dtype_id}")
        if dtype == "bfloat16":  # numpy has no bfloat16: widen through torch
            arr = torch.frombuffer(bytearray(raw), dtype=torch.bfloat16).float().numpy()
        else:
            arr = np.frombuffer(raw, dtype=dtype).copy()
        variables[name] = arr.reshape(shape)
    for _ in range(take("<I")):
        alias, target = string(), string()
        variables[alias] = variables[target]
    return spec, variables


def _split_fused(w: np.ndarray, parts: int, name: str) -> list[np.ndarray]:
    if w.shape[0] % parts:
        raise SerError(f"fused projection {name} of shape {w.shape} does not split in {parts}")
    return np.split(w, parts, axis=0)


def _attention(v: dict, src: str, dst: str, fused_qkv: bool) -> dict:
    """Maps one CTranslate2 attention block onto transformers' q/k/v/out projections."""
    out = {
        f"{dst}_layer_norm.weight": v[f"{src}/layer_norm/gamma"],
        f"{dst}_layer_norm.bias": v[f"{src}/layer_norm/beta"],
    }
    if fused_qkv:
        q, k, vv = _split_fused(v[f"{src}/linear_0/weight"], 3, src)
        qb, kb, vb = _split_fused(v[f"{src}/linear_0/bias"], 3, src)
        out_linear = "linear_1"
    else:  # cross-attention: query alone, then key and value fused
        q, qb = v[f"{src}/linear_0/weight"], v[f"{src}/linear_0/bias"]
        k, vv = _split_fused(v[f"{src}/linear_1/weight"], 2, src)
        kb, vb = _split_fused(v[f"{src}/linear_1/bias"], 2, src)
        out_linear = "linear_2"
    if np.abs(kb.astype(np.float32)).max() > 0:
        raise SerError(f"{src}: the key projection has a non-zero bias, which Whisper's has not")
    out.update(
        {
            f"{dst}.q_proj.weight": q,
            f"{dst}.q_proj.bias": qb,
            f"{dst}.k_proj.weight": k,
            f"{dst}.v_proj.weight": vv,
            f"{dst}.v_proj.bias": vb,
            f"{dst}.out_proj.weight": v[f"{src}/{out_linear}/weight"],
            f"{dst}.out_proj.bias": v[f"{src}/{out_linear}/bias"],
        }
    )
    return out


def _ffn(v: dict, src: str, dst: str) -> dict:
    return {
        f"{dst}.final_layer_norm.weight": v[f"{src}/ffn/layer_norm/gamma"],
        f"{dst}.final_layer_norm.bias": v[f"{src}/ffn/layer_norm/beta"],
        f"{dst}.fc1.weight": v[f"{src}/ffn/linear_0/weight"],
        f"{dst}.fc1.bias": v[f"{src}/ffn/linear_0/bias"],
        f"{dst}.fc2.weight": v[f"{src}/ffn/linear_1/weight"],
        f"{dst}.fc2.bias": v[f"{src}/ffn/linear_1/bias"],
    }


def _count_layers(v: dict, side: str) -> int:
    n = 0
    while f"{side}/layer_{n}/ffn/linear_0/weight" in v:
        n += 1
    return n


def whisper_state_dict(v: dict) -> tuple[dict, dict]:
    """transformers `WhisperForConditionalGeneration` state dict and config fields from CT2 variables."""
    sd = {}
    for name in ("conv1", "conv2"):
        sd[f"model.encoder.{name}.weight"] = v[f"encoder/{name}/weight"]
        sd[f"model.encoder.{name}.bias"] = v[f"encoder/{name}/bias"]
    sd["model.encoder.embed_positions.weight"] = v["encoder/position_encodings/encodings"]
    enc_layers, dec_layers = _count_layers(v, "encoder"), _count_layers(v, "decoder")
    for i in range(enc_layers):
        src, dst = f"encoder/layer_{i}", f"model.encoder.layers.{i}"
        sd.update(_attention(v, f"{src}/self_attention", f"{dst}.self_attn", fused_qkv=True))
        sd.update(_ffn(v, src, dst))
    sd["model.encoder.layer_norm.weight"] = v["encoder/layer_norm/gamma"]
    sd["model.encoder.layer_norm.bias"] = v["encoder/layer_norm/beta"]
    sd["model.decoder.embed_tokens.weight"] = v["decoder/embeddings/weight"]
    sd["model.decoder.embed_positions.weight"] = v["decoder/position_encodings/encodings"]
    for i in range(dec_layers):
        src, dst = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
        sd.update(_attention(v, f"{src}/self_attention", f"{dst}.self_attn", fused_qkv=True))
        sd.update(_attention(v, f"{src}/attention", f"{dst}.encoder_attn", fused_qkv=False))
        sd.update(_ffn(v, src, dst))
    sd["model.decoder.layer_norm.weight"] = v["decoder/layer_norm/gamma"]
    sd["model.decoder.layer_norm.bias"] = v["decoder/layer_norm/beta"]
    d_model = int(sd["model.encoder.layer_norm.weight"].shape[0])
    fields = {
        "d_model": d_model,
        "encoder_layers": enc_layers,
        "decoder_layers": dec_layers,
        "encoder_attention_heads": int(v["encoder/num_heads"]),
        "decoder_attention_heads": int(v["decoder/num_heads"]),
        "encoder_ffn_dim": int(v["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        "decoder_ffn_dim": int(v["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        "num_mel_bins": int(v["encoder/conv1/weight"].shape[1]),
        "max_source_positions": int(v["encoder/position_encodings/encodings"].shape[0]),
        "max_target_positions": int(v["decoder/position_encodings/encodings"].shape[0]),
        "vocab_size": int(v["decoder/embeddings/weight"].shape[0]),
    }
    return sd, fields


def _special_token_ids(tokenizer_json: Path) -> dict:
    """Start and end token ids from the tokenizer that ships with the model, when it does."""
    if not tokenizer_json.is_file():
        return {}
    added = {t["content"]: t["id"] for t in json.loads(tokenizer_json.read_text()).get("added_tokens", [])}
    ids = {}
    if "<|endoftext|>" in added:
        eot = added["<|endoftext|>"]
        ids.update(eos_token_id=eot, bos_token_id=eot, pad_token_id=eot)
    if "<|startoftranscript|>" in added:
        ids["decoder_start_token_id"] = added["<|startoftranscript|>"]
    return ids


def convert_ct2_whisper(ct2_dir, out_dir, dtype: torch.dtype = torch.float32) -> Path:
    """Writes a transformers Whisper folder (config, weights, feature extractor) from a CTranslate2
    Whisper folder (model.bin, config.json, optionally tokenizer.json and vocabulary.txt)."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    ct2_dir, out_dir = Path(ct2_dir), Path(out_dir)
    model_bin = ct2_dir / "model.bin"
    if not model_bin.is_file():
        raise SerError(f"{model_bin} not found: a CTranslate2 model folder holds model.bin")
    spec, variables = read_ct2_model(model_bin)
    if spec != "WhisperSpec":
        raise SerError(f"{model_bin} holds a {spec}, not a WhisperSpec")
    sd, fields = whisper_state_dict(variables)
    ct2_config = json.loads((ct2_dir / "config.json").read_text()) if (ct2_dir / "config.json").is_file() else {}
    extra = _special_token_ids(ct2_dir / "tokenizer.json")
    if "suppress_ids" in ct2_config:
        extra["suppress_tokens"] = ct2_config["suppress_ids"]
    if "suppress_ids_begin" in ct2_config:
        extra["begin_suppress_tokens"] = ct2_config["suppress_ids_begin"]
    config = WhisperConfig(**fields, **extra)
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    tensors = {k: torch.from_numpy(np.ascontiguousarray(a)).to(dtype) for k, a in sd.items()}
    tensors["proj_out.weight"] = tensors["model.decoder.embed_tokens.weight"]
    missing, unexpected = model.load_state_dict(tensors, strict=False, assign=True)
    if unexpected or missing:
        raise SerError(
            f"{model_bin}: conversion left weights unmatched (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    model.tie_weights()
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    WhisperFeatureExtractor(feature_size=fields["num_mel_bins"]).save_pretrained(tmp)
    for name in ("tokenizer.json", "vocabulary.txt"):
        if (ct2_dir / name).is_file():
            shutil.copy2(ct2_dir / name, tmp / name)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    log.info(
        "converted %s (%d encoder + %d decoder layers, d_model %d) -> %s",
        model_bin,
        fields["encoder_layers"],
        fields["decoder_layers"],
        fields["d_model"],
        out_dir,
    )
    return out_dir


def check_against_ctranslate2(ct2_dir, hf_dir, wav=None, tolerance: float = 0.01) -> dict:
    """Encodes one clip with CTranslate2's own runtime (the reference) and with the converted
    transformers encoder; raises if their outputs differ by more than `tolerance` relative to the
    mean magnitude. Needs the `ctranslate2` package (the runtime that defines the format)."""
    try:
        import ctranslate2
    except ImportError as e:
        raise SerError("checking the conversion needs the ctranslate2 package: pip install ctranslate2") from e
    from transformers import WhisperFeatureExtractor, WhisperModel

    if wav is None:  # a deterministic voiced-like test signal: harmonics of a gliding pitch plus noise
        t = np.arange(5 * 16000) / 16000
        f0 = 120 + 40 * np.sin(2 * np.pi * 0.5 * t)
        phase = 2 * np.pi * np.cumsum(f0) / 16000
        wav = sum(np.sin(k * phase) / k for k in range(1, 20)) * 0.1
        wav = (wav + 0.01 * np.random.default_rng(0).standard_normal(len(t))).astype(np.float32)
    feats = WhisperFeatureExtractor.from_pretrained(hf_dir)(
        wav, sampling_rate=16000, return_tensors="np"
    ).input_features
    ref_model = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32")
    ref = np.array(ref_model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(feats)), to_cpu=True))
    encoder = WhisperModel.from_pretrained(hf_dir).get_encoder().eval()
    with torch.no_grad():
        ours = encoder(torch.from_numpy(feats)).last_hidden_state.numpy()
    result = {
        "max_abs_diff": float(np.abs(ref - ours).max()),
        "mean_abs": float(np.abs(ref).mean()),
        "shape": list(ours.shape),
    }
    if result["max_abs_diff"] > tolerance * result["mean_abs"]:
        raise SerError(f"converted encoder in {hf_dir} differs from CTranslate2's: {result}")
    log.info(
        "converted encoder matches CTranslate2's: max |diff| %.2e against mean |value| %.3f",
        result["max_abs_diff"],
        result["mean_abs"],
    )
    return result
