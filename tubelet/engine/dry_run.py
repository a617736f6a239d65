"""``tubelet train RECIPE --dry-run``: build everything a recipe needs and run one real optimisation step on a
generated clip, on this machine, in seconds.

:func:`check_shapes` is the part that costs nothing: the recipe's model on the meta device, its full clip pushed
through it, its trainable parameters and optimiser groups counted. :func:`dry_run` does that, then the real step.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import time
from pathlib import Path

import numpy as np
import torch

from ..config import Config, ConfigError
from ..data import EvalTransform, make_sampler, synthetic_clip
from ..models import create_model
from ..runtime import cpu_has_native_bf16
from . import distributed
from .build import build_model, class_names_for, data_cfg, make_mixup, train_transform
from .optim import ModelEma, build_optimizer, param_groups
from .train import TrainState, _seed_everything, train_one_epoch

__all__ = ["dry_run", "check_shapes", "step_amp"]


def _num_classes(cfg: Config) -> int:
    num_classes = cfg.model.num_classes
    if num_classes is None:
        d = cfg.data
        names = class_names_for(cfg) if d.format == "synthetic" or d.labels else None
        if not names:
            raise ConfigError("model.num_classes: a dry run needs the number of classes (or data.labels)")
        num_classes = len(names)
    return num_classes


def check_shapes(cfg: Config) -> dict:
    """The recipe's model built on the meta device (no memory, no compute): its full clip ``(1, 3, T, S, S)`` must
    give ``(1, num_classes)`` logits. Returns ``{"model", "num_classes", "full_clip", "trainable_params",
    "param_groups"}`` (parameters and optimiser groups of the recipe's model as it trains)."""
    return _check_shapes(cfg)[0]


def _check_shapes(cfg: Config):
    num_classes = _num_classes(cfg)
    o = cfg.optim
    with torch.device("meta"):
        meta = create_model(cfg.model.name, num_classes=num_classes, **cfg.model.options)
        dcfg = data_cfg(meta.pretrained_cfg, cfg)
        full = meta(torch.empty((1, *dcfg.input_size)))
    if tuple(full.shape) != (1, num_classes):
        raise RuntimeError(f"{cfg.model.name}: a full clip {dcfg.input_size} gave logits {tuple(full.shape)}")
    groups = param_groups(meta, o.weight_decay, o.no_decay_keys, o.layer_decay, o.backbone_lr_ratio, o.no_decay_1d)
    shapes = {"model": cfg.model.name, "num_classes": num_classes, "full_clip": list(dcfg.input_size),
              "trainable_params": sum(p.numel() for p in meta.parameters() if p.requires_grad),
              "param_groups": len(groups)}
    return shapes, meta, dcfg


def _step_model(cfg: Config, meta: torch.nn.Module, step_options: dict):
    """The recipe's model class built with ``step_options`` over the recipe model's arguments: (model, its meta
    twin)."""
    cls = type(meta)
    args = getattr(meta, "model_args", None)
    if args is None:
        raise ValueError(f"{cfg.model.name}: the model has no model_args: step_options cannot apply")
    params = inspect.signature(cls).parameters
    unknown = sorted(set(step_options) - set(params))
    if unknown:
        raise ValueError(f"step_options: {cls.__name__} takes no {', '.join(unknown)}")
    args = {k: v for k, v in {**args, **step_options}.items() if k in params}
    with torch.device("meta"):
        meta = cls(**args)
    model = cls(**args)
    if cfg.model.grad_checkpointing:
        model.set_grad_checkpointing(True)
    return model, meta


def step_amp(device: torch.device, amp: str) -> tuple[str, str | None]:
    """The autocast a dry-run step uses for the recipe's ``amp`` on ``device``, and why it differs (None if not).

    On a CPU, fp16 autocast is emulated (far slower than bf16): bf16 instead. A CPU without native bf16 (AVX2
    only) emulates bf16 too, ~50x slower than fp32: the step runs in fp32 there. The fp16 recipe's gradient scaler
    runs either way (it works on fp32 losses, and costs nothing)."""
    if device.type != "cpu" or amp == "none":
        return amp, None
    if not cpu_has_native_bf16():
        return "none", (f"this CPU has no native bf16 (bf16/fp16 autocast would be emulated, ~50x slower than "
                        f"fp32): the {amp} recipe's step ran in fp32")
    if amp == "fp16":
        return "bf16", "fp16 autocast is emulated on a CPU: the fp16 recipe's step ran in bf16"
    return amp, None


def dry_run(cfg: Config, *, step_options: dict | None = None) -> dict:
    """Build everything a recipe needs and run one real optimisation step on a generated clip, on this machine.

    The recipe's full clip ``(1, 3, T, S, S)`` is pushed through the model on the meta device (a shape check that
    costs nothing, :func:`check_shapes`); the real step uses ``train.dry_run_frames`` frames of
    ``train.dry_run_size`` pixels (the recipe's size for models that need it), through the recipe's train transform
    (RandAugment, crop, erasing), mixup, loss, AMP (see :func:`step_amp` for a CPU), gradient scaler, clipping and
    optimiser. A ``model.checkpoint`` that is not on disk is reported and skipped. The dataset files are not read.

    ``step_options``: constructor arguments of the recipe model's class that replace the recipe model's own
    (``model.model_args``) for the real step only: e.g. fewer blocks, so that the step takes a fraction of a second
    (the full clip is still checked on the recipe's model, and its parameters and optimiser groups counted). That
    model starts from random weights (the recipe's checkpoint would not fit it).
    """
    t0 = time.perf_counter()
    o, t, d = cfg.optim, cfg.train, cfg.data
    device = distributed.pick_device(t.device, 0)
    _seed_everything(t.seed)
    shapes, meta, dcfg = _check_shapes(cfg)
    num_classes = shapes["num_classes"]

    if step_options:
        model, meta = _step_model(cfg, meta, step_options)
        model = model.to(device)
    else:
        model = build_model(cfg, num_classes, skip_missing_checkpoint=True).to(device)
    optimizer = build_optimizer(model, o)
    scaler = torch.amp.GradScaler(device.type, enabled=t.amp == "fp16")
    ema = ModelEma(model, t.ema_decay) if t.ema_decay else None
    mixup = make_mixup(t, num_classes, seed=0)

    # a generated clip through the recipe's own sampler and transforms, at a size this machine steps quickly
    frames = min(t.dry_run_frames, dcfg.num_frames)
    size = dcfg.input_size[-1]
    if t.dry_run_size and t.dry_run_size < size:
        try:  # models with a fixed input size (UniFormerV2's positional embedding) keep the recipe's
            with torch.device("meta"):
                meta(torch.empty((1, 3, frames, t.dry_run_size, t.dry_run_size)))
            size = t.dry_run_size
        except (RuntimeError, ValueError, AssertionError):
            pass
    small = dcfg.replace(num_frames=frames, input_size=(3, frames, size, size))
    if d.short_side:
        d = dataclasses.replace(d, short_side=max(size, round(d.short_side * size / dcfg.input_size[-1])))
    side = max(d.short_side or 0, size)
    video = synthetic_clip(num_frames=max(small.num_frames * (small.frame_interval or 1), small.num_frames) + 2,
                           height=side, width=side * 4 // 3)
    transform = train_transform(d, small)
    rng = np.random.default_rng(t.seed)
    batch = 2 if mixup is not None else 1
    clips = [transform(video[make_sampler(small)(len(video), rng=rng)], rng)[0] for _ in range(batch)]
    del meta
    x = torch.stack(clips)
    y = torch.arange(batch) % num_classes
    state = TrainState()
    amp, amp_fallback = step_amp(device, t.amp)
    dry = dataclasses.replace(cfg, data=d, optim=dataclasses.replace(o, accum_steps=1),
                              train=dataclasses.replace(t, amp=amp))
    stats = train_one_epoch(model, [(x, y)], optimizer, lr_fn=lambda s: o.lr, scaler=scaler, cfg=dry, state=state,
                            device=device, steps_per_epoch=1, ema=ema, mixup=mixup)
    # and one test view through the eval transform
    views = EvalTransform.from_cfg(small, num_crops=1)(video[make_sampler(small)(len(video), clip_index=0)])
    with torch.no_grad():
        logits = model.eval()(views.to(device))
    result = {**shapes, "step_clip": list(x.shape), "loss": stats["loss"], "eval_logits": list(logits.shape),
              "amp": amp, "amp_fallback": amp_fallback, "grad_scaler": scaler.is_enabled(),
              "checkpoint_loaded": (not step_options and cfg.model.checkpoint is not None
                                    and Path(cfg.model.checkpoint).exists()),
              "seconds": round(time.perf_counter() - t0, 2), "finite": math.isfinite(stats["loss"])}
    if step_options:
        result["step_options"] = dict(step_options)
        result["step_trainable_params"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return result
