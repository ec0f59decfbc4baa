"""Utterance datasets over a Kaldi data dir: feature stores and/or audio in, padded batches out.

An item is a dict: `utt`, one array per feature source (and `wav` when asked for), and the targets
the data dir has: `emo` (class index), `gender` (0 m, 1 f, -1 unknown), `vad` (scaled floats), `spk`
(index among the training speakers, -1 if unseen), `text`. `collate` pads every array field to
(B, T, ...) and adds `<name>_lens`.
"""

import numpy as np
import torch
from torch.utils.data import Dataset

from ser.data.audio import SAMPLE_RATE, load_audio
from ser.data.datadir import DataDir
from ser.utils import SerError


def scale_vad(vad: np.ndarray, vad_range) -> np.ndarray:
    """Maps the corpus scale (e.g. IEMOCAP's 1..5) linearly onto [-1, 1]; None keeps it."""
    if vad_range is None:
        return vad
    lo, hi = vad_range
    return (2.0 * (vad - lo) / (hi - lo) - 1.0).astype(np.float32)


def unscale_vad(vad: np.ndarray, vad_range) -> np.ndarray:
    if vad_range is None:
        return vad
    lo, hi = vad_range
    return (np.asarray(vad) + 1.0) / 2.0 * (hi - lo) + lo


class UttDataset(Dataset):
    def __init__(
        self,
        data: DataDir,
        classes,
        feats: dict | None = None,
        use_wav: bool = False,
        vad_range=(1.0, 5.0),
        speakers=None,
        max_wav_seconds: float | None = None,
    ):
        self.data = data
        self.utts = data.utts
        self.classes = list(classes)
        self.class_index = {c: i for i, c in enumerate(self.classes)}
        self.feats = feats or {}
        self.use_wav = use_wav
        self.vad_range = vad_range
        self.max_wav_samples = int(max_wav_seconds * SAMPLE_RATE) if max_wav_seconds else None
        if not self.feats and not use_wav:
            raise SerError("a dataset needs at least one feature store or the audio (use_wav)")
        for name, reader in self.feats.items():
            missing = [u for u in self.utts if u not in reader]
            if missing:
                raise SerError(
                    f"{reader.scp} ({name}) lacks {len(missing)} utterances of {data.path}, "
                    f"e.g. {missing[:3]}: re-run the stage that dumps it"
                )
        self.emo = None
        if data.has("utt2emo"):
            unknown = sorted({e for e in data.get("utt2emo").values() if e not in self.class_index})
            if unknown:
                raise SerError(
                    f"{data.path}/utt2emo has labels {unknown} outside the configured classes {self.classes}"
                )
            self.emo = {u: self.class_index[e] for u, e in data.get("utt2emo").items()}
        self.vad = {u: scale_vad(v, vad_range) for u, v in data.utt2vad().items()} if data.has("utt2vad") else None
        self.gender = (
            {u: {"m": 0, "f": 1}.get(g, -1) for u, g in data.get("utt2gender").items()}
            if data.has("utt2gender")
            else None
        )
        self.speakers = speakers
        self.text = data.get("text") if data.has("text") else None

    def lengths(self) -> list:
        """Per-utterance length for bucketing: frames of the first store, else duration."""
        if self.feats:
            reader = next(iter(self.feats.values()))
            return [reader.num_frames(u) for u in self.utts]
        if self.data.has("utt2dur"):
            dur = self.data.utt2dur()
            return [dur[u] for u in self.utts]
        return [1] * len(self.utts)

    def __len__(self):
        return len(self.utts)

    def __getitem__(self, i):
        utt = self.utts[i]
        item = {"utt": utt}
        for name, reader in self.feats.items():
            item[name] = reader[utt]
        if self.use_wav:
            wav = load_audio(self.data.get("wav.scp")[utt], utt=utt)
            if self.max_wav_samples and len(wav) > self.max_wav_samples:
                wav = wav[: self.max_wav_samples]
            item["wav"] = wav
        if self.emo is not None:
            item["emo"] = self.emo[utt]
        if self.vad is not None:
            item["vad"] = self.vad[utt]
        if self.gender is not None:
            item["gender"] = self.gender[utt]
        if self.speakers is not None:
            item["spk"] = self.speakers.get(self.data.utt2spk[utt], -1)
        if self.text is not None:
            item["text"] = self.text[utt]
        return item


def pad_stack(arrays, pad_value=0.0):
    lens = torch.tensor([a.shape[0] for a in arrays], dtype=torch.long)
    first = np.asarray(arrays[0])
    out = torch.full(
        (len(arrays), int(lens.max()), *first.shape[1:]), pad_value, dtype=torch.from_numpy(first[:0].copy()).dtype
    )
    for i, a in enumerate(arrays):
        out[i, : a.shape[0]] = torch.from_numpy(np.array(a, copy=True))
    return out, lens


def collate(items: list) -> dict:
    batch = {}
    for key in items[0]:
        values = [it[key] for it in items]
        if isinstance(values[0], np.ndarray) and values[0].ndim >= 1 and key != "vad":
            batch[key], batch[f"{key}_lens"] = pad_stack(values)
        elif key == "vad":
            batch[key] = torch.as_tensor(np.stack(values))
        elif isinstance(values[0], (int, np.integer)):
            batch[key] = torch.as_tensor(values, dtype=torch.long)
        else:
            batch[key] = values
    return batch
