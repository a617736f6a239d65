"""Same-machine A/B of two tubelet checkouts (e.g. two git worktrees), CPU forward, fresh process per measurement.

    git worktree add /tmp/before 777989b
    python benchmarks/ab_cpu.py swin3d_tiny 1,3,32,224,224 /tmp/before . [--repeat 3] [--runs 5] [--threads 1]

Each checkout is timed with glibc's malloc defaults and with freed memory kept (tubelet/runtime.py; on checkouts
that predate it the same mallopt calls are made here), alternating checkouts and settings `--repeat` times so that
slow phases of a noisy VM hit every column. Each cell: min / median of `--runs` forwards after one warm-up,
`torch.inference_mode`, random weights (seed 0), a random input of the given shape.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

CHILD = r"""
import ctypes, statistics, sys, time
import torch
path, name, shape, keep, runs, threads = sys.argv[1:]
sys.path.insert(0, path)
import tubelet
assert tubelet.__file__.startswith(path), tubelet.__file__
torch.set_num_threads(int(threads))
if keep == "1":
    libc = ctypes.CDLL("libc.so.6")
    assert libc.mallopt(-4, 0) == 1 and libc.mallopt(-1, 2**31 - 1) == 1  # M_MMAP_MAX, M_TRIM_THRESHOLD
torch.manual_seed(0)
model = tubelet.create_model(name).eval()
x = torch.randn(tuple(int(s) for s in shape.split(",")))
with torch.inference_mode():
    model(x)
    times = []
    for _ in range(int(runs)):
        t = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - t)
print(min(times), statistics.median(times))
"""


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("shape", help="input shape, e.g. 1,3,32,224,224")
    p.add_argument("checkouts", nargs="+", help="tubelet source trees to compare")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    cells: dict[tuple[str, str], list[str]] = {}
    for _ in range(args.repeat):
        for path in args.checkouts:
            for keep in ("0", "1"):
                out = subprocess.run([sys.executable, "-c", CHILD, os.path.abspath(path), args.model, args.shape, keep, str(args.runs),
                                      str(args.threads)], capture_output=True, text=True, check=True).stdout.split()
                cells.setdefault((path, keep), []).append(f"{float(out[0]):.3f} / {float(out[1]):.3f}")
    print(f"{args.model} {args.shape}, {args.threads} thread(s); min / median s of {args.runs} forwards, "
          f"{args.repeat} alternations\n")
    print("| checkout | malloc | " + " | ".join(f"run {i + 1}" for i in range(args.repeat)) + " |")
    print("|---|---|" + "---|" * args.repeat)
    for (path, keep), runs in cells.items():
        print(f"| {path} | {'freed memory kept' if keep == '1' else 'glibc defaults'} | " + " | ".join(runs) + " |")


if __name__ == "__main__":
    main()
