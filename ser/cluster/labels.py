"""Frame labels for a whole feature store, one int32 label ark/scp per k-means scale."""

from pathlib import Path

import numpy as np

from ser.cluster.frames import check_utts
from ser.features.store import FeatWriter
from ser.utils import SerError, get_logger, progress

log = get_logger("labels")


def usage_stats(counts: np.ndarray) -> dict:
    """How evenly the frames spread over the clusters: a collapsed codebook shows up here."""
    n = int(counts.sum())
    p = counts[counts > 0] / max(n, 1)
    entropy = float(-(p * np.log2(p)).sum()) if n else 0.0
    return {
        "k": int(len(counts)),
        "frames": n,
        "used_clusters": int((counts > 0).sum()),
        "entropy_bits": entropy,
        "perplexity": float(2.0**entropy),
        "largest_cluster_share": float(counts.max() / n) if n else 0.0,
    }


def label_store(reader, utts, models, out_dir, batch_frames: int = 65536) -> dict:
    """Writes `out_dir/labels_k{K}.{ark,scp,utt2num_frames}` (int32, one label per frame) for every
    utterance in `utts` and every model, reading the store once; returns {K: usage stats}.

    Utterances are batched to about `batch_frames` frames so each model sees large BLAS blocks.
    """
    utts = check_utts(reader, utts)
    models = list(models)
    ks = [m.k for m in models]
    if len(set(ks)) != len(ks):
        raise SerError(f"label_store got several models with the same K: {ks}")
    out_dir = Path(out_dir)
    counts = {k: np.zeros(k, dtype=np.int64) for k in ks}
    writers = [FeatWriter(out_dir / f"labels_k{k}", meta={"kind": "kmeans_labels", "k": k}) for k in ks]
    for w in writers:
        w.__enter__()
    try:
        pending, size = [], 0

        def flush():
            x = np.concatenate([m for _, m in pending]) if len(pending) > 1 else pending[0][1]
            for model, w in zip(models, writers):
                labels = model.predict(x, batch_size=batch_frames)
                counts[model.k] += np.bincount(labels, minlength=model.k)
                a = 0
                for utt, m in pending:
                    w(utt, labels[a : a + len(m)])
                    a += len(m)

        for utt in progress(utts, desc=f"labelling K={','.join(map(str, ks))}"):
            x = reader[utt]
            if x.ndim != 2 or len(x) == 0:
                raise SerError(f"{reader.scp}: '{utt}' has shape {x.shape}; expected (frames, dims) with frames > 0")
            pending.append((utt, x))
            size += len(x)
            if size >= batch_frames:
                flush()
                pending, size = [], 0
        if pending:
            flush()
    except BaseException as e:
        for w in writers:
            w.__exit__(type(e), e, None)
        raise
    for w in writers:
        w.__exit__(None, None, None)
    stats = {k: usage_stats(counts[k]) for k in ks}
    for k in ks:
        s = stats[k]
        log.info(
            "labels K=%d -> %s: %d frames, %d/%d clusters used, perplexity %.1f, largest cluster %.2f%%",
            k,
            out_dir / f"labels_k{k}.scp",
            s["frames"],
            s["used_clusters"],
            k,
            s["perplexity"],
            100 * s["largest_cluster_share"],
        )
    return stats
