"""Feature-dump speed and size, in two sections (--sections stage,batch):

  python bench/dump.py [--ravdess ../shared/data/ravdess16k] [--files-per-actor 4] [--kinds fbank,mfcc,stf,hubert]
  python bench/dump.py --sections batch [--upstreams fbank,hubert_tiny,hubert_base,whisper_base,whisper_base_padded]

stage: fbank, MFCC, STF and a HuBERT-base-shaped upstream, nj 1 and 2. Each kind is dumped
exactly as a recipe stage does it (egs/TEMPLATE/ser1/scripts/dump_feats.sh):
`utils/run.py JOB=1:NJ ... python -m ser.bin.dump_feats --job JOB` (one ark per job, one thread
per job), then `--merge`. Real-time factor = wall time of the whole stage (process start-up, model
loading, the jobs, the merge) / seconds of audio; below 1 is faster than real time. CPU seconds
(user + system of all jobs) are shown too: unlike wall time they hardly change when other work
shares the machine. The upstream is
transformers' HubertConfig() (hubert-base shape: 12 layers x 768) randomly initialised, through
s3prl's hf_hubert_custom, all 13 hidden states stored per frame (as the baseline recipe dumps them).
Ark size per hour of audio: the nj 1 float32 ark, and the same features rewritten as float16 by
ser.features.store.FeatWriter (float16=True), both divided by the hours dumped.

batch: `--kind upstream` one utterance at a time against length-sorted padded batches
(ser.bin.dump_feats: --batch-seconds, --batching auto, and --batching padded forced where auto
chose equal-length batches), in this process with --threads torch threads, on the first --files
files of RAVDESS Actor_01 and Actor_02 (half from each; synthetic sine-and-noise clips of 1-8 s when
the copy is absent). Each mode times the job's loop as dump_feats runs it (audio loading, the
upstream, the ark writing; the model is loaded once per upstream, outside the timing, and warmed up
on one clip; auto's probe is timed apart). Utterances per second, real-time factor (wall / audio
seconds), the speed-up over one by one in the same run, and the largest difference from the
one-by-one features relative to each layer's scale. Upstreams: s3prl `fbank`; `hubert_tiny`
(ser.features.tiny.make_tiny_hubert); `hubert_base` (HubertConfig() random, as in stage);
`whisper_base` and `whisper_base_padded` from tools/whisper/base (skipped when not converted).
"""

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_RAVDESS, OUT, ROOT, hubert_base_random, machine, ravdess_data_dir, run_timed  # noqa: E402


def dump_stage(data, out, kind, nj, upstream_path=None):
    shutil.rmtree(out, ignore_errors=True)
    (out / "log").mkdir(parents=True)
    opts = ["--data-dir", data, "--out", out, "--nj", str(nj)]
    kind_opts = (
        ["--kind", "upstream", "--upstream", "hf_hubert_custom", "--upstream-path", upstream_path]
        if kind == "hubert"
        else ["--kind", kind]
    )
    t = time.perf_counter()
    _, cpu_jobs, _ = run_timed(
        [
            sys.executable,
            ROOT / "tools" / "utils" / "run.py",
            f"JOB=1:{nj}",
            out / "log" / "dump.JOB.log",
            sys.executable,
            "-m",
            "ser.bin.dump_feats",
            *opts,
            *kind_opts,
            "--job",
            "JOB",
        ],
        out / "log" / "run.log",
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    _, cpu_merge, _ = run_timed(
        [sys.executable, "-m", "ser.bin.dump_feats", *opts, "--merge"], out / "log" / "merge.log"
    )
    return time.perf_counter() - t, cpu_jobs + cpu_merge


def ark_bytes(out: Path) -> int:
    return sum(p.stat().st_size for p in out.glob("feats.*.ark"))


def float16_bytes(out: Path) -> int:
    from ser.features.store import FeatReader, FeatWriter

    reader = FeatReader(out / "feats.scp")
    with FeatWriter(out / "f16" / "feats", float16=True) as w:
        for utt in reader.keys():
            w(utt, reader[utt])
    return (out / "f16" / "feats.ark").stat().st_size


def stage_section(args) -> None:
    """Whole dump stages through utils/run.py, nj 1 and 2 (the original benchmark)."""
    work = OUT / "dump"
    work.mkdir(parents=True, exist_ok=True)
    data, hours = ravdess_data_dir(Path(args.ravdess), args.files_per_actor, work / "data")
    n_utts = len((data / "utt2spk").read_text().splitlines())
    info = machine()
    print(
        f"# feature dump benchmark\n\n{info}\ncommand: python {' '.join(sys.argv)}\n"
        f"RAVDESS subset: {n_utts} files ({args.files_per_actor or 60} per actor), {hours * 60:.1f} min of audio\n"
    )
    print(
        "| features | dims/frame | nj | wall s | RTF (wall) | CPU s | CPU s per audio s | ark MB/h float32 "
        "| ark MB/h float16 |"
    )
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    results = {"machine": info, "utts": n_utts, "hours": hours, "rows": []}
    hubert = args.upstream_path or (str(hubert_base_random()) if "hubert" in args.kinds else None)
    for kind in args.kinds.split(","):
        for nj in [int(n) for n in args.nj.split(",")]:
            out = work / f"{kind}_nj{nj}"
            wall, cpu = dump_stage(data, out, kind, nj, hubert)
            meta = json.loads((out / "feats.meta.json").read_text())
            dims = int(meta.get("num_layers", 1)) * int(meta["dim"])
            f32 = ark_bytes(out) / 2**20 / hours
            f16 = float16_bytes(out) / 2**20 / hours if nj == 1 else None
            row = {
                "kind": kind,
                "nj": nj,
                "dims": dims,
                "wall_s": wall,
                "rtf": wall / (hours * 3600),
                "cpu_s": cpu,
                "mb_per_hour_f32": f32,
                "mb_per_hour_f16": f16,
                "loadavg": os.getloadavg()[0],
            }
            results["rows"].append(row)
            print(
                f"| {kind} | {dims} | {nj} | {wall:.1f} | {row['rtf']:.3f} | {cpu:.1f} | {cpu / (hours * 3600):.3f} | "
                f"{f32:.0f} | "
                f"{'' if f16 is None else f'{f16:.0f}'} |",
                flush=True,
            )
            if not args.keep:
                shutil.rmtree(out)
    results["machine"]["loadavg_end"] = os.getloadavg()
    path = OUT / f"dump-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"\nload average at end {os.getloadavg()}; results in {path}")


def speech_data_dir(ravdess: Path, files: int, out: Path, seed: int = 0) -> tuple[Path, str]:
    """The first files/2 files of RAVDESS Actor_01 and Actor_02, or synthetic clips of 1-8 s when the
    copy is absent; a data dir with utt2dur. Returns (dir, a description of the audio)."""
    import soundfile as sf

    from ser.data.audio import audio_duration
    from ser.data.datadir import DataDir

    actors = [ravdess / a for a in ("Actor_01", "Actor_02")]
    wav = {}
    if all(a.is_dir() for a in actors):
        for a in actors:
            for f in sorted(a.glob("*.flac"))[: files // 2]:
                wav[f"{a.name}_{f.stem}"] = str(f.resolve())
        what = f"RAVDESS {ravdess}: first {files // 2} files of Actor_01 and Actor_02"
    else:
        rng = np.random.default_rng(seed)
        (out / "wav").mkdir(parents=True, exist_ok=True)
        for i in range(files):
            n = int(rng.uniform(1.0, 8.0) * 16000)
            t = np.arange(n) / 16000
            x = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 300) * t) + 0.05 * rng.standard_normal(n)
            wav[f"synth{i:03d}"] = str(out / "wav" / f"synth{i:03d}.wav")
            sf.write(wav[f"synth{i:03d}"], x.astype(np.float32), 16000)
        what = f"synthetic sine-and-noise clips (no RAVDESS copy at {ravdess})"
    dur = {u: f"{audio_duration(p):.3f}" for u, p in wav.items()}
    DataDir({"wav.scp": wav, "utt2spk": {u: u.rsplit("_", 1)[0] for u in wav}, "utt2dur": dur}).write(out / "data")
    return out / "data", what


def upstream_source(name: str):
    """(s3prl/whisper name, path) of a benchmark upstream, or None with a message when unavailable."""
    from ser.features.tiny import make_tiny_hubert
    from ser.features.whisper import local_dir

    if name == "fbank":
        return "fbank", None
    if name == "hubert_tiny":
        return "hf_hubert_custom", str(make_tiny_hubert(OUT / "hubert_tiny"))
    if name == "hubert_base":
        return "hf_hubert_custom", str(hubert_base_random())
    if name in ("whisper_base", "whisper_base_padded"):
        if not (local_dir("base") / "config.json").is_file():
            print(f"\n{name}: skipped, no converted model at {local_dir('base')} (tools/get_whisper_base.sh)\n")
            return None
        return name, str(local_dir("base"))
    raise SystemExit(f"unknown upstream '{name}' for the batch section")


def timed_dump(dumper, wav_scp, batches, batching, out: Path, min_seconds: float = 0.0):
    """One job's loop as ser.bin.dump_feats runs it, repeated until min_seconds have passed (fast
    upstreams take a fraction of a second, too short to time once). Returns (wall and CPU seconds per
    dump, FeatReader of the result, forward passes, padding fraction of the samples the upstream saw)."""
    from common import Timer

    from ser.features.dump import dump_upstream
    from ser.features.store import FeatReader, FeatWriter

    seen = []  # (real samples, padded samples) of each forward pass

    def forward(wavs):
        seen.append((sum(map(len, wavs)), len(wavs) * max(map(len, wavs))))
        return dumper(wavs)

    wall = cpu = 0.0
    repeats = 0
    while repeats == 0 or wall < min_seconds:
        seen.clear()
        shutil.rmtree(out, ignore_errors=True)
        with Timer() as t, FeatWriter(out / "feats") as write:
            dump_upstream(forward, wav_scp, batches, batching, write, desc=out.name)
        wall, cpu, repeats = wall + t.wall, cpu + t.cpu, repeats + 1
    real, padded = map(sum, zip(*seen))
    return wall / repeats, cpu / repeats, FeatReader(out / "feats.scp"), len(seen), 1 - real / padded


def batch_modes(dumper, durs: dict, budgets: list[float]):
    """(label, batches, batching) of one by one, then per budget batching auto and, where auto chose
    equal-length batches, padded forced; plus auto's probe result and its wall seconds."""
    from common import Timer

    from ser.features.dump import auto_batching, input_seconds, plan_batches

    with Timer() as t:
        auto, probe = auto_batching(dumper)
    modes = [("one by one", [[u] for u in sorted(durs)], "none")]
    for seconds in budgets:
        plan = plan_batches(durs, seconds, 0, input_seconds(dumper.meta["upstream"]))
        modes.append((f"{seconds:g} s, auto: {auto}", plan, auto))
        if auto != "padded":
            modes.append((f"{seconds:g} s, padded (forced)", plan, "padded"))
    return modes, probe, t.wall


def batch_rows(name: str, dumper, data, args, work: Path) -> list[dict]:
    """Every mode of one upstream, run --rounds times interleaved (so that load from other work
    spreads over all modes alike, and first-call costs of new tensor shapes stay in round 1); wall
    and CPU seconds are the medians over the rounds."""
    from ser.features.dump import max_rel_diff, utt_seconds

    durs = utt_seconds(data, data.utts)
    audio_s = sum(durs.values())
    modes, probe, probe_s = batch_modes(dumper, durs, [float(x) for x in args.batch_seconds.split(",")])
    runs = {label: {"wall": [], "cpu": []} for label, _, _ in modes}
    for r in range(args.rounds):
        for i, (label, batches, batching) in enumerate(modes):
            wall, cpu, feats, passes, padding = timed_dump(
                dumper, data.get("wav.scp"), batches, batching, work / f"{name}_{i}", args.min_seconds
            )
            runs[label]["wall"].append(wall)
            runs[label]["cpu"].append(cpu)
            if r == 0:  # the features are the same every round; compare them once
                if i == 0:
                    ref = feats  # one by one: what every other mode is compared with
                runs[label].update(
                    passes=passes,
                    padding=padding,
                    diff=max(max_rel_diff(ref[u], feats[u], dumper.num_layers) for u in data.utts),
                )
    ref_wall = float(np.median(runs["one by one"]["wall"]))
    rows = []
    for label, run in runs.items():
        wall, cpu = float(np.median(run["wall"])), float(np.median(run["cpu"]))
        rows.append(
            {
                "upstream": name,
                "mode": label,
                "passes": run["passes"],
                "padding": run["padding"],
                "wall_s": wall,
                "cpu_s": cpu,
                "walls": run["wall"],
                "cpus": run["cpu"],
                "utt_per_s": len(durs) / wall,
                "rtf": wall / audio_s,
                "speedup": ref_wall / wall,
                "max_rel_diff": run["diff"],
                "probe_rel_diff": probe,
                "probe_s": probe_s,
                "loadavg": os.getloadavg()[0],
            }
        )
    return rows


def batch_section(args) -> None:
    """--kind upstream: one by one against length-sorted padded batches, in this process."""
    import torch

    from ser.data.audio import load_audio
    from ser.data.datadir import DataDir
    from ser.features.dump import UpstreamDumper

    torch.set_num_threads(args.threads)
    work = OUT / "dump_batch"
    shutil.rmtree(work, ignore_errors=True)
    data_path, what = speech_data_dir(Path(args.ravdess), args.files, work)
    data = DataDir.load(data_path)
    audio_s = sum(data.utt2dur().values())
    info = machine()
    print(
        f"# upstream dump: one by one vs batched\n\n{info}\ncommand: python {' '.join(sys.argv)}\n{what}: "
        f"{len(data)} files, {audio_s:.1f} s of audio; {args.threads} torch thread(s), device cpu; "
        f"median of {args.rounds} interleaved rounds\n"
    )
    print("| upstream | mode | forward passes | padding | wall s | CPU s | utt/s | RTF | speed-up | max rel diff |")
    print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
    results = {
        "machine": info,
        "audio": what,
        "utts": len(data),
        "audio_s": audio_s,
        "threads": args.threads,
        "batch_seconds": args.batch_seconds,
        "rows": [],
    }
    first_wav = load_audio(data.get("wav.scp")[data.utts[0]])
    for name in args.upstreams.split(","):
        source = upstream_source(name)
        if source is None:
            continue
        dumper = UpstreamDumper(*source, device="cpu")
        dumper([first_wav])  # warm-up: lazy initialisation stays out of the timing
        for r in batch_rows(name, dumper, data, args, work):
            results["rows"].append(r)
            print(
                f"| {name} | {r['mode']} | {r['passes']} | {100 * r['padding']:.1f} % | {r['wall_s']:.2f} | "
                f"{r['cpu_s']:.2f} | {r['utt_per_s']:.2f} | {r['rtf']:.4f} | {r['speedup']:.2f}x | "
                f"{r['max_rel_diff']:.1e} |",
                flush=True,
            )
        print(
            f"<!-- {name}: probe {results['rows'][-1]['probe_rel_diff']:.2g} in "
            f"{results['rows'][-1]['probe_s']:.2f} s -->",
            flush=True,
        )
        del dumper
    results["machine"]["loadavg_end"] = os.getloadavg()
    path = OUT / f"dump-batch-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"\nload average at end {os.getloadavg()}; results in {path}")
    if not args.keep:
        shutil.rmtree(work)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sections", default="stage,batch", help="stage, batch, or both")
    ap.add_argument("--ravdess", default=str(DEFAULT_RAVDESS))
    ap.add_argument(
        "--upstream-path",
        default=None,
        help="stage: transformers HuBERT folder for hf_hubert_custom (default: a random HubertConfig() "
        "model, saved once in bench/out/hubert_base_random)",
    )
    ap.add_argument("--files-per-actor", type=int, default=4, help="stage: seeded subset per actor (0: all 60)")
    ap.add_argument("--kinds", default="fbank,mfcc,stf,hubert", help="stage: feature kinds")
    ap.add_argument("--nj", default="1,2", help="stage: job counts")
    ap.add_argument(
        "--upstreams", default="fbank,hubert_tiny,hubert_base,whisper_base,whisper_base_padded", help="batch: upstreams"
    )
    ap.add_argument("--files", type=int, default=40, help="batch: files (half from Actor_01, half from Actor_02)")
    ap.add_argument("--batch-seconds", default="60", help="batch: dump_feats --batch-seconds, comma-separated")
    ap.add_argument("--rounds", type=int, default=3, help="batch: interleaved repetitions of every mode")
    ap.add_argument(
        "--min-seconds",
        type=float,
        default=3.0,
        help="batch: repeat a fast mode within a round until this long, and time the mean",
    )
    ap.add_argument("--threads", type=int, default=1, help="batch: torch threads")
    ap.add_argument("--keep", action="store_true", help="keep the dumps in bench/out/dump and bench/out/dump_batch")
    args = ap.parse_args()
    sections = args.sections.split(",")
    if "stage" in sections:
        stage_section(args)
    if "batch" in sections:
        batch_section(args)


if __name__ == "__main__":
    main()
