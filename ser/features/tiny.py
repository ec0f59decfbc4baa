"""Small randomly initialised encoders saved in transformers format: the download-free stand-ins for
HuBERT (`hf_hubert_custom`) and Whisper (`whisper_custom`) upstreams in tests and demo runs, and the
from-scratch encoder of a recipe without pretrained weights. Command line: ser.bin.make_tiny_upstream.
"""

from pathlib import Path

import torch

from ser.utils import get_logger

log = get_logger("tiny")


def make_tiny_hubert(
    out_dir,
    hidden_size: int = 64,
    num_layers: int = 2,
    heads: int = 2,
    intermediate_size: int = 128,
    conv_dim: int = 32,
    seed: int = 0,
) -> Path:
    """Saves a small randomly initialised HuBERT in transformers format, loadable by s3prl's
    `hf_hubert_custom`: the download-free stand-in for hubert-base in tests and demo runs.

    The conv strides stay HuBERT's (320 samples per frame), because s3prl assumes that rate.
    """
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    out_dir = Path(out_dir)
    if (out_dir / "config.json").is_file():
        return out_dir
    torch.manual_seed(seed)
    config = HubertConfig(
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=heads,
        intermediate_size=intermediate_size,
        conv_dim=(conv_dim,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        mask_time_prob=0.0,
        layerdrop=0.0,
    )
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    HubertModel(config).save_pretrained(tmp)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=True
    ).save_pretrained(tmp)
    tmp.rename(out_dir)
    log.info("saved a randomly initialised tiny HuBERT (%d layers x %d dims) to %s", num_layers, hidden_size, out_dir)
    return out_dir


def make_tiny_whisper(out_dir, d_model: int = 32, layers: int = 2, heads: int = 2, seed: int = 0) -> Path:
    """Saves a small randomly initialised Whisper (transformers format, with its feature extractor):
    the download-free stand-in for whisper_* upstreams in tests (`whisper_custom`, path = out_dir)."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    out_dir = Path(out_dir)
    if (out_dir / "config.json").is_file():
        return out_dir
    torch.manual_seed(seed)
    vocab = 64
    cfg = WhisperConfig(
        d_model=d_model,
        encoder_layers=layers,
        decoder_layers=1,
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        encoder_ffn_dim=2 * d_model,
        decoder_ffn_dim=2 * d_model,
        num_mel_bins=80,
        max_source_positions=1500,
        max_target_positions=32,
        vocab_size=vocab,
        pad_token_id=vocab - 1,
        bos_token_id=vocab - 1,
        eos_token_id=vocab - 1,
        decoder_start_token_id=vocab - 2,
        suppress_tokens=[],
        begin_suppress_tokens=[],
    )
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    WhisperModel(cfg).save_pretrained(tmp)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(tmp)
    tmp.rename(out_dir)
    log.info("saved a randomly initialised tiny Whisper (%d layers x %d dims) to %s", layers, d_model, out_dir)
    return out_dir
