"""Training the dense-prediction models with the one engine: segmentation and pose runs on tiny synthetic sets
(metrics, checkpoints that the inference code loads, exact resume), the loss of a training step against the official
formulas written out here, the dense recipes (``configs/dense``) dry-run, and the demos at a reduced size."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

import tubelet
from tubelet.config import ConfigError, load_config
from tubelet.engine.checkpoint import load_checkpoint
from tubelet.engine.objective import training_task
from tubelet.engine.train import train

DENSE = Path(__file__).resolve().parents[2] / "configs" / "dense"
RECIPES = sorted(DENSE.glob("*.yaml"))

_TINY = {"depth": [1, 1, 1, 1], "embed_dim": [16, 32, 64, 128], "head_dim": 16, "drop_path_rate": 0.0}


def _seg_config(root: Path, **train) -> dict:
    return {"model": {"name": "uniformer_small_fpn", "num_classes": 3,
                      "options": {**_TINY, "neck_channels": 16, "channels": 16}},
            "data": {"format": "synthetic", "root": str(root), "batch_size": 2, "num_workers": 0,
                     "synthetic": {"num_train": 6, "num_val": 3, "height": 32, "width": 32}},
            "optim": {"lr": 1e-3, "epochs": 2, "warmup_epochs": 0.0},
            "train": {"steps_per_epoch": 2, "log_every": 1, "progress": False, **train}}


def _pose_config(root: Path, **train) -> dict:
    return {"model": {"name": "uniformer_small_pose",
                      "options": {**_TINY, "num_deconv_filters": [16, 16, 16], "img_size": [64, 64]}},
            "data": {"format": "synthetic", "root": str(root), "batch_size": 2, "num_workers": 0,
                     "synthetic": {"num_train": 6, "num_val": 3, "height": 64, "width": 48}},
            "optim": {"lr": 1e-3, "epochs": 2, "warmup_epochs": 0.0},
            "train": {"steps_per_epoch": 2, "log_every": 1, "progress": False, **train}}


def _evals(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
            if json.loads(line)["kind"] == "eval"]


@pytest.mark.parametrize("kind", ["segmentation", "pose"])
def test_a_run_trains_evaluates_and_resumes_exactly(kind, tmp_path):
    make = _seg_config if kind == "segmentation" else _pose_config
    data = tmp_path / "data"
    whole = train(load_config(None, make(data)), tmp_path / "whole")
    metric = {"segmentation": "mIoU", "pose": "AP"}[kind]
    assert whole[f"best_{metric}"] >= 0 and whole["step"] == 4
    evals = _evals(tmp_path / "whole")
    assert [e["epoch"] for e in evals] == [1, 2] and all(metric in e for e in evals)
    # the best checkpoint is an inference model of its task, with its data contract
    model = tubelet.create_model(checkpoint_path=tmp_path / "whole" / "best.safetensors").eval()
    assert model.pretrained_cfg.architecture == make(data)["model"]["name"]
    # killed after step 1 (as a preempted job), then resumed: the same weights as the run that was not interrupted
    cut = train(load_config(None, make(data, stop_at_step=1)), tmp_path / "cut")
    assert cut["stopped"] and load_checkpoint(tmp_path / "cut" / "last.pt")["step"] == 1
    train(load_config(None, make(data)), tmp_path / "cut", resume=True)
    a = load_checkpoint(tmp_path / "whole" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "cut" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_segmentation_step_loss_is_mmsegs_formula(tmp_path):
    """The task's loss on a fixed batch = cross entropy of the bilinearly upsampled 1/4 logits summed over the valid
    pixels and divided by ALL pixels (mmseg 0.13's ``weight_reduce_loss`` mean: ignored pixels count as 0; written
    out here), + 0.4 x the auxiliary head's for UperNet."""
    cfg = load_config(None, _seg_config(tmp_path / "data"))
    task = training_task(cfg)
    torch.manual_seed(0)
    # eval mode: no dropout, so that the two forward passes below see the same network
    model = tubelet.create_model("uniformer_small_upernet", num_classes=3, **_TINY, channels=8, aux_channels=8).eval()
    x = torch.randn(2, 3, 64, 64)
    y = torch.randint(0, 3, (2, 64, 64))
    y[0, :10] = 255
    loss, n = task.train_loss(model, (x, y), torch.device("cpu"), "none", cfg)
    feats = model.forward_features(x)
    want = 0.0
    for logits, weight in ((model.forward_head(feats), 1.0), (model.forward_aux(feats), 0.4)):
        up = F.interpolate(logits, size=(64, 64), mode="bilinear", align_corners=False)
        logp = up.log_softmax(1)
        valid = y != 255
        nll = -logp.gather(1, y.clamp(max=2)[:, None])[:, 0]
        want = want + weight * nll[valid].sum() / y.numel()
    assert n == 2 and float(loss.detach()) == pytest.approx(float(want.detach()), rel=1e-6)


def test_pose_step_loss_is_mmposes_formula(tmp_path):
    cfg = load_config(None, _pose_config(tmp_path / "data"))
    task = training_task(cfg)
    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_small_pose", **_TINY, num_deconv_filters=(8, 8, 8)).eval()
    x = torch.randn(2, 3, 64, 64)
    target = torch.rand(2, 17, 16, 16)
    weight = (torch.rand(2, 17, 1) > 0.3).float()
    loss, _ = task.train_loss(model, (x, target, weight, {}), torch.device("cpu"), "none", cfg)
    out = model(x)
    per_joint = [((out[:, k] * weight[:, k, :, None] - target[:, k] * weight[:, k, :, None]) ** 2).mean()
                 for k in range(17)]
    assert float(loss.detach()) == pytest.approx(float((sum(per_joint) / 17).detach()), rel=1e-5)


def test_recipes_refuse_what_cannot_train():
    with pytest.raises(ConfigError, match="is an object detector"):
        load_config(None, {"model": {"name": "uniformer_small_maskrcnn"}, "data": {"format": "synthetic"}})
    with pytest.raises(ConfigError, match="'list' is not a segmentation format"):
        load_config(None, {"model": {"name": "uniformer_small_fpn"}, "data": {"format": "list"}})
    with pytest.raises(ConfigError, match="coco_keypoints format needs data.train"):
        cfg = load_config(None, {"model": {"name": "uniformer_small_pose"}, "data": {"format": "coco_keypoints"}})
        training_task(cfg).build_datasets(cfg, None)


def test_recipes_are_listed_and_name_their_source():
    readme = (DENSE / "README.md").read_text()
    assert len(RECIPES) == 12
    for path in RECIPES:
        assert f"({path.name})" in readme
        cfg = load_config(path)
        raw = yaml.safe_load(path.read_text())
        assert path.read_text().startswith("#") and "Sense-X/UniFormer @ 52a0415" in cfg.notes
        assert cfg.model.checkpoint.startswith("checkpoints/") and raw["optim"]["reference_batch"]


#: the recipes' dry runs: one per model kind (the others differ in numbers only)
_DRY = [p for p in RECIPES if p.name.startswith(("uniformer_small_fpn", "uniformer_xxs_fpn", "uniformer_small_upernet",
                                                  "uniformer_small_pose_in1k_256x192"))]


@pytest.mark.slow
@pytest.mark.parametrize("path", _DRY, ids=[p.name for p in _DRY])
def test_recipe_dry_run(path):
    from tubelet.engine.dry_run import dry_run

    cfg = load_config(path)
    result = dry_run(cfg, check_weights=False)
    assert result["finite"] and result["model"] == cfg.model.name
    assert result["weights"].startswith("not checked")
    assert result["trainable_params"] > 1_000_000 and result["param_groups"] >= 1


@pytest.mark.parametrize("task", ["segmentation", "pose"])
def test_demo_quick(task, tmp_path, monkeypatch):
    from tubelet.cli import main

    monkeypatch.setenv("TUBELET_CACHE", str(tmp_path / "cache"))
    assert main(["demo", "--task", task, "--quick", "--out", str(tmp_path / "run"),
                 "--set", "train.progress=false"]) == 0
    report = json.loads((tmp_path / "run" / "demo.json").read_text())
    assert report["task"] == task and report["quick"] and "baseline" in report


def test_a_users_segmentation_folder_and_its_mistakes(tmp_path):
    """The ADE20K layout of a user's own classes (class_names.txt), as a new user would point a recipe at it; a mask
    with a class out of range stops the run before anything is written, naming the file."""
    from PIL import Image

    from tubelet.data.segmentation import make_synthetic_segmentation
    from tubelet.errors import AnnotationError

    root = tmp_path / "my_data"
    names = make_synthetic_segmentation(root, n_train=4, n_val=2, size=(32, 32), num_classes=3)
    values = _seg_config(root)
    values["data"].update(format="ade20k", train="training", val="validation")
    values["train"]["steps_per_epoch"] = 1
    values["optim"]["epochs"] = 1
    result = train(load_config(None, values), tmp_path / "run")
    assert result["epoch"] == 1 and "mIoU" in _evals(tmp_path / "run")[0]
    model = tubelet.create_model(checkpoint_path=tmp_path / "run" / "best.safetensors")
    assert list(model.pretrained_cfg.labels()) == names
    bad = root / "annotations" / "training" / "000000.png"
    label = np.array(Image.open(bad))
    label[0, 0] = 9  # stored id 9 = class 8 of a 3-class set
    Image.fromarray(label).save(bad)
    with pytest.raises(AnnotationError, match="000000.png: label values 9 out of range"):
        train(load_config(None, values), tmp_path / "run2")
    assert not (tmp_path / "run2" / "last.pt").exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["segmentation", "pose"])
def test_ddp_two_processes_evaluate_the_whole_val_set_once(kind, tmp_path):
    """gloo DDP on CPU (torchrun, 2 processes): the run trains, and each epoch's validation metric is the one of the
    whole val split, gathered across the ranks: it equals one process evaluating the saved weights alone."""
    import os
    import subprocess
    import sys

    from tubelet.config import save_config
    from tubelet.data.loader import make_loader
    from tubelet.engine.checkpoint import load_checkpoint as load

    make = _seg_config if kind == "segmentation" else _pose_config
    raw = make(tmp_path / "data")
    raw["optim"]["epochs"] = 1
    cfg = load_config(None, raw)
    save_config(cfg, tmp_path / "ddp.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "tubelet", "train", str(tmp_path / "ddp.yaml"), "--out", str(tmp_path / "run"), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (last,) = _evals(tmp_path / "run")
    assert last["num_samples"] == 3  # 3 val samples split over 2 ranks: each counted once, none padded in
    # one process, the same weights, the same val split
    task = training_task(cfg)
    model = tubelet.create_model(raw["model"]["name"], num_classes=3 if kind == "segmentation" else None,
                                 **raw["model"]["options"])
    model.load_state_dict(load(tmp_path / "run" / "last.pt")["model"])
    dcfg = task.data_cfg(model.pretrained_cfg, cfg)
    val = task.build_datasets(cfg, dcfg, splits=("val",))["val"]
    loader = make_loader(val, task.eval_batch_size(cfg), train=False, num_workers=0)
    alone = task.evaluate(model, loader, num_classes=task.num_classes(cfg, task.class_names(cfg), {"val": val}),
                          device=torch.device("cpu"), cfg=cfg, amp="none")
    metric = {"segmentation": "mIoU", "pose": "AP"}[kind]
    assert last[metric] == pytest.approx(alone[metric], abs=1e-6)
    assert alone["num_samples"] == 3


def test_sync_batchnorm_follows_the_official_configs():
    """Under a multi-GPU run the segmentation heads' BatchNorms become SyncBatchNorm (mmseg's norm_cfg=SyncBN sits on
    the heads; the backbone's BatchNorms are plain there too); train.sync_bn true/false overrides; pose and video
    keep per-process statistics unless asked."""
    cfg = load_config(None, _seg_config(Path("unused")))
    model = tubelet.create_model("uniformer_small_upernet", num_classes=3, **_TINY, channels=8, aux_channels=8)
    task = training_task(cfg)
    task.sync_batchnorm(model, None)

    def kinds(module):
        return {type(m).__name__ for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}

    assert kinds(model.decode_head) == kinds(model.auxiliary_head) == {"SyncBatchNorm"}
    assert kinds(model.backbone) == {"BatchNorm2d"}
    whole = task.sync_batchnorm(tubelet.create_model("uniformer_small_fpn", num_classes=3, **_TINY), True)
    assert kinds(whole) == {"SyncBatchNorm"}
    off = task.sync_batchnorm(tubelet.create_model("uniformer_small_fpn", num_classes=3, **_TINY), False)
    assert "SyncBatchNorm" not in kinds(off)
    pose_task = training_task(load_config(None, _pose_config(Path("unused"))))
    pose = pose_task.sync_batchnorm(tubelet.create_model("uniformer_small_pose", **_TINY), None)
    assert "SyncBatchNorm" not in kinds(pose)
