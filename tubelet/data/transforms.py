"""Functional clip transforms on torch tensors. Layout: frames ``(T, C, H, W)``; the model takes ``(B, C, T, H, W)``."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["to_tchw", "resize_short_side", "center_crop", "normalize", "to_model_input"]


def to_tchw(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Decoder output uint8 ``(T, H, W, C)`` -> uint8 ``(T, C, H, W)`` (a channels-last view, no copy)."""
    t = torch.as_tensor(frames)
    if t.ndim != 4 or t.shape[-1] != 3:
        raise ValueError(f"expected frames (T, H, W, 3), got shape {tuple(t.shape)}")
    return t.permute(0, 3, 1, 2)


def resize_short_side(x: torch.Tensor, size: int, interpolation: str = "bilinear") -> torch.Tensor:
    """Resize ``(T, C, H, W)`` so that min(H, W) == size, keeping the aspect ratio (antialiased).

    uint8 input is resized as uint8 in channels-last memory, which is an order of magnitude faster than float.
    """
    h, w = x.shape[-2:]
    if min(h, w) == size:
        return x
    scale = size / min(h, w)
    out = (size, max(1, round(w * scale))) if h <= w else (max(1, round(h * scale)), size)
    if x.dtype == torch.uint8 and interpolation == "bilinear":
        return F.interpolate(x.contiguous(memory_format=torch.channels_last), size=out, mode="bilinear",
                             antialias=True, align_corners=False)
    y = F.interpolate(x.float(), size=out, mode=interpolation, antialias=True, align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8) if x.dtype == torch.uint8 else y


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Central ``size`` x ``size`` crop of ``(..., H, W)``."""
    h, w = x.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"cannot crop {size}x{size} from {h}x{w} frames")
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top:top + size, left:left + size]


def normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 ``(T, C, H, W)`` -> float32, ``(x / 255 - mean) / std`` per channel."""
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x.float() / 255.0 - m) / s


def to_model_input(x: torch.Tensor) -> torch.Tensor:
    """``(T, C, H, W)`` -> ``(1, C, T, H, W)``, the video models' layout."""
    return x.permute(1, 0, 2, 3).unsqueeze(0).contiguous()
