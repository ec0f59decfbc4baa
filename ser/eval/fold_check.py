"""Which folds a summary covers: every asked fold must have predictions (all of them are listed
when some lack them), and a summary over a subset of the scheme's folds is made only when asked, so
a RESULTS.md never reports one fold's numbers as the scheme's."""

import re
from pathlib import Path

from ser.utils import SerError, get_logger

log = get_logger("score")


def scheme_folds(folds_root) -> list[str]:
    root = Path(folds_root)
    found = [p.name[4:] for p in root.glob("fold*") if p.is_dir() and re.fullmatch(r"fold\d+", p.name)]
    return sorted(found, key=int)


def check_folds(systems: dict, folds_root, folds: list[str], pred_subdir: str, allow_partial: bool) -> str:
    """systems: {name: exp dir}. Raises naming every missing fold, or a subset not asked for;
    returns the line RESULTS.md states the folds with."""
    every = scheme_folds(folds_root)
    unknown = [k for k in folds if k not in every]
    if unknown:
        raise SerError(f"folds {' '.join(unknown)} are not folds of {folds_root} (folds: {' '.join(every) or 'none'})")
    lacking = []
    for name, exp in systems.items():
        have = [k for k in folds if (Path(exp) / f"fold{k}" / pred_subdir).is_dir()]
        missing = [k for k in folds if k not in have]
        if missing:
            lacking.append(f"{name} ({exp}) has predictions of folds {' '.join(have) or 'none'}, "
                           f"not of {' '.join(missing)}")  # fmt: skip
    if lacking:
        raise SerError(
            "cannot score the asked folds: " + "; ".join(lacking) + ". Run the stages that train and predict "
            "the missing folds, or score only the folds that have predictions (--folds)"
        )
    rest = [k for k in every if k not in folds]
    if rest and not allow_partial:
        raise SerError(
            f"a summary over folds {' '.join(folds)} would leave out folds {' '.join(rest)} of {folds_root}; "
            "give --allow-partial (score_folds.sh and ser.sh do when --folds is given) to summarise a subset"
        )
    line = f"Scored folds: {' '.join(folds)} ({len(folds)} of the {len(every)} folds of {Path(folds_root).name})."
    log.info("%s", line)
    return line
