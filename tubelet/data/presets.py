"""Evaluation preprocessing built from a model's ``pretrained_cfg`` (so it follows the weights)."""
from __future__ import annotations

import numpy as np
import torch

from . import sampling, transforms as T

__all__ = ["eval_clip", "eval_indices"]


def eval_indices(cfg, num_frames: int) -> np.ndarray:
    """The single centred test clip of a video of ``num_frames`` frames, by the cfg's sampler."""
    if cfg.sampler == "segment":
        return sampling.segment_center_indices(num_frames, cfg.num_frames)
    return sampling.dense_center_indices(num_frames, cfg.num_frames, cfg.frame_interval or 1)


def eval_clip(frames: np.ndarray | torch.Tensor, cfg) -> torch.Tensor:
    """Sampled uint8 frames ``(T, H, W, 3)`` -> model input ``(1, 3, T, S, S)`` (video) or ``(T, 3, S, S)``
    (image models: each frame is one image): short side to ``resize_size``, centre crop, normalise."""
    x = T.to_tchw(frames)
    x = T.resize_short_side(x, cfg.resize_size or cfg.input_size[-1], cfg.interpolation)
    x = T.normalize(T.center_crop(x, cfg.input_size[-1]), cfg.mean, cfg.std)
    return T.to_model_input(x) if cfg.is_video else x
