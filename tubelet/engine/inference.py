"""Classify videos with a model's own data config: whole-video predictions (any number of test views) and a sliding
window timeline for long videos. ``tubelet predict`` and ``tubelet demo`` call these."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..data import EvalTransform, VideoReader, average_views, make_sampler
from ..data.datasets import VIDEO_EXTENSIONS
from ..errors import UsageError, VideoDecodeError

__all__ = ["expand_videos", "classify_video", "timeline", "resolve_labels", "topk"]


def expand_videos(inputs: list[str]) -> list[str]:
    """Files as given; folders expanded to the video files inside them (recursively, sorted).

    Raises:
        VideoDecodeError: a path that does not exist, or a folder without video files; the message names it.
    """
    out = []
    for item in inputs:
        if os.path.isdir(item):
            found = sorted(str(p) for p in Path(item).rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
            if not found:
                raise VideoDecodeError(f"{item}: no video files ({', '.join(VIDEO_EXTENSIONS)}) in this folder")
            out += found
        elif not os.path.exists(item):
            raise VideoDecodeError(f"{item}: no such file or folder")
        else:
            out.append(item)
    return out


def resolve_labels(spec: str | None, cfg) -> list[str] | None:
    """``--labels``: a shipped list (k400, k600, k700, k710, sthv2 or a full list name) or a text file with one name
    per line; None: the model's own class names.

    Raises:
        UsageError: ``spec`` is neither a shipped list nor a readable label file; the message names it.
    """
    if spec is None:
        return cfg.labels()
    from ..labels import class_names
    try:
        return class_names(spec)
    except (ValueError, OSError) as e:  # unknown list name, unreadable file, malformed labels json
        where = f"{spec}: " if os.path.isfile(spec) else ""  # a json error does not name its file
        raise UsageError(f"--labels: {where}{e}") from None


@torch.no_grad()
def classify_video(model, path: str, *, views: tuple[int, int] = (1, 1), view_average: str = "prob",
                   max_views: int = 16) -> torch.Tensor:
    """Class probabilities ``(K,)`` of one video: ``views = (clips, crops)`` test views through the model's
    ``pretrained_cfg`` sampler and eval transform, averaged (softmax then mean, or mean logits then softmax)."""
    cfg = model.pretrained_cfg
    clips, crops = views
    sampler = make_sampler(cfg, num_clips=clips)
    transform = EvalTransform.from_cfg(cfg, num_crops=crops)
    with VideoReader(path) as reader:
        x = torch.cat([transform(reader.get_frames(sampler(reader.num_frames, clip_index=k))) for k in range(clips)])
    device = next(model.parameters()).device
    logits = torch.cat([model(chunk.to(device)) for chunk in x.split(max_views)]).float().cpu()
    out = average_views(logits, x.shape[0], view_average)[0]
    return out if view_average == "prob" else out.softmax(-1)


def _window_indices(cfg, start: int, length: int) -> np.ndarray:
    """Frame indices of one window: the model's dense stride, or one frame from the middle of each segment."""
    T = cfg.num_frames
    if cfg.sampler in ("dense", "sample_frames"):
        step = max(1, length // T) if length < T * (cfg.frame_interval or 1) else cfg.frame_interval or 1
        return start + np.minimum(np.arange(T) * step, length - 1)
    return start + np.minimum(((np.arange(T) + 0.5) * length / T).astype(np.int64), length - 1)


@torch.no_grad()
def timeline(model, path: str, *, window: float | None = None, stride: float | None = None,
             batch_size: int = 8) -> tuple[list[dict], torch.Tensor]:
    """Slide windows over a long video and classify each.

    Args:
        window: seconds per window; default: the span of the model's dense clip (``num_frames x frame_interval``
            frames), or 4 s for segment-sampled models.
        stride: seconds between window starts; default: half a window.
    Returns:
        ``([{"start", "end"} seconds per window], probs (W, K))``.
    """
    cfg = model.pretrained_cfg
    transform = EvalTransform.from_cfg(cfg, num_crops=1)
    device = next(model.parameters()).device
    with VideoReader(path) as reader:
        n, fps = reader.num_frames, reader.fps or 25.0
        if window is None:
            span = cfg.num_frames * (cfg.frame_interval or 1) if cfg.sampler in ("dense", "sample_frames") \
                else round(4.0 * fps)
        else:
            span = round(window * fps)
        span = max(1, min(span, n))
        step = max(1, round(stride * fps) if stride is not None else span // 2)
        starts = list(range(0, max(n - span, 0) + 1, step))
        if starts[-1] + span < n:  # cover the tail
            starts.append(n - span)
        windows, probs = [], []
        for i in range(0, len(starts), batch_size):  # decode a few windows at a time: memory stays flat
            chunk = starts[i:i + batch_size]
            x = torch.cat([transform(reader.get_frames(_window_indices(cfg, s, span))) for s in chunk])
            probs.append(model(x.to(device)).float().softmax(-1).cpu())
            windows += [{"start": round(s / fps, 3), "end": round((s + span) / fps, 3)} for s in chunk]
    return windows, torch.cat(probs)


def topk(probs: torch.Tensor, labels: list[str] | None, k: int) -> list[dict]:
    k = min(k, probs.numel())
    scores, idx = probs.topk(k)
    return [{"index": int(i), "label": labels[i] if labels and i < len(labels) else f"class {int(i)}",
             "score": round(float(s), 6)} for s, i in zip(scores, idx)]
