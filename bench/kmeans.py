"""K-means benchmark: the ser.cluster engine against the two references, and GMP stage 3 end to end.

  python bench/kmeans.py --quick                      # every path at small sizes, about 2 minutes
  python bench/kmeans.py --n 200000 --k 64,512,4096   # section 1 at the size of the issue's references
  python bench/kmeans.py --sections stage3 --stage3-n 1300000   # one full-scale IEMOCAP fold

Section "inmem": the same synthetic frames (bench/synthetic_frames.py) are clustered by
  (a) scikit-learn MiniBatchKMeans with fairseq's HuBERT k-means settings (batch_size 10000,
      n_init 20, max_iter 100, k-means++, reassignment_ratio 0, max_no_improvement 100, tol 0),
  (b) faiss.Kmeans, niter 20, faiss defaults otherwise (so at most 256 K training points),
  ours: ser.cluster.kmeans.KMeans (faiss and torch backends, defaults; float16 input).
Every method is timed (wall and CPU seconds of this process) for fitting and for labelling all N frames; inertia
is then evaluated the same way for all (mean squared distance of every frame to its nearest centroid, exact float32).
(a) is skipped above --ref-a-max-k, because its 20 k-means++ initialisations grow with K^2.

Section "stage3": writes N synthetic frames as utterances of 10 speakers to a float16 ark, then
runs `python -m ser.bin.kmeans` (fit on the 8 training speakers, label every frame, scales --ks)
as a child process and reports its wall time, CPU time and peak resident memory (ru_maxrss).
CPU seconds are printed next to wall seconds throughout: on a shared machine the wall time
stretches with other people's jobs while the CPU time stays close to the work actually done.

Results are printed as Markdown and saved to bench/out/kmeans-<time>.json.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, Timer, machine, run_timed  # noqa: E402
from synthetic_frames import SyntheticFrames  # noqa: E402


def exact_mean_inertia(x16: np.ndarray, centroids: np.ndarray) -> float:
    import faiss

    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    total = 0.0
    for a in range(0, len(x16), 32768):
        d, _ = index.search(np.asarray(x16[a : a + 32768], dtype=np.float32), 1)
        total += float(np.maximum(d, 0).astype(np.float64).sum())
    return total / len(x16)


def label_in_blocks(predict, x16, step=32768):
    for a in range(0, len(x16), step):
        predict(np.asarray(x16[a : a + step], dtype=np.float32))


def ref_a(x16, k, seed):
    from sklearn.cluster import MiniBatchKMeans

    x = np.asarray(x16, dtype=np.float32)
    km = MiniBatchKMeans(
        n_clusters=k,
        init="k-means++",
        max_iter=100,
        batch_size=10000,
        verbose=0,
        compute_labels=False,
        tol=0.0,
        max_no_improvement=100,
        init_size=None,
        n_init=20,
        reassignment_ratio=0.0,
        random_state=seed,
    )
    with Timer() as fit:
        km.fit(x)
    del x
    with Timer() as lab:
        label_in_blocks(km.predict, x16)
    return km.cluster_centers_, fit, lab


def ref_b(x16, k, seed):
    import faiss

    x = np.asarray(x16, dtype=np.float32)
    km = faiss.Kmeans(x.shape[1], k, niter=20, seed=seed, verbose=False)
    with Timer() as fit:
        km.train(x)
    del x
    with Timer() as lab:
        label_in_blocks(lambda b: km.index.search(b, 1), x16)
    return km.centroids, fit, lab


def ours(backend, **kwargs):
    def run(x16, k, seed):
        from ser.cluster.kmeans import KMeans

        with Timer() as fit:
            km = KMeans(k, backend=backend, seed=seed, verbose=False, **kwargs).fit(x16)
        with Timer() as lab:
            km.predict(x16)
        return km.centroids, fit, lab

    return run


def section_inmem(args, results):
    print(f"\n## In memory: N = {args.n} synthetic frames x 768 dims (float16), seed {args.seed}\n", flush=True)
    t = time.perf_counter()
    x16 = SyntheticFrames(args.seed).frames(args.n, dtype=np.float16)
    print(f"(generated in {time.perf_counter() - t:.0f} s)\n")
    methods = [
        ("ref (a) sklearn MiniBatchKMeans", "a", ref_a),
        ("ref (b) faiss.Kmeans", "b", ref_b),
        ("ours, faiss backend", "ours_faiss", ours("faiss")),
        ("ours, torch backend", "ours_torch", ours("torch")),
    ]
    methods = [m for m in methods if m[1] in args.methods]
    for v in filter(None, args.variants.split(";")):  # e.g. "niter=10,schedule=full"
        kwargs = {key: (val if val.isalpha() else int(val)) for key, val in (kv.split("=") for kv in v.split(","))}
        methods.append((f"ours, faiss backend, {v}", f"ours_faiss_{v}", ours("faiss", **kwargs)))
    print(
        "| K | method | fit s (CPU s) | label s (CPU s) | inertia/frame | fit speed-up vs (a), wall (CPU) | "
        "vs (b) | inertia vs (a) | vs (b) |"
    )
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    for k in args.k:
        row = {}
        for title, key, fn in methods:
            if key == "a" and k > args.ref_a_max_k:
                print(f"| {k} | {title} | skipped (K > --ref-a-max-k {args.ref_a_max_k}) | | | | | | |", flush=True)
                continue
            centroids, fit, lab = fn(x16, k, args.seed)
            r = {
                "fit_s": fit.wall,
                "fit_cpu_s": fit.cpu,
                "label_s": lab.wall,
                "label_cpu_s": lab.cpu,
                "inertia": exact_mean_inertia(x16, centroids),
                "loadavg": os.getloadavg()[0],
            }
            row[key] = r

            def speedup(ref, row=row, key=key, r=r):
                if ref not in row or ref == key:
                    return ""
                return f"{row[ref]['fit_s'] / r['fit_s']:.1f}x ({row[ref]['fit_cpu_s'] / r['fit_cpu_s']:.1f}x)"

            def inertia(ref, row=row, key=key, r=r):
                return "" if ref not in row or ref == key else f"{r['inertia'] / row[ref]['inertia']:.4f}"

            print(
                f"| {k} | {title} | {fit.wall:.1f} ({fit.cpu:.0f}) | {lab.wall:.1f} ({lab.cpu:.0f}) | "
                f"{r['inertia']:.2f} | {speedup('a')} | {speedup('b')} | {inertia('a')} | {inertia('b')} |",
                flush=True,
            )
        results["inmem"][str(k)] = row


def write_store(n, seed, out: Path):
    """N frames as utterances of 10 speakers (spk00..09) in a float16 ark, plus train/test data dirs."""
    from ser.data.datadir import DataDir
    from ser.features.store import FeatWriter

    utt2spk = {}
    with FeatWriter(out / "dump" / "feats", float16=True, meta={"kind": "synthetic", "num_layers": 1, "dim": 768}) as w:
        for i, x in SyntheticFrames(seed).utterances(n):
            utt = f"spk{i % 10:02d}_utt{i:05d}"
            w(utt, x)
            utt2spk[utt] = utt.split("_")[0]
    for name, spks in {"train": [f"spk{i:02d}" for i in range(8)], "test": ["spk08", "spk09"]}.items():
        DataDir({"utt2spk": {u: s for u, s in utt2spk.items() if s in spks}}).write(out / "data" / name)
    return len(utt2spk)


def section_stage3(args, results):
    n, ks = args.stage3_n, args.stage3_ks
    print(f"\n## GMP stage 3 end to end: {n} frames x 768 (float16 ark), K = {','.join(map(str, ks))}\n", flush=True)
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT, prefix="stage3-") as work:
        work = Path(work)
        t = time.perf_counter()
        n_utts = write_store(n, args.seed, work)
        data_mb = n * 768 * 2 / 2**20
        print(f"(wrote {n_utts} utterances, {data_mb:.0f} MB of float16 frames, in {time.perf_counter() - t:.0f} s)\n")
        print("| backend | wall s | CPU s | peak RSS MB | peak / float16 data | wall <= 600 s | memory < 2x |")
        print("|---|---|---|---|---|---|---|", flush=True)
        for backend in args.stage3_backends:
            out = work / f"kmeans_{backend}"
            cmd = [
                sys.executable,
                "-m",
                "ser.bin.kmeans",
                "--feats",
                work / "dump" / "feats.scp",
                "--fit-dir",
                work / "data" / "train",
                "--label-all",
                "--ks",
                ",".join(map(str, ks)),
                "--backend",
                backend,
                "--seed",
                str(args.seed),
                "--out",
                out,
            ]
            if args.stage3_max_fit_frames:
                cmd += ["--max-fit-frames", str(args.stage3_max_fit_frames)]
            wall, cpu, rss = run_timed(cmd, work / f"{backend}.log")
            stats = {k: json.loads((out / f"labels_k{k}.stats.json").read_text()) for k in ks}
            results["stage3"][backend] = {
                "n": n,
                "ks": ks,
                "wall_s": wall,
                "cpu_s": cpu,
                "peak_rss_mb": rss,
                "float16_data_mb": data_mb,
                "stats": stats,
                "loadavg": os.getloadavg()[0],
                "log": (work / f"{backend}.log").read_text()[-3000:],
            }
            print(
                f"| {backend} | {wall:.0f} | {cpu:.0f} | {rss:.0f} | {rss / data_mb:.2f} | "
                f"{'yes' if wall <= 600 else 'NO'} | "
                f"{'yes' if rss < 2 * data_mb else 'NO'} |",
                flush=True,
            )
            for k in ks:
                s = stats[k]
                print(
                    f"  K={k}: {s['used_clusters']} clusters used, perplexity {s['perplexity']:.0f}, "
                    f"largest {100 * s['largest_cluster_share']:.2f}%"
                )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000, help="frames for the in-memory comparison")
    ap.add_argument("--k", default="64,512,4096", help="codebook sizes for the in-memory comparison")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="small sizes (N 20k, K 16,128; stage 3 on 50k frames, K 16,128,1024), about 2 minutes",
    )
    ap.add_argument("--sections", default="inmem,stage3")
    ap.add_argument("--methods", default="a,b,ours_faiss,ours_torch")
    ap.add_argument(
        "--variants",
        default="",
        help="extra runs of ours (faiss backend) with other KMeans settings, "
        "e.g. 'niter=10;niter=6' (';' between runs, ',' between settings)",
    )
    ap.add_argument("--ref-a-max-k", type=int, default=512)
    ap.add_argument("--stage3-n", type=int, default=1_300_000)
    ap.add_argument("--stage3-ks", default="64,512,4096")
    ap.add_argument("--stage3-backends", default="faiss")
    ap.add_argument("--stage3-max-fit-frames", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.quick:  # a smoke run of every path: small N, small K (ref (a)'s 20 seedings dominate otherwise)
        args.n, args.k, args.ref_a_max_k, args.stage3_n, args.stage3_ks = 20_000, "16,128", 16, 50_000, "16,128,1024"
    args.k = [int(k) for k in args.k.split(",")]
    args.stage3_ks = [int(k) for k in args.stage3_ks.split(",")]
    args.methods = args.methods.split(",")
    args.stage3_backends = args.stage3_backends.split(",")
    results = {"machine": machine(), "args": {k: v for k, v in vars(args).items()}, "inmem": {}, "stage3": {}}
    print(f"# k-means benchmark\n\n{results['machine']}\n\ncommand: python {' '.join(sys.argv)}")
    t = time.perf_counter()
    if "inmem" in args.sections:
        section_inmem(args, results)
    if "stage3" in args.sections:
        section_stage3(args, results)
    results["machine"]["loadavg_end"] = os.getloadavg()
    results["total_s"] = time.perf_counter() - t
    out = OUT / f"kmeans-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"\ntotal {results['total_s']:.0f} s; load average at end {os.getloadavg()}; results in {out}")


if __name__ == "__main__":
    main()
