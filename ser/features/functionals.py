"""Utterance-level acoustic functionals from openSMILE (audEERING's `opensmile` package, the tool that
defines these standard sets): ComParE 2016 (6373 functionals) and eGeMAPS v02 (88). One row per
utterance, stored in the same ark/scp as frame features (a 1 x D matrix), so the NJ-job dumper,
resume and merge apply unchanged."""

import numpy as np

from ser.utils import SerError

SETS = {"compare": "ComParE_2016", "egemaps": "eGeMAPSv02"}


def functionals_extractor(name: str, sample_rate: int = 16000):
    """Returns wav (float32, mono, `sample_rate`) -> (1, D) float32 functionals of the set `name`."""
    if name not in SETS:
        raise SerError(f"unknown functionals set '{name}' (known: {', '.join(SETS)})")
    try:
        import opensmile
    except ImportError as e:
        raise SerError(
            "functionals need the 'opensmile' package: pip install opensmile (tools/install.sh installs it)"
        ) from e
    smile = opensmile.Smile(
        feature_set=getattr(opensmile.FeatureSet, SETS[name]), feature_level=opensmile.FeatureLevel.Functionals
    )

    def extract(wav: np.ndarray) -> np.ndarray:
        row = smile.process_signal(np.asarray(wav, dtype=np.float32), sample_rate).to_numpy(dtype=np.float32)
        if not np.isfinite(row).all():  # openSMILE reports NaN/inf for some functionals of very short input
            row = np.nan_to_num(row, nan=0.0, posinf=0.0, neginf=0.0)
        return row.reshape(1, -1)

    return extract
