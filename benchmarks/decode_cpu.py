"""Data-loading throughput per worker (1 thread) on Kinetics-like videos, next to the decode-only floor.

Videos: 340x256, 10 s at 25 fps (250 frames), H.264 written by PyAV's libx264 with its default GOP (keyframe every
250 frames, B-frames on), the synthetic content of ``tubelet.data.synthetic``. For each sampling recipe:

* pipeline: ``VideoReader`` + sampler + eval transform (short side 224, centre crop 224, normalise) -> clips/s
* decode: ``VideoReader.get_frames`` only (seek-exact decoding + RGB conversion) -> clips/s
* floor: decoding every needed frame at the file's average sequential decode cost, as if each frame were free to
  reach -> clips/s (an upper bound no seek-based reader can beat on these files)

    python benchmarks/decode_cpu.py [--videos 5] [--gop 250]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from tubelet.data import VideoReader
from tubelet.data.presets import EvalTransform
from tubelet.data.sampling import dense_indices, segment_indices
from tubelet.data.synthetic import render_clip


def write(path: Path, frames: np.ndarray, gop: int) -> None:
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.options = {"g": str(gop)}
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


def sequential_cost(path: Path) -> float:
    """Seconds per frame of a full sequential decode with RGB conversion."""
    t = time.perf_counter()
    n = 0
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            f.to_ndarray(format="rgb24", threads=1)
            n += 1
    return (time.perf_counter() - t) / n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--videos", type=int, default=5)
    p.add_argument("--gop", type=int, default=250)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp())
    paths = []
    for i in range(args.videos):
        paths.append(tmp / f"v{i}.mp4")
        write(paths[-1], render_clip(i % 10, 250, 256, 340, np.random.default_rng(i)), args.gop)
    transform = EvalTransform(224, 224, (0.45,) * 3, (0.225,) * 3)
    recipes = {
        "8-frame segment (UniFormerV2)": lambda n: segment_indices(n, 8, clip_index=0),
        "16x4 dense (UniFormer)": lambda n: dense_indices(n, 16, 4, clip_index=0),
    }
    cost = statistics.mean(sequential_cost(q) for q in paths)
    print(f"torch {torch.__version__}, PyAV {av.__version__}, 1 thread, {platform.machine()}, "
          f"{time.strftime('%Y-%m-%d')}; {args.videos} videos 340x256x250 frames, GOP {args.gop}; "
          f"sequential decode {cost * 1000:.2f} ms/frame\n")
    print("| sampling | pipeline clips/s | decode-only clips/s | floor clips/s |")
    print("|---|---|---|---|")
    for name, sampler in recipes.items():
        pipe, dec = [], []
        for _ in range(args.repeats):
            for q in paths:
                t = time.perf_counter()
                with VideoReader(q) as r:
                    frames = r.get_frames(sampler(r.num_frames))
                t1 = time.perf_counter()
                transform(frames)
                t2 = time.perf_counter()
                dec.append(t1 - t)
                pipe.append(t2 - t)
        needed = len(np.unique(sampler(250)))
        print(f"| {name} | {1 / statistics.median(pipe):.1f} | {1 / statistics.median(dec):.1f} | "
              f"{1 / (needed * cost):.1f} |")


if __name__ == "__main__":
    main()
