"""Multi-task, multi-modal SER with learnable bridge tokens (categorical + dimensional emotion).

Acoustic branch: dumped SSL hidden states (e.g. HuBERT-large, every layer) -> weighted layer sum ->
linear projection -> Transformer self-attention layers.
Linguistic branch: dumped token-level text-encoder states (e.g. DeBERTa-v3-large) -> weighted layer
sum -> projection -> self-attention layers. The two branches run in parallel and never see each
other: they meet only in the bridge (ser.nn.bridge), where K learnable tokens cross-attend to both
sequences (padding masked) over L layers. The mean (or concatenation) of the bridge tokens feeds a
categorical head and a valence/arousal/dominance head.

Loss: CE + reg_weight * (1 - mean CCC over `vad_dims`: V/A/D by default, e.g. [v, a] for valence and
arousal alone; the other dimensions are NaN in the predictions and left out of scoring); `tasks`
picks the single-task variants and `modalities` the audio-only / text-only ones. Random modality
masking (`modality_mask_prob`) hides the whole audio or the whole transcript of some training
utterances.
"""

import torch
from torch import nn

from ser.losses.ccc import batch_ccc, make_regression_loss
from ser.nn.bridge import BridgeFusion
from ser.nn.layer_sum import WeightedLayerSum
from ser.nn.modality_mask import ModalityMasking
from ser.nn.pooling import lengths_to_mask
from ser.utils import SerError

MODALITIES = ("audio", "text")
TASKS = ("emo", "vad")
VAD_DIMS = ("v", "a", "d")  # the order of utt2vad's columns


class SelfAttentionBranch(nn.Module):
    """One modality: weighted layer sum, projection, pre-norm Transformer layers -> (B, T, D), mask."""

    def __init__(
        self,
        layout: dict,
        dim: int,
        heads: int,
        ffn_dim: int,
        num_layers: int,
        dropout: float,
        layer_norm_input: bool,
        name: str,
    ):
        super().__init__()
        self.name = name
        self.num_in_layers, self.in_dim = int(layout["num_layers"]), int(layout["dim"])
        self.layer_sum = WeightedLayerSum(self.num_in_layers, layer_norm=layer_norm_input)
        self.proj = nn.Linear(self.in_dim, dim)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim, heads, ffn_dim, dropout, activation="gelu", batch_first=True, norm_first=True
            )
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, lens: torch.Tensor):
        b, t, d = x.shape
        if d != self.num_in_layers * self.in_dim:
            raise SerError(
                f"feature '{self.name}' has {d} values per row, but its store's meta.json says "
                f"{self.num_in_layers} layers x {self.in_dim}: was it dumped with other settings?"
            )
        if t == 0:  # every sequence of the batch is empty (e.g. all transcripts empty)
            x, t = x.new_zeros(b, 1, d), 1
        h = self.proj(self.layer_sum(x.view(b, t, self.num_in_layers, self.in_dim)))
        mask = lengths_to_mask(lens, t)
        # An empty sequence attends to one padding position: a row with no key at all would give NaN.
        # Its outputs are never used, as the bridge masks the whole row.
        attend = mask.clone()
        attend[:, 0] |= lens == 0
        for layer in self.layers:
            h = layer(h, src_key_padding_mask=~attend)
        return self.norm(h), mask


class BridgeTokens(nn.Module):
    def __init__(
        self,
        info: dict,
        modalities=MODALITIES,
        tasks=TASKS,
        audio_feat: str = "ssl",
        text_feat: str = "text_emb",
        dim: int = 256,
        heads: int = 4,
        ffn_dim: int | None = None,
        dropout: float = 0.1,
        audio_layers: int = 2,
        text_layers: int = 2,
        layer_norm_input: bool = False,
        num_tokens: int = 8,
        bridge_layers: int = 2,
        token_self_attention: bool = True,
        token_pooling: str = "mean",
        modality_mask_prob: float = 0.0,
        reg_weight: float = 1.0,
        regression_loss: str = "ccc",
        vad_dims=("v", "a", "d"),
    ):
        super().__init__()
        self.vad_dims = list(vad_dims)
        if not self.vad_dims or len(set(self.vad_dims)) != len(self.vad_dims) or set(self.vad_dims) - set(VAD_DIMS):
            raise SerError(f"bridge_tokens: vad_dims must be distinct names among {list(VAD_DIMS)}, got {vad_dims}")
        # Indices into the data's (valence, arousal, dominance) targets.
        self.register_buffer("vad_index", torch.tensor([VAD_DIMS.index(d) for d in self.vad_dims]), persistent=False)
        self.modalities = list(modalities)
        self.tasks = list(tasks)
        bad = [m for m in self.modalities if m not in MODALITIES] + [t for t in self.tasks if t not in TASKS]
        if bad or not self.modalities or not self.tasks:
            raise SerError(
                f"bridge_tokens: modalities must be a non-empty subset of {list(MODALITIES)} and tasks "
                f"of {list(TASKS)}; got modalities={self.modalities}, tasks={self.tasks}"
            )
        if token_pooling not in ("mean", "concat"):
            raise SerError(f"bridge_tokens: token_pooling must be mean or concat, got '{token_pooling}'")
        if "text" in (audio_feat, text_feat):
            raise SerError(
                "bridge_tokens: a feature store cannot be called 'text': batches already carry the "
                "transcript strings under that name (use e.g. text_emb)"
            )
        self.feat_names = {"audio": audio_feat, "text": text_feat}
        ffn_dim = ffn_dim or 4 * dim
        depth = {"audio": audio_layers, "text": text_layers}
        branches = {}
        for m in self.modalities:
            feat = self.feat_names[m]
            if feat not in info["feats"]:
                raise SerError(
                    f"bridge_tokens: the {m} branch reads feature '{feat}', which is not among the "
                    f"data.feats of the config ({sorted(info['feats'])})"
                )
            layout = info["feats"][feat]
            if "num_layers" not in layout or "dim" not in layout:
                raise SerError(f"bridge_tokens: feature '{feat}' has no num_layers/dim in its meta.json")
            branches[m] = SelfAttentionBranch(layout, dim, heads, ffn_dim, depth[m], dropout, layer_norm_input, feat)
        self.branches = nn.ModuleDict(branches)
        self.bridge = BridgeFusion(
            dim, self.modalities, num_tokens, bridge_layers, heads, ffn_dim, dropout, token_self_attention
        )
        self.masking = ModalityMasking(self.modalities, modality_mask_prob)
        self.token_pooling = token_pooling
        pooled = dim * (num_tokens if token_pooling == "concat" else 1)
        self.dropout = nn.Dropout(dropout)
        self.emo_head = nn.Linear(pooled, info["num_classes"]) if "emo" in self.tasks else None
        self.vad_head = nn.Linear(pooled, len(self.vad_dims)) if "vad" in self.tasks else None
        self.reg_weight = reg_weight
        self.reg_loss = make_regression_loss(regression_loss)

    def encode(self, batch: dict, return_attention: bool = False):
        """Batch -> pooled bridge representation (B, P) (and the bridge attention if asked)."""
        seqs, masks = {}, {}
        for m, branch in self.branches.items():
            feat = self.feat_names[m]
            if feat not in batch:
                raise SerError(f"bridge_tokens: the batch has no '{feat}' features; pass --feat {feat}=...scp")
            seqs[m], masks[m] = branch(batch[feat], batch[f"{feat}_lens"])
        masks, _ = self.masking(masks)
        out = self.bridge(seqs, masks, return_attention=return_attention)
        tokens, attention = out if return_attention else (out, None)
        pooled = tokens.mean(1) if self.token_pooling == "mean" else tokens.flatten(1)
        return (pooled, attention) if return_attention else pooled

    def heads(self, pooled):
        out = {}
        pooled = self.dropout(pooled)
        if self.emo_head is not None:
            out["emo_logits"] = self.emo_head(pooled)
        if self.vad_head is not None:
            out["vad"] = self.vad_head(pooled)
        return out

    def losses(self, out: dict, batch: dict) -> dict:
        parts = {}
        if "emo_logits" in out:
            parts["ce"] = nn.functional.cross_entropy(out["emo_logits"], batch["emo"])
        if "vad" in out:
            if "vad" not in batch:
                raise SerError("bridge_tokens: the vad task needs utt2vad in the data dirs")
            parts["reg"] = self.reg_loss(out["vad"], batch["vad"][:, self.vad_index])
        if "ce" in parts and "reg" in parts:
            loss = parts["ce"] + self.reg_weight * parts["reg"]
        else:  # a single task: its own loss, unweighted
            loss = parts.get("ce", parts.get("reg"))
        return {"loss": loss, **parts}

    def forward(self, batch):
        out = self.heads(self.encode(batch))
        parts = self.losses(out, batch)
        logs = {k: float(v.detach()) for k, v in parts.items() if k != "loss"}
        if "vad" in out and len(batch["utt"]) > 1:
            for name, value in zip(self.vad_dims, batch_ccc(out["vad"].detach(), batch["vad"][:, self.vad_index])):
                logs[f"ccc_{name}"] = float(value)
        return {"loss": parts["loss"], "logs": logs}

    def predict(self, batch):
        out = self.heads(self.encode(batch))
        if ("emo_logits" not in out or "emo" in batch) and ("vad" not in out or "vad" in batch):
            out["loss"] = self.losses(out, batch)["loss"]
        if "vad" in out:  # (B, 3) on the data's V/A/D columns; NaN where a dimension is not predicted
            full = out["vad"].new_full((out["vad"].shape[0], len(VAD_DIMS)), float("nan"))
            full[:, self.vad_index] = out["vad"]
            out["vad"] = full
        return out

    def epoch_logs(self):
        return {
            f"{m}_layer_weights": [round(w, 3) for w in b.layer_sum.layer_weights()] for m, b in self.branches.items()
        }
