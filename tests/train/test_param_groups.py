"""train.head_lr: mtl_coattn's pretrained upstream at train.lr, its new parts at train.head_lr."""

import pytest
import torch
import yaml

from ser.models import build_model
from ser.train.param_groups import param_groups
from ser.train.trainer import TrainConfig, make_optimizer
from ser.utils import SerError


def make(tiny_hubert, **kw):
    torch.manual_seed(0)
    info = {"num_classes": 4, "classes": ["neu", "hap", "ang", "sad"], "class_counts": [4, 3, 2, 1], "feats": {}}
    conf = {"name": "mtl_coattn", "upstream": "hf_hubert_custom", "upstream_path": str(tiny_hubert)}
    return build_model({**conf, "dim": 16, "heads": 2, "aux_tasks": [], "swfc_proj_dim": 8, **kw}, info)


def test_optimizer_has_pretrained_and_new_groups(tiny_hubert):
    model = make(tiny_hubert)
    conf = TrainConfig(lr=2e-5, head_lr=1e-4)
    optim = make_optimizer(param_groups(model, conf.lr, conf.head_lr), conf)
    lrs = {g["name"]: g["lr"] for g in optim.param_groups}
    assert lrs == {"pretrained": 2e-5, "new": 1e-4}
    by_group = {g["name"]: {id(p) for p in g["params"]} for g in optim.param_groups}
    assert id(model.classifier.weight) in by_group["new"]
    hubert_q = model.upstream.model.upstream.model.encoder.layers[0].attention.q_proj.weight
    assert id(hubert_q) in by_group["pretrained"]
    # Every trainable parameter once; the frozen CNN in none.
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert by_group["pretrained"] | by_group["new"] == trainable
    assert not by_group["pretrained"] & by_group["new"]

    # head_lr 0: one group at lr (the behaviour before).
    single = make_optimizer(param_groups(model, 2e-5, 0.0), conf)
    assert [g["lr"] for g in single.param_groups] == [2e-5]


def test_head_lr_on_a_model_without_a_pretrained_part_is_an_error():
    model = build_model(
        {"name": "baseline", "proj_dim": 4}, {"num_classes": 4, "feats": {"ssl": {"num_layers": 2, "dim": 3}}}
    )
    with pytest.raises(SerError, match="head_lr"):
        param_groups(model, 1e-3, 1e-2)


@pytest.mark.parametrize("corpus", ["iemocap", "msp_podcast"])
def test_recipe_conf_states_both_rates(repo_root, corpus):
    train = yaml.safe_load((repo_root / f"egs/{corpus}/mtl_coattn/conf/train.yaml").read_text())["train"]
    assert train["head_lr"] > train["lr"]
    base = yaml.safe_load((repo_root / f"egs/{corpus}/mtl_coattn/conf/tuning/baseline.yaml").read_text())["model"]
    assert base["aux_tasks"] == [] and base["swfc"] is False
