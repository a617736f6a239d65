"""``tubelet features`` throughput on CPU (videos/s and windows/s) next to the decode floor.

Videos: ``--videos`` synthetic untrimmed-like clips, 340x256 at 25 fps, ``--seconds`` long, H.264 from PyAV's libx264
with its default GOP (keyframe every 250 frames, B-frames on), the content of ``tubelet.data.synthetic``.
Windows: the model's defaults (UniFormer 16x4: 64-frame windows, 2.56 s, touching). Rows:

* decode floor: a sequential decode of every frame and RGB conversion of the sampled ones, 1 thread (every frame
  of a long GOP must be decoded to reach the sampled ones, so no exact reader of all the windows beats it per
  worker);
* windows pipeline: decode + sample + eval transform of every window (``tubelet.features`` workers, no model);
* features, tiny model: the whole command with a 1.4 M-parameter UniFormer at 64 px (decode-bound: the pipeline's
  overhead over the floor);
* features, ``--model`` at its full size (random weights; model-bound on CPU).

    python benchmarks/features_cpu.py [--videos 4] [--seconds 30] [--workers 2] [--model uniformer_small]
"""
from __future__ import annotations

import argparse
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

import tubelet
from tubelet.data.synthetic import render_clip
from tubelet.engine.inference import _window_indices
from tubelet.tasks.features import _VideoWindows, extract_to_folder, plan_windows


def write(path: Path, frames: np.ndarray) -> None:
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.options = {"preset": "veryfast"}
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


def decode_floor(path: Path, wanted: set[int]) -> None:
    """Decode every frame in order (each is a reference of the next on these files) and convert the ``wanted``
    ones to RGB: what any exact reader of those frames must do, without seeking or bookkeeping."""
    with av.open(str(path)) as c:
        c.streams.video[0].thread_type = "SLICE"
        for n, f in enumerate(c.decode(video=0)):
            if n in wanted:
                f.to_ndarray(format="rgb24")


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--videos", type=int, default=4)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--model", default="uniformer_small", help="full-size model row ('none' to skip it)")
    p.add_argument("--model-videos", type=int, default=1, help="videos through the full-size model")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp())
    frames = round(args.seconds * 25)
    paths = []
    for i in range(args.videos):
        paths.append(tmp / f"v{i}.mp4")
        write(paths[-1], render_clip(i % 10, frames, 256, 340, np.random.default_rng(i)))
    videos = [str(q) for q in paths]
    rows = []

    torch.manual_seed(0)
    small = tubelet.create_model("uniformer_small", num_classes=10, depth=[1, 1, 1, 1], embed_dim=[16, 32, 64, 128],
                                 head_dim=16, img_size=64).eval()
    big = None if args.model == "none" else tubelet.create_model(args.model).eval()
    cfg = (big or small).pretrained_cfg  # the full model's data contract (224 px) for the no-model pipeline

    torch.set_num_threads(1)
    starts, span = plan_windows(cfg, frames, 25.0)
    wanted = {int(i) for s in starts for i in _window_indices(cfg, s, span)}
    t = time.perf_counter()
    for q in paths:
        decode_floor(q, wanted)
    floor = args.videos / (time.perf_counter() - t)
    rows.append(("decode floor: decode every frame + RGB of the sampled ones, 1 thread", floor, None))
    for workers in sorted({0, args.workers}):
        loader = torch.utils.data.DataLoader(_VideoWindows(videos, cfg, None, None, args.batch_size),
                                             batch_size=None, num_workers=workers)
        t, windows = time.perf_counter(), 0
        for kind, _i, x in loader:
            windows += x.shape[0] if kind == "clips" else 0
        seconds = time.perf_counter() - t
        rows.append((f"windows pipeline (decode + sample + resize/crop {cfg.input_size[-1]} px, uint8), "
                     f"{workers} workers", args.videos / seconds, windows / seconds))

    from tubelet.runtime import cpu_count, threads_for_workers
    torch.set_num_threads(threads_for_workers(args.workers, cpu_count()))
    with tempfile.TemporaryDirectory() as out:
        s = extract_to_folder(small, videos, out, batch_size=args.batch_size, num_workers=args.workers,
                              progress=False)
    rows.append((f"features, tiny UniFormer 64 px (1.4 M params), {args.workers} workers",
                 s["done"] / s["seconds"], s["windows"] / s["seconds"]))
    if big is not None:
        for dtype in ("fp32", "bf16"):
            with tempfile.TemporaryDirectory() as out:
                s = extract_to_folder(big, videos[:args.model_videos], out, batch_size=args.batch_size,
                                      num_workers=min(args.workers, 1), progress=False, dtype=dtype)
            rows.append((f"features, {args.model} {cfg.num_frames}x{cfg.frame_interval} {cfg.input_size[-1]} px "
                         f"{dtype} (random weights), 1 worker", s["done"] / s["seconds"], s["windows"] / s["seconds"]))

    print(f"tubelet features throughput: `python benchmarks/features_cpu.py --videos {args.videos} --seconds "
          f"{args.seconds:g} --workers {args.workers} --model {args.model}`; {cpu_name()}, {cpu_count()} CPUs, "
          f"torch {torch.__version__}, PyAV {av.__version__}, {time.strftime('%Y-%m-%d')}; {args.videos} videos "
          f"340x256, {frames} frames ({args.seconds:g} s) at 25 fps, GOP 250; windows: the model's defaults "
          f"({cfg.num_frames}x{cfg.frame_interval} dense, {cfg.num_frames * cfg.frame_interval} frames, stride = "
          f"window), batch {args.batch_size}\n")
    print("| configuration | videos/s | windows/s | videos/s vs decode floor |")
    print("|---|---|---|---|")
    for name, vps, wps in rows:
        print(f"| {name} | {vps:.2f} | {'' if wps is None else f'{wps:.1f}'} | {vps / floor:.2f}x |")


if __name__ == "__main__":
    main()
