"""Stage 5 and ser-infer end to end on the built-in corpus: a fused system (a neural model and the
closed-form logistic regression on pooled layers of a tiny random Whisper, divided by the class
priors) is trained, scored and packed by the recipe, then the archives alone, with the recipe dir
and the upstream checkpoint moved away, give the recipe's own test posteriors."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import copy_recipe, link_synthetic_iemocap, run_recipe

REPO = Path(__file__).resolve().parents[2]
LOGREG = "data:\n  classes: [neu, hap, ang, sad]\n  feats: [ssl]\nmodel:\n  name: logreg\n  pool_layers: [1, 2]\n"
LOGREG += "  cs: [0.01, 0.1]\n"


@pytest.fixture(scope="module")
def fused(tmp_path_factory, synthetic_iemocap, tiny_whisper):
    recipe = copy_recipe(REPO, "egs/iemocap/baseline", tmp_path_factory.mktemp("pack") / "recipe")
    link_synthetic_iemocap(recipe, synthetic_iemocap)
    (recipe / "conf/logreg.yaml").write_text(LOGREG)
    run_recipe(
        recipe,
        *("--folds", "1", "--upstream", "whisper_custom", "--upstream_path", str(tiny_whisper)),
        *("--systems", "nn=conf/demo/train.yaml lr=conf/logreg.yaml", "--fusions", "fus=nn+lr"),
        *("--balance", "true", "--exp_name", "fused", "--train_opts", "train.max_epochs=2"),
    )
    return recipe


def predict(*args, cache, check=True):
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(cache)}
    proc = subprocess.run(
        [sys.executable, "-m", "ser.bin.predict", *map(str, args)], capture_output=True, text=True, env=env
    )
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr[-3000:])
    return proc


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def read_post(pred_dir) -> dict:
    classes = (pred_dir / "classes.txt").read_text().split()
    rows = [line.split() for line in (pred_dir / "utt2post").read_text().splitlines()]
    return {r[0]: dict(zip(classes, map(float, r[1:]))) for r in rows}


def test_packed_systems_give_the_recipes_posteriors(fused, tiny_whisper, tmp_path):
    exp = fused / "exp/fused"
    packs = {s: tmp_path / f"{s}.zip" for s in ("nn", "lr", "fus")}
    for s, dest in packs.items():
        shutil.copy(exp / s / "model.pack.zip", dest)
    manifest = json.loads(zipfile.ZipFile(packs["fus"]).read("manifest.json"))
    assert manifest["groups"] == [["nn"], ["lr"]] and manifest["balance"] and manifest["folds"] == ["1"]
    assert sorted(manifest["priors"]) == ["1"] and abs(sum(manifest["priors"]["1"]) - 1) < 1e-9
    (ckpt,) = manifest["checkpoints"].values()
    assert ckpt["embedded"] and ckpt["upstream"] == "whisper_custom"
    features = json.loads(zipfile.ZipFile(packs["lr"]).read("members/lr/fold1/features.json"))["ssl"]
    assert (
        features["kind"] == "upstream" and features["layers"] == [0, 1, 2] and features["checkpoint"] == ckpt["sha256"]
    )
    wav_scp = tmp_path / "wav.scp"
    lines = (fused / "data/folds/session/fold1/test/wav.scp").read_text().splitlines()
    wav_scp.write_text("".join(f"{u} {Path(p).resolve()}\n" for u, p in (line.split() for line in lines)))
    expected = {s: read_post(exp / s / "fold1/infer_test") for s in packs}
    moved, whisper_moved = fused.with_name("moved"), tiny_whisper.with_name("whisper_moved")
    fused.rename(moved)
    tiny_whisper.rename(whisper_moved)
    try:  # neither the recipe dir nor the upstream's folder is needed
        for s, pack in packs.items():
            out = tmp_path / f"{s}.jsonl"
            predict(pack, wav_scp, "--out", out, "--batch-size", "5", cache=tmp_path / "cache")
            rows = read_jsonl(out)
            assert [r["file"] for r in rows] == sorted(expected[s]) and all(r["segment"] == "all" for r in rows)
            got = np.array([[r["posteriors"][c] for c in ("neu", "hap", "ang", "sad")] for r in rows])
            want = np.array([[expected[s][r["file"]][c] for c in ("neu", "hap", "ang", "sad")] for r in rows])
            assert np.abs(got - want).max() < 1e-4, (s, np.abs(got - want).max())
            assert len({r["pred"] for r in rows}) > 1
    finally:
        moved.rename(fused)
        whisper_moved.rename(tiny_whisper)


def test_long_recording_in_windows(fused, tmp_path):
    wavs = [line.split()[1] for line in (fused / "data/folds/session/fold1/test/wav.scp").read_text().splitlines()]
    audio = np.concatenate([sf.read(w, dtype="float32")[0] for w in wavs[:4]])
    long_wav = tmp_path / "long.wav"
    sf.write(long_wav, audio, 16000)
    pack = fused / "exp/fused/fus/model.pack.zip"
    out = tmp_path / "long.jsonl"
    predict(pack, long_wav, "--window", "1.0", "--hop", "0.5", "--out", out, cache=tmp_path / "cache")
    rows = read_jsonl(out)
    n = len(audio)
    starts = list(range(0, n - 16000 + 1, 8000))
    if starts[-1] + 16000 < n:
        starts.append(n - 16000)
    assert [r["segment"] for r in rows] == [*range(len(starts)), "all"]
    assert all(abs(r["start"] * 16000 - s) <= 8 for r, s in zip(rows, starts))  # ms in the rows
    assert rows[-1]["end"] == round(n / 16000, 3) and rows[-2]["end"] == rows[-1]["end"]
    classes = list(rows[0]["posteriors"])
    post = np.array([[r["posteriors"][c] for c in classes] for r in rows[:-1]])
    summary = np.array([rows[-1]["posteriors"][c] for c in classes])
    assert np.allclose(post.mean(0), summary, atol=1e-9) and post.std(0).max() > 1e-4
    # A window's row is that window's audio predicted on its own.
    seg = tmp_path / "seg.wav"
    sf.write(seg, audio[starts[2] : starts[2] + 16000], 16000)
    alone = predict(pack, seg, "--format", "jsonl", cache=tmp_path / "cache").stdout.splitlines()
    alone_post = np.array(list(json.loads(alone[0])["posteriors"].values()))
    assert np.abs(alone_post - post[2]).max() < 1e-5


def test_a_directory_with_bad_files(fused, tmp_path):
    wavs = [line.split()[1] for line in (fused / "data/folds/session/fold1/test/wav.scp").read_text().splitlines()]
    d = tmp_path / "recordings"
    (d / "sub").mkdir(parents=True)
    shutil.copy(wavs[0], d / "a_good.wav")
    audio, sr = sf.read(wavs[1], dtype="float32")
    sf.write(d / "sub" / "b_stereo_44k.flac", np.stack([audio, audio], 1).repeat(2, 0), sr * 2)  # resampled, downmixed
    (d / "c_corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    sf.write(d / "d_empty.wav", np.zeros(0, dtype="float32"), 16000)
    sf.write(d / "e_short.wav", np.zeros(400, dtype="float32"), 16000)
    (d / "notes.txt").write_text("not audio\n")
    out = tmp_path / "rows.csv"
    proc = predict(
        fused / "exp/fused/fus/model.pack.zip", d, tmp_path / "missing.wav", "--out", out, cache=tmp_path / "c"
    )
    import csv

    rows = list(csv.DictReader(out.open()))
    by_file = {Path(r["file"]).name: r for r in rows}
    assert sorted(by_file) == [
        "a_good.wav",
        "b_stereo_44k.flac",
        "c_corrupt.wav",
        "d_empty.wav",
        "e_short.wav",
        "missing.wav",
    ]
    for good in ("a_good.wav", "b_stereo_44k.flac"):
        assert by_file[good]["error"] == "" and by_file[good]["pred"] in ("neu", "hap", "ang", "sad")
    assert (
        "cannot read audio" in by_file["c_corrupt.wav"]["error"]
        and "c_corrupt.wav" in by_file["c_corrupt.wav"]["error"]
    )
    assert "is empty" in by_file["d_empty.wav"]["error"]
    assert "too short" in by_file["e_short.wav"]["error"] and "0.025 s" in by_file["e_short.wav"]["error"]
    assert "no such file" in by_file["missing.wav"]["error"]
    assert "2 inputs predicted, 4 failed" in proc.stderr
    # The stereo 32 kHz copy is the same recording: the same posteriors up to resampling.
    expected = read_post(fused / "exp/fused/fus/fold1/infer_test")[Path(wavs[1]).stem]
    got = {c: float(by_file["b_stereo_44k.flac"][f"p_{c}"]) for c in expected}
    assert max(abs(got[c] - expected[c]) for c in expected) < 0.05


def test_load_errors(fused, tiny_whisper, tmp_path):
    wav = (fused / "data/folds/session/fold1/test/wav.scp").read_text().split()[1]
    pack = fused / "exp/fused/fus/model.pack.zip"
    # an archive of another format version
    old = tmp_path / "old.zip"
    with zipfile.ZipFile(pack) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "manifest.json":
                data = json.dumps({**json.loads(data), "format_version": 99}).encode()
            dst.writestr(item, data)
    proc = predict(old, wav, cache=tmp_path / "c", check=False)
    assert proc.returncode == 1 and "format version 99" in proc.stderr and "pack the system again" in proc.stderr
    # not an archive at all
    proc = predict(wav, wav, cache=tmp_path / "c", check=False)
    assert proc.returncode == 1 and "is not a packed model" in proc.stderr
    # an upstream checkpoint referenced, not embedded, and absent
    ref = tmp_path / "ref.zip"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-m", "ser.bin.pack", "--folds-root", "data/folds/session", "--folds", "1"]
        + ["--embed-max-mb", "0", "--out", str(ref), "exp/fused/lr"],
        cwd=fused,
        env=env,
        check=True,
        capture_output=True,
    )
    moved = tiny_whisper.with_name("gone")
    tiny_whisper.rename(moved)
    try:
        proc = predict(ref, wav, cache=tmp_path / "c", check=False)
    finally:
        moved.rename(tiny_whisper)
    assert (
        proc.returncode == 1
        and str(tiny_whisper) in proc.stderr
        and "--upstream-path whisper_custom=PATH" in proc.stderr
    )
    # ... given, but a different model
    other = tmp_path / "other_whisper"
    shutil.copytree(tiny_whisper, other)
    (other / "config.json").write_text((other / "config.json").read_text() + " ")
    proc = predict(ref, wav, "--upstream-path", f"whisper_custom={other}", cache=tmp_path / "c", check=False)
    assert proc.returncode == 1 and "a different model" in proc.stderr
    # ... and the right copy elsewhere works
    shutil.copytree(tiny_whisper, tmp_path / "right", dirs_exist_ok=True)
    ok = predict(ref, wav, "--upstream-path", f"whisper_custom={tmp_path / 'right'}", cache=tmp_path / "c")
    assert ok.stdout.splitlines()[0].startswith("file,segment,start,end,pred,p_neu")


def test_best_and_all_folds(tmp_path):
    from ser.packing.build import choose_folds
    from ser.utils import SerError

    for k, ua in (("1", 0.4), ("2", 0.7), ("3", 0.7)):
        (tmp_path / f"fold{k}/infer_test").mkdir(parents=True)
        (tmp_path / f"fold{k}/infer_test/scores.json").write_text(json.dumps({"ua": ua}))
    assert choose_folds(tmp_path, ["1", "2", "3"], "best") == ["2"]
    assert choose_folds(tmp_path, ["1", "2", "3"], "all") == ["1", "2", "3"]
    assert choose_folds(tmp_path, ["1", "2", "3"], "3") == ["3"]
    with pytest.raises(SerError, match="not one of the folds"):
        choose_folds(tmp_path, ["1", "2"], "5")
    with pytest.raises(SerError, match="run the scoring stage first"):
        choose_folds(tmp_path, ["1", "4"], "best")


def test_recipe_writes_figures_and_repacks_only_on_change(fused):
    from conftest import assert_png

    exp = fused / "exp/fused"
    assert_png(exp / "nn/fold1/curves.png")
    assert not (exp / "lr/fold1/curves.png").exists()  # closed form: no epochs
    for system in ("nn", "lr", "fus"):
        assert_png(exp / system / "plots/confusion.png")
        assert_png(exp / system / "fold1/infer_test/plots/recall.png")
    before = (exp / "fus/model.pack.zip").stat().st_mtime_ns
    common = (
        "--folds",
        "1",
        "--upstream",
        "whisper_custom",
        "--systems",
        "nn=conf/demo/train.yaml lr=conf/logreg.yaml",
    )
    proc = run_recipe(fused, *common, "--fusions", "fus=nn+lr", "--balance", "true", "--exp_name", "fused",
                      "--stage", "5")  # fmt: skip
    assert proc.stdout.count("is up to date") == 3 and (exp / "fus/model.pack.zip").stat().st_mtime_ns == before
    proc = run_recipe(fused, *common, "--fusions", "fus=nn+lr", "--balance", "false", "--exp_name", "fused",
                      "--stage", "5")  # fmt: skip
    assert proc.stdout.count("is up to date") == 2
    assert not json.loads(zipfile.ZipFile(exp / "fus/model.pack.zip").read("manifest.json"))["balance"]
