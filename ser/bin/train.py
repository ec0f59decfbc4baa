"""Trains one model on one fold from a YAML config; resumes from the last checkpoint.

  python -m ser.bin.train --config conf/train.yaml --train-dir data/folds/session/fold1/train \
      --valid-dir data/folds/session/fold1/valid --feat ssl=dump/hubert/feats.scp --exp-dir exp/x/fold1
"""

import argparse
import json
from pathlib import Path

import yaml

from ser.config import load_yaml, merge_strict, parse_overrides
from ser.data.datadir import DataDir
from ser.data.dataset import UttDataset
from ser.features.store import FeatReader
from ser.models import build_model
from ser.train.trainer import Trainer, TrainConfig
from ser.utils import SerError, get_logger, run_main, set_seed, write_text_atomic

log = get_logger("train")

DEFAULTS = {
    "data": {"classes": ["neu", "hap", "ang", "sad"], "vad_range": [1.0, 5.0], "use_wav": False,
             "feats": [], "max_wav_seconds": None},
    "model": {"name": "baseline"},
    "train": vars(TrainConfig()).copy(),
}


def parse_feats(items, stage_hint="the feature-dumping stage") -> dict:
    feats = {}
    for item in items or []:
        if "=" not in item:
            raise SerError(f"--feat '{item}' must look like name=path/feats.scp")
        name, scp = item.split("=", 1)
        feats[name] = FeatReader(scp, stage_hint=stage_hint)
    return feats


def load_run_config(path, overrides) -> dict:
    """The config file over DEFAULTS; `model` is checked later against the model class itself."""
    user = load_yaml(path)
    model_conf = user.pop("model", {"name": "baseline"})
    conf = merge_strict({k: v for k, v in DEFAULTS.items() if k != "model"}, user, str(path))
    conf["model"] = model_conf
    for key, value in overrides.items():
        section, _, rest = key.partition(".")
        if section == "model":
            conf["model"][rest] = value
        else:
            conf = merge_strict(conf, {section: {rest: value}} if rest else {section: value}, f"--set {key}")
    return conf


def make_dataset(data_dir, conf, feats, speakers=None):
    d = conf["data"]
    missing = [f for f in d["feats"] if f not in feats]
    if missing:
        raise SerError(f"config needs feature stores {missing}; pass them with --feat name=scp")
    return UttDataset(DataDir.load(data_dir), d["classes"], feats={k: feats[k] for k in d["feats"]},
                      use_wav=d["use_wav"], vad_range=d["vad_range"], speakers=speakers,
                      max_wav_seconds=d["max_wav_seconds"])


def data_info(conf, feats, train_set) -> dict:
    counts = [0] * len(conf["data"]["classes"])
    for e in (train_set.emo or {}).values():
        counts[e] += 1
    return {
        "num_classes": len(conf["data"]["classes"]),
        "classes": conf["data"]["classes"],
        "class_counts": counts,
        "feats": {name: feats[name].meta for name in conf["data"]["feats"]},
        "speakers": sorted(set(train_set.data.utt2spk.values())),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--train-dir", required=True)
    ap.add_argument("--valid-dir", required=True)
    ap.add_argument("--exp-dir", required=True)
    ap.add_argument("--feat", action="append", default=[], help="name=scp, one per feature store")
    ap.add_argument("--set", action="append", default=[], help="override a config key, e.g. train.lr=1e-3")
    ap.add_argument("--resume", action="store_true", default=True,
                    help="continue from exp-dir/checkpoint.last.pt when it exists (the default)")
    ap.add_argument("--no-resume", dest="resume", action="store_false", help="start over, ignoring checkpoints")
    ap.add_argument("--restart-finished", action="store_true",
                    help="when the last checkpoint is of a finished run, train again from the start instead of "
                    "doing nothing (an interrupted run still resumes)")
    args = ap.parse_args()

    conf = load_run_config(args.config, parse_overrides(args.set))
    tconf = TrainConfig.from_dict(conf["train"], f"{args.config}: train")
    set_seed(tconf.seed)
    feats = parse_feats(args.feat)
    train_set = make_dataset(args.train_dir, conf, feats)
    speakers = {s: i for i, s in enumerate(sorted(set(train_set.data.utt2spk.values())))}
    train_set.speakers = speakers
    valid_set = make_dataset(args.valid_dir, conf, feats, speakers)
    info = data_info(conf, feats, train_set)
    model = build_model(conf["model"], info)
    exp = Path(args.exp_dir)
    exp.mkdir(parents=True, exist_ok=True)
    write_text_atomic(exp / "config.yaml", yaml.safe_dump(conf, sort_keys=False))
    write_text_atomic(exp / "info.json", json.dumps(info, indent=1))
    log.info("model %s: %.2fM trainable parameters", conf["model"]["name"],
             sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6)
    Trainer(model, tconf, exp, info["num_classes"]).fit(train_set, valid_set, resume=args.resume,
                                                        restart_finished=args.restart_finished)


if __name__ == "__main__":
    run_main(main)
