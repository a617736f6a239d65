"""Optimiser parameter groups and the learning-rate schedule.

* Weight decay: none on 1-D parameters (biases, norms, ``class_embedding``, BatchNorm; ``no_decay_1d``), none on the
  names a model lists in ``no_weight_decay()`` (Video Swin: relative position tables and norms) or the recipe's
  ``no_decay_keys``; everything else decays (UniFormerV2 decays ``positional_embedding``, as the original; Video
  Swin's recipe sets ``no_decay_1d: false`` because MMAction2 decays its biases).
* Layer-wise lr decay: the groups of the model's ``group_matcher()`` (timm's convention): the stem is layer 0, every
  block group one layer in the order of its ordinal, anything else (final norm, head, UniFormerV2's global
  UniBlocks) the top; lr scale = ``decay ** (top - layer)``.
* ``backbone_lr_ratio`` scales everything but the classifier (Video Swin's ``lr_mult 0.1``).
Each group carries ``lr_scale``; the loop sets ``group["lr"] = lr_at(step) * group["lr_scale"]``.
"""
from __future__ import annotations

import math
import re

import torch
from torch import nn

from ..errors import ConfigError

__all__ = ["param_groups", "layer_ids", "block_modules", "lr_at", "build_optimizer", "ModelEma"]

def _matchers(model: nn.Module, coarse: bool = False) -> tuple[re.Pattern, list[tuple[re.Pattern, tuple]]]:
    """The model's ``group_matcher()`` (timm's convention) compiled: the stem pattern and the block patterns, each
    with the suffix appended to the numbers it captures."""
    if not hasattr(model, "group_matcher"):
        raise TypeError(f"{type(model).__name__} has no group_matcher(): layer-wise lr decay and FSDP wrapping need "
                        f"it to find the model's blocks")
    spec = model.group_matcher(coarse=coarse)
    blocks = spec["blocks"]
    blocks = [(blocks, None)] if isinstance(blocks, str) else blocks
    return re.compile(spec["stem"]), [(re.compile(p), tuple(suffix or ())) for p, suffix in blocks]


def _group_key(name: str, stem: re.Pattern, blocks) -> tuple | None:
    """``()`` for the stem, the block's ordinal (captured numbers + suffix), or None (after the last block)."""
    if stem.match(name):
        return ()
    for pattern, suffix in blocks:
        if m := pattern.match(name):
            return tuple(int(g) for g in m.groups()) + suffix
    return None


def layer_ids(model: nn.Module) -> tuple[dict[str, int], int]:
    """``({param_name: layer}, top)`` from ``model.group_matcher()``: 0 for the stem, 1..n for the block groups in
    the order of their ordinals, ``top = n + 1`` for everything else (final norm, head)."""
    stem, blocks = _matchers(model)
    keys = {name: _group_key(name, stem, blocks) for name, _ in model.named_parameters()}
    order = sorted({k for k in keys.values() if k})
    index = {k: i + 1 for i, k in enumerate(order)}
    top = len(order) + 1
    return {name: 0 if k == () else index[k] if k else top for name, k in keys.items()}, top


def block_modules(model: nn.Module) -> list[nn.Module]:
    """The modules of the block groups of ``model.group_matcher()``, in order (what FSDP shards one by one): for
    each parameter in a block group, the submodule named by the part of its name the pattern matched."""
    stem, blocks = _matchers(model)
    names = {}
    for name, _ in model.named_parameters():
        if stem.match(name):
            continue
        for pattern, _suffix in blocks:
            if m := pattern.match(name):
                names.setdefault(m.group(0).rstrip("."), None)
                break
    return [model.get_submodule(n) for n in names]


def _classifier_params(model: nn.Module) -> set[int]:
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    return {id(p) for p in head.parameters()} if isinstance(head, nn.Module) else set()


def param_groups(model: nn.Module, weight_decay: float, no_decay_keys=(), layer_decay: float | None = None,
                 backbone_lr_ratio: float = 1.0, no_decay_1d: bool = True) -> list[dict]:
    """Trainable parameters grouped by (weight decay, lr scale). Frozen parameters are left out.

    Returns:
        ``[{"params", "weight_decay", "lr_scale", "names"}]``, a valid ``torch.optim`` param-group list.
    """
    skip = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    ids, top = layer_ids(model) if layer_decay is not None else ({}, 0)
    head = _classifier_params(model)
    groups: dict[tuple, dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        no_decay = (no_decay_1d and p.ndim <= 1) or name in skip or any(k in name for k in no_decay_keys)
        scale = 1.0
        if layer_decay is not None:
            scale *= layer_decay ** (top - ids[name])
        if id(p) not in head:
            scale *= backbone_lr_ratio
        key = (no_decay, scale)
        g = groups.setdefault(key, {"params": [], "names": [], "lr_scale": scale,
                                    "weight_decay": 0.0 if no_decay else weight_decay})
        g["params"].append(p)
        g["names"].append(name)
    if not groups:
        raise ConfigError("the model has no trainable parameters (is everything frozen?)")
    return list(groups.values())


def build_optimizer(model: nn.Module, optim_cfg) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups` from an ``OptimConfig``; the fused kernel where it exists (CPU and CUDA):
    the same update, several times faster than the per-tensor loop."""
    groups = param_groups(model, optim_cfg.weight_decay, optim_cfg.no_decay_keys, optim_cfg.layer_decay,
                          optim_cfg.backbone_lr_ratio, optim_cfg.no_decay_1d)
    params = [p for g in groups for p in g["params"]]
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in params)
    return torch.optim.AdamW(groups, lr=optim_cfg.lr, betas=tuple(optim_cfg.betas), eps=optim_cfg.eps,
                             fused=fused or None)


SCHEDULES = ("cosine", "poly", "step")


def lr_at(step: float, *, lr: float, total_steps: int, warmup_steps: float = 0, warmup_lr: float = 0.0,
          min_lr: float = 0.0, schedule: str = "cosine", power: float = 1.0, milestones=(), gamma: float = 0.1
          ) -> float:
    """Learning rate at optimiser step ``step`` (per step, not per epoch, as PySlowFast and MMAction2).

    After a linear warmup from ``warmup_lr`` to ``lr`` over ``warmup_steps``:

    * ``cosine``: half a cosine from ``lr`` down to ``min_lr`` over the remaining steps;
    * ``poly``: ``(lr - min_lr) * (1 - step / total_steps) ** power + min_lr`` (mmcv's ``PolyLrUpdaterHook``,
      counted from step 0, as mmseg's configs);
    * ``step``: ``lr * gamma ** (milestones passed)``, ``milestones`` in steps (mmcv's ``StepLrUpdaterHook``).
    """
    if step < warmup_steps:
        return warmup_lr + (lr - warmup_lr) * step / warmup_steps
    if schedule == "poly":
        progress = min(1.0, step / max(1.0, total_steps))
        return (lr - min_lr) * (1.0 - progress) ** power + min_lr
    if schedule == "step":
        return lr * gamma ** sum(step >= m for m in milestones)
    if schedule != "cosine":
        raise ValueError(f"unknown lr schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    progress = min(1.0, (step - warmup_steps) / max(1.0, total_steps - warmup_steps))
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))


class ModelEma:
    """Exponential moving average of a model's weights: ``ema = decay * ema + (1 - decay) * weights`` after every
    optimiser step, over every floating-point state-dict entry (BatchNorm statistics included, as timm's ModelEmaV2);
    integer buffers are copied. The copy lives on the model's device, in eval mode."""

    def __init__(self, model: nn.Module, decay: float):
        import copy

        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        ema_state = self.module.state_dict()
        for name, value in model.state_dict().items():
            target = ema_state[name]
            if value.dtype.is_floating_point:
                target.lerp_(value.detach().to(target.dtype), 1.0 - self.decay)
            else:
                target.copy_(value)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)
