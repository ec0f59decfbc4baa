"""A challenge submission for a blind test set (labels not public): the audio files as a data dir,
then the emotion class of each in the challenge's CSV.

The SER in Naturalistic Conditions Challenge (Interspeech 2025, MSP-Podcast) takes a .csv per
task; for the categorical task we write the corpus's own label-file columns, `FileName,EmoClass`:
the audio file name (e.g. `MSP-PODCAST_0001_0008.wav`) and one class letter. Check the challenge's
submission instructions before uploading: the organisers, not this code, define the format.
"""

import csv
from pathlib import Path

from ser.data.audio import audio_duration
from ser.data.datadir import DataDir, read_kv
from ser.utils import SerError, atomic_path, get_logger

log = get_logger("submission")

AUDIO_SUFFIXES = (".wav", ".flac")


def blind_data_dir(audio_dir, out_dir, file_list=None) -> DataDir:
    """A data dir (wav.scp, utt2spk with one unknown pseudo speaker per file, utt2dur) of the files
    named in `file_list` (one file name per line) or, without it, of every audio file in audio_dir."""
    audio_dir = Path(audio_dir)
    if file_list is not None:
        names = [line.split()[0] for line in Path(file_list).read_text().splitlines() if line.strip()]
        missing = [n for n in names if not (audio_dir / n).is_file()]
        if missing:
            raise SerError(f"{file_list}: {len(missing)} files are not in {audio_dir}, e.g. {missing[:3]}")
        files = [audio_dir / n for n in names]
    else:
        files = sorted(p for p in audio_dir.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise SerError(f"{audio_dir}: no audio files ({', '.join(AUDIO_SUFFIXES)}) to predict")
    utts = [p.stem for p in files]
    if len(set(utts)) != len(utts):
        raise SerError(f"{audio_dir}: two files share a name stem; utterance ids must be unique")
    data = DataDir(
        {
            "wav.scp": {u: str(p) for u, p in zip(utts, files)},
            "utt2spk": {u: f"unk_{u}" for u in utts},
            "utt2dur": {u: f"{audio_duration(str(p)):.3f}" for u, p in zip(utts, files)},
        }
    )
    data.write(out_dir)
    log.info("blind test set: %d files of %s -> %s", len(utts), audio_dir, out_dir)
    return DataDir.load(out_dir)


def write_submission(pred_dir, data_dir, out_csv) -> int:
    """`FileName,EmoClass` rows, one per utterance of data_dir, from pred_dir/utt2emo_pred.
    Returns the number of rows."""
    data = DataDir.load(data_dir)
    pred_file = Path(pred_dir) / "utt2emo_pred"
    if not pred_file.is_file():
        raise SerError(f"{pred_file} not found: predict the blind set first")
    pred = read_kv(pred_file)
    wavs = data.get("wav.scp")
    missing = [u for u in data.utts if u not in pred]
    if missing:
        raise SerError(f"{pred_file}: no prediction for {len(missing)} files, e.g. {missing[:3]}")
    with atomic_path(Path(out_csv)) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["FileName", "EmoClass"])
        for u in data.utts:
            w.writerow([Path(wavs[u]).name, pred[u]])
    log.info("wrote %d predictions to %s", len(data.utts), out_csv)
    return len(data.utts)
