"""A packed model applied to waveforms: each member system of each packed fold computes its
posteriors from features made here (one computation per distinct feature recipe), a fused system
weighs its members and divides by the fold's training class priors as `ser.bin.fuse_posteriors`
does, and the folds of an ensemble are averaged."""

import json

import numpy as np
import torch

from ser.data.audio import SAMPLE_RATE
from ser.data.dataset import collate, unscale_vad
from ser.models import build_model
from ser.packing.archive import Archive
from ser.packing.features import FeatureComputer
from ser.train.experiment import GENDERS, closed_form
from ser.train.trainer import to_device
from ser.utils import SerError


def recipe_key(recipe: dict) -> str:
    return json.dumps(recipe, sort_keys=True)


class FoldModel:
    """One member system's model of one fold."""

    def __init__(self, archive: Archive, prefix: str, device, upstream_paths: dict):
        self.conf = archive.json(f"{prefix}/config.json")
        self.info = archive.json(f"{prefix}/info.json")
        self.recipes = archive.json(f"{prefix}/features.json")
        self.device = device
        model_conf = dict(self.conf["model"])
        self.closed_form = closed_form(model_conf.get("name"))
        weights = archive.weights(f"{prefix}/model.pt")
        if self.closed_form:
            self.arrays = {k: v.numpy() for k, v in weights.items()}
            self.pool_layers = [int(x) for x in model_conf.get("pool_layers") or []]
            return
        sha = model_conf.pop("checkpoint", None)
        if sha:
            model_conf["upstream_path"] = archive.checkpoint(sha, upstream_paths)
        self.model = build_model(model_conf, self.info)
        self.model.load_state_dict(weights)
        self.model.to(device).eval()

    def rows(self, feats: list[np.ndarray], recipe: dict) -> np.ndarray:
        """The logistic regression's input rows, as ser.models.pooled_logreg reads its store."""
        from ser.features.upstream import select_layer

        if not self.pool_layers:
            return np.stack([f.reshape(-1) for f in feats]).astype(np.float64)
        n, dim = int(recipe["num_layers"]), int(recipe["dim"])
        out = []
        for f in feats:
            parts = []
            for layer in self.pool_layers:
                li = select_layer(layer, n)
                x = f[:, li * dim : (li + 1) * dim].astype(np.float64)
                parts += [x.mean(0), x.std(0)]
            out.append(np.concatenate(parts))
        return np.stack(out)

    def __call__(self, feats: dict, wavs: list[np.ndarray]) -> dict:
        """feats: {store name: list of (frames, dims)} -> {"post": (N, C)[, "vad", "gender"]}."""
        if self.closed_form or not self.conf["data"].get("use_wav"):
            return self.run(feats, wavs)
        # A model reading the waveform runs its upstream on it: zero padding changes the output of
        # several upstreams (ser.bin.dump_feats), so only clips of equal length share a batch.
        from ser.features.dump import equal_length_groups

        parts, order = [], []
        for group in equal_length_groups(wavs):
            parts.append(self.run({n: [v[i] for i in group] for n, v in feats.items()}, [wavs[i] for i in group]))
            order += group
        inverse = np.argsort(order)
        return {k: np.concatenate([p[k] for p in parts])[inverse] for k in parts[0]}

    @torch.no_grad()
    def run(self, feats: dict, wavs: list[np.ndarray]) -> dict:
        from ser.models.pooled_logreg import softmax_posteriors

        names = list(self.conf["data"].get("feats", []))
        if self.closed_form:
            return {"post": softmax_posteriors(self.arrays, self.rows(feats[names[0]], self.recipes[names[0]]))}
        data = self.conf["data"]
        limit = int(data["max_wav_seconds"] * SAMPLE_RATE) if data.get("max_wav_seconds") else None
        items = []
        for i, wav in enumerate(wavs):
            item = {"utt": str(i), **{n: feats[n][i] for n in names}}
            if data.get("use_wav"):
                item["wav"] = wav[:limit] if limit else wav
            items.append(item)
        batch = to_device(collate(items), self.device)
        pred = self.model.predict_all(batch) if hasattr(self.model, "predict_all") else self.model.predict(batch)
        out = {}
        if "emo_post" in pred:
            out["post"] = np.asarray(pred["emo_post"].float().cpu(), dtype=np.float64)
        elif "emo_logits" in pred:
            out["post"] = torch.softmax(pred["emo_logits"].float(), dim=1).cpu().numpy().astype(np.float64)
        if "vad" in pred:
            out["vad"] = unscale_vad(pred["vad"].float().cpu().numpy(), data.get("vad_range"))
        if "gender_logits" in pred:
            out["gender"] = torch.softmax(pred["gender_logits"].float(), dim=1).cpu().numpy()
        return out


class Predictor:
    """Loads an archive once; `predictor(wavs)` -> {"post": (N, C), "vad"?: (N, 3), "gender"?: (N, 2)}."""

    def __init__(self, path, device="cpu", upstream_paths: dict | None = None):
        self.archive = Archive(path)
        m = self.archive.manifest
        self.name, self.classes, self.folds = m["name"], list(m["classes"]), list(m["folds"])
        self.balance, self.priors = m["balance"], {k: np.asarray(v) for k, v in m.get("priors", {}).items()}
        self.genders = GENDERS
        given = dict(upstream_paths or {})
        self.computers, self.fold_models = {}, {}
        for k in self.folds:
            models = []
            for label, member in m["members"].items():
                fm = FoldModel(self.archive, f"members/{label}/fold{k}", device, given)
                for recipe in fm.recipes.values():
                    key = recipe_key(recipe)
                    if key not in self.computers:
                        path = (
                            self.archive.checkpoint(recipe["checkpoint"], given) if recipe.get("checkpoint") else None
                        )
                        self.computers[key] = FeatureComputer(recipe, path, device)
                models.append((member["weight"], fm))
            self.fold_models[k] = models

    @property
    def results(self) -> str | None:
        name = self.archive.manifest.get("results")
        return self.archive.text(name) if name else None

    def __call__(self, wavs: list[np.ndarray]) -> dict:
        if not wavs:
            raise SerError("no audio to predict")
        feats = {key: computer(wavs) for key, computer in self.computers.items()}
        post_sum, extra = 0.0, {}
        for k, models in self.fold_models.items():
            fused, total = 0.0, 0.0
            for weight, fm in models:
                out = fm({n: feats[recipe_key(r)] for n, r in fm.recipes.items()}, wavs)
                fused = fused + weight * out["post"]
                total += weight
                for key in ("vad", "gender"):
                    if key in out:
                        extra.setdefault(key, []).append(out[key])
            fused = fused / total
            if self.balance:
                p = self.priors[k]
                scale = np.where(p > 0, 1.0 / np.where(p > 0, p, 1.0), 1.0)
                fused = fused * scale
                fused = fused / np.maximum(fused.sum(1, keepdims=True), 1e-12)
            post_sum = post_sum + fused
        result = {"post": post_sum / len(self.fold_models)}
        for key, values in extra.items():
            result[key] = np.mean(values, axis=0)
        return result
