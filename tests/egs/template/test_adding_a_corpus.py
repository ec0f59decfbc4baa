"""README.md's "Adding a corpus", followed to the letter: the files it shows (db.sh, local/, a recipe
dir with its links, run.sh and conf/) are written from the README itself into a new egs dir next
to the real TEMPLATE, and the recipe runs on a small generated corpus in the layout it describes.
A README that no longer suffices fails here."""

import json
import re
import subprocess

import numpy as np
import soundfile as sf

from ser.data.datadir import DataDir

from conftest import run_recipe

SPEAKERS = {"spk01": "m", "spk02": "f", "spk03": "m", "spk04": "f", "spk05": "m", "spk06": "f"}
EMOTIONS = ("ang", "hap", "neu", "sad")


def readme_pieces(repo_root):
    """[("file", path, text) | ("run", None, text)] in README order, from "Adding a corpus"."""
    text = (repo_root / "README.md").read_text()
    section = text[text.index("## Adding a corpus") :]
    section = section[: section.index("\n## ", 1)]
    return [
        ("run" if marker == "run" else "file", path or None, body)
        for marker, path, body in re.findall(r"<!-- (file|run):? ?(\S*) -->\n```\w*\n(.*?)```", section, re.S)
    ]


def make_corpus(root, utts_per_emotion=4):
    from ser.data.synth import make_speaker, synth_utterance

    rng = np.random.default_rng(0)
    for spk, gender in SPEAKERS.items():
        speaker = make_speaker(rng, spk, gender)
        for emo in EMOTIONS:
            for n in range(utts_per_emotion):
                path = root / spk / f"{spk}_{emo}_{n:03d}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, synth_utterance(rng, speaker, emo, min_dur=1.0, max_dur=1.5), 16000)
    sf.write(root / "spk01" / "spk01_bored_000.wav", np.zeros(1600, dtype=np.float32), 16000)  # not in the tables
    (root / "spk02" / ".DS_Store").write_text("x")
    return root


def test_a_new_corpus_from_the_readme_alone(repo_root, tmp_path):
    repo = tmp_path / "repo"
    (repo / "egs").mkdir(parents=True)
    for link in ("path.sh", "tools", "egs/TEMPLATE"):
        (repo / link).symlink_to(repo_root / link)
    pieces = readme_pieces(repo_root)
    assert [kind for kind, _, _ in pieces].count("file") == 5 and any(kind == "run" for kind, _, _ in pieces)
    for kind, path, body in pieces:
        if kind == "file":
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            (repo / path).write_text(body)
        else:
            proc = subprocess.run(["bash", "-ec", body], cwd=repo, capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, proc.stderr
    recipe = repo / "egs/mycorpus/baseline"
    corpus = make_corpus(tmp_path / "mycorpus")

    proc = run_recipe(recipe, env={"MYCORPUS": str(corpus)}, timeout=900)
    assert "stage 4:" in proc.stdout
    ignored = (recipe / "data/local/ignored_files.txt").read_text()
    assert "spk01_bored_000.wav\temotion bored or speaker spk01 is not in the tables" in ignored
    assert ".DS_Store" not in ignored
    for k, test in ((1, {"spk01", "spk02"}), (2, {"spk03", "spk04"}), (3, {"spk05", "spk06"})):
        fold = recipe / f"data/folds/speaker/fold{k}"
        assert set(DataDir.load(fold / "test").utt2spk.values()) == test
        valid = set(DataDir.load(fold / "valid").utt2spk.values())
        assert {SPEAKERS[s] for s in valid} == {"m", "f"} and not valid & test
        assert not set(DataDir.load(fold / "train").utt2spk.values()) & (test | valid)

    exp = recipe / "exp/baseline_fbank"
    results = (exp / "RESULTS.md").read_text()
    assert "| baseline_fbank | 3 |" in results and f"Corpus: MYCORPUS={corpus}." in results
    assert (exp / "fold1/infer_test/classes.txt").read_text().split() == list(EMOTIONS)
    uas = [json.loads((exp / f"fold{k}/infer_test/scores.json").read_text())["ua"] for k in (1, 2, 3)]
    assert np.mean(uas) > 0.35, uas  # 4 classes: the generated cues are learnt (0.51 here)
    assert f"MYCORPUS={corpus}" in (exp / "run.sh").read_text()
