"""Layers shared by more than one model family.

Only pieces that are genuinely identical across families live here (stochastic depth, the transformer MLP, the
drop-path schedule, weight init). Everything family-specific stays in the family file, so that a reader needs that
file plus this one to follow a forward pass.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["DropPath", "Mlp", "channels_first_for_cpu_half", "drop_path", "drop_path_rates", "init_linear_and_norm"]


_HALF = (torch.bfloat16, torch.float16)


def channels_first_for_cpu_half(x: torch.Tensor) -> torch.Tensor:
    """``x.contiguous()`` when a depthwise convolution would run on a channels-last view in bf16/fp16 on CPU.

    The oneDNN depthwise Conv3d shipped with torch 2.13 (CPU) sometimes puts a NaN into one element of the weight
    gradient when its bf16 input is channels-last (strides of a ``transpose``/``permute``), depending on the state of
    the heap; not seen with a channels-first input. The token <-> map reshapes of UniFormer/UniFormerV2 produce such
    views, so on CPU under bf16/fp16 (autocast or a half model) the map is made channels-first before the
    depthwise convolutions. Values are unchanged; GPU, fp32 and inference (no autograd, hence no weight gradient)
    paths are untouched (no copy).
    """
    if x.device.type != "cpu" or not torch.is_grad_enabled() or x.is_contiguous():
        return x
    if x.dtype in _HALF or (torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") in _HALF):
        return x.contiguous()
    return x


def drop_path(x: torch.Tensor, drop_prob: float = 0.0, training: bool = False) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per sample, rescale the survivors by 1/keep_prob.

    Args:
        x: the residual branch, any shape with the batch first.
        drop_prob: probability of dropping a sample's branch.
        training: only active in training mode.
    Returns:
        a tensor of the shape of `x`.
    """
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    mask_shape = (x.shape[0],) + (1,) * (x.ndim - 1)  # one draw per sample, broadcast over the rest
    mask = x.new_empty(mask_shape).bernoulli_(keep_prob)
    return x * mask.div_(keep_prob)


class DropPath(nn.Module):
    """Module wrapper of :func:`drop_path` (no parameters, so it never appears in a state dict)."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.3f}"


class Mlp(nn.Module):
    """Transformer MLP: ``fc1 -> GELU -> Dropout -> fc2 -> Dropout`` on the last axis.

    Key names (``fc1``, ``fc2``) follow the original repositories so checkpoints map one to one.
    """

    def __init__(self, in_features: int, hidden_features: int | None = None, out_features: int | None = None,
                 drop: float = 0.0):
        super().__init__()
        hidden_features = hidden_features or in_features
        out_features = out_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, out_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


def drop_path_rates(rate: float, num_blocks: int) -> list[float]:
    """The linear stochastic-depth ramp ``linspace(0, rate, num_blocks)`` used by every family, as floats."""
    return torch.linspace(0, rate, num_blocks, device="cpu").tolist()  # cpu: also under a meta-device build


def init_linear_and_norm(module: nn.Module) -> None:
    """timm's ViT init: Linear weights truncated-normal std 0.02 with zero bias; LayerNorm weight 1, bias 0.

    Convolutions and BatchNorm keep PyTorch's defaults (as in the original UniFormer code).
    """
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
