"""One fold's experiment, as every recipe runs it: a run config (base + overlays + overrides), the
feature stores it reads, its datasets, the model trained into an exp dir, and that model's
predictions written for scoring. `ser.bin.train` and `ser.bin.infer` are this module's command
lines, for every model of `ser.models`.

What differs between models is asked of the model class, never special-cased here:
- `prepare_config(model_conf, train_dir, exp_dir) -> model_conf` (classmethod, optional): files a
  model derives from the fold's training data before it is built (mtl_coattn's CTC vocabulary);
- `predict_all(batch)` (optional): every task's output at inference (gender, speaker embeddings,
  transcripts) instead of `predict`'s emotion / V-A-D outputs;
- `fits_in_closed_form = True`: a model fitted in one call (`fit`, `predict`; the scikit-learn
  logistic regression of `ser.models.pooled_logreg`) instead of by the epoch trainer.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import torch
import yaml

from ser.config import load_config, parse_yaml
from ser.config_check import check_run_config, origins
from ser.data.datadir import DataDir, write_kv
from ser.data.dataset import UttDataset, unscale_vad
from ser.eval.posteriors import write_posteriors
from ser.features.store import FeatReader
from ser.models import build_model, model_class
from ser.train.checkpoint import read_weights
from ser.train.config_record import check_resumable, clear_model, will_resume
from ser.train.curves import write_curves
from ser.train.distributed import is_main_process
from ser.train.trainer import TrainConfig, Trainer, make_loader, run_predict, to_device
from ser.utils import SerError, atomic_path, get_logger, progress, set_seed, write_text_atomic

log = get_logger("experiment")

DEFAULTS = {
    "data": {
        "classes": ["neu", "hap", "ang", "sad"],
        "vad_range": [1.0, 5.0],
        "use_wav": False,
        "feats": [],
        "max_wav_seconds": None,
    },
    "model": {"name": "baseline"},
    "train": vars(TrainConfig()).copy(),
}
GENDERS = ("m", "f")


def load_run_config(path, overlays=(), overrides=None) -> dict:
    """The config file over DEFAULTS, then each overlay, then `--set` overrides; `model` keys are
    checked when the model class is built."""
    conf = load_config(path, DEFAULTS, overrides, overlays=overlays, free=("model",))
    check_run_config(conf, DEFAULTS, origins(path, overlays, overrides))
    return conf


class FeatStores:
    """`name=scp` feature stores, opened only when a config reads them: a recipe may offer every
    store it made while a system reads two of them."""

    def __init__(self, items=(), stage_hint="the feature-dumping stage"):
        self.scps, self.stage_hint, self._open = {}, stage_hint, {}
        for item in items or []:
            if "=" not in item:
                raise SerError(f"--feat '{item}' must look like name=path/feats.scp")
            name, scp = item.split("=", 1)
            self.scps[name] = scp

    def pick(self, names) -> dict:
        missing = [n for n in names if n not in self.scps]
        if missing:
            given = ", ".join(self.scps) or "none"
            raise SerError(
                f"the config reads feature store '{missing[0]}', which no stage makes here (stores given: "
                f"{given}; they are made by {self.stage_hint}); pass it with --feat name=scp"
            )
        for n in names:
            if n not in self._open:
                self._open[n] = FeatReader(self.scps[n], stage_hint=self.stage_hint)
        return {n: self._open[n] for n in names}


def make_dataset(data_dir, conf, feats: FeatStores, speakers=None) -> UttDataset:
    d = conf["data"]
    return UttDataset(
        DataDir.load(data_dir),
        d["classes"],
        feats=feats.pick(d["feats"]),
        use_wav=d["use_wav"],
        vad_range=d["vad_range"],
        speakers=speakers,
        max_wav_seconds=d["max_wav_seconds"],
    )


def data_info(conf, feats: FeatStores, train_set) -> dict:
    counts = [0] * len(conf["data"]["classes"])
    for e in (train_set.emo or {}).values():
        counts[e] += 1
    return {
        "num_classes": len(conf["data"]["classes"]),
        "classes": conf["data"]["classes"],
        "class_counts": counts,
        "feats": {name: reader.meta for name, reader in feats.pick(conf["data"]["feats"]).items()},
        "speakers": sorted(set(train_set.data.utt2spk.values())),
    }


def closed_form(name) -> bool:
    return bool(name) and getattr(model_class(name), "fits_in_closed_form", False)


def fit_closed_form(conf: dict, train_dir, valid_dir, exp: Path, feats: FeatStores) -> None:
    """A model fitted in one call: config.yaml, info.json, then the model's own files."""
    stores = feats.pick(conf["data"]["feats"])
    speakers = {s for d in (train_dir, valid_dir) for s in DataDir.load(d).utt2spk.values()}
    info = {
        "num_classes": len(conf["data"]["classes"]),
        "classes": conf["data"]["classes"],
        "feats": {name: reader.meta for name, reader in stores.items()},
        "speakers": sorted(speakers),
    }
    model = build_model(conf["model"], info)
    write_text_atomic(exp / "config.yaml", yaml.safe_dump(conf, sort_keys=False))
    write_text_atomic(exp / "info.json", json.dumps(info, indent=1))
    model.fit(train_dir, valid_dir, stores, exp, seed=conf["train"]["seed"])


def train(
    conf: dict, train_dir, valid_dir, exp_dir, feats: FeatStores, resume=True, restart_finished=False
) -> Trainer | None:
    """Trains (or resumes) one fold into exp_dir: config.yaml, info.json, checkpoints, history.
    Returns the trainer (None for a model fitted in closed form)."""
    exp = Path(exp_dir)
    exp.mkdir(parents=True, exist_ok=True)
    name = conf["model"].get("name")
    if closed_form(name):
        if not is_main_process():  # fitted in one call: under torchrun, rank 0 fits it alone
            return None
        set_seed(conf["train"]["seed"])
        fit_closed_form(conf, train_dir, valid_dir, exp, feats)
        return None
    prepare = getattr(model_class(name), "prepare_config", None) if name else None
    if prepare is not None:
        conf["model"] = prepare(dict(conf["model"]), Path(train_dir), exp)
    tconf = TrainConfig.from_dict(conf["train"], "train config: train")
    resume = will_resume(exp, resume, restart_finished)
    check_resumable(exp, conf, trained=resume)  # before config.yaml is rewritten
    set_seed(tconf.seed)
    train_set = make_dataset(train_dir, conf, feats)
    speakers = {s: i for i, s in enumerate(sorted(set(train_set.data.utt2spk.values())))}
    train_set.speakers = speakers
    valid_set = make_dataset(valid_dir, conf, feats, speakers)
    info = data_info(conf, feats, train_set)
    model = build_model(conf["model"], info)
    if is_main_process():  # under DDP, rank 0 writes for every rank
        if not resume:
            clear_model(exp)
        write_text_atomic(exp / "config.yaml", yaml.safe_dump(conf, sort_keys=False))
        write_text_atomic(exp / "info.json", json.dumps(info, indent=1))
    log.info(
        "model %s: %.2fM trainable parameters; outputs in %s",
        conf["model"]["name"],
        sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6,
        exp,
    )
    trainer = Trainer(model, tconf, exp, info["num_classes"])
    trainer.fit(train_set, valid_set, resume=resume)
    if is_main_process() and (exp / "history.json").is_file():  # curves.png (+ TensorBoard events, with the extra)
        write_curves(exp)
    return trainer


def load_trained(exp_dir, device="cpu", model_overrides=None):
    """The fold's best model; `model_overrides` ({key: value}) change inference-time model options."""
    exp_dir = Path(exp_dir)
    best = exp_dir / "model.best.pt"
    if not best.is_file():
        raise SerError(f"{best} not found: run the training stage for this fold first")
    conf = parse_yaml((exp_dir / "config.yaml").read_text())
    conf["model"].update(model_overrides or {})
    info = json.loads((exp_dir / "info.json").read_text())
    model = build_model(conf["model"], info)
    model.load_state_dict(read_weights(best, device, what="model"))
    return model.to(device), conf, info


@torch.no_grad()
def predict_all(model, loader, device) -> dict:
    """`model.predict_all` over a loader -> {"utts", output name: stacked numpy array or list}."""
    model.eval()
    out = {"utts": []}
    for batch in progress(loader, desc="infer", leave=False):
        pred = model.predict_all(to_device(batch, device))
        out["utts"].extend(batch["utt"])
        for key, value in pred.items():
            out.setdefault(key, []).extend(value if isinstance(value, list) else value.float().cpu().numpy())
    for key in ("emo_logits", "gender_logits", "spk_embed"):
        if key in out:
            out[key] = np.stack(out[key])
    return out


def write_predictions(pred: dict, classes, vad_range, out_dir) -> None:
    """Every output the model gave, into a temporary dir renamed at the end: a killed run leaves
    the previous predictions or none, never a mix.

      utt2emo_pred, utt2post, classes.txt   emotion class and posteriors (ser.eval.posteriors)
      utt2vad_pred                          valence / arousal / dominance on the corpus scale
      utt2gender_pred                       m / f
      spk_embed.npz                         utts and their speaker embeddings (N, E), for verification
      text_pred                             greedy CTC transcript, normalised
    """
    out_dir = Path(out_dir)
    for key in ("emo_post", "emo_logits", "vad"):  # NaN would become class 0 and a score
        if key in pred:
            rows = np.asarray(pred[key], dtype=float)
            if key == "vad":  # a dimension the model does not predict is NaN for every utterance
                rows = rows[:, ~np.isnan(rows).all(axis=0)] if len(rows) else rows
            bad = [u for u, row in zip(pred["utts"], rows) if not np.isfinite(row).all()]
            if bad:
                shown = " ".join(bad[:10])
                raise SerError(f"non-finite {key} for {len(bad)} utterances ({shown}): check their features")
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    utts = pred["utts"]
    if "emo_post" in pred:
        write_posteriors(tmp, utts, pred["emo_post"], classes)
    if "emo_logits" in pred:
        write_posteriors(tmp, utts, torch.softmax(torch.from_numpy(pred["emo_logits"]), dim=1).numpy(), classes)
    if "vad" in pred:
        vad = unscale_vad(pred["vad"], vad_range)
        write_kv(tmp / "utt2vad_pred", {u: " ".join(f"{x:.4f}" for x in v) for u, v in zip(utts, vad)})
    if "gender_logits" in pred:
        write_kv(tmp / "utt2gender_pred", {u: GENDERS[int(p.argmax())] for u, p in zip(utts, pred["gender_logits"])})
    if "spk_embed" in pred:
        with atomic_path(tmp / "spk_embed.npz") as path, open(path, "wb") as f:
            np.savez(f, utts=np.array(utts), embed=pred["spk_embed"].astype(np.float32))
    if "text_pred" in pred:
        write_kv(tmp / "text_pred", dict(zip(utts, pred["text_pred"])))
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)


def infer(exp_dir, data_dir, out_dir, feats: FeatStores, device, model_overrides=None) -> dict:
    """Predicts data_dir with exp_dir's best model into out_dir (see write_predictions)."""
    conf = parse_yaml((Path(exp_dir) / "config.yaml").read_text()) if (Path(exp_dir) / "config.yaml").is_file() else {}
    if closed_form(conf.get("model", {}).get("name")):
        info = json.loads((Path(exp_dir) / "info.json").read_text())
        conf["model"].update(model_overrides or {})
        model = build_model(conf["model"], info)
        utts, post = model.predict(exp_dir, data_dir, feats.pick(conf["data"]["feats"]), info["speakers"])
        write_predictions({"utts": utts, "emo_post": post}, info["classes"], None, out_dir)
        log.info("wrote posteriors of %s for %d utterances of %s to %s", exp_dir, len(utts), data_dir, out_dir)
        return {"utts": utts, "emo_post": post}
    model, conf, info = load_trained(exp_dir, device, model_overrides)
    dataset = make_dataset(data_dir, conf, feats)
    tconf = TrainConfig.from_dict(conf["train"])
    loader = make_loader(dataset, tconf.batch_size, shuffle=False, max_frames=tconf.max_frames_per_batch)
    if hasattr(model, "predict_all"):
        pred = predict_all(model, loader, device)
    else:
        pred = run_predict(model, loader, device, "infer")
    write_predictions(pred, info["classes"], conf["data"]["vad_range"], out_dir)
    log.info(
        "wrote predictions of %s for %d utterances of %s to %s (%s)",
        exp_dir,
        len(pred["utts"]),
        data_dir,
        out_dir,
        ", ".join(k for k in ("emo_logits", "vad", "gender_logits", "spk_embed", "text_pred") if k in pred),
    )
    return pred
