"""ser.features.dump (through ser.bin.dump_feats) --kind upstream: batched dumps equal one-by-one
dumps, for every upstream kind available offline (s3prl `fbank` and `mel`, a tiny random HuBERT through
`hf_hubert_custom`, a tiny random Whisper as `whisper_custom` and `whisper_custom_padded`).

Zero padding itself changes the output of some upstreams. Forcing padded batches on this test's
clips (0.38-1.56 s, batches of up to 2.5 s) measured these largest differences from one by one,
relative to each layer's largest value (and --batching auto, below: at most 6e-7 for every upstream):
  fbank             0.67  the last 2-3 frames only: Kaldi's frame count is 1 + (n - 400) // 160,
                          s3prl pads to (n - 1) // 160 + 1 frames by repeating the last frame when
                          alone, with zeros inside a batch
  mel               0.34  every frame: per-utterance CMVN statistics include frames that reach into
                          the padding
  hf_hubert_custom  1.3   every frame: the conv front end's GroupNorm normalises over the padded length
  whisper_custom    2.3e-7, whisper_custom_padded 0: ser.features.whisper masks the padding
So by default (--batching auto) the dumper probes the upstream and batches such upstreams only in
groups of equal length (the data dir has two clips of exactly the same length to show that this
batches and still agrees); these tests check that the auto choice is right for each upstream.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile as sf
import torch

from ser.bin.dump_feats import main
from ser.data.datadir import DataDir
from ser.features import dump as dump_lib
from ser.features import jobs
from ser.features.dump import check_float16, equal_length_groups, max_rel_diff, plan_batches
from ser.features.store import FeatReader
from ser.utils import SerError

ROOT = Path(__file__).resolve().parents[2]
# Samples per utterance: b1 and b2 are equally long, so an equal-length batch has two members.
LENGTHS = {"a1": 8000, "a2": 25000, "b1": 19680, "b2": 19680, "c1": 12345, "c2": 6001}
BATCH_SECONDS = "2.5"
TOL = 1e-4  # float rounding of a batched forward pass is ~1e-7 of the layer's scale


@pytest.fixture(autouse=True)
def keep_torch_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Six sine-plus-noise clips of different lengths (one pair equal) in a Kaldi data dir with utt2dur."""
    root = tmp_path_factory.mktemp("dump_data")
    rng = np.random.default_rng(0)
    wav, spk, dur = {}, {}, {}
    for utt, n in LENGTHS.items():
        t = np.arange(n) / 16000
        x = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 300) * t) + 0.05 * rng.standard_normal(n)
        path = root / "wav" / f"{utt}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, x.astype(np.float32), 16000)
        wav[utt], spk[utt], dur[utt] = str(path), f"spk_{utt[0]}", f"{n / 16000:.3f}"
    DataDir({"wav.scp": wav, "utt2spk": spk, "utt2dur": dur}).write(root / "data")
    return root / "data"


@pytest.fixture(scope="module")
def random_whisper(tmp_path_factory) -> Path:
    from transformers import WhisperConfig, WhisperModel

    out = tmp_path_factory.mktemp("random_whisper") / "model"
    torch.manual_seed(0)
    cfg = WhisperConfig(
        d_model=32,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        num_mel_bins=80,
        max_source_positions=1500,
        vocab_size=100,
        max_target_positions=32,
        # the defaults (50256...) lie outside this vocabulary and fail the embedding
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=3,
    )
    WhisperModel(cfg).save_pretrained(out)
    return out


def dump(data: Path, out: Path, *opts: str) -> FeatReader:
    main(["--data-dir", str(data), "--out", str(out), *opts])
    main(["--out", str(out), "--merge"])
    return FeatReader(out / "feats.scp")


def worst_diff(a: FeatReader, b: FeatReader) -> float:
    assert a.keys() == b.keys() == sorted(LENGTHS)
    return max(max_rel_diff(a[u], b[u], int(a.meta["num_layers"])) for u in a.keys())


# (upstream, needs a path, what --batching auto picks, whether forced padding changes the features)
UPSTREAMS = [
    ("fbank", None, "equal-length", True),
    ("mel", None, "equal-length", True),
    ("hf_hubert_custom", "hubert", "equal-length", True),
    ("whisper_custom", "whisper", "padded", False),
    ("whisper_custom_padded", "whisper", "padded", False),
]


@pytest.mark.parametrize("name,path,auto_mode,padding_changes", UPSTREAMS, ids=[u[0] for u in UPSTREAMS])
def test_batched_dump_equals_one_by_one(
    tmp_path, monkeypatch, data_dir, tiny_hubert, random_whisper, name, path, auto_mode, padding_changes
):
    opts = ["--kind", "upstream", "--upstream", name]
    if path:
        opts += ["--upstream-path", str(tiny_hubert if path == "hubert" else random_whisper)]
    # Padded Whisper counts 30 s per clip, so 60 s batches hold 2 clips: [a2 b1] [b2 c1] [a1 c2].
    budget = "60" if name == "whisper_custom_padded" else BATCH_SECONDS
    alone = dump(data_dir, tmp_path / "alone", *opts, "--batch-seconds", "0")
    sizes = []  # utterances per forward pass: the probe's, then the dump's
    forward = dump_lib.UpstreamDumper.__call__

    def counted(self, wavs):
        sizes.append(len(wavs))
        return forward(self, wavs)

    monkeypatch.setattr(dump_lib.UpstreamDumper, "__call__", counted)
    auto = dump(data_dir, tmp_path / "auto", *opts, "--batch-seconds", budget)
    monkeypatch.undo()
    # 2.5 s batches, longest first: [a2] [b1 b2] [c1 a1 c2]; equal-length runs b1 and b2 together only
    expected = {"padded": [1, 2, 3], "equal-length": [1, 2, 1, 1, 1]}[auto_mode]
    assert sizes[-len(expected) :] == ([2, 2, 2] if name == "whisper_custom_padded" else expected)
    padded = dump(data_dir, tmp_path / "padded", *opts, "--batch-seconds", budget, "--batching", "padded")

    assert alone.meta["batching"] == "none"
    assert auto.meta["batching"] == auto_mode and auto.meta["batch_seconds"] == float(budget)
    assert worst_diff(alone, auto) < TOL
    for u in alone.keys():
        assert alone.num_frames(u) == auto.num_frames(u) == padded.num_frames(u)
    forced = worst_diff(alone, padded)
    if padding_changes:
        assert forced > 0.1, f"{name}: padding no longer changes the features ({forced:.2g}); update the docs"
        assert auto.meta["batch_probe_rel_diff"] > 0.1
    else:
        assert forced < TOL


def test_float16_upstream_dump(tmp_path, data_dir, tiny_hubert):
    opts = [
        "--kind",
        "upstream",
        "--upstream",
        "hf_hubert_custom",
        "--upstream-path",
        str(tiny_hubert),
        "--device",
        "cpu",
    ]
    f32 = dump(data_dir, tmp_path / "f32", *opts)
    f16 = dump(data_dir, tmp_path / "f16", *opts, "--float16")
    meta = json.loads((tmp_path / "f16" / "feats.meta.json").read_text())
    assert meta["float16"] is True and meta["device"] == "cpu" and f32.meta["float16"] is False
    assert meta["batch_seconds"] == dump_lib.DEFAULT_BATCH_SECONDS["cpu"]
    raw = kaldiio.load_scp(str(tmp_path / "f16" / "feats.scp"))
    assert all(raw[u].dtype == np.float16 for u in LENGTHS)
    assert worst_diff(f32, f16) < 2e-3  # float16 keeps 11 significant bits
    size = [sum(p.stat().st_size for p in (tmp_path / d).glob("feats.*.ark")) for d in ("f32", "f16")]
    assert size[1] < 0.6 * size[0]


def test_float16_overflow_names_the_utterance():
    with pytest.raises(SerError, match="'u1'.*float16"):
        check_float16("dump/feats.1", "u1", np.array([[1.0, -7e4]], dtype=np.float32))
    check_float16("dump/feats.1", "u1", np.array([[1.0, -6e4]], dtype=np.float32))


def test_jobs_resume_and_merge_without_utt2dur(tmp_path, data_dir, random_whisper):
    """Job J is skipped once feats.J.scp exists; the merged scp is complete and sorted although each
    ark is written longest first. Durations come from the audio headers when utt2dur is missing."""
    data = tmp_path / "data"
    fields = DataDir.load(data_dir).fields
    DataDir({k: v for k, v in fields.items() if k != "utt2dur"}).write(data)
    out = tmp_path / "dump"
    opts = [
        "--data-dir",
        str(data),
        "--out",
        str(out),
        "--kind",
        "upstream",
        "--upstream",
        "whisper_custom",
        "--upstream-path",
        str(random_whisper),
        "--batch-seconds",
        "10",
        "--nj",
        "2",
    ]
    main([*opts, "--job", "2"])
    stamp = (out / "feats.2.ark").stat().st_mtime_ns
    main([*opts, "--job", "2"])  # done: skipped, not rewritten
    assert (out / "feats.2.ark").stat().st_mtime_ns == stamp
    with pytest.raises(SerError, match="feats.1.scp is missing"):
        main(["--out", str(out), "--nj", "2", "--merge"])
    main([*opts, "--job", "1"])
    main(["--out", str(out), "--nj", "2", "--merge"])
    keys = [line.split()[0] for line in (out / "feats.scp").read_text().splitlines()]
    assert keys == sorted(LENGTHS)
    ark_order = [k for k, _ in kaldiio.load_ark(str(out / "feats.2.ark"))]
    job2 = keys[3:]
    assert ark_order == sorted(job2, key=lambda u: -LENGTHS[u])  # batch order in the ark
    reader = FeatReader(out / "feats.scp")
    assert reader.meta["batching"] == "padded" and reader.meta["num_layers"] == 3
    assert all(reader.num_frames(u) == -(-(LENGTHS[u] // 160) // 2) for u in keys)


def test_plan_batches_budget_order_and_size():
    durs = {"a": 1.0, "b": 3.0, "c": 2.0, "d": 2.0, "e": 9.0, "f": 0.5}
    assert plan_batches(durs, 6.0) == [["e"], ["b", "c"], ["d", "a", "f"]]
    assert plan_batches(durs, 100.0, max_utts=4) == [["e", "b", "c", "d"], ["a", "f"]]
    padded_whisper = dump_lib.input_seconds("whisper_base_padded")
    assert padded_whisper(3.0) == 30.0 and padded_whisper(31.0) == 60.0
    assert plan_batches(durs, 60.0, cost=padded_whisper) == [["e", "b"], ["c", "d"], ["a", "f"]]
    assert plan_batches({}, 60.0) == []
    assert equal_length_groups([np.zeros(3), np.zeros(5), np.zeros(3)]) == [[0, 2], [1]]


def test_default_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert jobs.default_num_threads(nj=8) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "4,2")
    assert jobs.default_num_threads(nj=1) == 4
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(jobs, "usable_cores", lambda: 8)
    assert [jobs.default_num_threads(nj) for nj in (1, 2, 3, 16)] == [8, 4, 2, 1]
    assert jobs.set_num_threads(2, nj=4) == 2 and torch.get_num_threads() == 2
    with pytest.raises(SerError, match="at least 1"):
        jobs.set_num_threads(0, nj=1)


def test_dump_feats_sh_passes_the_new_options(tmp_path, data_dir):
    """The stage script with parse_options names: --device, --batch_seconds, --num_threads reach every
    job's command line (classical fbank keeps this test free of the upstreams' slow imports)."""
    (tmp_path / "utils").symlink_to(ROOT / "tools" / "utils")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": f"{ROOT}:{os.environ.get('PYTHONPATH', '')}",
    }
    proc = subprocess.run(
        [
            "bash",
            str(ROOT / "egs/TEMPLATE/ser1/scripts/dump_feats.sh"),
            "--nj",
            "2",
            "--kind",
            "fbank",
            "--device",
            "cpu",
            "--batch_seconds",
            "2",
            "--num_threads",
            "1",
            "--float16",
            "true",
            str(data_dir),
            "dump",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for job in (1, 2):
        log = (tmp_path / "dump" / "log" / f"dump.{job}.log").read_text()
        assert "--device cpu" in log and "--batch-seconds 2" in log and "--num-threads 1" in log
        assert "1 torch threads" in log
    assert json.loads((tmp_path / "dump" / "feats.meta.json").read_text())["float16"] is True
    assert len(FeatReader(tmp_path / "dump" / "feats.scp")) == len(LENGTHS)
