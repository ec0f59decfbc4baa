"""Speaker-independent folds: each fold is a (test speakers, valid speakers) pair; train is the rest,
less any speakers the fold leaves out altogether (`excluded_spks`: a development fold nested in
another fold's training speakers must not train on that fold's test speakers).

`write_folds` writes data/folds/<scheme>/fold<k>/{train,valid,test} and refuses any fold whose test
speakers leak into train or valid.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

from ser.data.datadir import DataDir
from ser.utils import SerError, get_logger

log = get_logger("folds")


@dataclass(frozen=True)
class Fold:
    test_spks: tuple
    valid_spks: tuple
    excluded_spks: tuple = ()


def split_utts(dd: DataDir, fold: Fold) -> dict:
    utt2spk = dd.utt2spk
    test = [u for u in dd.utts if utt2spk[u] in fold.test_spks]
    valid = [u for u in dd.utts if utt2spk[u] in fold.valid_spks]
    held = set(fold.test_spks) | set(fold.valid_spks) | set(fold.excluded_spks)
    train = [u for u in dd.utts if utt2spk[u] not in held]
    return {"train": train, "valid": valid, "test": test}


def check_speaker_independent(splits: dict, utt2spk: dict, name: str) -> None:
    spk = {k: {utt2spk[u] for u in v} for k, v in splits.items()}
    for other in ("train", "valid"):
        leak = spk["test"] & spk[other]
        if leak:
            raise SerError(f"{name}: test speakers {sorted(leak)} also appear in {other}")
    for k, v in splits.items():
        if not v:
            raise SerError(f"{name}: the {k} set is empty")


def write_folds(dd: DataDir, out_root, scheme: str, folds) -> list:
    """Writes each fold's three data dirs under <out_root>/<scheme>/fold<k>, after removing that
    scheme's earlier folds (a fold left from another run would be trained and scored as if it were
    one of these); refuses a fold whose test speakers leak into train or valid. `folds` is a list
    (numbered from 1) or {k: Fold} (corpus-defined numbers, e.g. EmoBox's). Returns per-fold
    {split: n_utts}, in fold order."""
    root = Path(out_root) / scheme
    numbered = folds if isinstance(folds, dict) else dict(enumerate(folds, 1))
    if not numbered:
        raise SerError(f"scheme {scheme}: no fold could be made from the speakers in the corpus")
    shutil.rmtree(root, ignore_errors=True)
    sizes = []
    for k, fold in sorted(numbered.items()):
        splits = split_utts(dd, fold)
        check_speaker_independent(splits, dd.utt2spk, f"{scheme} fold{k}")
        for name, utts in splits.items():
            dd.subset(utts).write(root / f"fold{k}" / name)
        sizes.append({n: len(u) for n, u in splits.items()})
        log.info(
            "%s fold%d: test speakers %s, valid speakers %s, sizes %s",
            scheme,
            k,
            ",".join(fold.test_spks),
            ",".join(fold.valid_spks),
            sizes[-1],
        )
    return sizes


def fold_dirs(folds_root, scheme: str) -> list:
    root = Path(folds_root) / scheme
    dirs = sorted(root.glob("fold*"), key=lambda p: int(p.name[4:]))
    if not dirs:
        raise SerError(f"no folds under {root}: run the data-prep stage (stage 0) first")
    return dirs
