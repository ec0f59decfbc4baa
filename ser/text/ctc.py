"""Greedy (best-path) CTC decoding: argmax per frame, merge repeats, drop blanks."""

import torch


def greedy_decode(log_probs: torch.Tensor, lens: torch.Tensor, blank: int = 0) -> list:
    """(B, T, V) scores and (B,) frame counts -> one list of token indices per utterance."""
    best = log_probs.argmax(-1).cpu()
    out = []
    for row, n in zip(best, lens.cpu().tolist()):
        path = torch.unique_consecutive(row[: int(n)])
        out.append([int(t) for t in path if int(t) != blank])
    return out
