"""Frame-index samplers (pure functions of the video length): the evaluation rules of the original code."""
from __future__ import annotations

import numpy as np

__all__ = ["dense_center_indices", "segment_center_indices"]


def dense_center_indices(num_frames: int, clip_len: int, frame_interval: int) -> np.ndarray:
    """One test clip of ``clip_len`` frames spanning ``clip_len * frame_interval`` source frames, centred
    (UniFormer/PySlowFast with decord: ``linspace(start, start + clip_len*interval - 1, clip_len)`` truncated and
    clamped, ``start = floor(max(L - clip_len*interval, 0) / 2)``)."""
    span = clip_len * frame_interval
    start = max(num_frames - span, 0) // 2
    idx = np.linspace(start, start + span - 1, clip_len).astype(np.int64)
    return np.clip(idx, 0, num_frames - 1)


def segment_center_indices(num_frames: int, clip_len: int) -> np.ndarray:
    """The middle frame of each of ``clip_len`` equal segments (segment-based test sampling)."""
    seg = num_frames / clip_len
    idx = (np.arange(clip_len) * seg + seg / 2).astype(np.int64)
    return np.clip(idx, 0, num_frames - 1)
