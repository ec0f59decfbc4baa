"""Frozen upstream: training from dumped features against running the upstream every epoch.

  python bench/cached_vs_online.py [--ravdess ../shared/data/ravdess16k] [--files-per-actor 2] [--epochs 2]

Model: the SUPERB baseline head (ser.models.baseline: weighted sum of the 13 hidden states,
projection, mean pooling, linear classifier over RAVDESS's 8 emotions) on a HuBERT-base-shaped
upstream (transformers HubertConfig() defaults, randomly initialised, s3prl hf_hubert_custom, frozen).
  cached: one-off dump (ser.bin.dump_feats through utils/run.py, nj 2, float32), then every epoch
          reads the ark (ser.data.dataset.UttDataset with a FeatReader), as the recipes do;
  online: every epoch loads the audio and runs the upstream (no grad), utterance by utterance
          exactly as the dump does (batching would pad the waveform, and HuBERT's group-normalised
          CNN would then see the padding), as s3prl's downstream runner does with a frozen upstream.
Same seed, same initial head, same length-bucketed batches (actors 01-20 train, 21-24 valid).
Equal results: the per-step training losses and the final valid logits are compared.
"""

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_RAVDESS, OUT, ROOT, hubert_base_random, machine, ravdess_data_dir, run_timed  # noqa: E402

from ser.data.datadir import DataDir  # noqa: E402
from ser.data.dataset import UttDataset, collate  # noqa: E402
from ser.data.sampler import BucketBatchSampler  # noqa: E402
from ser.features.store import FeatReader  # noqa: E402
from ser.features.upstream import Upstream  # noqa: E402
from ser.models.baseline import SuperbBaseline  # noqa: E402

CLASSES = ["neu", "cal", "hap", "sad", "ang", "fea", "dis", "sur"]


class OnlineFeatures:
    """Adds batch["ssl"] (B, T, 13*768) computed from batch["wav"] by the frozen upstream."""

    def __init__(self, upstream_path):
        self.up = Upstream("hf_hubert_custom", upstream_path, trainable=False)

    @torch.no_grad()
    def __call__(self, batch):
        feats = []
        for wav, n in zip(batch["wav"], batch["wav_lens"]):
            x = wav[: int(n)].unsqueeze(0)
            hs, _ = self.up(x, torch.tensor([x.shape[1]]))
            feats.append(torch.cat([h[0] for h in hs], dim=-1))
        lens = torch.tensor([len(f) for f in feats])
        out = torch.zeros(len(feats), int(lens.max()), feats[0].shape[1])
        for i, f in enumerate(feats):
            out[i, : len(f)] = f
        return {**batch, "ssl": out, "ssl_lens": lens}


def loader(dataset, lengths, batch_size, shuffle, seed):
    sampler = BucketBatchSampler(lengths, batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate), sampler


def train(mode, data_train, data_valid, feats_scp, upstream_path, epochs, seed, batch_size):
    torch.manual_seed(seed)
    frames = FeatReader(feats_scp)
    info = {"num_classes": len(CLASSES), "feats": {"ssl": frames.meta}}  # num_layers x dim of the dump
    model = SuperbBaseline(info)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    if mode == "cached":
        reader = FeatReader(feats_scp)
        make = lambda d: UttDataset(d, CLASSES, feats={"ssl": reader})  # noqa: E731
        prep = lambda b: b  # noqa: E731
    else:
        make = lambda d: UttDataset(d, CLASSES, use_wav=True)  # noqa: E731
        prep = OnlineFeatures(upstream_path)
    # identical batches in both modes: bucket by the (known) frame counts of the dump
    train_set, valid_set = make(data_train), make(data_valid)
    train_loader, sampler = loader(train_set, [frames.num_frames(u) for u in train_set.utts], batch_size, True, seed)
    valid_loader, _ = loader(valid_set, [frames.num_frames(u) for u in valid_set.utts], batch_size, False, seed)
    losses, epoch_s = [], []
    for epoch in range(1, epochs + 1):
        sampler.set_epoch(epoch)
        model.train()
        t = time.perf_counter()
        for batch in train_loader:
            batch = prep(batch)
            opt.zero_grad()
            loss = model(batch)["loss"]
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        epoch_s.append(time.perf_counter() - t)
        print(f"  {mode} epoch {epoch}: {epoch_s[-1]:.1f} s, last loss {losses[-1]:.4f}", flush=True)
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model.predict(prep(b))["emo_logits"] for b in valid_loader]).numpy()
    return {"epoch_s": epoch_s, "losses": losses, "logits": logits}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ravdess", default=str(DEFAULT_RAVDESS))
    ap.add_argument(
        "--upstream-path",
        default=None,
        help="transformers HuBERT folder for hf_hubert_custom (default: a random HubertConfig() model, "
        "saved once in bench/out/hubert_base_random)",
    )
    ap.add_argument("--files-per-actor", type=int, default=2, help="seeded subset per actor (0: all 60)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = OUT / "cached_vs_online"
    shutil.rmtree(work, ignore_errors=True)
    data, hours = ravdess_data_dir(Path(args.ravdess), args.files_per_actor, work / "data" / "all")
    all_data = DataDir.load(data)
    valid_utts = [u for u in all_data.utts if int(all_data.utt2spk[u].split("_")[1]) > 20]
    train_utts = [u for u in all_data.utts if u not in set(valid_utts)]
    all_data.subset(train_utts).write(work / "data" / "train")
    all_data.subset(valid_utts).write(work / "data" / "valid")
    train_d, valid_d = DataDir.load(work / "data" / "train"), DataDir.load(work / "data" / "valid")
    info = machine()
    print(
        f"# cached vs online upstream\n\n{info}\ncommand: python {' '.join(sys.argv)}\n"
        f"RAVDESS subset: {len(train_utts)} train + {len(valid_utts)} valid files, {hours * 60:.1f} min of audio; "
        f"torch threads {args.threads}\n",
        flush=True,
    )
    upstream = args.upstream_path or hubert_base_random()
    dump = work / "dump"
    (dump / "log").mkdir(parents=True)
    t = time.perf_counter()
    opts = ["--data-dir", data, "--out", dump, "--nj", "2"]
    run_timed(
        [
            sys.executable,
            ROOT / "tools" / "utils" / "run.py",
            "JOB=1:2",
            dump / "log" / "dump.JOB.log",
            sys.executable,
            "-m",
            "ser.bin.dump_feats",
            *opts,
            "--kind",
            "upstream",
            "--upstream",
            "hf_hubert_custom",
            "--upstream-path",
            upstream,
            "--job",
            "JOB",
        ],
        dump / "log" / "run.log",
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    run_timed([sys.executable, "-m", "ser.bin.dump_feats", *opts, "--merge"], dump / "log" / "merge.log")
    dump_s = time.perf_counter() - t
    print(f"one-off dump (nj 2): {dump_s:.1f} s", flush=True)
    res = {
        m: train(m, train_d, valid_d, dump / "feats.scp", str(upstream), args.epochs, args.seed, args.batch_size)
        for m in ("cached", "online")
    }
    c, o = np.mean(res["cached"]["epoch_s"]), np.mean(res["online"]["epoch_s"])
    dloss = float(np.max(np.abs(np.array(res["cached"]["losses"]) - np.array(res["online"]["losses"]))))
    dlogit = float(np.max(np.abs(res["cached"]["logits"] - res["online"]["logits"])))
    same_pred = float(np.mean(res["cached"]["logits"].argmax(1) == res["online"]["logits"].argmax(1)))
    print(f"\n| mode | epoch s (mean of {args.epochs}) | speed-up | one-off dump s |")
    print("|---|---|---|---|")
    print(f"| online upstream | {o:.1f} | 1x | - |")
    print(f"| cached ark | {c:.2f} | {o / c:.1f}x | {dump_s:.1f} |")
    print(
        f"\nequal results: max |loss difference| over {len(res['cached']['losses'])} steps {dloss:.2e}; "
        f"max |valid logit difference| {dlogit:.2e}; same valid predictions {100 * same_pred:.1f}%"
    )
    print(f"break-even after {dump_s / max(o - c, 1e-9):.2f} epochs; load average at end {os.getloadavg()}")
    out = {
        "machine": info,
        "hours": hours,
        "dump_s": dump_s,
        "epochs": args.epochs,
        "cached_epoch_s": res["cached"]["epoch_s"],
        "online_epoch_s": res["online"]["epoch_s"],
        "max_loss_diff": dloss,
        "max_logit_diff": dlogit,
        "same_predictions": same_pred,
    }
    path = OUT / f"cached_vs_online-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=1))
    shutil.rmtree(dump)
    print(f"results in {path}")


if __name__ == "__main__":
    main()
