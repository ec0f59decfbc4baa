"""Speed perturbation of Kaldi data dirs, written to disk (Kaldi's perturb_data_dir_speed.sh):
each output dir holds the original utterances plus one copy per factor, resampled with
torchaudio (tempo and pitch change together, as `sox speed`); command line: ser.bin.speed_perturb_dir.

Copy `sp<f>-<utt>` of speaker `sp<f>-<spk>` (a perturbed voice counts as another speaker, as in
Kaldi's x-vector recipes); a per-utterance pseudo speaker `unk_<utt>` (unknown identity) becomes
`unk_sp<f>-<utt>`, still unknown. Labels, gender and transcript are copied; utt2dur is
recomputed. Audio goes to <wav-dir>/sp<f>/<utt>.wav once and is reused by every dir (and every
re-run) that needs it.
"""

import shutil
from pathlib import Path

import soundfile as sf
import torch
import torchaudio
from tqdm import tqdm

from ser.data.audio import SAMPLE_RATE, load_audio
from ser.data.datadir import DataDir
from ser.utils import SerError, atomic_path

UNKNOWN_PREFIX = "unk_"
# Written into every output dir: a re-run replaces only a dir holding it, so a mistyped output
# (`... small_dir data`) can never delete a directory this program did not create.
MARKER = ".speed_perturbed"


def perturb(wav, factor: float, sr: int = SAMPLE_RATE):
    """Plays `wav` `factor` times faster: resampling from sr*factor to sr shortens it by 1/factor."""
    return torchaudio.functional.resample(torch.from_numpy(wav), int(round(sr * factor)), sr).numpy()


def speed_tag(factor: float) -> str:
    """The prefix of a copy at `factor`: sp0.9-<utt> (Kaldi's perturb_data_dir_speed.sh naming)."""
    return f"sp{factor:g}"


def perturbed_spk(spk: str, new_utt: str, tag: str) -> str:
    return f"{UNKNOWN_PREFIX}{new_utt}" if spk.startswith(UNKNOWN_PREFIX) else f"{tag}-{spk}"


def check_replaceable(dst: Path) -> None:
    # .factors: what scripts/speed_perturb_dirs.sh wrote into the dirs it made before the marker
    made_here = (dst / MARKER).is_file() or (dst / ".factors").is_file()
    if dst.exists() and not made_here and (not dst.is_dir() or any(dst.iterdir())):
        raise SerError(
            f"output {dst} exists and was not made by speed perturbation (no {MARKER} in it); not replacing "
            "it: give a new output dir, or remove it yourself"
        )


def perturb_dir(src, dst, factors, wav_dir) -> int:
    check_replaceable(Path(dst))  # before hours of resampling
    dd = DataDir.load(src)
    fields = {name: dict(values) for name, values in dd.fields.items()}
    wav_scp, utt2spk = dd.get("wav.scp"), dd.utt2spk
    for f in factors:
        tag = speed_tag(f)
        out_dir = Path(wav_dir) / tag
        out_dir.mkdir(parents=True, exist_ok=True)
        for utt in tqdm(dd.utts, desc=f"{src} x{f:g}", leave=False, dynamic_ncols=True):
            new = f"{tag}-{utt}"
            path = (out_dir / f"{utt}.wav").absolute()
            spec = Path(wav_scp[utt])
            if not path.is_file() or (spec.is_file() and spec.stat().st_mtime > path.stat().st_mtime):
                with atomic_path(path) as tmp:
                    sf.write(
                        tmp, perturb(load_audio(wav_scp[utt], utt=utt), f), SAMPLE_RATE, subtype="PCM_16", format="WAV"
                    )
            for name, values in dd.fields.items():
                fields[name][new] = values[utt]
            fields["wav.scp"][new] = str(path)
            fields["utt2spk"][new] = perturbed_spk(utt2spk[utt], new, tag)
            if "utt2dur" in fields:
                fields["utt2dur"][new] = f"{sf.info(str(path)).duration:.4f}"
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    DataDir(fields=fields).write(tmp)
    (tmp / MARKER).write_text(f"{src} x{','.join(f'{f:g}' for f in factors)}\n")
    check_replaceable(dst)
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)
    return len(fields["utt2spk"])
