"""ser.text (vocabulary, greedy CTC decoding, CER) and ser.nn.ctc_head."""

import pytest
import torch

from ser.nn.ctc_head import CTCHead
from ser.text.cer import cer, char_errors
from ser.text.ctc import greedy_decode
from ser.text.vocab import BLANK, CharVocab, normalize_text
from ser.utils import SerError


def test_normalize_drops_markers_and_punctuation():
    assert normalize_text("  Excuse me... [LAUGHTER] <unk> It's {noise} FINE!  ") == "excuse me it's fine"
    assert normalize_text("<unk>") == ""


def test_vocab_roundtrip(tmp_path):
    vocab = CharVocab.build(["Hello world!", "old hat"])
    assert vocab.tokens[0] == BLANK and vocab.tokens[1] == " "
    ids = vocab.encode("Hold, the world")  # 't' and 'e' are in; nothing is outside here
    assert vocab.decode(ids) == "hold the world"
    assert vocab.encode("xyz") == []  # unseen characters are skipped
    vocab.save(tmp_path / "tokens.txt")
    assert (tmp_path / "tokens.txt").read_text().splitlines()[1] == "<space> 1"
    again = CharVocab.load(tmp_path / "tokens.txt")
    assert again.tokens == vocab.tokens


def test_vocab_load_errors(tmp_path):
    with pytest.raises(SerError, match="not found"):
        CharVocab.load(tmp_path / "none.txt")
    (tmp_path / "bad.txt").write_text("<blank> 0\na 2\n")
    with pytest.raises(SerError, match="bad.txt:2"):
        CharVocab.load(tmp_path / "bad.txt")


def test_greedy_decode_merges_repeats_and_drops_blanks():
    # frames: a a _ a b b _ (pad pad); blank=0, a=1, b=2
    path = [1, 1, 0, 1, 2, 2, 0, 2, 2]
    lp = torch.full((1, len(path), 3), -10.0)
    lp[0, torch.arange(len(path)), torch.tensor(path)] = 0.0
    assert greedy_decode(lp, torch.tensor([7])) == [[1, 1, 2]]
    assert greedy_decode(lp, torch.tensor([9])) == [[1, 1, 2, 2]]


def test_cer_hand_computed():
    assert char_errors("Kitten!", "sitting") == (3, 6)  # 2 substitutions, 1 insertion
    # corpus CER sums edits and reference lengths: (3 + 0) / (6 + 3)
    assert cer(["kitten", "abc"], ["sitting", "ABC"]) == pytest.approx(3 / 9)


def test_ctc_head_decodes_a_memorised_utterance():
    torch.manual_seed(0)
    text = "hello world"
    vocab = CharVocab.build([text, "dog"])
    target = vocab.encode(text)
    frames, dim = 40, 64  # more dimensions than frames: a linear head can fit any frame labelling
    x = torch.randn(1, frames, dim)
    lens = torch.tensor([frames])
    head = CTCHead(dim, len(vocab))
    assert vocab.decode(head.decode(x, lens)[0]) != text
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        loss = head.loss(x, lens, [target])
        loss.backward()
        opt.step()
    head.eval()
    assert vocab.decode(head.decode(x, lens)[0]) == text


def test_ctc_loss_skips_utterances_without_transcript():
    torch.manual_seed(0)
    head = CTCHead(8, 5)
    x, lens = torch.randn(2, 10, 8), torch.tensor([10, 6])
    only_first = head.loss(x[:1], lens[:1], [[1, 2, 3]])
    assert torch.allclose(head.loss(x, lens, [[1, 2, 3], []]), only_first)
    zero = head.loss(x, lens, [[], []])
    assert zero.item() == 0.0 and zero.requires_grad
