"""Synthetic video that tubelet makes itself: one clip for smoke runs, and a whole dataset of real H.264 files
whose classes can only be told apart by temporal order (same shapes, opposite motions)."""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..errors import UsageError

__all__ = ["synthetic_clip", "make_synthetic_dataset", "SYNTHETIC_CLASSES", "render_clip", "write_video",
           "dataset_clip", "MIN_VISIBLE_ALPHA"]

#: pairs of classes that differ only in the direction of time
SYNTHETIC_CLASSES = ("moving left", "moving right", "moving up", "moving down", "growing", "shrinking",
                     "rotating clockwise", "rotating counter-clockwise", "appearing", "disappearing")


def synthetic_clip(num_frames: int = 32, height: int = 240, width: int = 320, seed: int = 0) -> np.ndarray:
    """A coloured square moving right across a gradient background, with mild noise: uint8 ``(T, H, W, 3)``."""
    return render_clip(1, num_frames, height, width, np.random.default_rng(seed), shape="square")


def _background(height: int, width: int, rng: np.random.Generator, base: np.ndarray, amplitude: float) -> np.ndarray:
    """``base`` colour plus a linear gradient of at most ``amplitude`` either way, in a random direction."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    t = np.cos(angle) * (xx / max(width - 1, 1) - 0.5) + np.sin(angle) * (yy / max(height - 1, 1) - 0.5)  # +-0.71
    return base.astype(np.float32) + t[..., None] * rng.uniform(-amplitude, amplitude, 3).astype(np.float32)


def _mask(shape: str, yy, xx, cy: float, cx: float, r: float, angle: float) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] (a 1-pixel soft edge, so sub-pixel motion shows)."""
    dy, dx = yy - cy, xx - cx
    if shape == "circle":
        d = np.sqrt(dx * dx + dy * dy) - r
    elif shape == "diamond":
        d = (np.abs(dx) + np.abs(dy) - r) / math.sqrt(2)
    elif shape == "bar":  # a long rectangle (3r x r) turned by `angle` (rotation classes)
        u = dx * math.cos(angle) + dy * math.sin(angle)
        v = -dx * math.sin(angle) + dy * math.cos(angle)
        d = np.maximum(np.abs(u) - 1.5 * r, np.abs(v) - 0.5 * r)
    else:
        d = np.maximum(np.abs(dx), np.abs(dy)) - r
    return np.clip(0.5 - d, 0.0, 1.0)


def _box(shape: str, cy: float, cx: float, r: float, angle: float, height: int, width: int) -> np.ndarray:
    """The shape's bounding box ``x0, y0, x1, y1`` in continuous pixel coordinates (pixel ``(i, j)`` spans
    ``[j, j+1) x [i, i+1)``; the outline at half coverage), clipped to the frame."""
    if shape == "bar":
        c, s = abs(math.cos(angle)), abs(math.sin(angle))
        hx, hy = 1.5 * r * c + 0.5 * r * s, 1.5 * r * s + 0.5 * r * c
    else:  # square, circle and diamond all reach r from the centre along the axes
        hx = hy = r
    x, y = cx + 0.5, cy + 0.5  # the mask's grid puts pixel centres at integers
    return np.array([max(x - hx, 0.0), max(y - hy, 0.0), min(x + hx, width), min(y + hy, height)], np.float32)


#: below this opacity the object of an ``appearing``/``disappearing`` clip counts as not visible (box NaN)
MIN_VISIBLE_ALPHA = 0.1


def render_clip(label: int, num_frames: int, height: int, width: int, rng: np.random.Generator,
                shape: str | None = None, noise: float = 2.0, return_boxes: bool = False):
    """One clip of class ``SYNTHETIC_CLASSES[label]``: uint8 ``(num_frames, height, width, 3)``.

    A clearly visible shape (random kind, colour, size, position and speed) on a plain background with a gentle
    gradient; object and background colours are drawn from disjoint ranges (one dark, one bright), so the contrast
    is at least 85 levels in every channel. ``noise`` is the std of the per-pixel Gaussian noise. Every random draw
    is made the same way for both classes of a pair, and each motion is symmetric in time around the clip's middle:
    a clip of class 2k played backwards is a clip of class 2k+1 with the same content.

    ``return_boxes=True`` returns ``(frames, boxes)``: ``boxes`` float32 ``(num_frames, 4)``, the object's bounding
    box ``x0, y0, x1, y1`` in each frame, in continuous pixel coordinates (pixel ``(i, j)`` spans
    ``[j, j+1) x [i, i+1)``), clipped to the frame; a row is NaN where the object's opacity is below
    ``MIN_VISIBLE_ALPHA`` (the ends of ``appearing``/``disappearing``). The boxes take no random draws: the frames
    are the same either way.
    """
    name = SYNTHETIC_CLASSES[label]
    shape = shape or ("bar" if name.startswith("rotating") else str(rng.choice(["square", "circle", "diamond"])))
    dark, bright = rng.uniform(0, 70, 3), rng.uniform(185, 255, 3)
    bg_color, color = (dark, bright) if rng.random() < 0.5 else (bright, dark)
    background = _background(height, width, rng, bg_color, 30.0)  # stays >= 85 levels away from the object
    color = color.astype(np.float32)
    side = min(height, width)
    r0 = rng.uniform(0.13, 0.18) * side  # half-size of the shape
    travel = rng.uniform(0.35, 0.5)  # fraction of the frame crossed by the moving classes
    spin = rng.uniform(0.5, 0.8) * math.pi  # 90-144 degrees over the clip (the bar looks the same after 180)
    angle0 = rng.uniform(0, math.pi)
    u, v = rng.uniform(-1, 1, 2)  # where the path's middle lies within the room it leaves
    cy0, cx0 = height / 2 + u * 0.1 * height, width / 2 + v * 0.1 * width
    margin = 0.06 * side  # moving shapes stay this far from the edges
    if name in ("moving left", "moving right"):
        room = max(width / 2 - r0 - travel * width / 2 - margin, 0.0)
        cx0 = width / 2 + v * room
    elif name in ("moving up", "moving down"):
        room = max(height / 2 - r0 - travel * height / 2 - margin, 0.0)
        cy0 = height / 2 + u * room
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    boxes = np.full((num_frames, 4), np.nan, np.float32)
    for t in range(num_frames):
        s = (2 * t - (num_frames - 1)) / (2 * max(num_frames - 1, 1))  # -0.5 .. 0.5, exactly odd in time
        cy, cx, r, angle, alpha = cy0, cx0, r0, angle0, 1.0
        if name == "moving left":
            cx = cx0 - s * travel * width
        elif name == "moving right":
            cx = cx0 + s * travel * width
        elif name == "moving up":
            cy = cy0 - s * travel * height
        elif name == "moving down":
            cy = cy0 + s * travel * height
        elif name == "growing":
            r = r0 * (1.0 + 1.2 * s)  # 0.4 r0 .. 1.6 r0
        elif name == "shrinking":
            r = r0 * (1.0 - 1.2 * s)
        elif name == "rotating clockwise":
            angle = angle0 + s * spin
        elif name == "rotating counter-clockwise":
            angle = angle0 - s * spin
        elif name == "appearing":
            alpha = s + 0.5
        elif name == "disappearing":
            alpha = 0.5 - s
        if alpha >= MIN_VISIBLE_ALPHA:
            boxes[t] = _box(shape, cy, cx, r, angle, height, width)
        m = _mask(shape, yy, xx, cy, cx, r, angle)[..., None] * alpha
        f = background * (1 - m) + color * m
        if noise > 0:
            f = f + rng.normal(0, noise, (height, width, 3)).astype(np.float32)
        frames[t] = np.clip(f, 0, 255).astype(np.uint8)
    return (frames, boxes) if return_boxes else frames


def dataset_clip(split: str, index: int, num_frames: int = 32, height: int = 128, width: int = 160, seed: int = 0,
                 return_boxes: bool = False):
    """Clip ``index`` of ``split`` (``train``/``val``) of :func:`make_synthetic_dataset` with these parameters, as
    rendered before H.264 encoding: ``(frames, label)``, or ``(frames, boxes, label)`` with ``return_boxes``
    (see :func:`render_clip`)."""
    split_seed = {"train": 0, "val": 1}.get(split)
    if split_seed is None:
        raise UsageError(f"split must be 'train' or 'val', got {split!r}")
    label = index % len(SYNTHETIC_CLASSES)
    out = render_clip(label, num_frames, height, width, np.random.default_rng((seed, split_seed, index)),
                      return_boxes=return_boxes)
    return (*out, label) if return_boxes else (out, label)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int = 25, crf: int = 18) -> None:
    """Encode uint8 ``(T, H, W, 3)`` frames as H.264 (yuv420p) with PyAV's bundled libx264."""
    import av

    with av.open(os.fspath(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def make_synthetic_dataset(root: str | os.PathLike, num_train: int = 200, num_val: int = 50, num_frames: int = 32,
                           height: int = 128, width: int = 160, fps: int = 25, seed: int = 0) -> dict[str, Path]:
    """Write a balanced synthetic dataset: ``train/*.mp4``, ``val/*.mp4``, ``train.txt`` / ``val.txt``
    (``path label`` lines relative to ``root``) and ``classes.txt``. Deterministic for a given ``seed``.

    Returns:
        ``{"train": train.txt, "val": val.txt, "classes": classes.txt}``.
    """
    if height % 2 or width % 2:
        raise UsageError(f"H.264 needs even frame sizes, got {height}x{width}")
    root = Path(root)
    out = {}
    for split, count, split_seed in (("train", num_train, 0), ("val", num_val, 1)):
        (root / split).mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(count):
            label = i % len(SYNTHETIC_CLASSES)
            rng = np.random.default_rng((seed, split_seed, i))
            rel = f"{split}/{i:06d}.mp4"
            write_video(root / rel, render_clip(label, num_frames, height, width, rng), fps=fps)
            lines.append(f"{rel} {label}")
        out[split] = root / f"{split}.txt"
        out[split].write_text("\n".join(lines) + "\n")
    out["classes"] = root / "classes.txt"
    out["classes"].write_text("\n".join(SYNTHETIC_CLASSES) + "\n")
    return out
