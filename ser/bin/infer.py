"""Runs a trained fold model (model.best.pt) on a data dir and writes per-utterance predictions:
utt2emo_pred (class name), utt2post (class posteriors), utt2vad_pred (corpus scale).

  python -m ser.bin.infer --exp-dir exp/x/fold1 --data-dir data/folds/session/fold1/test \
      --feat ssl=dump/hubert/feats.scp --out-dir exp/x/fold1/infer_test
"""

import argparse
import json
from pathlib import Path

import torch
from ser.bin.train import make_dataset, parse_feats
from ser.config import parse_overrides, parse_yaml
from ser.data.dataset import unscale_vad
from ser.data.datadir import write_kv
from ser.models import build_model
from ser.train.trainer import TrainConfig, make_loader, run_predict
from ser.utils import SerError, get_logger, pick_device, run_main

log = get_logger("infer")


def load_trained(exp_dir, device="cpu", model_overrides=None):
    """The fold's best model; `model_overrides` ({key: value}) change inference-time model options."""
    exp_dir = Path(exp_dir)
    best = exp_dir / "model.best.pt"
    if not best.is_file():
        raise SerError(f"{best} not found: run the training stage for this fold first")
    conf = parse_yaml((exp_dir / "config.yaml").read_text())
    conf["model"].update(model_overrides or {})
    info = json.loads((exp_dir / "info.json").read_text())
    model = build_model(conf["model"], info)
    model.load_state_dict(torch.load(best, map_location=device, weights_only=True))
    return model.to(device), conf, info


def write_predictions(pred: dict, classes, vad_range, out_dir) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    utts = pred["utts"]
    if "emo_logits" in pred:
        post = torch.softmax(torch.from_numpy(pred["emo_logits"]), dim=1).numpy()
        write_kv(out_dir / "utt2emo_pred", {u: classes[int(p.argmax())] for u, p in zip(utts, post)})
        write_kv(out_dir / "utt2post", {u: " ".join(f"{x:.5f}" for x in p) for u, p in zip(utts, post)})
    if "vad" in pred:
        vad = unscale_vad(pred["vad"], vad_range)
        write_kv(out_dir / "utt2vad_pred", {u: " ".join(f"{x:.4f}" for x in v) for u, v in zip(utts, vad)})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exp-dir", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--feat", action="append", default=[])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--set", action="append", default=[],
                    help="an inference-time model option, e.g. model.tta_speeds=[0.9,1.0,1.1]")
    args = ap.parse_args()
    device = pick_device(args.device)
    overrides = parse_overrides(args.set)
    bad = [k for k in overrides if not k.startswith("model.")]
    if bad:
        raise SerError(f"--set {bad[0]}: only model.* options can change at inference")
    model, conf, info = load_trained(args.exp_dir, device, {k[len("model."):]: v for k, v in overrides.items()})
    dataset = make_dataset(args.data_dir, conf, parse_feats(args.feat))
    tconf = TrainConfig.from_dict(conf["train"])
    pred = run_predict(model, make_loader(dataset, tconf.batch_size, shuffle=False), device, "infer")
    write_predictions(pred, info["classes"], conf["data"]["vad_range"], args.out_dir)
    log.info("wrote predictions for %d utterances to %s", len(pred["utts"]), args.out_dir)


if __name__ == "__main__":
    run_main(main)
