"""A synthetic clip that tubelet makes itself: for smoke runs and tests without any video file."""
from __future__ import annotations

import numpy as np

__all__ = ["synthetic_clip"]


def synthetic_clip(num_frames: int = 32, height: int = 240, width: int = 320, seed: int = 0) -> np.ndarray:
    """A coloured square moving across a gradient background, with mild noise.

    Returns:
        uint8 ``(num_frames, height, width, 3)`` RGB frames (the decoder's layout).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1),
                           np.full_like(xx, 96)], -1).astype(np.float32)
    side = max(8, min(height, width) // 4)
    color = rng.integers(64, 256, size=3)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        f = background.copy()
        x0 = int((width - side) * t / max(num_frames - 1, 1))
        y0 = int((height - side) * (0.5 + 0.4 * np.sin(2 * np.pi * t / max(num_frames, 1))))
        f[y0:y0 + side, x0:x0 + side] = color
        f += rng.normal(0, 4, f.shape)
        frames[t] = np.clip(f, 0, 255).astype(np.uint8)
    return frames
