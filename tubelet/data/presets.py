"""Train and evaluation clip pipelines built from a model's ``pretrained_cfg`` (so preprocessing follows the
weights): sampler, resize/crop, flip, normalisation, layout."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from . import sampling, transforms as T
from .augment import RandAugment, random_erasing

__all__ = ["make_sampler", "eval_indices", "eval_clip", "EvalTransform", "TrainTransform"]

#: the ``PretrainedCfg.sampler`` names and the official rule each stands for
SAMPLERS = {
    "dense": "PySlowFast dense clips (UniFormer Kinetics)",
    "sample_frames": "MMAction2 SampleFrames (Video Swin Kinetics)",
    "segment": "TSN segments, distinct test views (UniFormer SSv2, UniFormerV2)",
    "segment_middle": "TSN segments, segment middle at test (Video Swin SSv2)",
}


def make_sampler(cfg, *, num_clips: int = 1) -> Callable[..., np.ndarray]:
    """``sampler(num_frames, clip_index=None, rng=None) -> indices`` for the cfg's sampler and frames."""
    name, n, interval = cfg.sampler, cfg.num_frames, cfg.frame_interval or 1
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")

    def sampler(num_frames: int, clip_index: int | None = None, rng: np.random.Generator | None = None):
        if name == "dense":
            return sampling.dense_indices(num_frames, n, interval, clip_index=clip_index, num_clips=num_clips, rng=rng)
        if name == "sample_frames":
            return sampling.sample_frames(num_frames, n, interval, clip_index=clip_index, num_clips=num_clips, rng=rng)
        return sampling.segment_indices(num_frames, n, clip_index=clip_index, num_clips=num_clips, rng=rng,
                                        middle=name == "segment_middle")
    return sampler


def eval_indices(cfg, num_frames: int) -> np.ndarray:
    """The single test clip (view 0 of 1) of a video of ``num_frames`` frames."""
    return make_sampler(cfg)(num_frames, clip_index=0)


@dataclass
class EvalTransform:
    """uint8 frames ``(T, H, W, 3)`` -> float views ``(crops, C, T, S, S)``: short side to ``resize_size``, then one
    centre crop or three crops, normalised by the cfg's mean/std."""

    crop_size: int
    resize_size: int
    mean: tuple
    std: tuple
    num_crops: int = 1
    interpolation: str = "bilinear"

    @classmethod
    def from_cfg(cls, cfg, num_crops: int = 1) -> "EvalTransform":
        return cls(cfg.input_size[-1], cfg.resize_size or cfg.input_size[-1], tuple(cfg.mean), tuple(cfg.std),
                   num_crops, cfg.interpolation)

    def __call__(self, frames) -> torch.Tensor:
        if self.num_crops not in (1, 3):
            raise ValueError(f"num_crops must be 1 or 3, got {self.num_crops}")
        x = T.resize_short_side(T.to_tchw(frames), self.resize_size, self.interpolation)
        crops = [T.center_crop(x, self.crop_size)] if self.num_crops == 1 else T.three_crop(x, self.crop_size)
        return torch.stack([T.normalize(c, self.mean, self.std).permute(1, 0, 2, 3) for c in crops])


@dataclass
class TrainTransform:
    """uint8 frames ``(T, H, W, 3)`` -> float clip ``(C, T, S, S)``: random resized crop (one box per clip), optional
    horizontal flip, normalisation. Returns ``(clip, flipped)`` so that a dataset can remap left/right labels."""

    crop_size: int
    mean: tuple
    std: tuple
    scale: tuple = (0.08, 1.0)
    ratio: tuple = (3 / 4, 4 / 3)
    flip: bool = True
    short_side: int | None = 256  # resize before cropping (MMAction2 recipes); None keeps the decoded size
    interpolation: str = "bilinear"
    rand_augment: str | None = None  # e.g. "rand-m7-n4-mstd0.5-inc1" (UniFormer/UniFormerV2 recipes)
    erase_prob: float = 0.0  # random erasing after normalisation (UniFormer 0.25)
    crop: str = "random_resized"  # or "multi_scale" (MMAction2 MultiScaleCrop, then resized to crop_size)

    @classmethod
    def from_cfg(cls, cfg, **kw) -> "TrainTransform":
        return cls(cfg.input_size[-1], tuple(cfg.mean), tuple(cfg.std), **kw)

    def __call__(self, frames, rng: np.random.Generator) -> tuple[torch.Tensor, bool]:
        x = T.to_tchw(frames)
        if self.short_side:
            x = T.resize_short_side(x, self.short_side, self.interpolation)
        if self.rand_augment:  # before the crop, as PySlowFast (same sampled ops for every frame)
            x = self._rand_augment(x, rng)
        if self.crop == "multi_scale":
            top, left, h, w = T.multi_scale_crop_params(x.shape[-2], x.shape[-1], rng)
            x = T.resize(T.crop(x, top, left, h, w), (self.crop_size, self.crop_size), self.interpolation)
        elif self.crop == "random_resized":
            x = T.random_resized_crop(x, self.crop_size, rng, self.scale, self.ratio, self.interpolation)
        else:
            raise ValueError(f"crop must be 'random_resized' or 'multi_scale', got {self.crop!r}")
        flipped = bool(self.flip and rng.random() < 0.5)
        if flipped:
            x = T.hflip(x)
        clip = T.normalize(x, self.mean, self.std).permute(1, 0, 2, 3).contiguous()
        if self.erase_prob > 0:
            clip = random_erasing(clip, rng, self.erase_prob)
        return clip, flipped

    def __post_init__(self):
        self._rand_augment = RandAugment(self.rand_augment, fill=tuple(255 * m for m in self.mean)) \
            if self.rand_augment else None


def eval_clip(frames, cfg) -> torch.Tensor:
    """Sampled uint8 frames ``(T, H, W, 3)`` -> model input ``(1, 3, T, S, S)`` (video) or ``(T, 3, S, S)``
    (image models: each frame is one image)."""
    views = EvalTransform.from_cfg(cfg)(frames)  # 1, C, T, S, S
    return views if cfg.is_video else views[0].permute(1, 0, 2, 3)
