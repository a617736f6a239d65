"""Forward latency on CPU against the official implementations' recorded timings.

The parity fixtures (tests/parity/*/manifest.json) record `official_cpu_seconds_1thread`: the official model's
forward on one thread of our CPU machine class (median of 3 runs after a warm-up). This script times tubelet's
forward on the same configuration and input, with the same protocol, and prints a Markdown table.

    python benchmarks/forward_cpu.py [--threads 1] [--filter uniformer_]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "parity"))
import recipe  # noqa: E402

import tubelet  # noqa: E402

MODEL_FOR_CASE = {"uniformer_video_small_std": ("uniformer_small", {"std": True}),
                  "uniformer_video_small": ("uniformer_small", {}), "uniformer_video_base": ("uniformer_base", {}),
                  "uniformer_image_small_plus": ("uniformer_small_plus_2d", {}),
                  "uniformer_image_small": ("uniformer_small_2d", {}), "uniformer_image_base": ("uniformer_base_2d", {})}


def time_forward(model, x, runs: int = 3) -> float:
    with torch.inference_mode():
        model(x)  # warm-up
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--filter", default="uniformer_")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}, "
          f"{time.strftime('%Y-%m-%d')}\n")
    print("| fixture | input | official s | tubelet s | speed-up |")
    print("|---|---|---|---|---|")
    for case in recipe.cases(args.filter):
        manifest, _ = recipe.load_case(case)
        official = manifest.get("official_cpu_seconds_1thread")
        if case.startswith("uniformerv2_"):
            u = manifest["model_config"]["UNIFORMERV2"]
            name, kw = u["BACKBONE"], dict(n_layers=u["N_LAYERS"], no_lmhra=u["NO_LMHRA"],
                                           temporal_downsample=u["TEMPORAL_DOWNSAMPLE"])
        elif case.startswith("swin_"):
            backbone = manifest["model_config"]["model"]["backbone"]
            name = {96: "swin3d_small" if backbone["depths"][2] == 18 else "swin3d_tiny", 128: "swin3d_base"}[
                backbone["embed_dim"]]
            kw = {"window_size": backbone["window_size"]}
        else:
            key = next((k for k in MODEL_FOR_CASE if case.startswith(k)), None)
            if key is None:
                continue
            name, kw = MODEL_FOR_CASE[key]
        if official is None:
            continue
        num_classes = manifest["output_shape"][-1]
        model = tubelet.create_model(name, num_classes=num_classes, **kw).eval()
        x = recipe.make_input(manifest)
        ours = time_forward(model, x)
        off = official if args.threads == 1 else float("nan")
        print(f"| {case.replace('__public', '')} | {tuple(x.shape)} | {off:.3f} | {ours:.3f} | {off / ours:.2f}x |")


if __name__ == "__main__":
    main()
