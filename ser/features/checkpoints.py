"""Loading s3prl upstreams from hub names and from local checkpoints as users have them.

s3prl's `hubert_local` / `wav2vec2_local` only read s3prl's *converted* layout (`task_cfg`, `model_cfg`,
`model_weight`[, `dictionaries_symbols`]) and its converter needs fairseq installed; `wavlm_local` reads
`{"cfg", "model"}` with torch's weights-only loader and no `map_location`. Checkpoints as fairseq and
Microsoft release them are converted here once, without fairseq, into a cached file in s3prl's layout.

Released fairseq files pickle fairseq/omegaconf objects. They are read with a restricted unpickler:
torch's own allowlist of tensor-rebuilding globals is real, every other global (fairseq.*, omegaconf.*,
numpy, ...) becomes an inert stub that only records the state pickle hands it, so nothing from the
file executes. This is done only for a file the user passed explicitly.

`python -m ser.features.checkpoints NAME...` prints where s3prl caches the files of hub upstreams.
"""

import argparse
import ast
import builtins
import contextlib
import dataclasses
import enum
import hashlib
import io
import os
import pickle
import re
import types
import typing
import zipfile
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from collections import OrderedDict
from pathlib import Path

from ser.utils import SerError, get_logger

if typing.TYPE_CHECKING:
    import torch

log = get_logger("checkpoints")

# Bumped when the converted layout changes, so older conversions are not reused.
CONVERTED_FORMAT = 1
OFFLINE_VARS = ("SER_OFFLINE", "HF_HUB_OFFLINE")
HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")
# The s3prl loader each local-checkpoint upstream goes through.
FAMILIES = {
    "hubert_local": "hubert",
    "hubert_custom": "hubert",
    "wav2vec2_local": "wav2vec2",
    "wav2vec2_custom": "wav2vec2",
    "wavlm_local": "wavlm",
}
REQUIRED_KEYS = {
    "hubert": ("task_cfg", "model_cfg", "model_weight", "dictionaries_symbols"),
    "wav2vec2": ("task_cfg", "model_cfg", "model_weight"),
    "wavlm": ("cfg", "model"),
}
# s3prl loaders that unpickle a local checkpoint in full (torch.load(weights_only=False)): a file
# from elsewhere could run code, so they load only when the user says the file is trusted.
UNPICKLING_LOADERS = ("distiller_local", "mockingjay_local", "tera_local", "audio_albert_local")
TRUST_VAR = "SER_TRUST_CHECKPOINTS"
# s3prl's model code eval()s this string; a layer list is only brackets, numbers, + and *.
CONV_LAYERS_RE = re.compile(r"^[\[\]()\d\s,.+*]+$")


# --- entry point -------------------------------------------------------------------------------


def load_s3prl_upstream(name: str, path: str | None = None) -> "torch.nn.Module":
    """An `s3prl.nn.S3PRLUpstream`; a local checkpoint in a released layout is converted first."""
    S3PRLUpstream = _s3prl_upstream_class()
    if name not in S3PRLUpstream.available_names():
        raise SerError(f"unknown s3prl upstream '{name}'; see s3prl.nn.S3PRLUpstream.available_names()")
    ckpt = path
    if name in UNPICKLING_LOADERS and os.environ.get(TRUST_VAR) != "1":
        raise SerError(
            f"upstream '{name}' loads {path or 'its checkpoint'} with full unpickling, which runs any code the "
            f"file holds; if you trust the file, set {TRUST_VAR}=1 (ser.sh: --trust_checkpoints true)"
        )
    if path is not None:
        if not Path(path).exists():
            raise SerError(f"upstream '{name}': checkpoint path {path} does not exist")
        if name.startswith("hf_"):
            check_hf_folder(name, Path(path))
        elif name in FAMILIES:
            ckpt = str(prepare_local_checkpoint(name, Path(path)))
    with _guarded_downloads(name) as requested:
        try:
            return S3PRLUpstream(name, path_or_url=ckpt)
        except SerError:
            raise
        except Exception as e:
            raise SerError(_load_failure(name, path, ckpt, requested, e)) from e


def _s3prl_upstream_class():
    try:
        from s3prl.nn import S3PRLUpstream
    except ImportError as e:  # pragma: no cover - install.sh provides it
        raise SerError(f"s3prl is not importable ({e}); run tools/install.sh") from e
    return S3PRLUpstream


def _load_failure(name: str, path: str | None, ckpt: str | None, requested: list, e: Exception) -> str:
    where = f" from {path}" if path else ""
    if ckpt and ckpt != path:
        where += f" (converted to {ckpt})"
    msg = f"cannot load s3prl upstream '{name}'{where}: {type(e).__name__}: {e}"
    for url, file in requested:
        state = "present" if file.is_file() else "missing"
        msg += f"\n  s3prl reads {url} from its cache file {file} ({state})"
    return msg + "\n" + LOCAL_HINT


LOCAL_HINT = (
    "  Without internet: put the file of a hub name at the cache path s3prl reads it from (printed above, "
    "or by `python -m ser.features.checkpoints NAME`), or give a local checkpoint: hubert_local / "
    "wav2vec2_local / wavlm_local with upstream_path a .pt as fairseq or Microsoft release it "
    "(hubert_base_ls960.pt, wav2vec_small.pt, WavLM-Base+.pt) or as s3prl converted it, or "
    "hf_hubert_custom / hf_wav2vec2_custom with a transformers folder (config.json, "
    "preprocessor_config.json, model weights). README.md, 'Pretrained checkpoints', has the details."
)


# --- transformers folders ----------------------------------------------------------------------


def check_hf_folder(name: str, folder: Path, feature_extractor: bool = True) -> None:
    """Fails early on what s3prl's hf_*_custom would otherwise paper over with a hub download.
    `feature_extractor=False` for models whose input features we compute ourselves (Whisper)."""
    if not folder.is_dir():
        raise SerError(
            f"upstream '{name}': {folder} is not a folder; {name} needs a transformers model "
            "folder (config.json, preprocessor_config.json, model.safetensors or pytorch_model.bin)"
        )
    missing = []
    if not (folder / "config.json").is_file():
        missing.append("config.json (the model config: save it with model.config.save_pretrained(folder))")
    if feature_extractor and not (folder / "preprocessor_config.json").is_file():
        # Without it s3prl silently fetches facebook's feature extractor from the hub, which fails offline.
        missing.append(
            "preprocessor_config.json (copy it from the model's Hugging Face repo, or write one with: python -c "
            '"from transformers import Wav2Vec2FeatureExtractor as F; F(feature_size=1, sampling_rate=16000, '
            f"padding_value=0.0, do_normalize=True, return_attention_mask=True).save_pretrained('{folder}')\"; "
            "set do_normalize as the model was trained)"
        )
    if not any((folder / w).is_file() for w in HF_WEIGHTS):
        missing.append("model weights (model.safetensors or pytorch_model.bin: model.save_pretrained(folder))")
    if missing:
        raise SerError(f"upstream '{name}': transformers folder {folder} lacks " + "; and ".join(missing))


# --- hub names: s3prl's download cache ---------------------------------------------------------


def s3prl_cache_file(url: str) -> Path:
    """Where s3prl keeps the download of `url` (s3prl.util.download._urls_to_filepaths's rule)."""
    from s3prl.util import download

    return Path(download._download_dir) / f"{hashlib.sha256(url.encode()).hexdigest()}.{Path(url).name}"


def offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in OFFLINE_VARS)


@contextlib.contextmanager
def _guarded_downloads(name: str):
    """Wraps s3prl's single download function: records what it fetches, and when offline fails on a
    missing file before s3prl opens a connection (which can hang on a cluster node)."""
    from s3prl.util import download

    original = download._download
    requested: list[tuple[str, Path]] = []

    def guarded(filepath, url, refresh=False, *args, **kwargs):
        requested.append((url, Path(filepath)))
        if offline() and not Path(filepath).is_file():
            set_vars = ", ".join(f"{v}={os.environ[v]}" for v in OFFLINE_VARS if v in os.environ)
            raise SerError(
                f"upstream '{name}': s3prl needs {url}, which is not in its cache file {filepath}, and "
                f"downloads are off ({set_vars}). Download it where there is internet (curl -L -o FILE URL) "
                f"and copy it to exactly that path.\n{LOCAL_HINT}"
            )
        return original(filepath, url, refresh, *args, **kwargs)

    download._download = guarded
    try:
        yield requested
    finally:
        download._download = original


class _StopProbe(Exception):
    pass


def s3prl_hub_files(name: str) -> list[tuple[str, Path]]:
    """(url, cache file) s3prl would fetch first for hub upstream `name`, found by calling its hub
    function with the downloader replaced (nothing is downloaded); empty if it uses no s3prl download."""
    from s3prl import hub
    from s3prl.util import download

    requested: list[tuple[str, Path]] = []

    def record(filepath, url, *args, **kwargs):
        requested.append((url, Path(filepath)))
        raise _StopProbe

    original, download._download = download._download, record
    try:
        getattr(hub, name)()
    except Exception:  # _StopProbe, or the entry needs arguments: either way nothing more to learn
        pass
    finally:
        download._download = original
    return requested


# --- restricted unpickling ---------------------------------------------------------------------


class _Stub:
    """Stands in for a class or function pickled by reference: records what unpickling hands it."""

    _args: tuple = ()
    _state = None

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        obj._args = args
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self._state = state

    # dict and list subclasses are rebuilt item by item
    def __setitem__(self, key, value):
        self.__dict__.setdefault("_items", {})[key] = value

    def append(self, value):
        self.__dict__.setdefault("_list", []).append(value)

    def extend(self, values):
        for v in values:
            self.append(v)

    def __repr__(self):
        return f"<stub {type(self).__module__}.{type(self).__qualname__}>"


_STUBS: dict[tuple[str, str], type] = {}
_SAFE_BUILTINS = {
    "dict",
    "list",
    "tuple",
    "set",
    "frozenset",
    "int",
    "float",
    "str",
    "bytes",
    "bool",
    "complex",
    "bytearray",
    "slice",
}


def _stub_class(module: str, name: str) -> type:
    key = (module, name)
    if key not in _STUBS:
        _STUBS[key] = type(name, (_Stub,), {"__module__": module, "__qualname__": name})
    return _STUBS[key]


def _allowed_globals() -> dict:
    """The globals torch's weights-only loader accepts by default (tensor rebuilding, dtypes, storages)."""
    from torch import _weights_only_unpickler as wou

    allowed = dict(wou._get_allowed_globals())
    allowed["argparse.Namespace"] = argparse.Namespace  # fairseq's `args`: a plain attribute bag
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """Real objects only for torch's allowlist and plain builtin types; a stub for anything else."""

    def __init__(self, file, **kwargs):
        super().__init__(file, **kwargs)
        self.seen: set[str] = set()
        self.real = self.real_globals()

    def real_globals(self) -> dict:
        return _allowed_globals()

    def find_class(self, module, name):
        module, name = NAME_MAPPING.get((module, name), (module, name))  # Python 2 names, as pickle does
        module = IMPORT_MAPPING.get(module, module)
        self.seen.add(f"{module}.{name}")
        if f"{module}.{name}" in self.real:
            return self.real[f"{module}.{name}"]
        if module == "builtins" and name in _SAFE_BUILTINS:
            return getattr(builtins, name)
        return _stub_class(module, name)


def _restricted_load(file, **kwargs):
    return _RestrictedUnpickler(file, **kwargs).load()


# What torch.load calls as `pickle_module`: its Unpickler subclass and `load` for legacy headers.
RESTRICTED_PICKLE = types.ModuleType("ser_restricted_pickle")
RESTRICTED_PICKLE.Unpickler = _RestrictedUnpickler
RESTRICTED_PICKLE.load = _restricted_load


class _ProbeUnpickler(_RestrictedUnpickler):
    """Reads only the pickled structure: tensors stay stubs, their storage locations are recorded."""

    def __init__(self, file, **kwargs):
        super().__init__(file, **kwargs)
        self.locations: set[str] = set()

    def real_globals(self) -> dict:
        return {"collections.OrderedDict": OrderedDict}

    def persistent_load(self, pid):
        if isinstance(pid, tuple) and len(pid) > 3 and pid[0] == "storage":
            self.locations.add(str(pid[3]))
        return None


@dataclasses.dataclass
class Probe:
    """A checkpoint's pickled structure, read without loading tensor data."""

    obj: object
    globals: set
    locations: set

    def weights_only_loadable(self) -> bool:
        from torch import _weights_only_unpickler as wou

        allowed = set(wou._get_allowed_globals()) | set(wou._get_user_allowed_globals())
        return self.globals <= allowed


def probe_checkpoint(path: Path) -> Probe | None:
    """The structure of a torch.save file; None for formats only torch.load itself reads (old tar)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                pkl = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
                if not pkl:
                    raise SerError(f"checkpoint {path} is a zip file but not one torch.save wrote (no data.pkl)")
                data = io.BytesIO(zf.read(pkl[0]))
                u = _ProbeUnpickler(data, encoding="utf-8")
                return Probe(u.load(), u.seen, u.locations)
        with open(path, "rb") as f:
            header = f.read(2)
            if header[:1] != b"\x80":
                return None
            f.seek(0)
            for _ in range(3):  # torch's legacy format: magic number, protocol version, system info
                _ProbeUnpickler(f, encoding="utf-8").load()
            u = _ProbeUnpickler(f, encoding="utf-8")
            return Probe(u.load(), u.seen, u.locations)
    except SerError:
        raise
    except Exception as e:
        raise SerError(
            f"checkpoint {path} is not a readable PyTorch checkpoint (truncated or corrupt "
            f"download?): {type(e).__name__}: {e}"
        ) from e


def load_untrusted(path: Path) -> dict:
    """torch.load of a user-given checkpoint on CPU with the restricted unpickler."""
    import torch

    try:
        state = torch.load(
            path, map_location="cpu", pickle_module=RESTRICTED_PICKLE, weights_only=False, mmap=zipfile.is_zipfile(path)
        )
    except Exception as e:
        raise SerError(
            f"checkpoint {path} is not a readable PyTorch checkpoint (truncated or corrupt "
            f"download?): {type(e).__name__}: {e}"
        ) from e
    if not isinstance(state, dict):
        raise SerError(f"checkpoint {path} holds a {type(state).__name__}, not the dict a model checkpoint is")
    return state


# --- local checkpoints: detect, convert, cache -------------------------------------------------


def prepare_local_checkpoint(name: str, path: Path) -> Path:
    """The file s3prl's `name` can load: `path` itself when s3prl reads it as it is, else a cached
    conversion into s3prl's layout (made once; reused while the original is unchanged)."""
    family = FAMILIES[name]
    if path.is_dir():
        raise SerError(f"upstream '{name}': {path} is a folder; {name} needs a .pt checkpoint file")
    probe = probe_checkpoint(path)
    if probe is not None and _loads_as_is(family, probe):
        _check_conv_layers(_cfg_of(family, probe.obj), path)
        return path
    cached = _find_converted(path, family)
    if cached is not None:
        log.info("using %s, converted earlier from %s", cached, path)
        return cached
    return _convert(name, family, path)


def _loads_as_is(family: str, probe: Probe) -> bool:
    obj = probe.obj
    if not isinstance(obj, dict) or not all(k in obj for k in REQUIRED_KEYS[family]):
        return False
    if not probe.weights_only_loadable():  # s3prl's torch.load runs weights-only (torch >= 2.6)
        return False
    if family == "wavlm":  # s3prl loads it without map_location: tensors saved on a GPU need a copy
        return probe.locations <= {"cpu"} and isinstance(obj.get("cfg"), dict)
    return True


def _cfg_of(family: str, obj) -> dict:
    if family == "wavlm":
        return obj.get("cfg") if isinstance(obj.get("cfg"), dict) else {}
    return obj.get("model_cfg") if isinstance(obj.get("model_cfg"), dict) else {}


def _check_conv_layers(cfg: dict, path: Path) -> None:
    layers = cfg.get("conv_feature_layers")
    if isinstance(layers, str) and not CONV_LAYERS_RE.match(layers):
        raise SerError(
            f"checkpoint {path}: conv_feature_layers {layers!r} is not a list of (dim, kernel, stride) "
            "layers; s3prl would eval() it, so it is refused"
        )


def _cache_key(path: Path, family: str) -> str:
    st = path.stat()
    ident = f"{CONVERTED_FORMAT}|{family}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def converted_cache_dir() -> Path:
    if os.environ.get("SER_CACHE"):
        return Path(os.environ["SER_CACHE"]) / "converted"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ser" / "converted"


def _converted_candidates(path: Path, family: str) -> list[Path]:
    """Next to the original first (found again by whoever has the original), then the user cache."""
    fname = f"{path.stem}.s3prl-{family}-{_cache_key(path, family)}.pt"
    return [path.parent / fname, converted_cache_dir() / fname]


def _find_converted(path: Path, family: str) -> Path | None:
    return next((c for c in _converted_candidates(path, family) if c.is_file()), None)


def _dir_writable(d: Path) -> bool:
    return os.access(d, os.W_OK)


def _convert(name: str, family: str, path: Path) -> Path:
    import torch

    state = load_untrusted(path)
    converted = to_s3prl_layout(family, state, path)
    beside, in_cache = _converted_candidates(path, family)
    for target in ([beside] if _dir_writable(path.parent) else []) + [in_cache]:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
            try:
                torch.save(converted, tmp)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as e:
            log.warning("cannot write %s (%s); trying the next location", target, e)
            continue
        log.info("upstream '%s': converted %s from its released layout to s3prl's in %s", name, path, target)
        return target
    raise SerError(
        f"upstream '{name}': cannot write the converted copy of {path} next to it or under "
        f"{in_cache.parent}; set SER_CACHE to a writable directory"
    )


def to_s3prl_layout(family: str, state: dict, path: Path) -> dict:
    """The dict s3prl's loader for `family` reads, from a released (or converted) checkpoint."""
    weights = _weights(state, path)
    if family == "wavlm":
        cfg = _wavlm_cfg(state, path)
        _check_conv_layers(cfg, path)
        return {"cfg": cfg, "model": weights}
    model_cfg, task_cfg = _fairseq_cfgs(state, path, family)
    if "label_rate" not in model_cfg and "label_rate" in task_cfg:  # HubertConfig requires it; fairseq
        model_cfg = {**model_cfg, "label_rate": task_cfg["label_rate"]}  # interpolates it from the task
    model_dc, task_dc = _s3prl_dataclasses(family)
    out = {"task_cfg": _fit(task_dc, task_cfg), "model_cfg": _fit(model_dc, model_cfg), "model_weight": weights}
    _check_conv_layers(out["model_cfg"], path)
    if family == "hubert":
        out["dictionaries_symbols"] = _dictionary_symbols(state, weights)
    return out


def _weights(state: dict, path: Path) -> OrderedDict:
    import torch

    weights = state.get("model_weight", state.get("model"))
    if isinstance(weights, _Stub) or not isinstance(weights, dict):
        raise SerError(f"checkpoint {path} has no model state dict (keys: {sorted(map(str, state))})")
    return OrderedDict((k, v) for k, v in weights.items() if isinstance(v, torch.Tensor))


def _fairseq_cfgs(state: dict, path: Path, family: str) -> tuple[dict, dict]:
    """(model cfg, task cfg) from s3prl's converted keys, fairseq's `cfg` or an older `args` Namespace."""
    if "model_cfg" in state and "task_cfg" in state:
        return _plain(state["model_cfg"]), _plain(state["task_cfg"])
    if state.get("cfg") is not None:
        cfg = _resolve_interpolations(_plain(state["cfg"]))
        model, task = cfg.get("model"), cfg.get("task")
        if isinstance(model, dict) and isinstance(task, dict):
            _check_model_name(model, family, path)
            return model, task
        if "encoder_layers" in cfg:  # a flat cfg next to `model` is WavLM's release layout
            raise SerError(
                f"checkpoint {path} is in WavLM's layout (a flat cfg and model); load it with upstream wavlm_local"
            )
    if isinstance(state.get("args"), (argparse.Namespace, dict, _Stub)):
        # Before hydra, fairseq kept one flat Namespace; its converter fills the model and task
        # dataclasses from the fields of the same names, which `_fit` does.
        args = _plain(state["args"])
        return args, args
    raise SerError(
        f"checkpoint {path} has neither s3prl's layout ({', '.join(REQUIRED_KEYS[family])}) nor "
        f"fairseq's (cfg with model and task, or args; plus model); its keys: {sorted(map(str, state))}"
    )


def _check_model_name(model_cfg: dict, family: str, path: Path) -> None:
    model_name = str(model_cfg.get("_name") or "")
    if "w2v_path" in model_cfg or "w2v_args" in model_cfg:
        raise SerError(
            f"checkpoint {path} is a fine-tuned model ({model_name or 'w2v_args'}); {family}_local "
            "loads the pretrained (self-supervised) checkpoint it was fine-tuned from"
        )
    if model_name and family not in model_name:
        raise SerError(
            f"checkpoint {path} holds a fairseq '{model_name}' model, not {family}; use the matching *_local upstream"
        )


def _wavlm_cfg(state: dict, path: Path) -> dict:
    cfg = _resolve_interpolations(_plain(state.get("cfg")))
    if not isinstance(cfg, dict):
        raise SerError(f"checkpoint {path} has no cfg dict, which WavLM checkpoints carry next to model")
    if isinstance(cfg.get("model"), dict):  # trained with fairseq: the model part is WavLM's cfg
        cfg = cfg["model"]
    return cfg


def _s3prl_dataclasses(family: str) -> tuple[type, type]:
    if family == "hubert":
        from s3prl.upstream.hubert.hubert_model import HubertConfig, HubertPretrainingConfig

        return HubertConfig, HubertPretrainingConfig
    from s3prl.upstream.wav2vec2.wav2vec2_model import AudioPretrainingConfig, Wav2Vec2Config

    return Wav2Vec2Config, AudioPretrainingConfig


def _fit(dc: type, cfg: dict) -> dict:
    """Only `dc`'s fields, with values as fairseq's `_override_attr` reads them: a Namespace keeps
    e.g. latent_temp as the string "(2,0.5,0.999995)" where the dataclass wants a tuple."""
    out = {}
    for f in dataclasses.fields(dc):
        if f.name not in cfg:
            continue
        value = cfg[f.name]
        if isinstance(value, str) and not _is_str_type(f.type):
            with contextlib.suppress(ValueError, SyntaxError):
                value = ast.literal_eval(value)
        out[f.name] = value
    return out


def _is_str_type(t) -> bool:
    if isinstance(t, str):
        return "str" in t or "Enum" in t or "CHOICES" in t
    if t is str or (isinstance(t, type) and issubclass(t, enum.Enum)):
        return True
    return any(_is_str_type(a) for a in typing.get_args(t))


def _dictionary_symbols(state: dict, weights: dict) -> list:
    """The label dictionaries' symbols (fairseq Dictionary objects in task_state); HubertModel only
    uses their sizes, which label_embs_concat also gives when the dictionaries were not saved."""
    task_state = state.get("task_state")
    dicts = task_state.get("dictionaries") if isinstance(task_state, dict) else None
    if "dictionaries_symbols" in state:
        dicts = state["dictionaries_symbols"]
    symbols = [_symbols_of(d) for d in dicts or []]
    if symbols and all(s is not None for s in symbols):
        return symbols
    emb = weights.get("label_embs_concat")
    if emb is not None:
        log.warning("no label dictionaries in the checkpoint; sizing them from label_embs_concat (%d)", emb.shape[0])
        return [[str(i) for i in range(emb.shape[0])]]
    return [None]  # HubertModel then builds no label embeddings, as for a fine-tuned model


def _symbols_of(d) -> list | None:
    if isinstance(d, (list, tuple)):
        return [str(s) for s in d]
    if isinstance(d, _Stub) and isinstance(d._state, dict) and isinstance(d._state.get("symbols"), list):
        return [str(s) for s in d._state["symbols"]]
    symbols = getattr(d, "symbols", None)
    return [str(s) for s in symbols] if isinstance(symbols, list) else None


_DROP = object()


def _plain(obj):
    """Plain dicts/lists/scalars from config objects: omegaconf containers keep their data in
    `_content`, value nodes in `_val`, enum members pickle as EnumClass(value)."""
    if isinstance(obj, _Stub):
        return _plain_stub(obj)
    if isinstance(obj, argparse.Namespace):
        obj = vars(obj)
    if isinstance(obj, dict):
        items = ((str(k), _plain(v)) for k, v in obj.items())
        return {k: v for k, v in items if v is not _DROP}
    if isinstance(obj, (list, tuple)):
        return type(obj)(v for v in map(_plain, obj) if v is not _DROP)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, enum.Enum):
        return _plain(obj.value)
    return _DROP


def _plain_stub(stub: _Stub):
    state = stub._state
    if isinstance(state, dict) and "_content" in state:
        content = state["_content"]
        return _DROP if content == "???" else _plain(content)
    if isinstance(state, dict) and "_val" in state:
        return _DROP if state["_val"] == "???" else _plain(state["_val"])
    if len(stub._args) == 1 and state is None:
        return _plain(stub._args[0])
    if "_items" in stub.__dict__:
        return _plain(stub._items)
    if "_list" in stub.__dict__:
        return _plain(stub._list)
    if isinstance(state, dict):
        return _plain({k: v for k, v in state.items() if not str(k).startswith("_")})
    return _DROP


_INTERPOLATION = re.compile(r"^\$\{([\w.]+)\}$")


def _resolve_interpolations(cfg):
    """Replaces omegaconf references such as label_rate: ${task.label_rate} by the value they name."""
    if not isinstance(cfg, dict):
        return cfg

    def lookup(dotted: str):
        node = cfg
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return _DROP
            node = node[part]
        return _DROP if isinstance(node, str) and _INTERPOLATION.match(node) else node

    def walk(node):
        if isinstance(node, dict):
            items = ((k, walk(v)) for k, v in node.items())
            return {k: v for k, v in items if v is not _DROP}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str) and (m := _INTERPOLATION.match(node)):
            return lookup(m.group(1))
        return node

    return walk(cfg)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description="Print where s3prl caches the checkpoint of hub upstreams, so a "
        "file can be placed there by hand on an offline machine."
    )
    ap.add_argument("names", nargs="+", help="s3prl hub names, e.g. hubert wavlm_large")
    args = ap.parse_args(argv)
    for name in args.names:
        files = s3prl_hub_files(name)
        if not files:
            print(f"{name}: no file through s3prl's downloader (a *_local/*_custom name, or another cache)")
        for url, file in files:
            print(f"{name}: {url}\n  -> {file} ({'present' if file.is_file() else 'missing'})")


if __name__ == "__main__":
    main()
