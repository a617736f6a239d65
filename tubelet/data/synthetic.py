"""Synthetic video that tubelet makes itself: one clip for smoke runs, and a whole dataset of real H.264 files
whose classes can only be told apart by temporal order (same shapes, opposite motions)."""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

__all__ = ["synthetic_clip", "make_synthetic_dataset", "SYNTHETIC_CLASSES", "render_clip", "write_video"]

#: pairs of classes that differ only in the direction of time
SYNTHETIC_CLASSES = ("moving left", "moving right", "moving up", "moving down", "growing", "shrinking",
                     "rotating clockwise", "rotating counter-clockwise", "appearing", "disappearing")


def synthetic_clip(num_frames: int = 32, height: int = 240, width: int = 320, seed: int = 0) -> np.ndarray:
    """A coloured square moving across a gradient background, with mild noise: uint8 ``(T, H, W, 3)``."""
    return render_clip(1, num_frames, height, width, np.random.default_rng(seed), shape="square")


def _background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    angle = rng.uniform(0, 2 * math.pi)
    t = (np.cos(angle) * xx / max(width - 1, 1) + np.sin(angle) * yy / max(height - 1, 1) + 1) / 2
    return (c0 * (1 - t[..., None]) + c1 * t[..., None]).astype(np.float32)


def _mask(shape: str, yy, xx, cy: float, cx: float, r: float, angle: float) -> np.ndarray:
    dy, dx = yy - cy, xx - cx
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= r
    if shape == "bar":  # a long thin rectangle turned by `angle` (rotation classes)
        u = dx * math.cos(angle) + dy * math.sin(angle)
        v = -dx * math.sin(angle) + dy * math.cos(angle)
        return (np.abs(u) <= r) & (np.abs(v) <= r / 4)
    return (np.abs(dx) <= r) & (np.abs(dy) <= r)


def render_clip(label: int, num_frames: int, height: int, width: int, rng: np.random.Generator,
                shape: str | None = None) -> np.ndarray:
    """One clip of class ``SYNTHETIC_CLASSES[label]`` with random shape, colour, size, speed, background and
    noise: uint8 ``(num_frames, height, width, 3)``."""
    name = SYNTHETIC_CLASSES[label]
    shape = shape or ("bar" if name.startswith("rotating") else rng.choice(["square", "circle", "diamond"]))
    background = _background(height, width, rng)
    color = rng.uniform(0, 255, 3).astype(np.float32)
    side = min(height, width)
    r0 = rng.uniform(0.12, 0.2) * side
    cy0, cx0 = rng.uniform(0.35, 0.65) * height, rng.uniform(0.35, 0.65) * width
    travel = rng.uniform(0.25, 0.4)
    spin = rng.uniform(0.6, 1.2) * math.pi / 2
    angle0 = rng.uniform(0, math.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        s = t / max(num_frames - 1, 1) - 0.5  # -0.5 .. 0.5
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
            r = r0 * (1 + 1.2 * (s + 0.5)) * 0.6
        elif name == "shrinking":
            r = r0 * (1 + 1.2 * (0.5 - s)) * 0.6
        elif name == "rotating clockwise":
            angle = angle0 + s * spin
        elif name == "rotating counter-clockwise":
            angle = angle0 - s * spin
        elif name == "appearing":
            alpha = s + 0.5
        elif name == "disappearing":
            alpha = 0.5 - s
        m = _mask(shape, yy, xx, cy, cx, r, angle)[..., None] * alpha
        f = background * (1 - m) + color * m + rng.normal(0, 6, (height, width, 3))
        frames[t] = np.clip(f, 0, 255).astype(np.uint8)
    return frames


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
        raise ValueError(f"H.264 needs even frame sizes, got {height}x{width}")
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
