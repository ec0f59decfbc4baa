"""Kaldi data directories: read, write, validate and subset.

A data dir holds one file per field, each line `<utt-id> <value>`, sorted by utterance id in C
(byte) order as Kaldi expects. `spk2utt` is derived from `utt2spk`, never edited by hand.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ser.utils import SerError, write_text_atomic

# Per-utterance files, in the order they are written. Each maps to a parser and a formatter.
# Every per-utterance file a data dir may hold, here and in tools/utils' data-dir tools.
UTT_FIELDS = (
    "wav.scp",
    "utt2spk",
    "text",
    "utt2emo",
    "utt2gender",
    "utt2vad",
    "utt2dur",
    "utt2intensity",
    "utt2lang",
    "utt2num_frames",
    "feats.scp",
)
GENDERS = ("m", "f", "u")  # u: unknown (MSP-Podcast has such speakers); excluded from gender losses


def c_sorted(keys):
    """C-locale order: compare the UTF-8 bytes, like `LC_ALL=C sort`."""
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def read_kv(path, allow_empty_value=False) -> dict:
    """Reads `<key> <rest of line>`; names the file and line of any malformed or repeated key."""
    path = Path(path)
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            parts = line.split(maxsplit=1)
            key = parts[0]
            value = parts[1].strip() if len(parts) > 1 else ""
            if not value and not allow_empty_value:
                raise SerError(f"{path}:{n}: no value after key '{key}'")
            if key in out:
                raise SerError(f"{path}:{n}: key '{key}' appears twice")
            out[key] = value
    return out


def write_kv(path, mapping: dict) -> None:
    lines = [f"{k} {mapping[k]}".rstrip() + "\n" for k in c_sorted(mapping)]
    write_text_atomic(path, "".join(lines))


def spk2utt_of(utt2spk: dict) -> dict:
    spk2utt = {}
    for utt in c_sorted(utt2spk):
        spk2utt.setdefault(utt2spk[utt], []).append(utt)
    return spk2utt


def _parse_vad(path, utt, value):
    try:
        vals = [float(x) for x in value.split()]
    except ValueError:
        vals = []
    if len(vals) != 3:
        raise SerError(
            f"{path}: utterance '{utt}': utt2vad needs three floats (valence arousal dominance), got '{value}'"
        )
    return np.asarray(vals, dtype=np.float32)


@dataclass
class DataDir:
    """One Kaldi data dir in memory. `fields` maps a file name (e.g. `utt2emo`) to {utt: str}."""

    fields: dict = field(default_factory=dict)
    path: Path | None = None

    @classmethod
    def load(cls, path, allow_empty_text=False) -> "DataDir":
        path = Path(path)
        if not path.is_dir():
            raise SerError(f"data dir not found: {path}")
        if not (path / "utt2spk").is_file():
            raise SerError(f"{path}: no utt2spk, so this is not a Kaldi data dir")
        fields = {}
        for name in UTT_FIELDS:
            if (path / name).is_file():
                fields[name] = read_kv(path / name, allow_empty_value=(name == "text" and allow_empty_text))
        dd = cls(fields=fields, path=path)
        dd.validate()
        return dd

    # Accessors: the field as a dict, or an error naming the data dir and the missing file.
    def get(self, name) -> dict:
        if name not in self.fields:
            raise SerError(f"{self.path or 'data dir'}: has no {name}")
        return self.fields[name]

    @property
    def utts(self) -> list:
        return c_sorted(self.fields["utt2spk"])

    @property
    def utt2spk(self) -> dict:
        return self.get("utt2spk")

    def utt2vad(self) -> dict:
        return {u: _parse_vad(self.path, u, v) for u, v in self.get("utt2vad").items()}

    def utt2dur(self) -> dict:
        return {u: float(v) for u, v in self.get("utt2dur").items()}

    def has(self, name) -> bool:
        return name in self.fields

    def __len__(self):
        return len(self.fields.get("utt2spk", {}))

    def validate(self) -> None:
        where = self.path or "data dir"
        if "utt2spk" not in self.fields:
            raise SerError(f"{where}: no utt2spk")
        utts = set(self.fields["utt2spk"])
        if not utts:
            raise SerError(f"{where}: utt2spk is empty")
        for name, mapping in self.fields.items():
            if set(mapping) != utts:
                missing = sorted(utts - set(mapping))[:3]
                extra = sorted(set(mapping) - utts)[:3]
                raise SerError(
                    f"{where}/{name}: utterance list differs from utt2spk "
                    f"(missing e.g. {missing}, extra e.g. {extra}); run utils/fix_data_dir.py"
                )
        for utt, g in self.fields.get("utt2gender", {}).items():
            if g not in GENDERS:
                raise SerError(f"{where}/utt2gender: utterance '{utt}' has gender '{g}', expected m, f or u (unknown)")
        if "utt2vad" in self.fields:
            self.utt2vad()
        for utt, d in self.fields.get("utt2dur", {}).items():
            try:
                ok = float(d) > 0
            except ValueError:
                ok = False
            if not ok:
                raise SerError(f"{where}/utt2dur: utterance '{utt}' has duration '{d}', expected a positive number")

    def subset(self, utts) -> "DataDir":
        keep = set(utts)
        unknown = keep - set(self.fields["utt2spk"])
        if unknown:
            raise SerError(f"{self.path}: subset asks for unknown utterances, e.g. {sorted(unknown)[:3]}")
        return DataDir({n: {u: v for u, v in m.items() if u in keep} for n, m in self.fields.items()})

    def write(self, path) -> None:
        """Writes every field and spk2utt; files are replaced atomically one by one."""
        self.validate()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name, mapping in self.fields.items():
            write_kv(path / name, mapping)
        spk2utt = spk2utt_of(self.fields["utt2spk"])
        write_kv(path / "spk2utt", {s: " ".join(u) for s, u in spk2utt.items()})
        self.path = path
