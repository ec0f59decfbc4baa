"""ser.nn.modality_mask: random modality masking drops exactly the chosen branch."""

import pytest
import torch

from ser.nn.bridge import BridgeFusion
from ser.nn.modality_mask import ModalityMasking
from ser.nn.pooling import lengths_to_mask


def masks_of(lens_a, lens_t):
    return {"audio": lengths_to_mask(torch.tensor(lens_a)), "text": lengths_to_mask(torch.tensor(lens_t))}


def test_drops_exactly_the_chosen_modality():
    mm = ModalityMasking(["audio", "text"], prob=1.0).train()
    masks = masks_of([5, 3, 4, 2, 6, 1], [2, 4, 3, 5, 1, 2])
    out, choice = mm(masks, generator=torch.Generator().manual_seed(0))
    assert set(choice.tolist()) == {0, 1}  # with prob 1 every row loses one of the two
    for row, c in enumerate(choice.tolist()):
        dropped, kept = ("audio", "text") if c == 0 else ("text", "audio")
        assert not out[dropped][row].any()
        assert torch.equal(out[kept][row], masks[kept][row])
    # The inputs are not modified in place.
    assert torch.equal(masks["audio"], masks_of([5, 3, 4, 2, 6, 1], [1] * 6)["audio"])


def test_apply_follows_the_given_choice():
    mm = ModalityMasking(["audio", "text"], prob=0.5)
    masks = masks_of([3, 3, 3], [2, 2, 2])
    out = mm.apply(masks, torch.tensor([-1, 0, 1]))
    assert torch.equal(out["audio"], torch.tensor([[1, 1, 1], [0, 0, 0], [1, 1, 1]], dtype=torch.bool))
    assert torch.equal(out["text"], torch.tensor([[1, 1], [1, 1], [0, 0]], dtype=torch.bool))


def test_no_masking_in_eval_or_with_zero_probability_or_one_modality():
    masks = masks_of([3, 2], [1, 2])
    out, choice = ModalityMasking(["audio", "text"], prob=1.0).eval()(masks)
    assert out is masks and (choice == -1).all()
    out, choice = ModalityMasking(["audio", "text"], prob=0.0).train()(masks)
    assert all(torch.equal(out[m], masks[m]) for m in masks) and (choice == -1).all()
    single = {"audio": masks["audio"]}
    out, choice = ModalityMasking(["audio"], prob=1.0).train()(single)
    assert torch.equal(out["audio"], single["audio"]) and (choice == -1).all()


def test_never_drops_the_only_non_empty_modality():
    mm = ModalityMasking(["audio", "text"], prob=1.0).train()
    masks = masks_of([4] * 64, [0] * 64)  # no transcript anywhere: audio must always stay
    out, choice = mm(masks, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out["audio"], masks["audio"])
    assert set(choice.tolist()) <= {-1, 1}


def test_rate_and_balance():
    mm = ModalityMasking(["audio", "text"], prob=0.3)
    choice = mm.choose(20000, generator=torch.Generator().manual_seed(0))
    dropped = (choice >= 0).float().mean().item()
    assert 0.28 < dropped < 0.32
    assert 0.45 < (choice == 0).float().sum().item() / (choice >= 0).float().sum().item() < 0.55
    with pytest.raises(ValueError):
        ModalityMasking(["audio", "text"], prob=1.5)


def test_a_dropped_modality_no_longer_reaches_the_bridge_output():
    torch.manual_seed(0)
    fusion = BridgeFusion(8, ("audio", "text"), num_tokens=2, num_layers=2, heads=2, dropout=0.0).eval()
    mm = ModalityMasking(["audio", "text"], prob=1.0)
    seqs = {"audio": torch.randn(2, 5, 8), "text": torch.randn(2, 3, 8)}
    masks = mm.apply(masks_of([5, 5], [3, 3]), torch.tensor([0, 1]))  # row 0 loses audio, row 1 text
    changed = {"audio": seqs["audio"] + torch.randn(2, 5, 8), "text": seqs["text"] + torch.randn(2, 3, 8)}
    with torch.no_grad():
        ref = fusion(seqs, masks)
        new_audio = fusion(dict(seqs, audio=changed["audio"]), masks)
        new_text = fusion(dict(seqs, text=changed["text"]), masks)
    assert torch.allclose(ref[0], new_audio[0], atol=1e-6) and not torch.allclose(ref[0], new_text[0], atol=1e-4)
    assert torch.allclose(ref[1], new_text[1], atol=1e-6) and not torch.allclose(ref[1], new_audio[1], atol=1e-4)
