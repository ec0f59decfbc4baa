"""The RAVDESS fused system's shape through stage 5 and ser-infer, on a 6-actor subset of the real
corpus with a tiny random Whisper: three ECAPA seeds on fbank, a ComParE logistic regression and a
Whisper-layer logistic regression, fused and divided by the class priors. The packed fusion alone
gives the recipe's fused test posteriors."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import RAVDESS_SHARED, copy_recipe, ravdess_subset, run_recipe

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not RAVDESS_SHARED.is_dir(), reason=f"{RAVDESS_SHARED} is absent")
SYSTEMS = (
    "ecapa_s0=conf/train.yaml ecapa_s1=conf/train.yaml@train.seed=1 ecapa_s2=conf/train.yaml@train.seed=2 "
    "compare_logreg=conf/compare_logreg.yaml "
    "whisper_logreg=conf/compare_logreg.yaml@data.feats=[ssl]@model.pool_layers=[1,2]"
)


def test_packed_ravdess_fusion(tmp_path, tiny_whisper):
    pytest.importorskip("opensmile")
    corpus = ravdess_subset(tmp_path / "ravdess_subset")
    recipe = copy_recipe(REPO, "egs/ravdess/ecapa_mtl", tmp_path / "recipe")
    run_recipe(
        recipe,
        *("--folds", "1", "--train_opts", "train.max_epochs=2 train.batch_size=8", "--float16", "true"),
        *("--feats", f"fbank=fbank compare=compare ssl=upstream:whisper_custom:{tiny_whisper}"),
        *("--systems", SYSTEMS, "--fusions", "fusion=ecapa_s0,ecapa_s1,ecapa_s2+compare_logreg+whisper_logreg"),
        env={"RAVDESS": str(corpus)},
    )
    fusion = recipe / "exp/ecapa_mtl/fusion"
    pack = fusion / "model.pack.zip"
    manifest = json.loads(zipfile.ZipFile(pack).read("manifest.json"))
    weights = {m: round(v["weight"], 6) for m, v in manifest["members"].items()}
    assert weights == {"ecapa_s0": 0.111111, "ecapa_s1": 0.111111, "ecapa_s2": 0.111111, "compare_logreg": 0.333333,
                       "whisper_logreg": 0.333333}  # fmt: skip
    assert manifest["balance"] and len(manifest["priors"]["1"]) == 8
    lines = (recipe / "data/folds/emobox/fold1/test/wav.scp").read_text().splitlines()
    wav_scp = tmp_path / "wav.scp"
    wav_scp.write_text("".join(f"{u} {Path(p).resolve()}\n" for u, p in (line.split() for line in lines)))
    out = tmp_path / "rows.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    subprocess.run(
        [sys.executable, "-m", "ser.bin.predict", str(pack), str(wav_scp), "--out", str(out)],
        check=True,
        env=env,
        capture_output=True,
        cwd=tmp_path,
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    classes = (fusion / "fold1/infer_test/classes.txt").read_text().split()
    want = {r[0]: list(map(float, r[1:])) for r in (x.split() for x in (fusion / "fold1/infer_test/utt2post").open())}
    got = {r["file"]: [r["posteriors"][c] for c in classes] for r in rows}
    assert sorted(got) == sorted(want) and len(got) == 8
    diff = max(np.abs(np.array(got[u]) - np.array(want[u])).max() for u in want)
    assert diff < 1e-4, diff
