"""Trains a multi-task model (mtl_coattn) on one fold: ser.bin.train plus what the auxiliary tasks
need. The CTC task's character vocabulary is built from the fold's training transcripts into
<exp-dir>/tokens.txt; ablation overlays (conf/tuning/*.yaml, only the keys that change) are applied
on top of the config; optionally the test set is predicted right after training, in the same process.

  python -m ser.bin.train_mtl --config conf/train.yaml [--overlay conf/tuning/no_swfc.yaml] \
      --train-dir data/folds/session/fold1/train --valid-dir data/folds/session/fold1/valid \
      --exp-dir exp/x/fold1 [--set train.lr=1e-5] [--infer-data data/.../test --infer-out exp/x/fold1/infer_test]
"""

import argparse
import json
from pathlib import Path

import yaml

from ser.bin.train import data_info, load_run_config, make_dataset
from ser.config import load_yaml, merge_strict, parse_overrides
from ser.models import build_model
from ser.text.vocab import CharVocab, read_texts
from ser.train.trainer import Trainer, TrainConfig
from ser.utils import SerError, get_logger, run_main, set_seed, write_text_atomic

log = get_logger("train_mtl")


def apply_overlay(conf: dict, path) -> dict:
    """An ablation file holds only the keys that differ: `model` keys replace the base ones (the model
    class checks them), `data`/`train` keys must exist in the base config."""
    overlay = load_yaml(path)
    model = overlay.pop("model", {}) or {}
    if "name" in model and model["name"] != conf["model"].get("name"):
        raise SerError(f"{path}: an overlay cannot change the model name ({conf['model'].get('name')} -> {model['name']})")
    conf = merge_strict(conf, overlay, str(path))
    conf["model"] = {**conf["model"], **model}
    return conf


def uses_asr(model_conf: dict) -> bool:
    from ser.models.mtl_coattn import AUX_TASKS

    return "asr" in (model_conf.get("aux_tasks", AUX_TASKS) or [])


def build_vocab(train_dir, exp: Path) -> Path:
    text = Path(train_dir) / "text"
    if not text.is_file():
        raise SerError(f"{text} not found: the asr (CTC) task needs the training transcripts; "
                       "drop 'asr' from model.aux_tasks to train without them")
    vocab = CharVocab.build(read_texts(text))
    out = exp / "tokens.txt"
    vocab.save(out)
    log.info("CTC vocabulary: blank + %d characters from %s -> %s", len(vocab) - 1, text, out)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--overlay", action="append", default=[], help="yaml with the keys an ablation changes")
    ap.add_argument("--train-dir", required=True)
    ap.add_argument("--valid-dir", required=True)
    ap.add_argument("--exp-dir", required=True)
    ap.add_argument("--set", action="append", default=[], help="override a config key, e.g. train.lr=1e-5")
    ap.add_argument("--no-resume", action="store_true")
    ap.add_argument("--infer-data", help="after training, predict this data dir (e.g. the fold's test set)")
    ap.add_argument("--infer-out", help="output dir of those predictions")
    args = ap.parse_args()
    if bool(args.infer_data) != bool(args.infer_out):
        raise SerError("--infer-data and --infer-out go together")

    conf = load_run_config(args.config, {})
    for path in args.overlay:
        conf = apply_overlay(conf, path)
    for key, value in parse_overrides(args.set).items():
        section, _, rest = key.partition(".")
        if section == "model":
            conf["model"][rest] = value
        else:
            conf = merge_strict(conf, {section: {rest: value}} if rest else {section: value}, f"--set {key}")
    exp = Path(args.exp_dir)
    exp.mkdir(parents=True, exist_ok=True)
    if uses_asr(conf["model"]) and not conf["model"].get("vocab"):
        conf["model"]["vocab"] = str(build_vocab(args.train_dir, exp))

    tconf = TrainConfig.from_dict(conf["train"], f"{args.config}: train")
    set_seed(tconf.seed)
    train_set = make_dataset(args.train_dir, conf, {})
    speakers = {s: i for i, s in enumerate(sorted(set(train_set.data.utt2spk.values())))}
    train_set.speakers = speakers
    valid_set = make_dataset(args.valid_dir, conf, {}, speakers)
    info = data_info(conf, {}, train_set)
    model = build_model(conf["model"], info)
    write_text_atomic(exp / "config.yaml", yaml.safe_dump(conf, sort_keys=False))
    write_text_atomic(exp / "info.json", json.dumps(info, indent=1))
    log.info("model %s: %.2fM trainable parameters; outputs in %s", conf["model"]["name"],
             sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6, exp)
    trainer = Trainer(model, tconf, exp, info["num_classes"])
    trainer.fit(train_set, valid_set, resume=not args.no_resume)
    if args.infer_data:
        from ser.bin.infer_mtl import infer

        infer(exp, args.infer_data, args.infer_out, trainer.device)


if __name__ == "__main__":
    run_main(main)
