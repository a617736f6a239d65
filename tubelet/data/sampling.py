"""Frame-index samplers: pure functions of the video length, the parameters and a ``numpy.random.Generator``.

Each reproduces the frame sampling of one official code base (named below). ``clip_index=None`` draws a training
clip; an integer picks test view ``clip_index`` of ``num_clips`` deterministically (no random state used). Views are
distinct clips: view k of K is offset by k, never the same frames K times.

* :func:`dense_indices`: PySlowFast / UniFormer Kinetics (``clip_len`` frames spanning ``clip_len * interval`` source
  frames, ``linspace`` then truncation; test offsets ``k * floor(delta / (K - 1))``).
* :func:`sample_frames`: MMAction2 ``SampleFrames`` / Video Swin Kinetics (stride exactly ``interval``; out-of-range
  indices wrap around; test offsets ``floor(k * a + a / 2)``).
* :func:`segment_indices`: TSN-style segments for UniFormer SSv2 and UniFormerV2 (``kinetics_sparse`` / ``sth``:
  one frame per segment; test view k at ``floor(seg / (K + 1) * (k + 1))`` into each segment) and, with
  ``middle=True``, Video Swin SSv2 (``frame_uniform``: the segment middle).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["dense_indices", "sample_frames", "segment_indices"]


def _check(num_frames: int, clip_len: int, clip_index: int | None, num_clips: int) -> None:
    if num_frames < 1:
        raise ValueError(f"a video needs at least one frame, got num_frames={num_frames}")
    if clip_len < 1 or num_clips < 1:
        raise ValueError(f"clip_len and num_clips must be >= 1, got {clip_len}, {num_clips}")
    if clip_index is not None and not 0 <= clip_index < num_clips:
        raise ValueError(f"clip_index {clip_index} outside [0, {num_clips})")


def dense_indices(num_frames: int, clip_len: int, frame_interval: int, *, clip_index: int | None = None,
                  num_clips: int = 1, rng: np.random.Generator | None = None) -> np.ndarray:
    """PySlowFast dense sampling (``get_start_end_idx`` with ``USE_OFFSET_SAMPLING``, decord index rule).

    Short videos: the start is 0 and the indices are clamped to the last frame (frames repeat).
    """
    _check(num_frames, clip_len, clip_index, num_clips)
    clip_size = clip_len * frame_interval
    delta = max(num_frames - clip_size, 0)
    if clip_index is None:
        start = (rng or np.random.default_rng()).uniform(0, delta)
    elif num_clips == 1:
        start = math.floor(delta / 2)
    else:
        start = clip_index * math.floor(delta / (num_clips - 1))
    idx = np.linspace(start, start + clip_size - 1, clip_len)
    return np.clip(idx, 0, num_frames - 1).astype(np.int64)  # clamp, then truncate (torch .long())


def sample_frames(num_frames: int, clip_len: int, frame_interval: int, *, clip_index: int | None = None,
                  num_clips: int = 1, rng: np.random.Generator | None = None) -> np.ndarray:
    """MMAction2 ``SampleFrames`` (Video Swin): clip offsets, then ``offset + arange(clip_len) * interval``; indices
    past the end wrap around (``out_of_bound_opt='loop'``). Training draws all ``num_clips`` offsets as the original
    does and returns clip 0 of them when ``num_clips == 1``; test view ``clip_index`` uses ``floor(k*a + a/2)``."""
    _check(num_frames, clip_len, clip_index, num_clips)
    span = clip_len * frame_interval
    if clip_index is None:
        rng = rng or np.random.default_rng()
        avg = (num_frames - span + 1) // num_clips
        if avg > 0:
            offsets = np.arange(num_clips) * avg + rng.integers(avg, size=num_clips)
        elif num_frames > max(num_clips, span):
            offsets = np.sort(rng.integers(num_frames - span + 1, size=num_clips))
        elif avg == 0:
            offsets = np.around(np.arange(num_clips) * ((num_frames - span + 1) / num_clips)).astype(np.int64)
        else:
            offsets = np.zeros(num_clips, dtype=np.int64)
        offset = offsets[0]
    else:
        avg = (num_frames - span + 1) / float(num_clips)
        offset = int(clip_index * avg + avg / 2.0) if num_frames > span - 1 else 0
    idx = offset + np.arange(clip_len) * frame_interval
    return np.mod(idx, num_frames).astype(np.int64)


def segment_indices(num_frames: int, clip_len: int, *, clip_index: int | None = None, num_clips: int = 1,
                    rng: np.random.Generator | None = None, middle: bool = False) -> np.ndarray:
    """Segment sampling: ``clip_len`` segments of ``seg = (L - 1) / clip_len`` frames; segment i spans
    ``[round(seg*i), round(seg*(i+1))]`` (numpy's half-to-even rounding, as the originals).

    Training: one random frame per segment (inclusive ends). Test view k of K: ``round(seg*i) + floor(seg / (K+1) *
    (k+1))``; with ``middle=True`` (Video Swin ``frame_uniform``) the segment middle ``(start + end) // 2``.
    Short videos repeat frames; every index is clamped to the last frame.
    """
    _check(num_frames, clip_len, clip_index, num_clips)
    seg = max(0.0, (num_frames - 1) / clip_len)
    starts = np.round(seg * np.arange(clip_len)).astype(np.int64)
    ends = np.round(seg * np.arange(1, clip_len + 1)).astype(np.int64)
    if clip_index is None:
        idx = (rng or np.random.default_rng()).integers(starts, ends + 1)
    elif middle:
        idx = (starts + ends) // 2
    else:
        idx = starts + int(seg / (num_clips + 1) * (clip_index + 1))
    return np.minimum(idx, num_frames - 1).astype(np.int64)
