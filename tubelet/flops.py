"""Parameters and FLOPs of a model at a given input, counted the way the papers count them.

The papers' "GFLOPs" are fvcore counts: one multiply-accumulate (MAC) = one FLOP, for matrix products, convolutions
and attention; element-wise work (norms, activations, softmax, additions) is left out. We count with torch's own
``torch.utils.flop_counter.FlopCounterMode`` (which reports 2 FLOPs per MAC) and halve it. The model runs on the
``meta`` device, so counting even Swin-L at 32x224 costs no compute and no memory.

``FlopCounterMode`` has no formula for the CPU flash-attention kernel that ``F.scaled_dot_product_attention``
dispatches to, so one is registered here: Q K^T and (softmax) V, ``2 * B * heads * Lq * Lk * d`` MACs.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import asdict, dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode, register_flop_formula

from .errors import UsageError
from .models._published import PUBLISHED, Published  # noqa: F401  (the published figures; re-exported)

__all__ = ["PUBLISHED", "Published", "ModelCost", "count_params", "model_cost", "resolve_input"]


def _sdpa_macs(q_shape, k_shape, v_shape) -> int:
    *batch, lq, d = q_shape
    lk, dv = k_shape[-2], v_shape[-1]
    b = math.prod(batch)
    return b * lq * lk * d + b * lq * lk * dv  # Q K^T, then attn @ V


_registered = False


def _register_sdpa_formulas() -> None:
    """FLOP formulas (2 per MAC, torch's convention) for the SDPA kernels torch lacks one for."""
    global _registered
    if _registered:
        return
    ops = [getattr(torch.ops.aten, name, None) for name in ("_scaled_dot_product_flash_attention_for_cpu",)]
    for op in ops:
        if op is None or op in _formula_table():
            continue

        @register_flop_formula(op)
        def _flops(q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs) -> int:
            return 2 * _sdpa_macs(q_shape, k_shape, v_shape)

    _registered = True


def _formula_table() -> dict:
    from torch.utils import flop_counter
    return getattr(flop_counter, "flop_registry", {})


@dataclass(frozen=True)
class ModelCost:
    """What ``tubelet flops`` prints: ``params`` (learnable parameters), ``gflops`` (GMACs per view, the papers'
    "GFLOPs"), the input it was counted at and the per-operator split (GMACs)."""

    name: str
    input_shape: tuple[int, ...]
    params: int
    gflops: float
    by_operator: dict

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d


def count_params(model: torch.nn.Module) -> int:
    """Learnable parameters (buffers such as BN statistics and position indices excluded; shared ones once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def model_cost(name_or_model, input_shape: tuple[int, ...] | None = None, **model_kwargs) -> ModelCost:
    """Parameters and GMACs of one view (batch 1).

    Args:
        name_or_model: a registered variant name (built on the meta device, no weights) or a module.
        input_shape: ``(C, T, H, W)`` / ``(C, H, W)`` without the batch; default: the variant's published input.
        model_kwargs: passed to ``tubelet.create_model`` (e.g. ``num_classes``).
    """
    from tubelet.models import create_model

    if isinstance(name_or_model, str) and input_shape is not None:
        # a named variant's count depends on nothing else: repeated questions (the --published table) are free
        key = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in model_kwargs.items()))
        return _named_cost(name_or_model, tuple(int(s) for s in input_shape), key)
    if isinstance(name_or_model, str):
        with torch.device("meta"):
            model = create_model(name_or_model, **model_kwargs)
        name = name_or_model
    else:
        model, name = name_or_model, type(name_or_model).__name__
    if input_shape is None:
        cfg = getattr(model, "pretrained_cfg", None)
        if cfg is None:
            raise ValueError(f"{name}: no input_shape given and the model has no pretrained_cfg.input_size")
        input_shape = tuple(cfg.input_size)
    input_shape = tuple(int(s) for s in input_shape)
    device = next((t.device for t in (*model.parameters(), *model.buffers())), torch.device("cpu"))
    _register_sdpa_formulas()
    x = torch.empty((1, *input_shape), device=device)
    was_training = model.training
    grads = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    counter = FlopCounterMode(display=False)
    try:
        for p, _ in grads:  # the counter's module tracker hooks tensors that require grad; nothing needs one here
            p.requires_grad_(False)
        with counter, torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for p, g in grads:
            p.requires_grad_(g)
    by_op = {str(op).replace("aten.", ""): n / 2e9 for op, n in counter.get_flop_counts()["Global"].items()}
    return ModelCost(name=name, input_shape=input_shape, params=count_params(model),
                     gflops=counter.get_total_flops() / 2e9, by_operator=by_op)


@functools.lru_cache(maxsize=256)
def _named_cost(name: str, input_shape: tuple[int, ...], kwargs: tuple) -> ModelCost:
    from tubelet.models import create_model

    with torch.device("meta"):
        model = create_model(name, **{k: list(v) if isinstance(v, tuple) else v for k, v in kwargs})
    cost = model_cost(model, input_shape)
    return dataclasses.replace(cost, name=name)


def resolve_input(name_or_cfg, frames: int | None = None, size: int | None = None) -> tuple[int, ...]:
    """The variant's ``input_size`` with ``frames`` / ``size`` (square) replaced; frames on an image model is an
    error."""
    from tubelet.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name_or_cfg) if isinstance(name_or_cfg, str) else name_or_cfg
    shape = list(cfg.input_size)
    if frames is not None:
        if len(shape) != 4:
            raise UsageError(f"{cfg.architecture} is an image model: --frames does not apply")
        shape[1] = int(frames)
    if size is not None:
        shape[-2:] = [int(size), int(size)]
    return tuple(shape)
