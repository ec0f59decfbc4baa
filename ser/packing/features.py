"""Features computed from audio by a packed model's feature recipe, as the dump stage stores them:
the same extractor or upstream (with its layers), rounded through float16 when the store was."""

from collections.abc import Callable

import numpy as np

from ser.utils import SerError


class FeatureComputer:
    """recipe (features.json entry) -> callable(list of 16 kHz waveforms) -> list of (frames, dims)."""

    def __init__(self, recipe: dict, checkpoint_path: str | None = None, device: str = "cpu"):
        self.recipe = recipe
        kind = recipe["kind"]
        if kind == "upstream":
            from ser.features.dump import UpstreamDumper

            layers = ",".join(str(x) for x in recipe["layers"])
            self._dumper = UpstreamDumper(recipe["upstream"], checkpoint_path, layers, device)
            self._one: Callable | None = None
        else:
            from ser.features.functionals import SETS, functionals_extractor

            if kind in SETS:
                self._one = functionals_extractor(kind)
            else:
                from ser.features.classical import get_extractor

                self._one = get_extractor(kind)
            self._dumper = None

    def __call__(self, wavs: list[np.ndarray]) -> list[np.ndarray]:
        if self._dumper is None:
            feats = [self._one(w) for w in wavs]
        else:
            from ser.features.dump import equal_length_groups

            # Only clips of equal length share a batch: no padding, so a window's features do not
            # depend on its batch (ser.bin.dump_feats explains which upstreams padding changes).
            feats = [None] * len(wavs)
            for group in equal_length_groups(wavs):
                for i, f in zip(group, self._dumper([wavs[i] for i in group])):
                    feats[i] = f
        out = []
        for f in feats:
            f = np.asarray(f)
            if f.ndim != 2 or f.shape[0] == 0:
                raise SerError(f"{self.describe()} gave no frames for a clip of this length")
            out.append(f.astype(np.float16).astype(np.float32) if self.recipe.get("float16") else f.astype(np.float32))
        return out

    def describe(self) -> str:
        r = self.recipe
        return f"upstream {r['upstream']}" if r["kind"] == "upstream" else f"{r['kind']} features"
