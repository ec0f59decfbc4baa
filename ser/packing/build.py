"""Packing a trained system from its experiment dirs: the chosen folds (the best by test UA, or all as
an ensemble) of each member system, the fusion weights and class priors of a fused system, the
feature recipe each model reads (from the stores' feats.meta.json), and RESULTS.md."""

import json
import time
from pathlib import Path

from ser.config import parse_yaml
from ser.eval.fusion import class_priors
from ser.packing.archive import write_archive
from ser.packing.checkpoints import checkpoint_files, checkpoint_sha256, checkpoint_size
from ser.train.experiment import closed_form
from ser.utils import SerError, get_logger

log = get_logger("pack")


class Unpackable(SerError):
    """The system needs what a recording alone does not give (transcripts, other utterances of its
    speaker): a recipe's stage 5 reports it and goes on."""


def computable_kinds() -> set:
    from ser.features.classical import EXTRACTORS
    from ser.features.functionals import SETS

    return {"upstream", *EXTRACTORS, *SETS}


NORM_KEYS = ("cmvn", "running_mean", "running_var", "mean", "scale")


def choose_folds(system_dir: Path, folds: list[str], select: str) -> list[str]:
    """`all`, one fold number, or `best`: the fold whose test predictions scored the highest UA."""
    if select == "all":
        return list(folds)
    if select != "best":
        if select not in folds:
            raise SerError(f"--select {select}: not one of the folds {' '.join(folds)} (or best, all)")
        return [select]
    uas = {}
    for k in folds:
        path = system_dir / f"fold{k}" / "infer_test" / "scores.json"
        if not path.is_file():
            raise SerError(f"{path} not found: --select best needs the scored folds (run the scoring stage first)")
        uas[k] = json.loads(path.read_text()).get("ua", float("-inf"))
    return [max(folds, key=lambda k: (uas[k], -folds.index(k)))]


def feature_recipe(name: str, meta: dict, exp: Path) -> dict:
    """What predict needs to compute store `name` from audio, from the store's feats.meta.json."""
    if not meta.get("kind"):
        raise SerError(
            f"{exp}/info.json: feature store '{name}' has no recorded kind (no feats.meta.json when it was "
            "trained): dump the store again (stage 1) and retrain, so the packed model knows its features"
        )
    if meta["kind"] not in computable_kinds():
        raise Unpackable(
            f"{exp}: feature store '{name}' holds {meta['kind']} features, which ser-infer cannot compute "
            "from audio alone (e.g. text embeddings of transcripts)"
        )
    recipe = {"kind": meta["kind"], "float16": bool(meta.get("float16", False))}
    if meta["kind"] == "upstream":
        recipe.update(
            upstream=meta["upstream"],
            upstream_path=meta.get("upstream_path") or None,
            layers=list(meta["layers"]),
            num_layers=meta["num_layers"],
            dim=meta["dim"],
            # The stores were made from unpadded input (one clip, or equal-length or probed-exact
            # batches): predict runs windows the same way; whisper_*_padded pads itself to 30 s.
            padding="whisper 30 s windows" if meta["upstream"].endswith("_padded") else "none",
            dump_batching=meta.get("batching"),
        )
    return recipe


def norm_stats(weights: dict) -> dict:
    """The normalisation statistics inside the weights (scalers, CMVN buffers), readable as JSON."""
    return {
        k: v.tolist()
        for k, v in weights.items()
        if hasattr(v, "tolist") and any(n in k.rsplit(".", 1)[-1] for n in NORM_KEYS) and v.numel() <= 100000
    }


class Packer:
    def __init__(self, embed_max_mb: float):
        self.files, self.checkpoints, self.embed_max = {}, {}, embed_max_mb * 1e6

    def checkpoint(self, upstream: str, path: str) -> str:
        """Records (and, when small enough, embeds) a checkpoint; returns its sha256."""
        path = Path(path).resolve()
        sha = checkpoint_sha256(path)
        if sha not in self.checkpoints:
            embed = checkpoint_size(path) <= self.embed_max
            self.checkpoints[sha] = {
                "upstream": upstream,
                "path": str(path),
                "sha256": sha,
                "name": path.name,
                "embedded": embed,
            }
            if embed:
                for f in checkpoint_files(path):
                    rel = f.relative_to(path) if path.is_dir() else Path()
                    self.files[f"upstreams/{sha}/{path.name}/{rel}".rstrip("/.")] = f
        return sha

    def member_fold(self, prefix: str, exp: Path) -> dict:
        import torch

        for f in ("config.yaml", "info.json", "model.best.pt"):
            if not (exp / f).is_file():
                raise SerError(f"{exp / f} not found: train this fold first (stage 2)")
        conf = parse_yaml((exp / "config.yaml").read_text())
        info = json.loads((exp / "info.json").read_text())
        model = conf.get("model", {})
        if closed_form(model.get("name")) and model.get("speaker_norm"):
            raise Unpackable(
                f"{exp}: model.speaker_norm normalises over each test speaker's utterances, which a single "
                "recording does not have: this system cannot be packed for ser-infer"
            )
        recipes = {n: feature_recipe(n, info.get("feats", {}).get(n, {}), exp) for n in conf["data"].get("feats", [])}
        for r in recipes.values():
            if r.get("upstream_path"):
                r["checkpoint"] = self.checkpoint(r["upstream"], r["upstream_path"])
        if model.get("upstream_path"):
            model["checkpoint"] = self.checkpoint(model["upstream"], model["upstream_path"])
        weights = torch.load(exp / "model.best.pt", map_location="cpu", weights_only=True)
        self.files[f"{prefix}/config.json"] = json.dumps(conf, indent=1)
        self.files[f"{prefix}/info.json"] = json.dumps(info, indent=1)
        self.files[f"{prefix}/features.json"] = json.dumps(recipes, indent=1)
        self.files[f"{prefix}/normalisation.json"] = json.dumps(norm_stats(weights))
        self.files[f"{prefix}/model.pt"] = exp / "model.best.pt"
        return {"classes": info["classes"], "model": model.get("name")}


def pack_system(
    out,
    system_dir,
    folds_root,
    folds: list[str],
    select: str = "best",
    groups: list[list[str]] | None = None,
    balance: bool = False,
    name: str | None = None,
    embed_max_mb: float = 50.0,
) -> dict:
    """Writes the archive `out` of the system in `system_dir` (a fused one: `groups` of member
    system dirs, averaged within a group, groups weighing equally); returns its manifest."""
    system_dir = Path(system_dir)
    groups = groups or [[str(system_dir)]]
    chosen = choose_folds(system_dir, [str(k) for k in folds], select)
    packer, members, names = Packer(embed_max_mb), {}, {}
    for group in groups:
        for d in group:
            label = Path(d).name
            while label in members:
                label += "_"
            names[d] = label
            members[label] = {"source": str(Path(d).resolve()), "weight": 1.0 / (len(groups) * len(group))}
            for k in chosen:
                got = packer.member_fold(f"members/{label}/fold{k}", Path(d) / f"fold{k}")
                members[label].update(model=got["model"])
                classes = members[label].setdefault("classes", got["classes"])
                if got["classes"] != classes:
                    raise SerError(f"{d}: fold {k} has classes {got['classes']}, other folds {classes}")
    classes = next(iter(members.values()))["classes"]
    for label, m in members.items():
        if m["classes"] != classes:
            raise SerError(f"member {label} predicts classes {m['classes']}, member of {classes} too: not fusable")
    priors = {}
    if balance:
        for k in chosen:
            dirs = [d for d in (Path(folds_root) / f"fold{k}" / s for s in ("train", "valid")) if d.is_dir()]
            priors[k] = class_priors(dirs, classes).tolist()
    results = system_dir / "RESULTS.md"
    if results.is_file():
        packer.files["RESULTS.md"] = results
    manifest = {
        "name": name or system_dir.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": str(system_dir.resolve()),
        "classes": classes,
        "folds": chosen,
        "select": select,
        "groups": [[names[d] for d in g] for g in groups],
        "members": members,
        "balance": bool(balance),
        "priors": priors,
        "checkpoints": packer.checkpoints,
        "results": "RESULTS.md" if results.is_file() else None,
    }
    write_archive(out, manifest, packer.files)
    log.info(
        "packed %s (%s, fold%s %s) into %s",
        manifest["name"],
        " + ".join(members),
        "s" if len(chosen) > 1 else "",
        " ".join(chosen),
        out,
    )
    return manifest
