"""A feature store is made for its inputs (scripts/stamp.sh store_stamp, dump_feats.sh, dump_text.sh):
redone when the upstream checkpoint, an audio file (by content, not time) or the utterances changed,
skipped only when its record (.done) matches; job outputs of other inputs are never merged again.
Each case used to end with "complete; skipping" and features of the old inputs."""

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser.features.store import FeatReader

REPO = Path(__file__).resolve().parents[3]


def write_audio(path: Path, seed: int, n: int = 8000) -> None:
    rng = np.random.default_rng(seed)
    sf.write(path, (0.1 * rng.standard_normal(n)).astype(np.float32), 16000)


@pytest.fixture
def recipe(tmp_path):
    (tmp_path / "utils").symlink_to(REPO / "tools/utils")
    (tmp_path / "scripts").symlink_to(REPO / "egs/TEMPLATE/ser1/scripts")
    set_utts(tmp_path, ["u1", "u2", "u3", "u4"])
    return tmp_path


def set_utts(recipe: Path, utts) -> None:
    data = recipe / "data/all"
    (data / "wav").mkdir(parents=True, exist_ok=True)
    for i, u in enumerate(utts):
        if not (data / "wav" / f"{u}.wav").is_file():
            write_audio(data / "wav" / f"{u}.wav", i)
    (data / "wav.scp").write_text("".join(f"{u} {data / 'wav' / u}.wav\n" for u in utts))
    (data / "utt2spk").write_text("".join(f"{u} {u}\n" for u in utts))


def dump(recipe: Path, *opts, script="dump_feats.sh"):
    env = {
        **os.environ,
        "PATH": f"{REPO / 'tools/venv/bin'}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.run(
        ["bash", f"scripts/{script}", "--nj", "2", *opts, "data/all", "dump/x"],
        cwd=recipe,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def feats(recipe: Path) -> dict:
    reader = FeatReader(recipe / "dump/x/feats.scp")
    return {u: reader[u] for u in reader.keys()}


def test_another_upstream_checkpoint_is_dumped_again(recipe, tmp_path_factory):
    from ser.features.tiny import make_tiny_hubert

    a = make_tiny_hubert(tmp_path_factory.mktemp("a") / "model", seed=0)
    b = make_tiny_hubert(tmp_path_factory.mktemp("b") / "model", seed=1)
    up = ("--kind", "upstream", "--upstream", "hf_hubert_custom", "--batch_seconds", "0")
    dump(recipe, *up, "--upstream_path", str(a))
    from_a = feats(recipe)
    assert "skipping" in dump(recipe, *up, "--upstream_path", str(a))
    out = dump(recipe, *up, "--upstream_path", str(b))  # before: "complete; skipping", A's features
    assert "made from other inputs; redoing it" in out and str(b) in out
    from_b = feats(recipe)
    assert not np.allclose(from_a["u1"], from_b["u1"])
    assert str(b) in (recipe / "dump/x/.done").read_text()
    # a re-trained checkpoint under the same name is another input too
    shutil.rmtree(b)
    make_tiny_hubert(b, seed=2)
    assert "redoing it" in dump(recipe, *up, "--upstream_path", str(b))
    assert not np.allclose(feats(recipe)["u1"], from_b["u1"])


def test_fixed_audio_and_added_utterances_are_dumped_again(recipe):
    dump(recipe, "--kind", "fbank")
    before = feats(recipe)
    assert "skipping" in dump(recipe, "--kind", "fbank")
    for wav in (recipe / "data/all/wav").iterdir():  # the corpus copied again: same audio, new times
        os.utime(wav, (1, 1))
    assert "skipping" in dump(recipe, "--kind", "fbank")

    write_audio(recipe / "data/all/wav/u3.wav", 99)  # a fixed file keeps its name
    assert "redoing it" in dump(recipe, "--kind", "fbank")
    fixed = feats(recipe)
    assert not np.allclose(before["u3"], fixed["u3"]) and np.allclose(before["u1"], fixed["u1"])

    set_utts(recipe, ["u1", "u2", "u3", "u4", "u5", "u6"])  # an added actor
    assert "redoing it" in dump(recipe, "--kind", "fbank")
    assert sorted(feats(recipe)) == ["u1", "u2", "u3", "u4", "u5", "u6"]
    assert "skipping" in dump(recipe, "--kind", "fbank")


def test_a_killed_dump_resumes_its_finished_jobs_of_the_same_inputs(recipe):
    dump(recipe, "--kind", "fbank")
    job1 = (recipe / "dump/x/feats.1.ark").stat().st_mtime_ns
    for f in ("feats.2.ark", "feats.2.scp", "feats.scp", ".done"):  # as if killed during job 2
        (recipe / "dump/x" / f).unlink()
    out = dump(recipe, "--kind", "fbank")
    assert "redoing" not in out
    assert (recipe / "dump/x/feats.1.ark").stat().st_mtime_ns == job1
    assert sorted(feats(recipe)) == ["u1", "u2", "u3", "u4"]


def test_job_outputs_of_unrecorded_inputs_are_not_merged(recipe):
    dump(recipe, "--kind", "fbank")
    before = feats(recipe)
    (recipe / "dump/x/.stamp").unlink()  # a store made before stores were stamped
    (recipe / "dump/x/.done").unlink()
    (recipe / "dump/x/feats.scp").unlink()
    write_audio(recipe / "data/all/wav/u1.wav", 42)
    out = dump(recipe, "--kind", "fbank")
    assert "unrecorded inputs" in out
    after = feats(recipe)  # before: the old job scps merged again, u1 as it was
    assert not np.allclose(before["u1"], after["u1"]) and np.allclose(before["u2"], after["u2"])


def test_fbank_refuses_an_upstream_path(recipe):
    proc = subprocess.run(
        ["bash", "scripts/dump_feats.sh", "--kind", "fbank", "--upstream_path", "x", "data/all", "dump/x"],
        cwd=recipe,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "--upstream/--upstream_path are for --kind upstream" in proc.stderr
    assert not (recipe / "dump").exists()


def test_a_changed_transcript_redoes_a_text_store(recipe):
    (recipe / "data/all/text").write_text("u1 hello there\nu2 how are you\nu3 fine thanks\nu4 good bye\n")
    dump(recipe, "--layers", "-1", script="dump_text.sh")
    before = feats(recipe)
    assert "skipping" in dump(recipe, "--layers", "-1", script="dump_text.sh")
    (recipe / "data/all/text").write_text("u1 hello there\nu2 how are you\nu3 not fine at all\nu4 good bye\n")
    assert "redoing it" in dump(recipe, "--layers", "-1", script="dump_text.sh")  # before: "complete; skipping"
    after = feats(recipe)
    assert after["u3"].shape[0] != before["u3"].shape[0] and np.allclose(after["u1"], before["u1"], atol=1e-5)
