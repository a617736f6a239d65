"""What a task plugs into the training engine: its data, its loss and its validation metric.

:func:`tubelet.engine.train.train` is one loop (checkpoints, exact resume, DDP/FSDP, EMA, AMP, signals) for every
task; what differs between video classification, semantic segmentation and top-down pose is this small interface,
:class:`TrainingTask`, chosen once from the model's task (:func:`training_task`), never by branches on the task name
inside the loop:

* ``prepare(cfg)``: write what the data needs before anything reads it (a synthetic set), on the main process;
* ``class_names(cfg)``, ``data_cfg(pcfg, cfg)``, ``build_datasets(cfg, dcfg, ...)``, ``num_classes(...)``: the data;
* ``train_loss(model, batch, device, amp, cfg, mixup)``: one micro-batch's forward pass and loss;
* ``evaluate(model, loader, ...)``: the validation metrics, ``metric`` naming the one (higher is better) that picks
  ``best.safetensors``;
* ``summary(result)``: the line printed after each evaluation.

The classification task (:class:`ClassificationTask`) is the video engine as it was; segmentation and pose register
theirs from :mod:`tubelet.engine.dense` (imported by the package, so every entry point has them).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config, ConfigError

__all__ = ["TrainingTask", "ClassificationTask", "DryRunPieces", "training_task", "register_training_task"]


@dataclasses.dataclass
class DryRunPieces:
    """A dense task's part of the dry run (:func:`tubelet.engine.dry_run.dry_run` drives it).

    Attributes:
        full_input: ``(C, H, W)`` of the recipe's inputs (a batch of them goes through the model on the meta device).
        full_check: ``(meta_model, x)``: raises unless the outputs have the task's shapes.
        step_batch: ``(rng, num_classes)`` -> one training batch of generated data through the recipe's own train
            pipeline, at a small size.
        eval_output: ``(model, device)`` -> the output of one generated validation input.
    """

    full_input: tuple
    full_check: Callable
    step_batch: Callable
    eval_output: Callable


class TrainingTask:
    """The interface (see the module docstring). Subclasses override what differs."""

    #: the task (``tubelet.models.get_task``'s word)
    name = "task"
    #: the validation metric that picks the best checkpoint (higher is better), a key of :meth:`evaluate`'s result
    metric = "top1"
    #: what one training sample is, for the messages ("videos", "images", "persons")
    samples_word = "samples"

    def prepare(self, cfg: Config) -> None:
        """Write what the data needs before any process reads it (the main process only)."""

    def class_names(self, cfg: Config) -> list[str] | None:
        raise NotImplementedError

    def sync_batchnorm(self, model: nn.Module, enabled: bool | None) -> nn.Module:
        """Under a multi-process run: the model with SyncBatchNorm where ``train.sync_bn`` asks for it (True: every
        BatchNorm; False: none; None: the task's choice, by default none)."""
        if enabled:
            return nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model

    def data_cfg(self, pcfg, cfg: Config):
        """The model's ``pretrained_cfg`` with the recipe's data fields: what a saved checkpoint tells the inference
        commands to feed it."""
        return pcfg

    def build_datasets(self, cfg: Config, dcfg, *, splits=("train", "val"), rank: int = 0, world_size: int = 1):
        raise NotImplementedError

    def num_classes(self, cfg: Config, class_names, datasets) -> int:
        raise NotImplementedError

    def make_mixup(self, cfg: Config, num_classes: int, seed: int):
        return None

    def eval_batch_size(self, cfg: Config) -> int:
        """Samples per validation step and process."""
        return cfg.data.eval_batch_size or cfg.data.batch_size

    def train_loss(self, model, batch, device, amp: str, cfg: Config, mixup=None) -> tuple[torch.Tensor, int]:
        """``(loss, samples)`` of one micro-batch (the forward pass under ``amp``; the loss in float32)."""
        raise NotImplementedError

    def evaluate(self, model, loader, *, num_classes: int, device, cfg: Config, amp: str, progress: bool = False,
                 desc: str = "eval", equal_forwards: bool = False) -> dict:
        raise NotImplementedError

    def dry_run_pieces(self, cfg: Config):
        """What ``tubelet train RECIPE --dry-run`` needs of the task (:func:`tubelet.engine.dry_run.dry_run`): a
        :class:`DryRunPieces`, or None for the video classifiers' own dry run."""
        return None

    def record(self, result: dict) -> dict:
        """The fields of the ``eval`` record in ``metrics.jsonl``."""
        return {self.metric: result[self.metric]}

    def summary(self, result: dict) -> str:
        return f"val {self.metric} {result[self.metric]:.2f}"


def _loss(logits: torch.Tensor, target: torch.Tensor, smoothing: float) -> torch.Tensor:
    logits = logits.float()  # the loss in fp32 whatever the autocast dtype
    if target.dim() == 2:  # soft targets from mixup/cutmix (already smoothed)
        return torch.sum(-target * F.log_softmax(logits, dim=-1), dim=-1).mean()
    return F.cross_entropy(logits, target, label_smoothing=smoothing)


class ClassificationTask(TrainingTask):
    """Video classification: clips and labels, cross entropy (label smoothing, mixup / cutmix), multi-view top-1."""

    name = "classification"
    metric = "top1"
    samples_word = "videos"

    def prepare(self, cfg: Config) -> None:
        from .build import ensure_synthetic

        if cfg.data.format == "synthetic":
            ensure_synthetic(cfg)

    def class_names(self, cfg: Config) -> list[str] | None:
        from .build import class_names_for

        return class_names_for(cfg)

    def data_cfg(self, pcfg, cfg: Config):
        from .build import data_cfg

        return data_cfg(pcfg, cfg)

    def build_datasets(self, cfg: Config, dcfg, *, splits=("train", "val"), rank: int = 0, world_size: int = 1):
        from .build import build_datasets

        return build_datasets(cfg, dcfg, splits=splits, rank=rank, world_size=world_size)

    def num_classes(self, cfg: Config, class_names, datasets) -> int:
        from .build import infer_num_classes

        return infer_num_classes(cfg, class_names, [s for ds in datasets.values() for s in ds.samples])

    def make_mixup(self, cfg: Config, num_classes: int, seed: int):
        from .build import make_mixup

        return make_mixup(cfg.train, num_classes, seed=seed)

    def train_loss(self, model, batch, device, amp: str, cfg: Config, mixup=None) -> tuple[torch.Tensor, int]:
        from .evaluate import autocast

        x, y = batch
        if x.dim() == 6:  # num_samples clips per video: B, n, C, T, H, W -> B*n, C, T, H, W
            x, y = x.flatten(0, 1), y.flatten()
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        target = y
        if mixup is not None:
            x, target = mixup(x, y)
        with autocast(device, amp):
            logits = model(x)
        return _loss(logits, target, cfg.train.label_smoothing), x.shape[0]

    def evaluate(self, model, loader, *, num_classes: int, device, cfg: Config, amp: str, progress: bool = False,
                 desc: str = "eval", equal_forwards: bool = False) -> dict:
        from .evaluate import evaluate

        return evaluate(model, loader, num_classes=num_classes, device=device, view_average=cfg.data.view_average,
                        amp=amp, progress=progress, desc=desc, equal_forwards=equal_forwards)

    def record(self, result: dict) -> dict:
        return {k: result[k] for k in ("top1", "top5", "mean_class_accuracy", "loss", "num_samples")}

    def summary(self, result: dict) -> str:
        return f"val top-1 {result['top1']:.2f}%, top-5 {result['top5']:.2f}%"


_TASKS: dict[str, type[TrainingTask]] = {"classification": ClassificationTask}


def register_training_task(cls: type[TrainingTask]) -> type[TrainingTask]:
    """Make ``cls`` the training task of the models whose task is ``cls.name``."""
    _TASKS[cls.name] = cls
    return cls


def training_task(cfg: Config) -> TrainingTask:
    """The training task of the recipe's model (``tubelet.models`` registry: classification, segmentation, pose).

    Raises:
        ConfigError: a model whose task cannot be trained (a detector, a bare backbone).
    """
    from ..models._registry import get_task

    task = get_task(cfg.model.name)  # the dense tasks register on import of tubelet.engine (its __init__)
    if task not in _TASKS:
        raise ConfigError(f"model.name: {cfg.model.name} is a {task} model; tubelet trains video classifiers, "
                          f"semantic segmentation and pose models ({', '.join(sorted(_TASKS))})")
    return _TASKS[task]()
