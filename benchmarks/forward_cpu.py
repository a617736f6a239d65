"""Forward latency on CPU against the official implementations' recorded timings.

The parity fixtures (tests/parity/*/manifest.json) record `official_cpu_seconds_1thread`: the official model's
forward on one thread of our CPU machine class (median of 3 runs after a warm-up). This script times tubelet's
forward on the same configuration and input, with the same protocol, and prints a Markdown table.

    python benchmarks/forward_cpu.py [--threads 1] [--filter uniformer_] [--bf16]

Work = 2 x the multiply-accumulates of `tubelet flops` at the fixture's input; "% peak" divides the achieved GFLOP/s
by this machine's measured matmul peak of the same dtype and thread count (tubelet.benchmark.matmul_peak, measured
at the start). With --bf16 the forward also runs under CPU bf16 autocast, and its speed-up is taken over the
official float32 time. tubelet's timings keep freed memory in the process, as the `tubelet` command does
(tubelet/runtime.py); the column "glibc defaults" repeats the fp32 timing in a process that does not.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "parity"))
import recipe  # noqa: E402

import tubelet  # noqa: E402
from tubelet.benchmark import matmul_peak  # noqa: E402
from tubelet.flops import model_cost  # noqa: E402
from tubelet.runtime import keep_freed_memory  # noqa: E402

MODEL_FOR_CASE = {"uniformer_video_small_std": ("uniformer_small", {"std": True}),
                  "uniformer_video_small": ("uniformer_small", {}), "uniformer_video_base": ("uniformer_base", {}),
                  "uniformer_image_small_plus": ("uniformer_small_plus_2d", {}),
                  "uniformer_image_small": ("uniformer_small_2d", {}), "uniformer_image_base": ("uniformer_base_2d", {})}


def time_forward(model, x, runs: int = 3, bf16: bool = False) -> float:
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
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
    p.add_argument("--bf16", action="store_true", help="also time bf16 autocast")
    p.add_argument("--case", help="time one fixture in this process (internal: each case runs in a fresh process)")
    p.add_argument("--system-malloc", action="store_true",
                   help="internal: leave glibc malloc at its defaults (the other timings keep freed memory, as the "
                        "tubelet command does; see tubelet/runtime.py)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.case:
        if not args.system_malloc:
            assert keep_freed_memory(), "glibc malloc expected"
        print(json.dumps(measure(args.case, bf16=args.bf16 and not args.system_malloc)), flush=True)
        return
    peak32 = matmul_peak("fp32")
    peak16 = matmul_peak("bf16") if args.bf16 else float("nan")
    print(f"torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}, "
          f"{time.strftime('%Y-%m-%d')}; measured matmul peak fp32 {peak32:.0f} GFLOP/s"
          + (f", bf16 {peak16:.0f} GFLOP/s" if args.bf16 else "") + "\n")
    head = ("| fixture | input | GFLOP | official s | official % peak | tubelet s | speed-up | tubelet % peak "
            "| tubelet s, glibc defaults |")
    if args.bf16:
        head += " bf16 s | bf16 speed-up over official fp32 | bf16 % bf16 peak |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    # One fresh process per fixture and setting: in one long process the allocator's state after the big models
    # changed later timings by up to 1.5x (Swin-T 32x224: 5.8 s after the others vs 3.9 s alone).
    for case in recipe.cases(args.filter):
        runs = []
        for system in (False, True):
            cmd = [sys.executable, __file__, "--case", case, "--threads", str(args.threads)]
            cmd += (["--bf16"] if args.bf16 else []) + (["--system-malloc"] if system else [])
            runs.append(json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))
        kept, system = runs
        if kept is None:
            continue
        off = kept["official"] if args.threads == 1 else float("nan")
        gflop, ours = kept["gflop"], kept["fp32_s"]
        line = (f"| {case.replace('__public', '')} | {tuple(kept['input'])} | {gflop:.0f} | {off:.3f} | "
                f"{gflop / off / peak32:.0%} | {ours:.3f} | {off / ours:.2f}x | {gflop / ours / peak32:.0%} | "
                f"{system['fp32_s']:.3f} |")
        if args.bf16:
            b = kept["bf16_s"]
            line += f" {b:.3f} | {off / b:.2f}x | {gflop / b / peak16:.0%} |"
        print(line, flush=True)


def measure(case: str, bf16: bool) -> dict | None:
    """Time one fixture: its input, GFLOP, the official time and ours (fp32, and bf16 if asked); None when it has
    no official timing."""
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
            return None
        name, kw = MODEL_FOR_CASE[key]
    if official is None:
        return None
    num_classes = manifest["output_shape"][-1]
    model = tubelet.create_model(name, num_classes=num_classes, **kw).eval()
    x = recipe.make_input(manifest)
    gflop = 2 * model_cost(name, tuple(x.shape[1:]), num_classes=num_classes, **kw).gflops * x.shape[0]
    out = {"input": list(x.shape), "gflop": gflop, "official": official, "fp32_s": time_forward(model, x)}
    if bf16:
        out["bf16_s"] = time_forward(model, x, bf16=True)
    return out


if __name__ == "__main__":
    main()
