"""Shared by the benchmarks: machine description, RAVDESS subsets, the HuBERT-base-shaped model."""

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"  # git-ignored: models, dumps and JSON results of the benchmarks
DEFAULT_RAVDESS = ROOT.parent / "shared" / "data" / "ravdess16k"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "loadavg_start": [round(v, 2) for v in os.getloadavg()],
    }


RAVDESS_EMOTIONS = {
    "01": "neu",
    "02": "cal",
    "03": "hap",
    "04": "sad",
    "05": "ang",
    "06": "fea",
    "07": "dis",
    "08": "sur",
}


def ravdess_data_dir(ravdess: Path, files_per_actor: int, out: Path, seed: int = 0):
    """A Kaldi data dir (wav.scp pointing at the shared files, utt2spk, utt2emo, utt2dur) of a seeded
    subset: `files_per_actor` files of each of the 24 actors (0: all 60). Returns (dir, hours of audio)."""
    import numpy as np

    from ser.data.audio import audio_duration
    from ser.data.datadir import DataDir

    ravdess = Path(ravdess)
    actors = sorted(p for p in ravdess.glob("Actor_*") if p.is_dir())
    if not actors:
        raise SystemExit(f"no RAVDESS Actor_* folders under {ravdess}; pass --ravdess PATH")
    rng = np.random.default_rng(seed)
    wav, spk, dur, emo = {}, {}, {}, {}
    for actor in actors:
        files = sorted(p for p in actor.iterdir() if p.suffix.lower() in (".flac", ".wav"))
        if files_per_actor:
            files = [files[i] for i in sorted(rng.choice(len(files), min(files_per_actor, len(files)), replace=False))]
        for f in files:
            utt = f"{actor.name}_{f.stem}"
            wav[utt], spk[utt], dur[utt] = str(f.resolve()), actor.name, f"{audio_duration(str(f)):.3f}"
            emo[utt] = RAVDESS_EMOTIONS[f.stem.split("-")[2]]
    DataDir({"wav.scp": wav, "utt2spk": spk, "utt2emo": emo, "utt2dur": dur}).write(out)
    return out, sum(float(d) for d in dur.values()) / 3600


def hubert_base_random(out: Path = OUT / "hubert_base_random", seed: int = 0) -> Path:
    """transformers' HubertConfig() defaults (768 dims, 12 layers, 95 M parameters), randomly
    initialised and saved for s3prl's `hf_hubert_custom`: hubert-base's cost without a download."""
    import torch
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    if (out / "config.json").is_file():
        return out
    torch.manual_seed(seed)
    tmp = out.with_name(out.name + ".tmp")
    HubertModel(HubertConfig()).save_pretrained(tmp)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=True
    ).save_pretrained(tmp)
    tmp.rename(out)
    return out


def run_timed(cmd, log_path, cwd=ROOT, env=None):
    """Runs cmd to completion; returns (wall seconds, CPU seconds (user + system), peak resident memory
    in MB), all from wait4: the child and its own waited-for children."""
    t = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env={**os.environ, **(env or {})}
        )
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed; see {log_path}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


class Timer:
    """`with Timer() as t: ...` -> t.wall, t.cpu (this process, all threads): CPU time shows the work
    done even when other jobs share the cores and stretch the wall time."""

    def __enter__(self):
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._w
        self.cpu = time.process_time() - self._c
        return False
