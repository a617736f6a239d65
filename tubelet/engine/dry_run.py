"""``tubelet train RECIPE --dry-run``: build everything a recipe needs and run one real optimisation step on a
generated clip, on this machine, in seconds.

:func:`check_shapes` is the part that costs nothing: the recipe's model on the meta device, a batch of its full clips
(the recipe's batch per process) pushed through it in training mode, its trainable parameters and optimiser groups
counted. :func:`dry_run` does that, loads the recipe's checkpoint, then runs the real step.

A dry run fails where the real run would fail at its start, as far as the model, its weights and its batch go (the
dataset files are not read): a ``model.checkpoint`` that is missing or does not fit the model is a
:class:`~tubelet.errors.CheckpointError` naming the file, and a batch too small for BatchNorm at the recipe's size a
:class:`~tubelet.config.ConfigError`. It does not fail where the real run would not: the reduced
step (fewer frames, smaller crops) runs on 2 clips, so BatchNorm never sees a single value per channel there when
the recipe's batch is fine. ``check_weights=False`` skips the checkpoint explicitly (CI checks recipes whose
checkpoints must be downloaded by hand), and the result says so.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import time
from pathlib import Path

import numpy as np
import torch

from .. import runtime
from ..config import Config, ConfigError
from ..data import EvalTransform, make_sampler, synthetic_clip
from ..errors import CheckpointError
from ..models import create_model
from . import distributed
from .build import build_model, class_names_for, data_cfg, make_mixup, train_transform
from .objective import training_task
from .optim import ModelEma, build_optimizer, param_groups
from .train import TrainState, _seed_everything, train_one_epoch

__all__ = ["dry_run", "classification_dry_run", "check_shapes", "step_amp", "STEP_BATCH", "checkpoint_words"]

#: clips of the real step: BatchNorm needs more than one value per channel in training, and the step's small clips
#: can end in 1x1x1 maps (the recipe's batch is checked at the recipe's clip size on the meta device instead)
STEP_BATCH = 2


def _num_classes(cfg: Config) -> int:
    num_classes = cfg.model.num_classes
    if num_classes is None:
        d = cfg.data
        names = class_names_for(cfg) if d.format in ("synthetic", "folders") or d.labels else None
        if not names:
            raise ConfigError("model.num_classes: a dry run needs the number of classes (or data.labels)")
        num_classes = len(names)
    return num_classes


def check_shapes(cfg: Config) -> dict:
    """The recipe's model built on the meta device (no memory, no compute), in training mode: a batch of its full
    clips ``(B, 3, T, S, S)``, ``B`` the recipe's clips per process and step (``data.batch_size`` x
    ``data.num_samples``), must give ``(B, num_classes)`` logits. Returns ``{"model", "num_classes", "full_clip",
    "batch", "trainable_params", "param_groups"}`` (parameters and optimiser groups of the recipe's model as it
    trains).

    Raises:
        ConfigError: the batch is too small for the model's BatchNorm at this clip size (as the real run would).
    """
    return _check_shapes(cfg)[0]


def _check_shapes(cfg: Config):
    num_classes = _num_classes(cfg)
    o, d = cfg.optim, cfg.data
    batch = d.batch_size * d.num_samples
    with torch.device("meta"):
        meta = create_model(cfg.model.name, num_classes=num_classes, **cfg.model.options)
        dcfg = data_cfg(meta.pretrained_cfg, cfg)
        try:
            full = meta(torch.empty((batch, *dcfg.input_size)))
        except ValueError as e:
            if "Expected more than 1 value per channel" not in str(e):
                raise
            raise ConfigError(f"data.batch_size: {cfg.model.name} on a batch of {batch} clips "
                              f"{tuple(dcfg.input_size)} has BatchNorm layers that see one value per channel ({e}); "
                              f"train on 2 or more clips per process") from None
    if tuple(full.shape) != (batch, num_classes):
        raise RuntimeError(f"{cfg.model.name}: {batch} full clips {dcfg.input_size} gave logits {tuple(full.shape)}")
    groups = param_groups(meta, o.weight_decay, o.no_decay_keys, o.layer_decay, o.backbone_lr_ratio, o.no_decay_1d)
    shapes = {"model": cfg.model.name, "num_classes": num_classes, "full_clip": list(dcfg.input_size),
              "batch": batch, "trainable_params": sum(p.numel() for p in meta.parameters() if p.requires_grad),
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


def checkpoint_words(checkpoint: str | None, check_weights: bool) -> tuple[bool, str]:
    """``(load, what happens to the checkpoint, in words)`` of a dry run."""
    if checkpoint is None:
        return False, "none (model.checkpoint not set: random initialisation)"
    if not check_weights:
        return False, f"not checked (check_weights=False): {checkpoint} not loaded, random initialisation"
    return True, f"loaded from {checkpoint}"


def step_amp(device: torch.device, amp: str) -> tuple[str, str | None]:
    """The autocast a dry-run step uses for the recipe's ``amp`` on ``device``, and why it differs (None if not).

    On a CPU, fp16 autocast is emulated (far slower than bf16): bf16 instead. A CPU without native bf16 (AVX2
    only) emulates bf16 too, ~50x slower than fp32: the step runs in fp32 there (:func:`tubelet.runtime.resolve_amp`,
    which warns once), unless ``TUBELET_FORCE_BF16=1``. The fp16 recipe's gradient scaler runs either way (it works
    on fp32 losses, and costs nothing)."""
    if device.type != "cpu" or amp == "none":
        return amp, None
    if runtime.resolve_amp(amp, device) == "none":
        return "none", (f"this CPU has no native bf16 (bf16/fp16 autocast would be emulated, ~50x slower than "
                        f"fp32): the {amp} recipe's step ran in fp32 ({runtime.FORCE_BF16_ENV}=1 keeps bf16)")
    emulated = "" if runtime.cpu_has_native_bf16() else f" (emulated on this CPU, kept by {runtime.FORCE_BF16_ENV}=1)"
    if amp == "fp16":
        return "bf16", f"fp16 autocast is emulated on a CPU: the fp16 recipe's step ran in bf16{emulated}"
    return amp, (f"the bf16 recipe's step ran in bf16{emulated}" if emulated else None)


def dry_run(cfg: Config, *, step_options: dict | None = None, check_weights: bool = True) -> dict:
    """Build everything a recipe needs and run one real optimisation step on generated data, on this machine: the
    recipe's task does it (:meth:`tubelet.engine.objective.TrainingTask.dry_run_pieces`; for video classification
    :func:`classification_dry_run`, described below; segmentation and pose: :mod:`tubelet.engine.dense`)."""
    task = training_task(cfg)
    pieces = task.dry_run_pieces(cfg)
    if pieces is None:
        return classification_dry_run(cfg, step_options=step_options, check_weights=check_weights)
    if step_options:
        raise ConfigError(f"step_options: the {task.name} dry run steps the recipe's own model")
    return _task_dry_run(task, pieces, cfg, check_weights=check_weights)


def classification_dry_run(cfg: Config, *, step_options: dict | None = None, check_weights: bool = True) -> dict:
    """Build everything a recipe needs and run one real optimisation step on a generated clip, on this machine.

    A batch of the recipe's full clips ``(B, 3, T, S, S)`` is pushed through the model on the meta device (a shape
    check that costs nothing, :func:`check_shapes`); the model is built with its ``model.checkpoint``; the real step
    runs :data:`STEP_BATCH` clips of ``train.dry_run_frames`` frames of ``train.dry_run_size`` pixels (the recipe's
    size for models that need it), through the recipe's train transform (RandAugment, crop, erasing), mixup, loss,
    AMP (see :func:`step_amp` for a CPU), gradient scaler, clipping and optimiser. The dataset files are not read.

    Args:
        step_options: constructor arguments of the recipe model's class that replace the recipe model's own
            (``model.model_args``) for the real step only: e.g. fewer blocks, so that the step takes a fraction of a
            second (the full clips are still checked on the recipe's model, and its parameters and optimiser groups
            counted). That model starts from random weights; the checkpoint, if checked, is loaded into the recipe's
            model and then dropped.
        check_weights: load ``model.checkpoint`` as the real run does. False skips it (random weights), and the
            result's ``weights`` says so: for checking recipes whose checkpoint files are not on this machine.

    Returns:
        :func:`check_shapes`'s fields and ``step_clip``, ``loss``, ``eval_logits``, ``amp``, ``amp_fallback``,
        ``grad_scaler``, ``checkpoint_loaded``, ``weights`` (what happened to the checkpoint, in words),
        ``seconds``, ``finite`` (+ ``step_options``, ``step_trainable_params``).

    Raises:
        CheckpointError: ``model.checkpoint`` is not a file, or does not fit the model (``check_weights``).
        ConfigError: the recipe cannot run (e.g. :func:`check_shapes`).
    """
    t0 = time.perf_counter()
    o, t, d = cfg.optim, cfg.train, cfg.data
    checkpoint = cfg.model.checkpoint
    if checkpoint is not None and check_weights and not Path(checkpoint).is_file():  # before any slow work
        raise CheckpointError(f"model.checkpoint: {checkpoint}: no such file (the real run would stop here: "
                              f"download it or correct the path)")
    device = distributed.pick_device(t.device, 0)
    _seed_everything(t.seed)
    shapes, meta, dcfg = _check_shapes(cfg)
    num_classes = shapes["num_classes"]

    load, weights = checkpoint_words(checkpoint, check_weights)
    if step_options:
        if load:  # the real run's load, into the recipe's model; the step model cannot take these weights
            build_model(cfg, num_classes)  # raises CheckpointError as the real run would; then freed
            weights += " into the recipe's model (the reduced step model starts from random weights)"
        model, meta = _step_model(cfg, meta, step_options)
        model = model.to(device)
    elif load:
        model = build_model(cfg, num_classes).to(device)
    else:
        unloaded = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, checkpoint=None))
        model = build_model(unloaded, num_classes).to(device)
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
    batch = STEP_BATCH
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
              "checkpoint_loaded": load, "weights": weights,
              "seconds": round(time.perf_counter() - t0, 2), "finite": math.isfinite(stats["loss"])}
    if step_options:
        result["step_options"] = dict(step_options)
        result["step_trainable_params"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return result


def _task_dry_run(task, pieces, cfg: Config, *, check_weights: bool) -> dict:
    """The dry run of a task with :class:`~tubelet.engine.objective.DryRunPieces` (segmentation, pose): the
    recipe's model on the meta device with a batch of its full inputs (``full_check(meta_model, x)`` checks the
    outputs), the checkpoint as the real run loads it, one real optimisation step through
    :func:`tubelet.engine.train.train_one_epoch` on ``step_batch(rng)`` (generated data through the recipe's own train
    pipeline, at a small size), and one validation forward (``eval_output(model)``)."""
    full_input, full_check, step_batch, eval_output = (pieces.full_input, pieces.full_check, pieces.step_batch,
                                                        pieces.eval_output)
    t0 = time.perf_counter()
    o, t, d = cfg.optim, cfg.train, cfg.data
    if cfg.model.checkpoint is not None and check_weights and not Path(cfg.model.checkpoint).is_file():
        raise CheckpointError(f"model.checkpoint: {cfg.model.checkpoint}: no such file (the real run would stop "
                              f"here: download it or correct the path)")
    names = task.class_names(cfg) if d.format == "synthetic" or d.labels else None
    num_classes = cfg.model.num_classes or (len(names) if names else None)
    if num_classes is None:
        raise ConfigError("model.num_classes: a dry run needs the number of classes / keypoints (or data.labels)")
    device = distributed.pick_device(t.device, 0)
    _seed_everything(t.seed)
    batch = d.batch_size
    with torch.device("meta"):
        meta = create_model(cfg.model.name, num_classes=num_classes, **cfg.model.options)
        full_check(meta.train(), torch.empty((batch, *full_input)))
    groups = param_groups(meta, o.weight_decay, o.no_decay_keys, o.layer_decay, o.backbone_lr_ratio, o.no_decay_1d)
    trainable = sum(p.numel() for p in meta.parameters() if p.requires_grad)
    del meta
    load, weights = checkpoint_words(cfg.model.checkpoint, check_weights)
    built = cfg if load else dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, checkpoint=None))
    model = build_model(built, num_classes).to(device)
    optimizer = build_optimizer(model, o)
    scaler = torch.amp.GradScaler(device.type, enabled=t.amp == "fp16")
    ema = ModelEma(model, t.ema_decay) if t.ema_decay else None
    step = step_batch(np.random.default_rng(t.seed), num_classes)
    amp, amp_fallback = step_amp(device, t.amp)
    dry = dataclasses.replace(cfg, optim=dataclasses.replace(o, accum_steps=1), train=dataclasses.replace(t, amp=amp))
    stats = train_one_epoch(model, [step], optimizer, lr_fn=lambda s: o.lr, scaler=scaler, cfg=dry,
                            state=TrainState(), device=device, steps_per_epoch=1, ema=ema, task=task)
    with torch.no_grad():
        out = eval_output(model.eval(), device)
    return {"model": cfg.model.name, "num_classes": num_classes, "full_clip": list(full_input), "batch": batch,
            "trainable_params": trainable, "param_groups": len(groups), "step_clip": list(step[0].shape),
            "loss": stats["loss"], "eval_logits": list(out.shape), "amp": amp, "amp_fallback": amp_fallback,
            "grad_scaler": scaler.is_enabled(), "checkpoint_loaded": load, "weights": weights,
            "seconds": round(time.perf_counter() - t0, 2), "finite": math.isfinite(stats["loss"])}


