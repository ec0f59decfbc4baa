"""Upstreams behind one wrapper: s3prl hub names, local checkpoints, download-free features, and
Whisper's encoder (ser.features.whisper), which s3prl does not have.

`Upstream` returns every hidden layer; `select_layer` resolves negative indices; `WeightedLayerSum`
(in ser.nn.layer_sum) mixes layers like s3prl's Featurizer, for dumped and online features alike.
"""

from pathlib import Path

import torch
from torch import nn

from ser.features.checkpoints import load_s3prl_upstream
from ser.utils import SerError, get_logger

log = get_logger("upstream")

# Upstreams computed from the waveform by fixed DSP: nothing to download, nothing to train.
FEATURE_ONLY = {"fbank", "fbank_no_cmvn", "mfcc", "mel", "linear", "spectrogram", "stft_mag"}


def load_upstream(name: str, path: str | None = None) -> nn.Module:
    """The model behind an upstream name: Whisper's encoder for `whisper_*`, else s3prl's."""
    from ser.features.whisper import WhisperEncoderUpstream, is_whisper

    if is_whisper(name):
        return WhisperEncoderUpstream(name, path)
    return load_s3prl_upstream(name, path)


def select_layer(index: int, num_layers: int) -> int:
    """Python-style index into the hidden layers (-1 is the top one), with a clear range error."""
    if not -num_layers <= index < num_layers:
        raise SerError(f"layer {index} is out of range: this upstream has {num_layers} hidden layers")
    return index % num_layers


class Upstream(nn.Module):
    """An s3prl upstream; `forward(wavs, lens) -> (list of (B, T, D) layers, frame lengths)`."""

    def __init__(self, name: str, path: str | None = None, trainable: bool = False):
        super().__init__()
        self.name = name
        self.trainable = trainable
        self.model = load_upstream(name, path)
        if trainable and (name in FEATURE_ONLY or not any(p.requires_grad for p in self.model.parameters())):
            raise SerError(f"upstream '{name}' has no trainable transformer; a recipe phase that trains "
                           "the upstream needs one such as hubert, wavlm_base_plus or hf_hubert_custom")
        for p in self.model.parameters():
            p.requires_grad_(trainable)
        if not trainable:
            self.model.eval()

    @property
    def num_layers(self) -> int:
        return self.model.num_layers

    @property
    def hidden_size(self) -> int:
        return self.model.hidden_sizes[-1]

    @property
    def downsample_rate(self) -> int:
        return self.model.downsample_rates[-1]

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.trainable:
            self.model.eval()  # a frozen upstream keeps dropout off even while the head trains
        return self

    def forward(self, wavs: torch.Tensor, wav_lens: torch.Tensor):
        if self.trainable:
            hs, lens = self.model(wavs, wav_lens)
        else:
            with torch.no_grad():
                hs, lens = self.model(wavs, wav_lens)
        return list(hs), lens[-1]


def make_tiny_hubert(out_dir, hidden_size: int = 64, num_layers: int = 2, heads: int = 2,
                     intermediate_size: int = 128, conv_dim: int = 32, seed: int = 0) -> Path:
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
        hidden_size=hidden_size, num_hidden_layers=num_layers, num_attention_heads=heads,
        intermediate_size=intermediate_size, conv_dim=(conv_dim,) * 7,
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        mask_time_prob=0.0, layerdrop=0.0,
    )
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    HubertModel(config).save_pretrained(tmp)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                             do_normalize=True, return_attention_mask=True).save_pretrained(tmp)
    tmp.rename(out_dir)
    log.info("saved a randomly initialised tiny HuBERT (%d layers x %d dims) to %s", num_layers, hidden_size, out_dir)
    return out_dir
