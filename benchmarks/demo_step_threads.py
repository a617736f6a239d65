"""Time the demo model's training step with different torch thread counts, each in a fresh process, alternated.

    python benchmarks/demo_step_threads.py                    # 2 and 1 threads, 3 alternations, 10 steps each
    python benchmarks/demo_step_threads.py --threads 2 1 --busy 1 --repeat 5

The step is what ``tubelet demo`` trains (its narrowed UniFormer, batch 16 of 8x32x32 clips, cross-entropy, fused
AdamW), without data loading, in a process with the ``tubelet`` command's settings (:mod:`tubelet.runtime`). With
``--busy N`` that many ``while True: pass`` processes compete for the CPUs during the whole measurement. Each cell
prints ms per step (mean of ``--steps`` steps after two warm-up steps) and the load average before it.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

from _busy import busy_processes  # benchmarks/_busy.py (this folder is on sys.path when run as a script)

CHILD = r"""
import sys, time, torch
from tubelet.engine.demo import DEMO_CONFIG
from tubelet.models import create_model
from tubelet.runtime import apply_cli_defaults

apply_cli_defaults()
torch.set_num_threads(int(sys.argv[1]))
torch.manual_seed(0)
model = create_model("uniformer_small", num_classes=10, **DEMO_CONFIG["model"]["options"])
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
x, y = torch.randn(16, 3, 8, 32, 32), torch.randint(0, 10, (16,))
def step():
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
step(); step()
t = time.perf_counter()
for _ in range(int(sys.argv[2])):
    step()
print((time.perf_counter() - t) / int(sys.argv[2]) * 1e3)
"""

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    p.add_argument("--busy", type=int, default=0, help="competing busy processes during the measurement")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()
    with busy_processes(args.busy):
        print(f"{args.busy} busy processes; ms per training step of the demo model (mean of {args.steps})")
        print("| alternation | " + " | ".join(f"{n} thread(s)" for n in args.threads) + " |")
        print("|---|" + "---|" * len(args.threads), flush=True)
        for r in range(args.repeat):
            cells = []
            for n in args.threads:
                load = os.getloadavg()[0]
                out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(args.steps)], capture_output=True,
                                     text=True, check=True).stdout
                cells.append(f"{float(out.split()[-1]):.0f} (load {load:.1f})")
            print(f"| {r + 1} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
