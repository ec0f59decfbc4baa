"""Checks a run config's values when it is loaded, naming the key and the file (or --set) that gave
it: `max_epochs: two` or `batch_size: 0` used to end in a raw traceback epochs later, `patience: '5'`
or classes written as a string in silently odd runs. A value's type must be its default's (an int
is also a float); ranges, the class list and the device are checked as below."""

from ser.config import load_yaml
from ser.utils import SerError

# key: (lowest allowed, whether the lowest is excluded)
RANGES = {
    "train.max_epochs": (1, False),
    "train.batch_size": (1, False),
    "train.accum_grad": (1, False),
    "train.lr": (0, True),
    "train.weight_decay": (0, False),
    "train.warmup_steps": (0, False),
    "train.grad_clip": (0, False),
    "train.patience": (1, False),
    "train.max_frames_per_batch": (0, False),
    "train.num_threads": (0, False),
    "data.max_wav_seconds": (0, True),
}


def origins(path, overlays=(), overrides=None) -> dict:
    """Dotted key -> where its value was last set (a config file, an overlay, `--set key=...`)."""
    out = {}

    def walk(layer, where, prefix=""):
        for key, value in layer.items():
            name = f"{prefix}{key}"
            out[name] = where
            if isinstance(value, dict):
                walk(value, where, f"{name}.")

    for p in ([path] if path else []) + list(overlays):
        walk(load_yaml(p), str(p))
    for key in overrides or {}:
        out[key] = f"--set {key}"
    return out


def _type_ok(value, default) -> bool:
    if default is None:  # optional: any value (its user checks it)
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, type(default))


TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list"}


def _type_name(default) -> str:
    return TYPE_NAMES.get(type(default), type(default).__name__)


def check_run_config(conf: dict, defaults: dict, where: dict, sections=("data", "train")) -> None:
    """Raises on the first bad value, naming it and where it came from."""

    def fail(key, msg):
        raise SerError(f"{where.get(key, 'config')}: {key}: {msg}")

    for section in sections:
        for key, default in defaults[section].items():
            name, value = f"{section}.{key}", conf[section].get(key)
            if not _type_ok(value, default):
                fail(name, f"{value!r} is not {_type_name(default)}")
    for name, (low, strict) in RANGES.items():
        section, key = name.split(".")
        value = conf.get(section, {}).get(key)
        if value is None:
            continue
        if (value <= low) if strict else (value < low):
            fail(name, f"{value} must be {'above' if strict else 'at least'} {low}")
    classes = conf["data"]["classes"]
    if not classes or not all(isinstance(c, str) and c for c in classes):
        fail("data.classes", f"{classes!r} must be a non-empty list of class names")
    dups = sorted({c for c in classes if classes.count(c) > 1})
    if dups:
        fail("data.classes", f"{dups} appear more than once in {classes}")
    check_device(conf["train"]["device"], where.get("train.device", "config"))


def check_device(device: str, where: str) -> None:
    import torch

    if device in ("auto", "cpu"):
        return
    if device.startswith("cuda"):
        index = device.partition(":")[2]
        if index and not index.isdigit():
            raise SerError(f"{where}: train.device: '{device}' is not cuda or cuda:N")
        count = torch.cuda.device_count()
        if count == 0:
            raise SerError(f"{where}: train.device: '{device}', but no CUDA device is available (use auto or cpu)")
        if index and int(index) >= count:
            raise SerError(f"{where}: train.device: '{device}', but only cuda:0..cuda:{count - 1} exist")
        return
    if device == "mps" and torch.backends.mps.is_available():
        return
    raise SerError(f"{where}: train.device: '{device}' is not auto, cpu, cuda, cuda:N (or an available mps)")
