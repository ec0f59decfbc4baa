"""The policy for utterances whose transcript is empty, applied to a data dir in place.

A transcript is empty when it has no characters but blanks, or is the placeholder `<unk>` that
the IEMOCAP prep writes for a turn transcribed as nothing.
  drop   removes those utterances from every file of the dir;
  empty  keeps them; blank lines of `text` get the placeholder, so every program can read the
         dir, and the text dump stores them as 0-token sequences that the models mask.
Applying it twice changes nothing the second time.
"""

from ser.data.datadir import DataDir
from ser.features.text import EMPTY_PLACEHOLDERS, is_empty_transcript
from ser.utils import SerError, get_logger

log = get_logger("empty_text")


def apply_policy(data_dir, mode: str) -> int:
    """Returns how many utterances of `data_dir` have an empty transcript."""
    if mode not in ("drop", "empty"):
        raise SerError(f"empty-text mode must be drop or empty, got '{mode}'")
    data = DataDir.load(data_dir, allow_empty_text=True)
    text = data.get("text")
    empty = [u for u in data.utts if is_empty_transcript(text[u])]
    if not empty:
        return 0
    if mode == "drop":
        if len(empty) == len(data):
            raise SerError(f"{data_dir}: every transcript is empty; dropping them would leave nothing")
        keep = set(data.utts) - set(empty)
        data.subset(keep).write(data_dir)
        log.info(
            "%s: dropped %d of %d utterances with an empty transcript (e.g. %s)",
            data_dir,
            len(empty),
            len(data),
            ", ".join(empty[:3]),
        )
    else:
        blank = [u for u in empty if not text[u].strip()]
        if blank:
            for u in blank:
                text[u] = EMPTY_PLACEHOLDERS[0]
            data.write(data_dir)
        log.info(
            "%s: %d of %d utterances have an empty transcript; kept as 0-token text", data_dir, len(empty), len(data)
        )
    return len(empty)
