"""Scores a multi-task system: emotion (macro-F1, UA, WA, confusion, as ser.bin.score) plus gender
accuracy, speaker-verification EER on trials built from the test set, and the CER of the CTC head.

  # every fold of each system: exp/x/fold<k>/infer_test against data/folds/<scheme>/fold<k>/test
  python -m ser.bin.score_mtl folds --exp exp/x [--exp exp/y] --folds-root data/folds/session --folds "1 2" \
      --classes neu,hap,ang,sad
  # after `python -m ser.bin.score results ... --out exp/RESULTS.md`: append the auxiliary-task
  # table and the confusion matrices of the same systems
  python -m ser.bin.score_mtl append --exp full=exp/x --exp no_swfc=exp/y --into exp/RESULTS.md

Speakers whose id starts with --unknown-prefix (MSP-Podcast's Unknown, see the data prep) are left
out of the trials; utterances with an unknown gender out of the gender accuracy; utterances whose
normalised reference transcript is empty out of the CER.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from ser.data.datadir import DataDir, read_kv
from ser.text.vocab import normalize_text
from ser.train.scoring import collect, score_fold
from ser.train.verification import verification_eer
from ser.utils import SerError, get_logger, run_main, write_text_atomic

log = get_logger("score_mtl")

AUX_HEADING = "## Auxiliary tasks"
AUX_METRICS = {"gender_acc": "gender acc", "spk_eer": "speaker EER", "cer": "CER"}


def _read_pred(path: Path, utts: list) -> dict:
    pred = read_kv(path, allow_empty_value=True)
    missing = [u for u in utts if u not in pred]
    if missing:
        raise SerError(f"{path}: no prediction for {len(missing)} utterances, e.g. {missing[:3]}")
    return pred


def score_aux(data: DataDir, pred_dir: Path, unknown_prefix: str, max_trials: int) -> dict:
    scores = {}
    if (pred_dir / "utt2gender_pred").is_file() and data.has("utt2gender"):
        ref = data.get("utt2gender")
        known = [u for u in data.utts if ref[u] in ("m", "f")]
        pred = _read_pred(pred_dir / "utt2gender_pred", known)
        if known:
            scores["gender_acc"] = float(np.mean([pred[u] == ref[u] for u in known]))
            scores["num_gender_utts"] = len(known)
    if (pred_dir / "text_pred").is_file() and data.has("text"):
        from ser.text.cer import char_errors  # imports torch(audio): only when there is a CER to compute

        ref = data.get("text")
        usable = [u for u in data.utts if normalize_text(ref[u])]
        pred = _read_pred(pred_dir / "text_pred", usable)
        edits = chars = 0
        for u in usable:
            e, n = char_errors(ref[u], pred[u])
            edits, chars = edits + e, chars + n
        if chars:
            scores["cer"] = edits / chars
            scores["num_cer_utts"] = len(usable)
    emb_file = pred_dir / "spk_embed.npz"
    if emb_file.is_file():
        with np.load(emb_file) as z:
            emb = dict(zip(z["utts"].tolist(), z["embed"]))
        ver = verification_eer(emb, data.utt2spk, unknown_prefix, max_trials, trials_out=pred_dir / "trials")
        if ver["spk_eer"] is None:
            log.warning("%s: speaker EER not computed: the test set has %d target and %d non-target trials",
                        pred_dir, ver["num_target_trials"], ver["num_nontarget_trials"])
        scores.update({k: v for k, v in ver.items() if v is not None})
    return scores


def score_mtl_fold(data_dir, pred_dir, classes, unknown_prefix="unk_", max_trials=100000) -> dict:
    pred_dir = Path(pred_dir)
    scores = score_fold(data_dir, pred_dir, classes)
    scores.update(score_aux(DataDir.load(data_dir), pred_dir, unknown_prefix, max_trials))
    write_text_atomic(pred_dir / "scores.json", json.dumps(scores, indent=1))
    log.info("%s: %s", pred_dir, " ".join(f"{k}={v:.4f}" for k, v in scores.items()
                                          if isinstance(v, float)))
    return scores


def aux_table(systems: dict) -> str:
    metrics = [m for m in AUX_METRICS if any(m in s for f in systems.values() for s in f.values())]
    if not metrics:
        return "No auxiliary-task outputs were scored.\n"
    lines = ["| system | folds | " + " | ".join(AUX_METRICS[m] for m in metrics) + " |",
             "|---" * (len(metrics) + 2) + "|"]
    for name, folds in systems.items():
        cells = []
        for m in metrics:
            vals = [s[m] for s in folds.values() if m in s]
            cells.append(f"{100 * np.mean(vals):.2f}" if vals else "-")
        lines.append(f"| {name} | {len(folds)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def confusion_tables(systems: dict) -> str:
    out = []
    for name, folds in systems.items():
        mats = [np.array(s["confusion"]) for s in folds.values() if "confusion" in s]
        if not mats:
            continue
        classes = next(s["classes"] for s in folds.values() if "classes" in s)
        total = sum(mats)
        out.append(f"\n### {name}\n")
        out.append("| reference \\ predicted | " + " | ".join(classes) + " |")
        out.append("|---" * (len(classes) + 1) + "|")
        for c, row in zip(classes, total):
            out.append(f"| {c} | " + " | ".join(str(int(x)) for x in row) + " |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("folds")
    f.add_argument("--exp", action="append", required=True, help="system exp dir (repeat for several)")
    f.add_argument("--folds-root", required=True, help="data/folds/<scheme>")
    f.add_argument("--folds", required=True, help='fold numbers, e.g. "1 2 3"')
    f.add_argument("--classes", required=True)
    f.add_argument("--pred-subdir", default="infer_test")
    f.add_argument("--unknown-prefix", default="unk_")
    f.add_argument("--max-trials", type=int, default=100000, help="per kind (target / non-target)")
    a = sub.add_parser("append")
    a.add_argument("--exp", action="append", required=True, help="name=dir, as given to ser.bin.score results")
    a.add_argument("--into", required=True, help="RESULTS.md written by ser.bin.score results")
    a.add_argument("--pred-subdir", default="infer_test")
    args = ap.parse_args()

    if args.cmd == "folds":
        for exp in args.exp:
            for k in args.folds.split():
                score_mtl_fold(Path(args.folds_root) / f"fold{k}" / "test", Path(exp) / f"fold{k}" / args.pred_subdir,
                               args.classes.split(","), args.unknown_prefix, args.max_trials)
        return
    into = Path(args.into)
    if not into.is_file():
        raise SerError(f"{into} not found: write it with python -m ser.bin.score results first")
    systems = {}
    for item in args.exp:
        name, _, path = item.rpartition("=")
        systems[name or Path(path).name] = collect(path, args.pred_subdir)
    text = into.read_text()
    text = text.split(AUX_HEADING)[0].rstrip("\n") + "\n"  # re-running replaces an earlier append
    text += ("\n" + AUX_HEADING + " (mean over folds, %)\n\n"
             "Gender accuracy over utterances of known gender; speaker EER of cosine-scored embeddings on "
             "pairs of test utterances of known speakers (`trials` in each fold's prediction dir); "
             "CER of greedy CTC decoding against the normalised transcripts.\n\n")
    text += aux_table(systems)
    text += "\n## Confusion matrices (test utterances, summed over folds)\n"
    text += confusion_tables(systems)
    write_text_atomic(into, text)
    log.info("appended auxiliary-task metrics and confusion matrices to %s", into)


if __name__ == "__main__":
    run_main(main)
