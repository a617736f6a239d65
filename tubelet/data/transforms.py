"""Functional clip transforms on torch tensors (no torchvision).

Layout: frames are ``(T, C, H, W)`` (uint8 until :func:`normalize`); the model takes ``(B, C, T, H, W)``. Random
transforms take their parameters from a ``numpy.random.Generator`` once per clip, so every frame of a clip gets the
same crop and flip.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["to_tchw", "resize", "resize_short_side", "center_crop", "three_crop", "crop", "hflip", "normalize",
           "random_resized_crop_params", "random_resized_crop", "multi_scale_crop_params"]


def to_tchw(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Decoder output uint8 ``(T, H, W, C)`` -> uint8 ``(T, C, H, W)`` (a channels-last view, no copy)."""
    t = torch.as_tensor(frames)
    if t.ndim != 4 or t.shape[-1] != 3:
        raise ValueError(f"expected frames (T, H, W, 3), got shape {tuple(t.shape)}")
    return t.permute(0, 3, 1, 2)


def resize(x: torch.Tensor, size: tuple[int, int], interpolation: str = "bilinear") -> torch.Tensor:
    """Resize ``(T, C, H, W)`` to ``size = (h, w)`` with antialiasing.

    uint8 bilinear input is resized as uint8 in channels-last memory, an order of magnitude faster than in float;
    other modes go through float32 and are rounded back to uint8.
    """
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if x.dtype == torch.uint8 and interpolation == "bilinear":
        return F.interpolate(x.contiguous(memory_format=torch.channels_last), size=size, mode="bilinear",
                             antialias=True, align_corners=False)
    y = F.interpolate(x.float(), size=size, mode=interpolation, antialias=True, align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8) if x.dtype == torch.uint8 else y


def resize_short_side(x: torch.Tensor, size: int, interpolation: str = "bilinear") -> torch.Tensor:
    """Resize so that min(H, W) == size, keeping the aspect ratio."""
    h, w = x.shape[-2:]
    if min(h, w) == size:
        return x
    scale = size / min(h, w)
    out = (size, max(1, round(w * scale))) if h <= w else (max(1, round(h * scale)), size)
    return resize(x, out, interpolation)


def crop(x: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    return x[..., top:top + height, left:left + width]


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Central ``size`` x ``size`` crop of ``(..., H, W)``."""
    h, w = x.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"cannot crop {size}x{size} from {h}x{w} frames")
    return crop(x, (h - size) // 2, (w - size) // 2, size, size)


def three_crop(x: torch.Tensor, size: int) -> list[torch.Tensor]:
    """Three ``size`` x ``size`` crops along the longer side: start, centre, end (MMAction2 ``ThreeCrop``;
    left/centre/right for landscape frames, top/centre/bottom for portrait)."""
    h, w = x.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"cannot crop {size}x{size} from {h}x{w} frames")
    if w >= h:
        top = (h - size) // 2
        return [crop(x, top, left, size, size) for left in (0, (w - size) // 2, w - size)]
    left = (w - size) // 2
    return [crop(x, top, left, size, size) for top in (0, (h - size) // 2, h - size)]


def hflip(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-1)


def normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 ``(T, C, H, W)`` -> float32, ``(x / 255 - mean) / std`` per channel."""
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x.float() / 255.0 - m) / s


def random_resized_crop_params(height: int, width: int, rng: np.random.Generator,
                               scale: tuple[float, float] = (0.08, 1.0),
                               ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """Inception-style crop box ``(top, left, h, w)``: area fraction in ``scale`` and log-uniform aspect ratio in
    ``ratio``; 10 tries, then the largest centred box with the ratio clamped (the usual fallback)."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def random_resized_crop(x: torch.Tensor, size: int, rng: np.random.Generator, scale=(0.08, 1.0),
                        ratio=(3 / 4, 4 / 3), interpolation: str = "bilinear") -> torch.Tensor:
    """One crop box for the whole clip, resized to ``size`` x ``size``."""
    top, left, h, w = random_resized_crop_params(x.shape[-2], x.shape[-1], rng, scale, ratio)
    return resize(crop(x, top, left, h, w), (size, size), interpolation)


def multi_scale_crop_params(height: int, width: int, rng: np.random.Generator,
                            scales: tuple[float, ...] = (1, 0.875, 0.75, 0.66), max_wh_scale_gap: int = 1,
                            random_crop: bool = False) -> tuple[int, int, int, int]:
    """MMAction2 ``MultiScaleCrop`` box ``(top, left, h, w)`` (TSN/TSM recipes): side lengths from
    ``int(min(H, W) * scale)`` with at most ``max_wh_scale_gap`` scale steps between width and height; the offset is
    one of 5 fixed positions (corners and centre) unless ``random_crop``."""
    base = min(height, width)
    sizes = [int(base * s) for s in scales]
    pairs = [(w, h) for i, h in enumerate(sizes) for j, w in enumerate(sizes) if abs(i - j) <= max_wh_scale_gap]
    w, h = pairs[int(rng.integers(len(pairs)))]
    if random_crop:
        return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    ws, hs = (width - w) // 4, (height - h) // 4
    offsets = [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs)]
    left, top = offsets[int(rng.integers(len(offsets)))]
    return top, left, h, w
