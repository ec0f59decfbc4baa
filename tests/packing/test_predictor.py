"""A packed model that reads the waveform: clips of different lengths never share a padded batch,
so a clip's output does not depend on the batch (or --batch-size) it came in."""

import numpy as np
import torch

from ser.packing.predictor import FoldModel


class PaddingSensitive(torch.nn.Module):
    """Logits from the mean over the padded batch length: padding changes them, as a GroupNorm front end does."""

    def predict(self, batch):
        mean = batch["wav"].mean(1, keepdim=True)
        return {"emo_logits": torch.cat([mean, -mean], 1) * 10}


def fold_model() -> FoldModel:
    fm = FoldModel.__new__(FoldModel)
    fm.conf = {"data": {"feats": [], "use_wav": True}, "model": {"name": "x"}}
    fm.closed_form, fm.device, fm.model = False, "cpu", PaddingSensitive()
    return fm


def test_waveform_models_batch_only_equal_lengths():
    rng = np.random.default_rng(0)
    wavs = [rng.uniform(0.1, 1.0, n).astype(np.float32) for n in (1600, 800, 1600, 400)]
    fm = fold_model()
    together = fm({}, wavs)["post"]
    alone = np.concatenate([fm({}, [w])["post"] for w in wavs])
    assert np.allclose(together, alone, atol=1e-6)
    padded = fm.run({}, wavs)["post"]  # what one padded batch would give: different
    assert np.abs(padded - alone).max() > 0.01
