"""Local checkpoints in the layouts fairseq, Microsoft, s3prl and transformers release them.

Every checkpoint is a tiny randomly initialised model built with s3prl's own model classes, so the
state-dict keys are the real ones; fairseq is never installed (its Dictionary class only exists,
under fairseq's module path, while a test pickles it).
"""

import argparse
import contextlib
import dataclasses
import hashlib
import os
import shutil
import sys
import types

import numpy as np
import pytest
import torch

from ser.features import checkpoints
from ser.features.upstream import Upstream
from ser.utils import SerError

CONV = "[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2"  # 320 samples per frame, as s3prl assumes
TINY = dict(
    encoder_layers=2,
    encoder_embed_dim=32,
    encoder_ffn_embed_dim=64,
    encoder_attention_heads=2,
    conv_feature_layers=CONV,
    conv_pos=16,
    conv_pos_groups=4,
)
HUBERT_URL = "https://huggingface.co/s3prl/converted_ckpts/resolve/main/hubert_base_ls960.pt"


@pytest.fixture(autouse=True)
def private_caches(tmp_path, monkeypatch):
    """s3prl's download dir and our converted cache in tmp: tests never write to ~/.cache."""
    from s3prl.util import download

    monkeypatch.setenv("SER_CACHE", str(tmp_path / "ser_cache"))
    monkeypatch.setattr(download, "_download_dir", tmp_path / "s3prl_download")


@contextlib.contextmanager
def fake_fairseq():
    """A class at fairseq.data.dictionary.Dictionary while the test pickles; gone before loading."""
    names = ["fairseq", "fairseq.data", "fairseq.data.dictionary"]
    saved = {n: sys.modules.get(n) for n in names}

    class Dictionary:
        def __init__(self, symbols):
            self.symbols = list(symbols)
            self.count = [1] * len(self.symbols)
            self.indices = {s: i for i, s in enumerate(self.symbols)}
            self.bos_index, self.pad_index, self.eos_index, self.unk_index = 0, 1, 2, 3

    Dictionary.__module__, Dictionary.__qualname__ = "fairseq.data.dictionary", "Dictionary"
    for n in names:
        sys.modules[n] = types.ModuleType(n)
    sys.modules["fairseq.data.dictionary"].Dictionary = Dictionary
    try:
        yield Dictionary
    finally:
        for n in names:
            sys.modules.pop(n)
            if saved[n] is not None:
                sys.modules[n] = saved[n]


def tiny_hubert():
    from s3prl.upstream.hubert.hubert_model import HubertConfig, HubertModel, HubertPretrainingConfig

    torch.manual_seed(0)
    model_cfg = HubertConfig(label_rate=50.0, final_dim=16, **TINY)
    task_cfg = HubertPretrainingConfig(label_rate=50.0)
    symbols = ["<s>", "<pad>", "</s>", "<unk>"] + [str(i) for i in range(5)]
    return (
        HubertModel(model_cfg, task_cfg, [symbols]),
        dataclasses.asdict(model_cfg),
        dataclasses.asdict(task_cfg),
        symbols,
    )


def save_fairseq_hubert(path, cfg_as: str = "dict", extra_state: dict | None = None):
    """hubert_base_ls960.pt's layout: cfg {model, task}, model, task_state with Dictionary objects."""
    model, model_cfg, task_cfg, symbols = tiny_hubert()
    cfg = {
        "_name": None,
        "common": {"seed": 1337},
        "model": {"_name": "hubert", **model_cfg},
        "task": {"_name": "hubert_pretraining", "data": "/data", "labels": ["km"], **task_cfg},
    }
    if cfg_as == "omegaconf":
        from omegaconf import OmegaConf  # fairseq pickled its DictConfig, interpolations unresolved

        cfg["model"]["label_rate"] = "${task.label_rate}"
        cfg = OmegaConf.create(cfg)
    with fake_fairseq() as Dictionary:
        torch.save(
            {
                "args": None,
                "cfg": cfg,
                "model": model.state_dict(),
                "task_state": {"dictionaries": [Dictionary(symbols)]},
                "optimizer_history": [{"num_updates": 400000}],
                "extra_state": extra_state or {"epoch": 1},
                "last_optimizer_state": None,
            },
            path,
        )
    return model


def save_fairseq_wav2vec2(path, layout: str = "args"):
    """wav2vec_small.pt's layout: a flat argparse Namespace (strings for tuples), numpy in extra_state,
    in torch's pre-1.6 (non-zip) file format; or the later hydra layout (wav2vec_vox_new.pt) with cfg."""
    from s3prl.upstream.wav2vec2.wav2vec2_model import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    cfg = Wav2Vec2Config(final_dim=16, latent_vars=8, **TINY)
    model = Wav2Vec2Model(cfg)
    state = {
        "model": model.state_dict(),
        "last_optimizer_state": None,
        "optimizer_history": [{"num_updates": 400000, "lr_scheduler_state": {"best": np.float64(3.1)}}],
        "extra_state": {"val_loss": np.float64(3.1)},
    }
    if layout == "cfg":
        cfg = {
            "model": {"_name": "wav2vec2", **dataclasses.asdict(cfg)},
            "task": {"_name": "audio_pretraining", "data": "/data", "sample_rate": 16000, "normalize": False},
        }
        torch.save({**state, "args": None, "cfg": cfg}, path)
        return model
    fields = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "latent_temp"}
    args = argparse.Namespace(
        arch="wav2vec2",
        task="audio_pretraining",
        data="/data",
        sample_rate=16000,
        normalize=False,
        latent_temp="(2,0.5,0.999995)",
        **fields,
    )
    torch.save({**state, "args": args}, path, _use_new_zipfile_serialization=False)
    return model


def tiny_wavlm():
    from s3prl.upstream.wavlm.WavLM import WavLM, WavLMConfig

    torch.manual_seed(0)
    cfg = WavLMConfig(
        {**TINY, "relative_position_embedding": True, "num_buckets": 32, "max_distance": 64, "gru_rel_pos": True}
    )
    return WavLM(cfg), dict(cfg.__dict__)


@contextlib.contextmanager
def saved_on_gpu():
    """torch.save tags each storage with its device; pretend it was a GPU's, as in many releases."""
    original = torch.serialization.location_tag
    torch.serialization.location_tag = lambda storage: "cuda:0"
    try:
        yield
    finally:
        torch.serialization.location_tag = original


def assert_runs(up: Upstream, num_layers: int = 3, dim: int = 32):
    assert (up.num_layers, up.hidden_size, up.downsample_rate) == (num_layers, dim, 320)
    hs, lens = up(torch.randn(2, 16000), torch.tensor([16000, 8000]))
    assert len(hs) == num_layers and all(h.shape == (2, 50, dim) for h in hs)
    assert lens.tolist() == [50, 25]


def assert_same_weights(loaded: torch.nn.Module, original: torch.nn.Module):
    got = loaded.state_dict()
    for k, v in original.state_dict().items():
        assert torch.equal(got[k], v), k


def converted_files(tmp_path):
    return sorted(p.name for p in tmp_path.rglob("*.s3prl-*.pt"))


@pytest.mark.parametrize("cfg_as", ["dict", "omegaconf"])
def test_released_fairseq_hubert_loads_without_fairseq(tmp_path, cfg_as):
    if cfg_as == "omegaconf":
        pytest.importorskip("omegaconf")
    path = tmp_path / "hubert_base_ls960.pt"
    original = save_fairseq_hubert(path, cfg_as)
    assert "fairseq.data.dictionary" not in sys.modules
    up = Upstream("hubert_local", str(path))
    assert_runs(up)
    assert_same_weights(up.model.upstream.model, original)
    assert converted_files(tmp_path) == [f"hubert_base_ls960.s3prl-hubert-{checkpoints._cache_key(path, 'hubert')}.pt"]


@pytest.mark.parametrize("layout", ["args", "cfg"])
def test_released_wav2vec2_loads(tmp_path, layout):
    path = tmp_path / "wav2vec_small.pt"
    original = save_fairseq_wav2vec2(path, layout)
    up = Upstream("wav2vec2_local", str(path))
    assert_runs(up)
    assert_same_weights(up.model.upstream.model, original)
    assert up.model.upstream.model.cfg.latent_temp == (2, 0.5, 0.999995)


def test_released_wavlm_loads_as_is_and_from_gpu_storage(tmp_path):
    model, cfg = tiny_wavlm()
    plain = tmp_path / "plain" / "WavLM-Base+.pt"
    plain.parent.mkdir()
    torch.save({"cfg": cfg, "model": model.state_dict()}, plain)
    assert_runs(Upstream("wavlm_local", str(plain)))
    assert converted_files(tmp_path) == []  # s3prl reads this one itself: no copy

    gpu = tmp_path / "gpu" / "WavLM-Base+.pt"
    gpu.parent.mkdir()
    with saved_on_gpu():
        torch.save({"cfg": cfg, "model": model.state_dict()}, gpu)
    up = Upstream("wavlm_local", str(gpu))
    assert_runs(up)
    assert_same_weights(up.model.upstream.model, model)
    assert len(converted_files(gpu.parent)) == 1


def test_s3prl_converted_layout_is_used_directly(tmp_path):
    model, model_cfg, task_cfg, symbols = tiny_hubert()
    path = tmp_path / "hubert_converted.pt"
    torch.save(
        {
            "task_cfg": task_cfg,
            "model_cfg": model_cfg,
            "model_weight": model.state_dict(),
            "dictionaries_symbols": [symbols],
        },
        path,
    )
    assert checkpoints.prepare_local_checkpoint("hubert_local", path) == path
    assert_runs(Upstream("hubert_local", str(path)))
    assert converted_files(tmp_path) == []


def test_conversion_is_cached_and_redone_when_the_original_changes(tmp_path, monkeypatch):
    path = tmp_path / "hubert_base_ls960.pt"
    save_fairseq_hubert(path)
    first = checkpoints.prepare_local_checkpoint("hubert_local", path)
    assert first.parent == tmp_path and first != path

    def no_second_conversion(*args):
        raise AssertionError("converted again")

    with monkeypatch.context() as m:
        m.setattr(checkpoints, "_convert", no_second_conversion)
        assert checkpoints.prepare_local_checkpoint("hubert_local", path) == first
        assert_runs(Upstream("hubert_local", str(path)))

    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a new download of the same name
    assert checkpoints.prepare_local_checkpoint("hubert_local", path) != first


def test_unwritable_checkpoint_dir_converts_into_ser_cache(tmp_path, monkeypatch):
    path = tmp_path / "ro" / "hubert_base_ls960.pt"
    path.parent.mkdir()
    save_fairseq_hubert(path)
    monkeypatch.setattr(checkpoints, "_dir_writable", lambda d: False)
    converted = checkpoints.prepare_local_checkpoint("hubert_local", path)
    assert converted.parent == tmp_path / "ser_cache" / "converted"
    assert_runs(Upstream("hubert_local", str(path)))


def test_truncated_or_foreign_checkpoint_names_the_file(tmp_path):
    path = tmp_path / "hubert_base_ls960.pt"
    save_fairseq_hubert(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SerError, match=f"{path}.*not a readable PyTorch checkpoint"):
        Upstream("hubert_local", str(path))
    path.write_text("<html>404 Not Found</html>")
    with pytest.raises(SerError, match=f"{path}.*not a readable PyTorch checkpoint"):
        Upstream("hubert_local", str(path))


def test_checkpoint_of_another_model_names_the_right_upstream(tmp_path):
    path = tmp_path / "hubert_base_ls960.pt"
    save_fairseq_hubert(path)
    with pytest.raises(SerError, match="'hubert' model, not wav2vec2"):
        Upstream("wav2vec2_local", str(path))
    model, cfg = tiny_wavlm()
    wavlm = tmp_path / "WavLM-Base+.pt"
    torch.save({"cfg": cfg, "model": model.state_dict()}, wavlm)
    with pytest.raises(SerError, match="WavLM's layout.*wavlm_local"):
        Upstream("hubert_local", str(wavlm))


def test_conv_layer_string_that_is_not_a_layer_list_is_refused(tmp_path):
    model, cfg = tiny_wavlm()
    path = tmp_path / "WavLM-Base+.pt"
    torch.save({"cfg": {**cfg, "conv_feature_layers": "__import__('os').getcwd()"}, "model": model.state_dict()}, path)
    with pytest.raises(SerError, match="conv_feature_layers .* refused"):
        Upstream("wavlm_local", str(path))


def copy_hf_folder(src, dest, drop: str):
    shutil.copytree(src, dest)
    (dest / drop).unlink()
    return dest


def test_hf_folder_without_preprocessor_config_says_what_to_add(tiny_hubert, tmp_path):
    folder = copy_hf_folder(tiny_hubert, tmp_path / "hubert-base", "preprocessor_config.json")
    with pytest.raises(SerError, match=f"{folder} lacks preprocessor_config.json.*save_pretrained"):
        Upstream("hf_hubert_custom", str(folder))


def test_hf_folder_without_weights_or_config_is_named(tiny_hubert, tmp_path):
    weights = next(p.name for p in tiny_hubert.iterdir() if p.name in checkpoints.HF_WEIGHTS)
    folder = copy_hf_folder(tiny_hubert, tmp_path / "no_weights", weights)
    with pytest.raises(SerError, match=f"{folder} lacks model weights"):
        Upstream("hf_wav2vec2_custom", str(folder))
    folder = copy_hf_folder(tiny_hubert, tmp_path / "no_config", "config.json")
    with pytest.raises(SerError, match=f"{folder} lacks config.json"):
        Upstream("hf_hubert_custom", str(folder))


def test_hub_cache_path_follows_s3prls_rule(tmp_path):
    expected = tmp_path / "s3prl_download" / f"{hashlib.sha256(HUBERT_URL.encode()).hexdigest()}.hubert_base_ls960.pt"
    assert checkpoints.s3prl_cache_file(HUBERT_URL) == expected
    assert checkpoints.s3prl_hub_files("hubert") == [(HUBERT_URL, expected)]


def test_offline_hub_name_without_cached_file_fails_fast_with_its_path(tmp_path, monkeypatch):
    monkeypatch.setenv("SER_OFFLINE", "1")
    expected = checkpoints.s3prl_cache_file(HUBERT_URL)
    with pytest.raises(SerError, match="not in its cache file") as err:
        Upstream("hubert")
    assert str(expected) in str(err.value) and HUBERT_URL in str(err.value)
    assert not expected.exists()


def test_hub_name_loads_from_a_file_placed_in_s3prls_cache(monkeypatch):
    monkeypatch.setenv("SER_OFFLINE", "1")  # a missing file would fail instead of downloading
    [(url, cache_file)] = checkpoints.s3prl_hub_files("wavlm_base_plus")
    model, cfg = tiny_wavlm()
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"cfg": cfg, "model": model.state_dict()}, cache_file)
    assert_runs(Upstream("wavlm_base_plus"))


class RunsOnUnpickle:
    """What a hostile checkpoint could hold: unpickling it calls os.mkdir(marker)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_code_in_a_released_checkpoint_does_not_run(tmp_path):
    path, marker = tmp_path / "hubert_base_ls960.pt", tmp_path / "was_run"
    save_fairseq_hubert(path, extra_state={"payload": RunsOnUnpickle(marker)})
    assert_runs(Upstream("hubert_local", str(path)))
    assert not marker.exists()
