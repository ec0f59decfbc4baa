"""Character vocabulary for CTC, built from the training transcripts of a fold.

Text is normalised before it becomes targets (and before CER is computed): lower case, annotation
markers such as `[LAUGHTER]`, `<unk>` or `{noise}` removed, every character that is not a letter,
digit or apostrophe turned into a word boundary, runs of spaces collapsed. The space is a token
(like wav2vec 2.0's `|`), so decoded output keeps word boundaries. Index 0 is the CTC blank.

tokens.txt holds one `<token> <index>` per line (`<space>` for the space), Kaldi-style:

  python -m ser.text.vocab --text data/folds/session/fold1/train/text --out exp/x/fold1/tokens.txt
"""

import argparse
import re
import unicodedata
from collections import Counter
from pathlib import Path

from ser.utils import SerError, get_logger, run_main, write_text_atomic

log = get_logger("vocab")

BLANK = "<blank>"
SPACE = "<space>"
_MARKERS = re.compile(r"\[[^\]]*\]|<[^>]*>|\{[^}]*\}")


def normalize_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", _MARKERS.sub(" ", text)).lower()
    chars = [c if (c.isalnum() or c == "'") else " " for c in text]
    return " ".join("".join(chars).split())


class CharVocab:
    def __init__(self, chars):
        chars = list(chars)
        if len(set(chars)) != len(chars):
            raise SerError(f"character vocabulary has repeated entries: {chars}")
        self.tokens = [BLANK] + chars
        self.index = {c: i for i, c in enumerate(self.tokens)}

    def __len__(self):
        return len(self.tokens)

    @property
    def blank(self) -> int:
        return 0

    @classmethod
    def build(cls, texts, min_count: int = 1) -> "CharVocab":
        counts = Counter(c for t in texts for c in normalize_text(t))
        chars = sorted(c for c, n in counts.items() if n >= min_count)
        if not chars:
            raise SerError("no characters left in the transcripts after normalisation; is the text file empty?")
        return cls(chars)

    def encode(self, text: str) -> list:
        """Token indices of the normalised text; characters outside the vocabulary are skipped
        (a test transcript may hold a letter no training transcript had)."""
        return [self.index[c] for c in normalize_text(text) if c in self.index]

    def decode(self, ids) -> str:
        return "".join(self.tokens[i] for i in ids if i != self.blank)

    def save(self, path) -> None:
        write_text_atomic(path, "".join(f"{SPACE if t == ' ' else t} {i}\n" for i, t in enumerate(self.tokens)))

    @classmethod
    def load(cls, path) -> "CharVocab":
        path = Path(path)
        if not path.is_file():
            raise SerError(
                f"token list {path} not found; it is written by the training stage "
                "(python -m ser.text.vocab --text <train>/text --out <tokens.txt>)"
            )
        tokens = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) != n - 1:
                raise SerError(f"{path}:{n}: expected '<token> {n - 1}', got {line!r}")
            tokens.append(" " if parts[0] == SPACE else parts[0])
        if not tokens or tokens[0] != BLANK:
            raise SerError(f"{path}: the first token must be {BLANK} (index 0)")
        return cls(tokens[1:])


def read_texts(text_file) -> list:
    from ser.data.datadir import read_kv

    return list(read_kv(text_file, allow_empty_value=True).values())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", required=True, help="Kaldi text file of the training set")
    ap.add_argument("--out", required=True, help="tokens.txt to write")
    ap.add_argument("--min-count", type=int, default=1)
    args = ap.parse_args()
    if not Path(args.text).is_file():
        raise SerError(f"{args.text} not found: the training data dir needs a text file for the CTC task")
    vocab = CharVocab.build(read_texts(args.text), args.min_count)
    vocab.save(args.out)
    log.info("%d tokens (blank + %d characters) from %s -> %s", len(vocab), len(vocab) - 1, args.text, args.out)


if __name__ == "__main__":
    run_main(main)
