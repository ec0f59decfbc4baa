"""Model registry: `model: {name: <key>, ...}` in a train config picks one of these classes.

Every model class takes `info` (what the data tells: num_classes, input feature layouts) and its
own keyword arguments from the config; a key the class does not take is a config error.
"""

import importlib
import inspect

from ser.utils import SerError

MODELS = {
    "baseline": "ser.models.baseline:SuperbBaseline",
    "gmp_atl_phase1": "ser.models.gmp_atl:GmpPhase1",
    "gmp_atl_phase2": "ser.models.gmp_atl:GmpPhase2",
    "gmp_atl_phase3": "ser.models.gmp_atl:GmpPhase3",
    "joint_mtl": "ser.models.joint_mtl:JointMTL",
    "bridge_tokens": "ser.models.bridge_tokens:BridgeTokens",
    "mtl_coattn": "ser.models.mtl_coattn:MTLCoAttn",
    "ecapa_mtl": "ser.models.ecapa_mtl:EcapaMTL",
    "logreg": "ser.models.pooled_logreg:PooledLogReg",
}


def register(name: str, target: str) -> None:
    MODELS[name] = target


def model_class(name: str):
    if ":" in name:  # a "package.module:Class" path works without registering
        module, cls = name.split(":")
        return getattr(importlib.import_module(module), cls)
    if name not in MODELS:
        raise SerError(f"unknown model '{name}' (known: {', '.join(sorted(MODELS))})")
    module, cls = MODELS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build_model(conf: dict, info: dict):
    conf = dict(conf)
    name = conf.pop("name", None)
    if name is None:
        raise SerError("model config needs a 'name'")
    cls = model_class(name)
    params = inspect.signature(cls.__init__).parameters
    unknown = sorted(k for k in conf if k not in params or k in ("self", "info"))
    if unknown:
        known = sorted(k for k in params if k not in ("self", "info"))
        raise SerError(f"model '{name}': unknown config keys {unknown} (known: {known})")
    return cls(info=info, **conf)
