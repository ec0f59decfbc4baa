"""Speaker verification from utterance embeddings: trials from a labelled set, cosine scores, EER.

Trials are pairs of utterances of one evaluation set (target: same speaker). Speakers whose id
marks them as unknown (MSP-Podcast's `Unknown`, written as per-utterance pseudo speakers
`unk_<utt>`) are left out: whether two of their utterances share a speaker is not known.

With the utterances' genders, non-target trials pair only speakers of the same gender (and of
known gender): a cross-gender non-target is rejected by any embedding that encodes gender, so
an EER over such trials measures gender, not speaker identity (an IEMOCAP session's test speakers
are one woman and one man: every non-target trial crossed gender). A set without two speakers of
one gender then has no non-target trial and no EER.
"""

import itertools

import numpy as np

from ser.utils import SerError, write_text_atomic


def eer(scores, labels) -> float:
    """Equal error rate: where the miss rate (1 - TPR) meets the false-alarm rate on the ROC,
    linearly interpolated between the two operating points around the crossing."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        raise SerError("EER needs both target and non-target trials")
    from sklearn.metrics import roc_curve  # here: importing sklearn.metrics costs ~2 s per process

    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1 - tpr
    diff = fnr - fpr  # starts at 1 (threshold above every score) and ends at -1
    i = int(np.nonzero(diff <= 0)[0][0])
    if diff[i] == 0:
        return float(fpr[i])
    # The crossing lies between operating points i-1 and i: interpolate both rates with one weight.
    t = diff[i - 1] / (diff[i - 1] - diff[i])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def make_trials(
    utt2spk: dict,
    unknown_prefix: str = "unk_",
    max_per_kind: int = 100000,
    seed: int = 0,
    utt2gender: dict | None = None,
) -> list:
    """[(utt_a, utt_b, is_target)] over every pair of utterances of known speakers; when there
    are more than max_per_kind target (or non-target) pairs, a seeded random subset of that size.
    With `utt2gender`, non-target pairs are of one (known) gender only."""
    utts = sorted(u for u, s in utt2spk.items() if not s.startswith(unknown_prefix))
    n = len(utts)
    rng = np.random.default_rng(seed)
    spk = np.array([utt2spk[u] for u in utts])
    if utt2gender is not None:
        # A speaker's gender label, "?" if unknown; "?" never pairs, so a non-target trial needs both known.
        gen = np.array([utt2gender.get(u) if utt2gender.get(u) in ("m", "f") else f"?{i}" for i, u in enumerate(utts)])
    else:
        gen = np.zeros(n, dtype=int)
    target, nontarget = [], []
    if n * (n - 1) // 2 <= 4 * max_per_kind:  # small set: enumerate every pair
        for a, b in itertools.combinations(range(n), 2):
            if spk[a] == spk[b]:
                target.append((a, b))
            elif gen[a] == gen[b]:
                nontarget.append((a, b))
    else:  # large set: same-speaker pairs enumerated (subsampled below), different-speaker pairs drawn
        by_spk = {}
        for i, s in enumerate(spk):
            by_spk.setdefault(s, []).append(i)
        for idx in by_spk.values():
            target.extend(itertools.combinations(idx, 2))
        seen = set()
        while len(nontarget) < max_per_kind and len(seen) < 50 * max_per_kind:
            a, b = sorted(rng.integers(0, n, 2).tolist())
            if a != b and spk[a] != spk[b] and gen[a] == gen[b] and (a, b) not in seen:
                seen.add((a, b))
                nontarget.append((a, b))
    out = []
    for pairs, is_target in ((target, True), (nontarget, False)):
        if len(pairs) > max_per_kind:
            pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), max_per_kind, replace=False))]
        out.extend((utts[a], utts[b], is_target) for a, b in pairs)
    return out


def write_trials(path, trials) -> None:
    write_text_atomic(path, "".join(f"{a} {b} {'target' if t else 'nontarget'}\n" for a, b, t in trials))


def cosine_scores(embeddings: dict, trials) -> np.ndarray:
    missing = sorted({u for a, b, _ in trials for u in (a, b) if u not in embeddings})
    if missing:
        raise SerError(f"no speaker embedding for {len(missing)} trial utterances, e.g. {missing[:3]}")
    norm = {u: np.asarray(v, dtype=np.float64).ravel() / (np.linalg.norm(v) + 1e-12) for u, v in embeddings.items()}
    return np.array([float(norm[a] @ norm[b]) for a, b, _ in trials])


def verification_eer(
    embeddings: dict,
    utt2spk: dict,
    unknown_prefix: str = "unk_",
    max_per_kind: int = 100000,
    seed: int = 0,
    trials_out=None,
    utt2gender: dict | None = None,
) -> dict:
    """{'spk_eer', 'num_target_trials', 'num_nontarget_trials'}; spk_eer is None without both kinds.
    With `utt2gender`, same-gender non-target trials only (see the module doc)."""
    trials = make_trials(utt2spk, unknown_prefix, max_per_kind, seed, utt2gender)
    if trials_out is not None:
        write_trials(trials_out, trials)
    labels = np.array([t for _, _, t in trials], dtype=bool)
    out = {"num_target_trials": int(labels.sum()), "num_nontarget_trials": int((~labels).sum())}
    out["spk_eer"] = eer(cosine_scores(embeddings, trials), labels) if labels.any() and not labels.all() else None
    return out
