"""Runs a trained multi-task fold model (model.best.pt) on a data dir and writes every task's output:

  utt2emo_pred, utt2post     emotion class and posteriors (as ser.bin.infer)
  utt2gender_pred            m / f                                  (gender task)
  spk_embed.npz              utts and their speaker embeddings (N, E)  (speaker task, for verification)
  text_pred                  greedy CTC transcript, normalised      (asr task)

  python -m ser.bin.infer_mtl --exp-dir exp/x/fold1 --data-dir data/folds/session/fold1/test \
      --out-dir exp/x/fold1/infer_test
"""

import argparse
import shutil
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ser.bin.infer import load_trained, write_predictions
from ser.bin.train import make_dataset
from ser.data.datadir import write_kv
from ser.train.trainer import TrainConfig, make_loader, to_device
from ser.utils import SerError, atomic_path, get_logger, pick_device, run_main

log = get_logger("infer_mtl")
GENDERS = ("m", "f")


def infer(exp_dir, data_dir, out_dir, device) -> dict:
    model, conf, info = load_trained(exp_dir, device)
    if not hasattr(model, "predict_all"):
        raise SerError(f"{exp_dir}: model '{conf['model']['name']}' has no predict_all; use ser.bin.infer")
    model.eval()
    dataset = make_dataset(data_dir, conf, {})
    loader = make_loader(dataset, TrainConfig.from_dict(conf["train"]).batch_size, shuffle=False)
    out = {"utts": []}
    for batch in tqdm(loader, desc="infer", leave=False, dynamic_ncols=True):
        pred = model.predict_all(to_device(batch, device))
        out["utts"].extend(batch["utt"])
        for key, value in pred.items():
            out.setdefault(key, []).extend(value if isinstance(value, list) else value.float().cpu().numpy())
    for key in ("emo_logits", "gender_logits", "spk_embed"):
        if key in out:
            out[key] = np.stack(out[key])
    # Everything goes to a temporary dir renamed at the end: a killed run leaves no partial outputs.
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    write_predictions(out, info["classes"], conf["data"]["vad_range"], tmp)
    utts = out["utts"]
    if "gender_logits" in out:
        write_kv(tmp / "utt2gender_pred", {u: GENDERS[int(p.argmax())] for u, p in zip(utts, out["gender_logits"])})
    if "spk_embed" in out:
        with atomic_path(tmp / "spk_embed.npz") as path, open(path, "wb") as f:
            np.savez(f, utts=np.array(utts), embed=out["spk_embed"].astype(np.float32))
    if "text_pred" in out:
        write_kv(tmp / "text_pred", dict(zip(utts, out["text_pred"])))
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    log.info("wrote predictions of %s for %d utterances of %s to %s (%s)", exp_dir, len(utts), data_dir, out_dir,
             ", ".join(k for k in ("emo_logits", "gender_logits", "spk_embed", "text_pred") if k in out))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exp-dir", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    infer(args.exp_dir, args.data_dir, args.out_dir, pick_device(args.device))


if __name__ == "__main__":
    run_main(main)
