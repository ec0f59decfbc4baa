"""YAML configs checked against the defaults a program declares: an unknown key is an error."""

import copy
import re
from pathlib import Path

import yaml

from ser.utils import SerError


class Loader(yaml.SafeLoader):
    """YAML 1.1 reads `1e-4` (no dot) as a string; configs mean a number, as YAML 1.2 does."""


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str):
    return yaml.load(text, Loader=Loader)


def merge_strict(defaults: dict, override: dict, where: str, prefix: str = "") -> dict:
    out = copy.deepcopy(defaults)
    for key, value in (override or {}).items():
        name = f"{prefix}{key}"
        if key not in defaults:
            known = ", ".join(sorted(defaults)) or "(none)"
            raise SerError(f"{where}: unknown config key '{name}' (known keys here: {known})")
        if isinstance(defaults[key], dict) and defaults[key] and isinstance(value, dict):
            out[key] = merge_strict(defaults[key], value, where, prefix=f"{name}.")
        else:
            out[key] = value
    return out


def load_yaml(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise SerError(f"config file not found: {path}")
    try:
        data = parse_yaml(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise SerError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise SerError(f"{path}: top level must be a mapping of keys to values")
    return data


def load_config(path, defaults: dict, overrides: dict | None = None, overlays=(), free=()) -> dict:
    """Defaults <- the YAML file <- each overlay in order <- command-line overrides (dotted keys,
    already parsed). An overlay holds only the keys that change (an ablation, a demo size).

    Keys are checked against `defaults`, except inside the sections named in `free`, whose owner
    checks them (a model class knows its own keyword arguments): there a key given later replaces
    the earlier one, and only the file may name the section's `name`, which picks that owner.
    """
    conf = copy.deepcopy(defaults)
    layers = [(str(path), load_yaml(path))] if path else []
    layers += [(str(o), load_yaml(o)) for o in overlays]
    for where, layer in layers:
        loose = {s: layer.pop(s) or {} for s in free if s in layer}
        conf = merge_strict(conf, layer, where)
        for section, values in loose.items():
            if not isinstance(values, dict):
                raise SerError(f"{where}: '{section}' must be a mapping of keys to values")
            old = conf.get(section) or {}
            if where != str(path) and "name" in values and values["name"] != old.get("name"):
                raise SerError(
                    f"{where}: an overlay cannot change {section}.name ({old.get('name')} -> {values['name']})"
                )
            conf[section] = {**old, **values}
    for dotted, value in (overrides or {}).items():
        section, _, rest = dotted.partition(".")
        if section in free and rest:
            conf[section] = {**(conf.get(section) or {}), rest: value}
            continue
        nested = value
        for part in reversed(dotted.split(".")):
            nested = {part: nested}
        conf = merge_strict(conf, nested, f"override {dotted}")
    return conf


def parse_overrides(items) -> dict:
    """`key.sub=value` strings -> {dotted key: YAML-parsed value}."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SerError(f"override '{item}' must look like key=value")
        key, value = item.split("=", 1)
        out[key] = parse_yaml(value)
    return out
