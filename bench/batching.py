"""Length-bucketed batching (ser.data.sampler.BucketBatchSampler) against random batching.

  python bench/batching.py [--ravdess ../shared/data/ravdess16k] [--batch-size 32] [--epochs 2]

For two length distributions, each sampler's batches are measured for
  padding: padded frames / all frames of the padded (B, T_max) tensors, over one epoch;
  throughput: utterances per second of one training epoch (forward + backward + Adam step) of two
    downstream heads on 768-dim frames (50 frames/s, HuBERT's rate), frames held in memory:
    the SUPERB baseline (ser.models.baseline: per-frame projection + mean pooling) and a 1-layer
    BiLSTM (128 per direction) with mean pooling, whose cost grows with the padded length.
Length distributions (480 utterances each by default): RAVDESS (real durations of a seeded subset
of its files, 2.9-5.3 s: little to gain), and a synthetic wide one (lognormal, median 3.5 s,
sigma 0.7, clipped to 0.5-30 s), closer to spontaneous-speech corpora such as IEMOCAP or
MSP-Podcast. Random features: only the shapes matter here.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from ser.data.dataset import collate  # noqa: E402
from ser.data.sampler import BucketBatchSampler, RandomBatchSampler  # noqa: E402
from ser.models.baseline import SuperbBaseline  # noqa: E402
from ser.nn.pooling import masked_mean  # noqa: E402

FPS, DIM = 50, 768


def ravdess_durations(root: Path) -> np.ndarray:
    import soundfile as sf

    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".flac", ".wav"))
    if not files:
        raise SystemExit(f"no RAVDESS audio under {root}; pass --ravdess PATH")
    return np.array([sf.info(str(p)).duration for p in files])


def wide_durations(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(np.log(3.5), 0.7, n), 0.5, 30.0)


class Frames(Dataset):
    def __init__(self, lengths, seed):
        g = torch.Generator().manual_seed(seed)
        self.items = [torch.randn(int(t), DIM, generator=g).half().numpy() for t in lengths]
        self.labels = torch.randint(0, 4, (len(lengths),), generator=g).tolist()

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return {"utt": str(i), "ssl": self.items[i].astype(np.float32), "emo": self.labels[i]}


class BiLSTMHead(nn.Module):
    def __init__(self, dim=DIM, hidden=128, classes=4):
        super().__init__()
        self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, classes)

    def forward(self, batch):
        h, _ = self.lstm(batch["ssl"])  # runs over the padding too, like most SER downstreams
        return {"loss": nn.functional.cross_entropy(self.out(masked_mean(h, batch["ssl_lens"])), batch["emo"])}


def padding_fraction(sampler, lengths) -> float:
    real = padded = 0
    for b in sampler:
        lens = lengths[b]
        real += lens.sum()
        padded += len(b) * lens.max()
    return 1.0 - real / padded


def epoch_throughput(model, dataset, sampler) -> float:
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    model.train()
    t = time.perf_counter()
    for batch in loader:
        opt.zero_grad()
        model(batch)["loss"].backward()
        opt.step()
    return len(dataset) / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ravdess", default=str(ROOT.parent / "shared" / "data" / "ravdess16k"))
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--utts", type=int, default=480, help="utterances per distribution (RAVDESS: a seeded subset)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rav = ravdess_durations(Path(args.ravdess))
    rav = np.random.default_rng(args.seed).permutation(rav)[: args.utts]
    dists = {"RAVDESS (real durations)": rav, "wide (synthetic lognormal)": wide_durations(args.utts, args.seed)}
    print(
        f"# batching benchmark\n\ncommand: python {' '.join(sys.argv)}\n"
        f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, nproc {os.cpu_count()}, torch threads {args.threads}, "
        f"load average {os.getloadavg()}\n"
    )
    print("| lengths | sampler | padding | baseline utt/s | BiLSTM utt/s |")
    print("|---|---|---|---|---|", flush=True)
    info = {"num_classes": 4, "feats": {"ssl": {"num_layers": 1, "dim": DIM}}}
    for name, dur in dists.items():
        lengths = np.maximum(1, np.round(dur * FPS)).astype(int)
        data = Frames(lengths, args.seed)
        for sname, cls in (("random", RandomBatchSampler), ("bucketed", BucketBatchSampler)):
            sampler = cls(lengths, args.batch_size, shuffle=True, seed=args.seed)
            pad = padding_fraction(sampler, lengths)
            torch.manual_seed(args.seed)
            base = epoch_throughput(SuperbBaseline(info), data, sampler)
            torch.manual_seed(args.seed)
            lstm = epoch_throughput(BiLSTMHead(), data, sampler)
            print(
                f"| {name}, {len(lengths)} utts, {dur.min():.1f}-{dur.max():.1f} s | {sname} | {100 * pad:.1f}% | "
                f"{base:.0f} | {lstm:.1f} |",
                flush=True,
            )
    print(f"\nload average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
