"""Shared fixtures. Tests run on CPU; recipes are run through bash with the repo's path.sh."""

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# One thread per test process and per job it starts, set before torch is imported: the suite runs in
# two xdist workers on two cores, and two threads per job under load ran ~10x slower.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# Stamps cache audio digests (ser/data/file_digest.py); tests keep theirs out of the user's ~/.cache.
os.environ.setdefault("SER_DIGEST_CACHE", os.path.join(tempfile.mkdtemp(prefix="ser_digests_"), "digests.sqlite"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def tiny_hubert(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer HuBERT in transformers format (s3prl: hf_hubert_custom)."""
    from ser.features.tiny import make_tiny_hubert

    return make_tiny_hubert(tmp_path_factory.mktemp("tiny_hubert") / "model")


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer Whisper in transformers format (upstream whisper_custom)."""
    from ser.features.tiny import make_tiny_whisper

    return make_tiny_whisper(tmp_path_factory.mktemp("tiny_whisper") / "model")


def save_tiny_s3prl_hubert(path: Path, **model_cfg) -> Path:
    """A random 3-layer HuBERT saved in s3prl's converted fairseq layout (loadable as hubert_local);
    `model_cfg` overrides fields of its model config (e.g. layer_norm_first=True)."""
    import torch
    from s3prl.upstream.hubert.hubert_model import HubertConfig, HubertModel, HubertPretrainingConfig
    from s3prl.upstream.utils import merge_with_parent

    torch.manual_seed(0)
    model_cfg = dict(
        label_rate=50,
        encoder_layers=3,
        encoder_embed_dim=48,
        encoder_ffn_embed_dim=96,
        encoder_attention_heads=2,
        conv_pos=16,
        conv_pos_groups=4,
        final_dim=16,
        conv_feature_layers="[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2",
        **model_cfg,
    )
    task_cfg = dict(sample_rate=16000, normalize=False, label_rate=50)
    model = HubertModel(
        merge_with_parent(HubertConfig, model_cfg), merge_with_parent(HubertPretrainingConfig, task_cfg), [None]
    )
    torch.save(
        {
            "task_cfg": task_cfg,
            "model_cfg": model_cfg,
            "model_weight": model.state_dict(),
            "dictionaries_symbols": [None],
        },
        path,
    )
    return path


RAVDESS_SHARED = ROOT.parent / "shared" / "data" / "ravdess16k"
# Fold 1 tests actor 01; 02, 06, 13, 15 are EmoBox always-train actors (valid draws one m, one f).
RAVDESS_SUBSET_ACTORS = ("01", "02", "04", "06", "13", "15")


def ravdess_subset(dest: Path, actors=RAVDESS_SUBSET_ACTORS) -> Path:
    """Links to one utterance per emotion (normal intensity, statement 1, repetition 1) per actor
    of the shared real RAVDESS copy."""
    for a in actors:
        (dest / f"Actor_{a}").mkdir(parents=True)
        for e in range(1, 9):
            name = f"03-01-{e:02d}-01-01-01-{a}.flac"
            (dest / f"Actor_{a}" / name).symlink_to(RAVDESS_SHARED / f"Actor_{a}" / name)
    return dest


def text_data_dir(path: Path, texts: dict) -> Path:
    """A one-speaker data dir (utt2spk, text, utt2emo) with the given transcripts, blank ones kept."""
    from ser.data.datadir import DataDir

    utts = sorted(texts)
    dd = DataDir({"utt2spk": {u: "spk1" for u in utts}, "text": texts, "utt2emo": {u: "neu" for u in utts}}, path=None)
    path.mkdir(parents=True)
    for name, mapping in dd.fields.items():
        (path / name).write_text("".join(f"{u} {mapping[u]}".rstrip() + "\n" for u in utts))
    return path


def link_template(dest: Path) -> Path:
    """A bare recipe dir for ser.sh: links to utils, the shared scripts and ser.sh itself."""
    for link, target in (
        ("utils", "tools/utils"),
        ("scripts", "egs/TEMPLATE/ser1/scripts"),
        ("ser.sh", "egs/TEMPLATE/ser1/ser.sh"),
    ):
        (dest / link).symlink_to(ROOT / target)
    return dest


def copy_recipe(repo: Path, recipe: str, dest: Path) -> Path:
    """A private copy of egs/<corpus>/<recipe> in `dest`: run.sh and conf/ copied, every link
    (path.sh, utils, local, ...) made absolute, so a test's data/, dump/ and exp/ stay in tmp."""
    import shutil

    src = repo / recipe
    dest.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.name in ("data", "dump", "exp", "downloads"):
            continue
        target = dest / item.name
        if item.is_symlink():
            target.symlink_to(item.resolve())
        elif item.is_dir():
            shutil.copytree(item, target, symlinks=False)
        else:
            shutil.copy2(item, target)
    return dest


def run_recipe(recipe_dir: Path, *args: str, env: dict | None = None, timeout: int = 600):
    """Runs ./run.sh with the test's python first on PATH (CI's venv or a developer's)."""
    import subprocess

    full_env = dict(os.environ)
    full_env["PATH"] = f"{Path(sys.executable).parent}:{full_env['PATH']}"
    full_env.update(env or {})
    proc = subprocess.run(
        ["bash", "run.sh", *args], cwd=recipe_dir, env=full_env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"run.sh {' '.join(args)} failed ({proc.returncode}):\n"
            f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc


@pytest.fixture(scope="session")
def synthetic_iemocap(tmp_path_factory) -> Path:
    """The built-in IEMOCAP-layout corpus, generated once per test session (complete with .done)."""
    import subprocess

    out = tmp_path_factory.mktemp("iemocap_synth") / "iemocap_synthetic"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "egs/iemocap/local/make_synthetic_iemocap.py"),
            "--out",
            str(out),
            "--seed",
            "0",
            "--utts-per-dialog",
            "20",
        ],
        check=True,
        capture_output=True,
    )
    # The stamp local/data.sh writes for its default settings, so recipes reuse this copy.
    (out / ".done").write_text("synthetic seed=0 utts_per_dialog=20\n")
    return out


def link_synthetic_iemocap(recipe: Path, corpus: Path) -> None:
    """Points a recipe copy's downloads/iemocap_synthetic at the session's generated corpus."""
    (recipe / "downloads").mkdir(exist_ok=True)
    (recipe / "downloads" / "iemocap_synthetic").symlink_to(corpus)


def assert_png(path: Path, min_colours: int = 20):
    """A PNG that decodes to a picture of more than a few colours (a blank or failed figure has ~1)."""
    import matplotlib.image
    import numpy as np

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    img = matplotlib.image.imread(path)
    assert img.shape[0] > 150 and img.shape[1] > 150, img.shape
    colours = np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) >= min_colours and img[..., :3].std() > 0.05, (path, len(colours))
    return img
