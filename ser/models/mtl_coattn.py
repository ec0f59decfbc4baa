"""Multi-task SER with co-attention fusion and the SWFC loss (Wang et al., 2025, "Enhancing Speech
Emotion Recognition with Multi-Task Learning and Dynamic Feature Fusion").

One s3prl SSL upstream (WavLM-large by default) is fine-tuned end to end. Every task has its own
branch over the upstream's hidden layers: a weighted layer sum (speaker cues sit in lower layers,
words in upper ones), a projection to `dim` and `branch_layers` Transformer layers.

  emotion  (main)  branch frames -> co-attention fusion with the auxiliary branches (ser.nn.
                   gated_fusion) -> pooled vector -> classifier; CE + swfc_weight * SWFC on a
                   projection of the same vector (ser.losses.contrastive)
  gender           mean pooling -> linear -> CE over m/f (unknown genders excluded)
  speaker          mean+std pooling -> linear speaker embedding -> AAM-softmax over the known
                   training speakers (unknown / pseudo speakers excluded); evaluated as verification
  asr              CTC head over the characters of the transcript (ser.nn.ctc_head)

Total loss = emotion CE + swfc_weight * SWFC + sum_t weight_t * L_t over the auxiliary tasks.
`aux_tasks`, `coattn` and `swfc` switch the parts off for the ablations. `swfc_queue_size` keeps
that many past training embeddings as extra SWFC positives/negatives (ser.losses.contrastive), so
rare classes have positives; the epoch logs give each class's configured (`swfc_w_*`) and
effective (`swfc_eff_*`: weight x has-positive) SWFC weight.
"""

from pathlib import Path

import torch
from torch import nn

from ser.features.upstream import Upstream
from ser.losses.contrastive import SWFCLoss
from ser.losses.margin import make_margin_head
from ser.nn.ctc_head import CTCHead
from ser.nn.gated_fusion import GatedCoAttentionFusion
from ser.nn.layer_sum import WeightedLayerSum
from ser.nn.pooling import lengths_to_mask, make_pooling, masked_mean, masked_mean_std
from ser.text.vocab import CharVocab, normalize_text, read_texts
from ser.utils import SerError, get_logger

log = get_logger("mtl_coattn")

AUX_TASKS = ("gender", "speaker", "asr")
POOLINGS = ("mean", "attentive")
SPEAKER_LOSSES = ("aam", "am", "ce")  # AAM-softmax, AM-softmax, plain softmax (ser.losses.margin)


class TaskBranch(nn.Module):
    """Weighted sum of the upstream layers -> linear projection -> pre-norm Transformer layers."""

    def __init__(self, num_layers: int, in_dim: int, dim: int, layers: int, heads: int, dropout: float):
        super().__init__()
        self.layer_sum = WeightedLayerSum(num_layers)
        self.proj = nn.Linear(in_dim, dim)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim, heads, 4 * dim, dropout, activation="gelu", batch_first=True, norm_first=True
            )
            for _ in range(layers)
        )

    def forward(self, hidden: list, lens: torch.Tensor) -> torch.Tensor:
        x = self.proj(self.layer_sum(hidden))
        pad = ~lengths_to_mask(lens, x.shape[1])
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=pad)
        return x


class MTLCoAttn(nn.Module):
    @classmethod
    def prepare_config(cls, conf: dict, train_dir: Path, exp_dir: Path) -> dict:
        """The asr task's character vocabulary, built from the fold's training transcripts into
        exp_dir/tokens.txt (ser.train.experiment calls this before building the model)."""
        if "asr" not in (conf.get("aux_tasks", AUX_TASKS) or []) or conf.get("vocab"):
            return conf
        text = train_dir / "text"
        if not text.is_file():
            raise SerError(
                f"{text} not found: the asr (CTC) task needs the training transcripts; "
                "drop 'asr' from model.aux_tasks to train without them"
            )
        vocab = CharVocab.build(read_texts(text))
        vocab.save(exp_dir / "tokens.txt")
        log.info("CTC vocabulary: blank + %d characters from %s -> %s", len(vocab) - 1, text, exp_dir / "tokens.txt")
        return {**conf, "vocab": str(exp_dir / "tokens.txt")}

    def __init__(
        self,
        info: dict,
        upstream: str = "wavlm_large",
        upstream_path: str | None = None,
        upstream_trainable: bool = True,
        freeze_cnn: bool = True,
        dim: int = 256,
        branch_layers: int = 1,
        heads: int = 4,
        dropout: float = 0.1,
        pooling: str = "attentive",
        aux_tasks=AUX_TASKS,
        gender_weight: float = 0.1,
        speaker_weight: float = 0.1,
        asr_weight: float = 0.1,
        coattn: bool = True,
        coattn_reverse: bool = True,
        spk_embed_dim: int = 192,
        spk_loss: str = "aam",
        spk_margin: float = 0.2,
        spk_scale: float = 30.0,
        unknown_speaker_prefix: str = "unk_",
        vocab: str | None = None,
        swfc: bool = True,
        swfc_weight: float = 0.5,
        swfc_temperature: float = 0.1,
        swfc_focal_gamma: float = 2.0,
        swfc_class_power: float = 0.5,
        swfc_focal_source: str = "classifier",
        swfc_proj_dim: int = 128,
        swfc_queue_size: int = 0,
    ):
        super().__init__()
        self.aux_tasks = list(aux_tasks or [])
        bad = [t for t in self.aux_tasks if t not in AUX_TASKS]
        if bad or len(set(self.aux_tasks)) != len(self.aux_tasks):
            raise SerError(f"mtl_coattn: aux_tasks must be distinct names from {list(AUX_TASKS)}, got {self.aux_tasks}")
        if pooling not in POOLINGS or spk_loss not in SPEAKER_LOSSES:
            raise SerError(
                f"mtl_coattn: pooling must be one of {POOLINGS} and spk_loss one of {SPEAKER_LOSSES}, "
                f"got '{pooling}', '{spk_loss}'"
            )
        self.classes = list(info["classes"])
        num_classes = info["num_classes"]
        self.weights = {"gender": gender_weight, "speaker": speaker_weight, "asr": asr_weight}

        self.upstream = Upstream(upstream, upstream_path, trainable=upstream_trainable)
        if upstream_trainable and freeze_cnn:
            frozen = 0
            for name, module in self.upstream.model.named_modules():
                if name.endswith("feature_extractor"):  # the CNN waveform encoder of wav2vec2/HuBERT/WavLM
                    for p in module.parameters():
                        p.requires_grad_(False)
                        frozen += p.numel()
            log.info("upstream %s: fine-tuned end to end, CNN feature encoder frozen (%d parameters)", upstream, frozen)
        n_layers, in_dim = self.upstream.num_layers, self.upstream.hidden_size

        def branch():
            return TaskBranch(n_layers, in_dim, dim, branch_layers, heads, dropout)

        self.branches = nn.ModuleDict({t: branch() for t in ["emotion", *self.aux_tasks]})
        self.coattn = bool(coattn and self.aux_tasks)
        if self.coattn:
            self.fusion = GatedCoAttentionFusion(dim, self.aux_tasks, heads, dropout, coattn_reverse, pooling)
        else:
            self.pool = make_pooling(pooling, dim)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(dim, num_classes)

        self.swfc = None
        if swfc:
            self.swfc_weight = swfc_weight
            self.swfc = SWFCLoss(
                num_classes,
                info.get("class_counts"),
                swfc_temperature,
                swfc_focal_gamma,
                swfc_class_power,
                swfc_focal_source,
                swfc_queue_size,
                swfc_proj_dim,
            )
            # SupCon's projection head: the contrastive geometry lives on a separate, normalised space.
            self.swfc_proj = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, swfc_proj_dim))
        self._log_class_balance(info.get("class_counts"))

        if "gender" in self.aux_tasks:
            self.gender_head = nn.Linear(dim, 2)
        if "speaker" in self.aux_tasks:
            speakers = list(info.get("speakers") or [])
            known = [s for s in speakers if not s.startswith(unknown_speaker_prefix)]
            if len(known) < 2:
                raise SerError(
                    f"mtl_coattn: the speaker task needs at least 2 known training speakers, found "
                    f"{len(known)} (ids starting with '{unknown_speaker_prefix}' are unknown)"
                )
            index = {s: i for i, s in enumerate(known)}
            # Dataset speaker index (position among all training speaker ids) -> class, -1 if unknown.
            self.register_buffer("spk_map", torch.tensor([index.get(s, -1) for s in speakers], dtype=torch.long))
            self.spk_embed = nn.Linear(2 * dim, spk_embed_dim)
            self.spk_head = make_margin_head(spk_loss, spk_embed_dim, len(known), spk_margin, spk_scale)
            log.info(
                "speaker task: %d known training speakers (%d pseudo speakers of unknown identity excluded)",
                len(known),
                len(speakers) - len(known),
            )
        if "asr" in self.aux_tasks:
            if not vocab:
                raise SerError(
                    "mtl_coattn: the asr task needs model.vocab, the tokens.txt of the training "
                    "transcripts (prepare_config writes one into the exp dir)"
                )
            self.vocab = CharVocab.load(vocab)
            self.ctc = CTCHead(dim, len(self.vocab), dropout)
        self._epoch = {}

    # ---- logging of the class-imbalance handling and the fusion gates -------------------------------

    def pretrained_parameters(self):
        """The SSL upstream's parameters (train.head_lr gives every other part its own lr)."""
        return self.upstream.parameters()

    def _log_class_balance(self, counts):
        if counts:
            log.info("class counts (train): %s", ", ".join(f"{c} {n}" for c, n in zip(self.classes, counts)))
        if self.swfc is not None:
            log.info(
                "SWFC class weights (before the focal term): %s",
                ", ".join(f"{c} {w:.3f}" for c, w in zip(self.classes, self.swfc.class_weight.tolist())),
            )

    def on_epoch_start(self, epoch, history):
        self._epoch = {}

    def _accumulate(self, key, value, n=1):
        s, c = self._epoch.get(key, (0.0, 0))
        self._epoch[key] = (s + float(value) * n, c + n)

    def epoch_logs(self) -> dict:
        """Mean effective SWFC weight per class and mean gate values over the epoch's training batches."""
        return {k: round(s / c, 4) for k, (s, c) in sorted(self._epoch.items()) if c}

    # ---- model -----------------------------------------------------------------------------------------

    def encode(self, batch):
        if "wav" not in batch:
            raise SerError("mtl_coattn fine-tunes the upstream on audio: set data.use_wav: true in the config")
        hidden, lens = self.upstream(batch["wav"], batch["wav_lens"])
        lens = lens.to(hidden[0].device).clamp(min=1, max=hidden[0].shape[1])
        feats = {t: b(hidden, lens) for t, b in self.branches.items()}
        if self.coattn:
            utt, _, gates = self.fusion(feats["emotion"], {t: feats[t] for t in self.aux_tasks}, lens)
        else:
            utt, gates = self.pool(feats["emotion"], lens), {}
        return feats, utt, lens, gates

    def forward(self, batch):
        feats, utt, lens, gates = self.encode(batch)
        logits = self.classifier(self.dropout(utt))
        y = batch["emo"]
        ce = nn.functional.cross_entropy(logits, y)
        loss, logs = ce, {"emo_ce": float(ce.detach())}
        if self.swfc is not None:
            swfc, weights, has_pos = self.swfc(self.swfc_proj(utt), y, torch.softmax(logits.detach(), -1))
            loss = loss + self.swfc_weight * swfc
            logs["swfc"] = float(swfc.detach())
            effective = weights * has_pos  # what the loss applies: an anchor without a positive counts 0
            for c in torch.unique(y).tolist():
                sel = y == c
                self._accumulate(f"swfc_w_{self.classes[c]}", weights[sel].mean(), int(sel.sum()))
                self._accumulate(f"swfc_eff_{self.classes[c]}", effective[sel].mean(), int(sel.sum()))
        for name, value in gates.items():
            self._accumulate(name, value, len(y))
        if "gender" in self.aux_tasks:
            g = self._target(batch, "gender")
            keep = g >= 0
            if keep.any():
                lg = nn.functional.cross_entropy(self.gender_head(masked_mean(feats["gender"], lens))[keep], g[keep])
                loss = loss + self.weights["gender"] * lg
                logs["gender_ce"] = float(lg.detach())
        if "speaker" in self.aux_tasks:
            s = self._target(batch, "spk")
            s = torch.where(s >= 0, self.spk_map[s.clamp(min=0)], s)
            keep = s >= 0
            if keep.any():
                emb = self.spk_embed(masked_mean_std(feats["speaker"], lens))
                ls = self.spk_head.loss(emb[keep], s[keep])
                loss = loss + self.weights["speaker"] * ls
                logs["spk_aam"] = float(ls.detach())
        if "asr" in self.aux_tasks:
            if "text" not in batch:
                raise SerError("mtl_coattn: the asr task needs transcripts: the data dir has no text file")
            la = self.ctc.loss(feats["asr"], lens, [self.vocab.encode(t) for t in batch["text"]])
            loss = loss + self.weights["asr"] * la
            logs["ctc"] = float(la.detach())
        return {"loss": loss, "logs": logs}

    @staticmethod
    def _target(batch, key):
        if key not in batch:
            raise SerError(f"mtl_coattn: the batch has no '{key}' targets (is utt2gender / utt2spk in the data dir?)")
        return batch[key]

    def predict(self, batch):
        _, utt, _, _ = self.encode(batch)
        return {"emo_logits": self.classifier(utt)}

    @torch.no_grad()
    def predict_all(self, batch) -> dict:
        """Every task's output: emo_logits, gender_logits, spk_embed (B, E), text_pred (normalised strings)."""
        feats, utt, lens, _ = self.encode(batch)
        out = {"emo_logits": self.classifier(utt)}
        if "gender" in self.aux_tasks:
            out["gender_logits"] = self.gender_head(masked_mean(feats["gender"], lens))
        if "speaker" in self.aux_tasks:
            out["spk_embed"] = self.spk_embed(masked_mean_std(feats["speaker"], lens))
        if "asr" in self.aux_tasks:
            out["text_pred"] = [normalize_text(self.vocab.decode(ids)) for ids in self.ctc.decode(feats["asr"], lens)]
        return out
