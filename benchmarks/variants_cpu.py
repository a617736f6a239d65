"""Every registered variant at its default input, batch 1, inference, fp32 and bf16 autocast, on CPU.

    python benchmarks/variants_cpu.py [--threads 1] [--runs 2] [--filter swin3d_*]

A Markdown table on stdout (one row per variant as it finishes): latency, clips/s, achieved GFLOP/s and the fraction
of this machine's measured matmul peak of the same dtype (tubelet.benchmark), peak resident memory of the process.
The process keeps freed memory, as the `tubelet` command does (tubelet/runtime.py), unless --system-malloc.
"""
from __future__ import annotations

import argparse
import platform
import time

import torch

import tubelet
from tubelet.benchmark import benchmark, matmul_peak
from tubelet.runtime import keep_freed_memory


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--filter", default="*")
    p.add_argument("--system-malloc", action="store_true", help="leave glibc malloc at its defaults")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if not args.system_malloc:
        keep_freed_memory()
    peaks = {"fp32": matmul_peak("fp32"), "bf16": matmul_peak("bf16")}
    print(f"torch {torch.__version__}, {args.threads} thread(s), {platform.machine()}, {time.strftime('%Y-%m-%d')}; "
          f"measured matmul peak fp32 {peaks['fp32']:.0f}, bf16 {peaks['bf16']:.0f} GFLOP/s\n")
    print("| model | input | GFLOP | fp32 s | fp32 GFLOP/s | % fp32 peak | bf16 s | bf16 GFLOP/s | % bf16 peak | "
          "bf16 speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in tubelet.list_models(args.filter):
        r = {dt: benchmark(name, dtype=dt, warmup=args.warmup, runs=args.runs, peak=False) for dt in ("fp32", "bf16")}
        f, b = r["fp32"], r["bf16"]
        cells = [name, "x".join(map(str, f["input_shape"][2:])), f"{f['gflops_per_clip']:.0f}"]
        for x in (f, b):
            gf = x["achieved_tflops"] * 1e3
            cells += [f"{x['median_s']:.3f}", f"{gf:.0f}", f"{gf / peaks[x['dtype']]:.0%}"]
        cells.append(f"{f['median_s'] / b['median_s']:.2f}x")
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
