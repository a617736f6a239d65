"""Training augmentations of the papers' recipes, on uint8/float tensors (no PIL, no torchvision).

* :class:`RandAugment` from timm-style policy strings (``rand-m7-n4-mstd0.5-inc1``): the sampled operations and
  magnitudes are drawn once per clip and applied to every frame (PySlowFast's video RandAugment).
* :func:`random_erasing`: one box per clip (the same region in every frame), per-pixel normal noise (``mode=pixel``).
* :class:`Mixup`: batch-level mixup / cutmix with label smoothing (timm's ``Mixup`` semantics, ``switch_prob``).

Operation definitions follow the timm ``auto_augment`` conventions (magnitude scale 0-10, ``inc`` = the "increasing"
variants of posterize/solarize/enhance ops); results are close to, not bit-identical with, PIL's implementations.
"""
from __future__ import annotations

import math
import re

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UsageError

__all__ = ["RandAugment", "random_erasing", "Mixup", "one_hot_smoothed"]

_MAX_LEVEL = 10.0
_GRAY = torch.tensor([0.299, 0.587, 0.114])


def _blend(a: torch.Tensor, b: torch.Tensor, factor: float) -> torch.Tensor:
    """PIL ImageEnhance: ``b + factor * (a - b)`` (a = image, b = degenerate), clamped to [0, 255]."""
    return (b + factor * (a - b)).clamp(0, 255)


def _gray(x: torch.Tensor) -> torch.Tensor:
    return (x * _GRAY.view(1, 3, 1, 1)).sum(1, keepdim=True).round()  # T, 1, H, W


def _sharpness_blur(x: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([[1.0, 1, 1], [1, 5, 1], [1, 1, 1]]) / 13
    out = F.conv2d(x.reshape(-1, 1, *x.shape[-2:]), k.view(1, 1, 3, 3)).reshape(*x.shape[:2], x.shape[-2] - 2,
                                                                               x.shape[-1] - 2)
    blurred = x.clone()
    blurred[..., 1:-1, 1:-1] = out.round()  # PIL keeps the border pixels
    return blurred


def _equalize(x: torch.Tensor) -> torch.Tensor:
    """PIL ImageOps.equalize per frame and channel (x: float 0..255)."""
    out = x.clone()
    xi = x.long()
    for t in range(x.shape[0]):
        for c in range(x.shape[1]):
            hist = torch.bincount(xi[t, c].flatten(), minlength=256)
            nonzero = hist[hist > 0]
            step = (int(hist.sum()) - int(nonzero[-1])) // 255 if len(nonzero) else 0
            if step == 0:
                continue
            lut = torch.clamp((torch.cumsum(hist, 0) - hist + step // 2) // step, 0, 255)
            out[t, c] = lut[xi[t, c]].float()
    return out


def _autocontrast(x: torch.Tensor) -> torch.Tensor:
    lo = x.amin((-2, -1), keepdim=True)
    hi = x.amax((-2, -1), keepdim=True)
    scale = torch.where(hi > lo, 255.0 / (hi - lo).clamp(min=1e-6), torch.ones_like(hi))
    return torch.where(hi > lo, ((x - lo) * scale).clamp(0, 255), x)


def _affine(x: torch.Tensor, matrix: list[float], fill: list[float]) -> torch.Tensor:
    """PIL-style inverse affine (output pixel (u, v) samples input ``matrix @ (u, v, 1)``), bicubic, ``fill`` outside."""
    T, C, H, W = x.shape
    a, b, c, d, e, f = matrix
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32),
                            indexing="ij")
    sx = a * (xs + 0.5) + b * (ys + 0.5) + c  # PIL samples pixel centres
    sy = d * (xs + 0.5) + e * (ys + 0.5) + f
    grid = torch.stack([sx / W * 2 - 1, sy / H * 2 - 1], -1).expand(T, H, W, 2)
    ones = torch.ones(T, 1, H, W)
    out = F.grid_sample(torch.cat([x, ones], 1), grid, mode="bicubic", padding_mode="zeros", align_corners=False)
    inside = (out[:, C:] > 0.5).float()
    fill_t = torch.tensor(fill, dtype=torch.float32).view(1, C, 1, 1)
    return (out[:, :C] * inside + fill_t * (1 - inside)).clamp(0, 255)


class RandAugment:
    """``RandAugment("rand-m7-n4-mstd0.5-inc1")``: ``n`` operations per clip, each applied with probability 0.5 at
    magnitude ``m`` (0-10, jittered by a normal of std ``mstd``); ``inc1`` selects the increasing-severity variants.

    Call with uint8 frames ``(T, C, H, W)`` and a numpy Generator; returns uint8 of the same shape.
    """

    OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color",
           "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")

    def __init__(self, policy: str, fill: tuple[float, float, float] = (0.45 * 255,) * 3, prob: float = 0.5):
        parts = policy.split("-")
        if parts[0] != "rand":
            raise UsageError(f"RandAugment policy must start with 'rand', got {policy!r}")
        self.magnitude, self.num_layers, self.magnitude_std, self.increasing = 9.0, 2, 0.0, False
        for part in parts[1:]:
            match = re.fullmatch(r"([a-z]+)([\d.]+)", part)
            if match is None:
                raise UsageError(f"bad RandAugment option {part!r} in {policy!r}")
            key, value = match.groups()
            if key == "m":
                self.magnitude = float(value)
            elif key == "n":
                self.num_layers = int(value)
            elif key == "mstd":
                self.magnitude_std = float(value)
            elif key == "inc":
                self.increasing = bool(int(value))
            else:
                raise UsageError(f"unknown RandAugment option {part!r} in {policy!r}")
        self.policy, self.fill, self.prob = policy, list(fill), prob

    def _magnitude(self, rng: np.random.Generator) -> float:
        m = self.magnitude if self.magnitude_std <= 0 else rng.normal(self.magnitude, self.magnitude_std)
        return float(np.clip(m, 0, _MAX_LEVEL)) / _MAX_LEVEL

    def _apply(self, op: str, x: torch.Tensor, m: float, rng: np.random.Generator) -> torch.Tensor:
        sign = -1.0 if rng.random() < 0.5 else 1.0
        H, W = x.shape[-2:]
        if op == "AutoContrast":
            return _autocontrast(x)
        if op == "Equalize":
            return _equalize(x)
        if op == "Invert":
            return 255 - x
        if op == "Posterize":
            bits = 4 - int(m * 4) if self.increasing else int(m * 4)
            shift = 8 - max(bits, 0)
            return torch.floor(x / 2 ** shift) * 2 ** shift if shift > 0 else x
        if op == "Solarize":
            thresh = 256 - int(m * 256) if self.increasing else int(m * 256)
            return torch.where(x >= thresh, 255 - x, x)
        if op == "SolarizeAdd":
            return torch.where(x < 128, (x + int(m * 110)).clamp(max=255), x)
        if op in ("Color", "Contrast", "Brightness", "Sharpness"):
            factor = 1.0 + sign * m * 0.9 if self.increasing else m * 1.8 + 0.1
            if op == "Color":
                return _blend(x, _gray(x).expand_as(x), factor)
            if op == "Contrast":
                mean = _gray(x).mean((-3, -2, -1), keepdim=True).add(0.5).floor()
                return _blend(x, mean.expand_as(x), factor)
            if op == "Brightness":
                return _blend(x, torch.zeros_like(x), factor)
            return _blend(x, _sharpness_blur(x), factor)
        if op == "Rotate":
            angle = math.radians(sign * m * 30.0)
            cx, cy = W / 2, H / 2
            cos, sin = math.cos(angle), math.sin(angle)
            # inverse rotation about the centre (PIL rotates counter-clockwise for positive angles)
            mat = [cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy]
            return _affine(x, mat, self.fill)
        if op == "ShearX":
            return _affine(x, [1, sign * m * 0.3, 0, 0, 1, 0], self.fill)
        if op == "ShearY":
            return _affine(x, [1, 0, 0, sign * m * 0.3, 1, 0], self.fill)
        if op == "TranslateXRel":
            return _affine(x, [1, 0, sign * m * 0.45 * W, 0, 1, 0], self.fill)
        if op == "TranslateYRel":
            return _affine(x, [1, 0, 0, 0, 1, sign * m * 0.45 * H], self.fill)
        raise ValueError(op)

    def __call__(self, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        if frames.dtype != torch.uint8 or frames.ndim != 4:
            raise ValueError(f"RandAugment takes uint8 (T, C, H, W) frames, got {frames.dtype} {tuple(frames.shape)}")
        x = frames.float()
        for op in rng.choice(self.OPS, size=self.num_layers):
            if rng.random() < self.prob:
                x = self._apply(str(op), x, self._magnitude(rng), rng)
        return x.round().clamp(0, 255).to(torch.uint8)

    def __repr__(self) -> str:
        return f"RandAugment({self.policy!r})"


def random_erasing(clip: torch.Tensor, rng: np.random.Generator, prob: float = 0.25,
                   area: tuple[float, float] = (0.02, 1 / 3), log_ratio: tuple[float, float] = (math.log(0.3),
                                                                                              math.log(1 / 0.3))):
    """Erase one random box of a normalised clip ``(C, T, H, W)`` with per-pixel N(0, 1) noise, the same box in every
    frame (timm ``RandomErasing(mode='pixel', max_count=1)``, video ``cube`` style); probability ``prob``."""
    if rng.random() >= prob:
        return clip
    C, T, H, W = clip.shape
    for _ in range(10):
        target = rng.uniform(*area) * H * W
        aspect = math.exp(rng.uniform(*log_ratio))
        h, w = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if h < H and w < W:
            top, left = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
            clip = clip.clone()
            noise = torch.from_numpy(rng.standard_normal((C, T, h, w)).astype(np.float32))
            clip[:, :, top:top + h, left:left + w] = noise.to(clip.dtype)
            return clip
    return clip


def one_hot_smoothed(labels: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """``(B,)`` int labels -> ``(B, K)`` targets with ``1 - smoothing + smoothing/K`` on the label."""
    off = smoothing / num_classes
    y = torch.full((labels.shape[0], num_classes), off, device=labels.device)
    return y.scatter_(1, labels.view(-1, 1), 1.0 - smoothing + off)


class Mixup:
    """Batch mixup / cutmix with label smoothing (timm ``Mixup``, ``mode='batch'``): with probability ``prob`` mix the
    batch with its reverse; cutmix with probability ``switch_prob`` (box area ``1 - lam``, lam corrected to the box),
    else mixup. Returns ``(x, soft_targets)``.

    The recipes: UniFormer mixup 0.8 / cutmix 1.0 / prob 1 / switch 0.5 / smoothing 0.1.
    """

    def __init__(self, num_classes: int, mixup_alpha: float = 0.8, cutmix_alpha: float = 1.0, prob: float = 1.0,
                 switch_prob: float = 0.5, label_smoothing: float = 0.1, seed: int = 0):
        self.num_classes, self.mixup_alpha, self.cutmix_alpha = num_classes, mixup_alpha, cutmix_alpha
        self.prob, self.switch_prob, self.label_smoothing = prob, switch_prob, label_smoothing
        self.rng = np.random.default_rng(seed)

    def __call__(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: ``(B, C, T, H, W)`` (even B, as timm requires), labels ``(B,)``."""
        if x.shape[0] % 2:
            raise ValueError(f"Mixup needs an even batch size, got {x.shape[0]}")
        lam = 1.0
        if self.rng.random() < self.prob:
            use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha <= 0 or self.rng.random() < self.switch_prob)
            lam = float(self.rng.beta(*(2 * [self.cutmix_alpha if use_cutmix else self.mixup_alpha])))
            flipped = x.flip(0)
            if use_cutmix:
                H, W = x.shape[-2:]
                cut = math.sqrt(1 - lam)
                ch, cw = int(H * cut), int(W * cut)
                cy, cx = int(self.rng.integers(0, H)), int(self.rng.integers(0, W))
                y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, H)
                x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, W)
                x = x.clone()
                x[..., y0:y1, x0:x1] = flipped[..., y0:y1, x0:x1]
                lam = 1 - (y1 - y0) * (x1 - x0) / (H * W)
            else:
                x = x * lam + flipped * (1 - lam)
        y = one_hot_smoothed(labels, self.num_classes, self.label_smoothing)
        return x, y * lam + y.flip(0) * (1 - lam)
