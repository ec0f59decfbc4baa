"""Character error rate: Levenshtein edits over reference characters, summed over a corpus."""

from torchaudio.functional import edit_distance

from ser.text.vocab import normalize_text


def char_errors(ref: str, hyp: str) -> tuple:
    """(edits, reference length) after the same normalisation the CTC targets get."""
    ref, hyp = normalize_text(ref), normalize_text(hyp)
    return edit_distance(list(ref), list(hyp)), len(ref)


def cer(refs, hyps) -> float:
    """Corpus CER: total edits / total reference characters (utterances with an empty reference
    contribute their insertions only through the sum, never a division by zero)."""
    edits = total = 0
    for r, h in zip(refs, hyps, strict=True):
        e, n = char_errors(r, h)
        edits, total = edits + e, total + n
    return edits / total if total else float("nan")
