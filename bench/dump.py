"""Feature-dump speed and size: fbank, MFCC, STF and a HuBERT-base-shaped upstream, nj 1 and 2.

  python bench/dump.py [--ravdess ../shared/data/ravdess16k] [--files-per-actor 4] [--kinds fbank,mfcc,stf,hubert]

Each kind is dumped exactly as a recipe stage does it (egs/TEMPLATE/ser1/scripts/dump_feats.sh):
`utils/run.py JOB=1:NJ ... python -m ser.bin.dump_feats --job JOB` (one ark per job, one thread
per job), then `--merge`. Real-time factor = wall time of the whole stage (process start-up, model
loading, the jobs, the merge) / seconds of audio; below 1 is faster than real time. CPU seconds
(user + system of all jobs) are shown too: unlike wall time they hardly change when other work
shares the machine. The upstream is
transformers' HubertConfig() (hubert-base shape: 12 layers x 768) randomly initialised, through
s3prl's hf_hubert_custom, all 13 hidden states stored per frame (as the baseline recipe dumps them).
Ark size per hour of audio: the nj 1 float32 ark, and the same features rewritten as float16 by
ser.features.store.FeatWriter (float16=True), both divided by the hours dumped.
"""

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_RAVDESS, OUT, ROOT, hubert_base_random, machine, ravdess_data_dir, run_timed  # noqa: E402


def dump_stage(data, out, kind, nj, upstream_path=None):
    shutil.rmtree(out, ignore_errors=True)
    (out / "log").mkdir(parents=True)
    opts = ["--data-dir", data, "--out", out, "--nj", str(nj)]
    kind_opts = ["--kind", "upstream", "--upstream", "hf_hubert_custom", "--upstream-path", upstream_path] \
        if kind == "hubert" else ["--kind", kind]
    t = time.perf_counter()
    _, cpu_jobs, _ = run_timed([sys.executable, ROOT / "tools" / "utils" / "run.py", f"JOB=1:{nj}",
                                out / "log" / "dump.JOB.log", sys.executable, "-m", "ser.bin.dump_feats", *opts,
                                *kind_opts, "--job", "JOB"], out / "log" / "run.log",
                               env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    _, cpu_merge, _ = run_timed([sys.executable, "-m", "ser.bin.dump_feats", *opts, "--merge"], out / "log" / "merge.log")
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ravdess", default=str(DEFAULT_RAVDESS))
    ap.add_argument("--upstream-path", default=None,
                    help="transformers HuBERT folder for hf_hubert_custom (default: a random HubertConfig() model, "
                    "saved once in bench/out/hubert_base_random)")
    ap.add_argument("--files-per-actor", type=int, default=4, help="seeded subset per actor (0: all 60)")
    ap.add_argument("--kinds", default="fbank,mfcc,stf,hubert")
    ap.add_argument("--nj", default="1,2")
    ap.add_argument("--keep", action="store_true", help="keep the dumps in bench/out/dump")
    args = ap.parse_args()
    work = OUT / "dump"
    work.mkdir(parents=True, exist_ok=True)
    data, hours = ravdess_data_dir(Path(args.ravdess), args.files_per_actor, work / "data")
    n_utts = len((data / "utt2spk").read_text().splitlines())
    info = machine()
    print(f"# feature dump benchmark\n\n{info}\ncommand: python {' '.join(sys.argv)}\n"
          f"RAVDESS subset: {n_utts} files ({args.files_per_actor or 60} per actor), {hours * 60:.1f} min of audio\n")
    print("| features | dims/frame | nj | wall s | RTF (wall) | CPU s | CPU s per audio s | ark MB/h float32 | ark MB/h float16 |")
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
            row = {"kind": kind, "nj": nj, "dims": dims, "wall_s": wall, "rtf": wall / (hours * 3600), "cpu_s": cpu,
                   "mb_per_hour_f32": f32, "mb_per_hour_f16": f16, "loadavg": os.getloadavg()[0]}
            results["rows"].append(row)
            print(f"| {kind} | {dims} | {nj} | {wall:.1f} | {row['rtf']:.3f} | {cpu:.1f} | {cpu / (hours * 3600):.3f} | "
                  f"{f32:.0f} | "
                  f"{'' if f16 is None else f'{f16:.0f}'} |", flush=True)
            if not args.keep:
                shutil.rmtree(out)
    results["machine"]["loadavg_end"] = os.getloadavg()
    path = OUT / f"dump-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"\nload average at end {os.getloadavg()}; results in {path}")


if __name__ == "__main__":
    main()
