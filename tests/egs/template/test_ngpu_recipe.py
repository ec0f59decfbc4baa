"""--ngpu on the built-in corpus, CPU only (no GPU here: DDP runs on the gloo backend): 2 processes
train the baseline for an epoch to the model 1 process trains with the same global batch, and the
feature stores are dumped in one job per GPU."""

import json
import os
import stat

import torch

from conftest import copy_recipe, link_synthetic_iemocap, run_recipe

FAKE_NVIDIA_SMI = "#!/usr/bin/env bash\nprintf '0\\n1\\n'\n"


def test_two_process_ddp_matches_one_process(repo_root, synthetic_iemocap, tmp_path, monkeypatch):
    recipe = copy_recipe(repo_root, "egs/iemocap/baseline", tmp_path / "baseline")
    link_synthetic_iemocap(recipe, synthetic_iemocap)
    # Two GPUs as far as the launcher knows (a fake nvidia-smi): stage 1 dumps in one job per GPU.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "nvidia-smi").write_text(FAKE_NVIDIA_SMI)
    (bindir / "nvidia-smi").chmod(stat.S_IRWXU)
    env = {
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "SER_GPU_LOCK_DIR": str(tmp_path / "locks"),
    }
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # else it, not nvidia-smi, lists the GPUs
    common = ("--folds", "1", "--nj", "1", "--train_opts", "train.max_epochs=1")
    run_recipe(recipe, "--stop_stage", "2", "--ngpu", "2", "--tag", "_ddp", *common, env=env)
    assert (recipe / "dump/ssl_fbank_no_cmvn/log/dump.2.log").is_file()  # --nj 1, but 2 GPUs: 2 jobs
    run_recipe(recipe, "--stage", "2", "--stop_stage", "2", "--tag", "_one", *common, env=env)

    ddp, one = (recipe / "exp" / f"baseline_fbank_no_cmvn{t}" / "fold1" for t in ("_ddp", "_one"))
    log = (ddp / "train.log").read_text()
    assert "rank 0 of 2 on cpu (gloo backend)" in log
    assert "effective batch size 16 (batch_size 16 x accum_grad 1; 2 process(es)" in log
    assert "; 1 process(es)" in (one / "train.log").read_text()
    a = torch.load(ddp / "model.best.pt", weights_only=True)
    b = torch.load(one / "model.best.pt", weights_only=True)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
    ha, hb = (json.loads((d / "history.json").read_text())[0] for d in (ddp, one))
    assert abs(ha["train"]["loss"] - hb["train"]["loss"]) < 1e-4
    assert all(abs(ha["valid"][k] - hb["valid"][k]) < 1e-4 for k in hb["valid"])
    # The comparison can tell trainings apart: another global batch gives another model.
    opts = ("--folds", "1", "--train_opts", "train.max_epochs=1 train.batch_size=8")
    run_recipe(recipe, "--stage", "2", "--stop_stage", "2", "--tag", "_b8", *opts, env=env)
    c = torch.load(recipe / "exp/baseline_fbank_no_cmvn_b8/fold1/model.best.pt", weights_only=True)
    assert not all(torch.allclose(b[k], c[k], rtol=1e-4, atol=1e-5) for k in b)


def test_bad_ngpu_fails_before_any_stage(repo_root, tmp_path):
    recipe = copy_recipe(repo_root, "egs/iemocap/baseline", tmp_path / "baseline")
    for opt in ("--ngpu", "--num_nodes"):
        try:
            run_recipe(recipe, opt, "two")
        except AssertionError as e:
            assert f"{opt} must be a non-negative integer, got 'two'" in str(e)
        else:
            raise AssertionError(f"{opt} two must fail")
    assert not (recipe / "data").exists()
