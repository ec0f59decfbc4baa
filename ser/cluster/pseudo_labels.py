"""Multi-scale k-means pseudo-labels: codebooks fitted on one fold's training frames only, labels
for a whole store (see ser.bin.kmeans for the files written to the output dir). A scale whose
model and labels exist is skipped; models are refitted only when missing, from the same seeded
sample, so a resumed run gives the same result as an uninterrupted one.
"""

import json
from pathlib import Path

from ser.cluster.frames import LayerView, check_utts
from ser.cluster.kmeans import KMeans, default_max_fit_frames, fit_multiscale
from ser.cluster.labels import label_store
from ser.data.datadir import DataDir, c_sorted, read_kv
from ser.features.store import FeatReader
from ser.utils import SerError, get_logger, write_text_atomic

log = get_logger("cluster.pseudo_labels")


def parse_ks(text: str) -> list:
    try:
        ks = [int(k) for k in text.split(",") if k.strip()]
    except ValueError:
        ks = []
    if not ks or min(ks) < 1 or len(set(ks)) != len(ks):
        raise SerError(f"--ks wants distinct positive integers like 64,512,4096, got '{text}'")
    return ks


def open_frames(scp: str, layer):
    reader = FeatReader(scp, stage_hint="the feature dump stage (ser.bin.dump_feats)")
    if layer is not None:
        return LayerView(reader, layer)
    if int(reader.meta.get("num_layers", 1)) > 1:
        raise SerError(f"{scp} stores {reader.meta['num_layers']} layers side by side; pick one with --layer")
    return reader


def labels_done(out: Path, k: int, utts) -> bool:
    scp, stats = out / f"labels_k{k}.scp", out / f"labels_k{k}.stats.json"
    return (out / f"km_k{k}.npz").is_file() and scp.is_file() and stats.is_file() and set(read_kv(scp)) == set(utts)


def pseudo_labels(
    feats,
    layer,
    fit_dir,
    label_dirs,
    ks: list,
    out,
    max_fit_frames=None,
    backend: str = "faiss",
    niter: int = 20,
    tol: float = 5e-4,
    schedule: str = "progressive",
    n_init=None,
    seed: int = 0,
    device: str = "auto",
) -> dict:
    """Fits one codebook per K in `ks` on `fit_dir`'s frames of store `feats` and labels every frame
    of `label_dirs`' utterances (None: the whole store) into `out`; returns each K's cluster usage."""
    out = Path(out)
    reader = open_frames(feats, layer)

    fit_data = DataDir.load(fit_dir)
    fit_utts = check_utts(reader, fit_data.utts)
    speakers = sorted(set(fit_data.utt2spk.values()))
    if label_dirs is None:
        label_utts = reader.keys()
    else:
        label_utts = set()
        for d in label_dirs:
            label_utts.update(DataDir.load(d).utts)
        label_utts = check_utts(reader, c_sorted(label_utts))
    max_fit_frames = max_fit_frames or default_max_fit_frames(ks)
    fit_record = {
        "feats": str(Path(feats).resolve()),
        "layer": layer,
        "fit_dir": str(fit_dir),
        "num_fit_utts": len(fit_utts),
        "fit_speakers": speakers,
        "max_fit_frames": max_fit_frames,
        "seed": seed,
        "backend": backend,
        "niter": niter,
        "tol": tol,
        "schedule": schedule,
    }
    log.info(
        "fitting on %d utterances of %d speakers from %s: %s",
        len(fit_utts),
        len(speakers),
        fit_dir,
        " ".join(speakers),
    )
    log.info("labelling %d utterances; outputs go to %s", len(label_utts), out)

    record_path = out / "fit_info.json"
    if record_path.is_file():
        old = json.loads(record_path.read_text())
        changed = {key for key in fit_record if key != "fit_dir" and old.get(key) != fit_record[key]}
        if changed:
            raise SerError(
                f"{out} holds k-means fitted with other settings ({', '.join(sorted(changed))} differ); "
                "remove it or choose another --out"
            )
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "fit_utts", "".join(u + "\n" for u in fit_utts))
    write_text_atomic(record_path, json.dumps(fit_record, indent=1))

    todo = [k for k in ks if not labels_done(out, k, label_utts)]
    for k in ks:
        if k not in todo:
            log.info("K=%d: %s and its labels exist; skipping", k, out / f"km_k{k}.npz")
    if not todo:
        return {k: json.loads((out / f"labels_k{k}.stats.json").read_text()) for k in ks}
    to_fit = [k for k in todo if not (out / f"km_k{k}.npz").is_file()]
    models = {}
    if to_fit:
        fitted = fit_multiscale(
            reader,
            fit_utts,
            to_fit,
            max_fit_frames=max_fit_frames,
            backend=backend,
            seed=seed,
            niter=niter,
            tol=tol,
            schedule=schedule,
            n_init=n_init,
            device=device,
        )
        for km in fitted:
            km.save(out / f"km_k{km.k}.npz")
            log.info("K=%d: saved %s", km.k, out / f"km_k{km.k}.npz")
            models[km.k] = km
    for k in todo:
        if k not in models:
            models[k] = KMeans.load(out / f"km_k{k}.npz", backend=backend, device=device)
    stats = label_store(reader, label_utts, [models[k] for k in todo], out)
    for k, s in stats.items():
        write_text_atomic(out / f"labels_k{k}.stats.json", json.dumps(s, indent=1))
    summary = {k: json.loads((out / f"labels_k{k}.stats.json").read_text()) for k in ks}
    log.info(
        "cluster usage: %s",
        "; ".join(f"K={k}: {s['used_clusters']} used, perplexity {s['perplexity']:.1f}" for k, s in summary.items()),
    )

    return summary
