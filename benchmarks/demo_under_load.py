"""Wall time of ``tubelet demo`` on an idle machine and next to N competing CPU-bound processes.

    python benchmarks/demo_under_load.py                      # this checkout, 0 and 1 busy processes
    python benchmarks/demo_under_load.py --busy 0 1 2 --repeat 2
    python benchmarks/demo_under_load.py --tree /tmp/before --tree .   # A/B of two checkouts (alternated)
    python benchmarks/demo_under_load.py --set optim.epochs=2          # a shorter run (no accuracy target)

Each measurement is a fresh ``python -m tubelet demo --set train.progress=false`` process (the command a new user
runs, with its process settings) with ``PYTHONPATH`` set to the checkout, started in a new run folder (so that the
current folder cannot shadow the checkout; the script checks which ``tubelet`` each tree imports). The synthetic
dataset is written once beforehand into a private cache (``TUBELET_CACHE``), so every row times the same work:
training, the per-epoch evaluations and the final evaluations (the demo's ``seconds_data`` is ~0 here). A busy
process is ``python -c "while True: pass"`` (``_busy.SPIN``), started just before the demo and stopped (by its pid)
right after.

Columns: ``wall_s`` is the whole process (start-up and exit included), ``total_s`` / ``train_s`` the demo's own
``seconds_total`` / ``seconds_train``, ``clips_per_s`` the range of the training epochs, ``threads`` the torch
threads the demo trained with. A run still going after ``--timeout`` seconds, or 30 s after it wrote its report
(``demo.json``), is killed with its workers.
The load average and the number of running processes before each run are printed: on a shared machine other work
disturbs the figures, so rerun on a quiet one before quoting them. ``--env KEY=VALUE`` adds variables to the demo's
environment (e.g. ``OMP_NUM_THREADS=2``, ``TUBELET_NUM_THREADS=2`` to compare thread settings).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _busy import busy_processes  # benchmarks/_busy.py (this folder is on sys.path when run as a script)

PREPARE = """
import copy, sys
import tubelet
print(tubelet.__file__)
from tubelet.config import load_config, parse_overrides, _deep_update
from tubelet.engine.build import ensure_synthetic
from tubelet.engine.demo import DEMO_CONFIG

cfg = load_config(None, _deep_update(copy.deepcopy(DEMO_CONFIG), parse_overrides(sys.argv[1:])))
print(ensure_synthetic(cfg))
"""


def _running() -> int:
    """Processes in the run queue now (/proc/loadavg's 4th field, minus this reader), or -1 off Linux."""
    try:
        return int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1
    except (OSError, ValueError, IndexError):
        return -1


def run_demo(tree: str, busy: int, env: dict, sets: list[str], folder: Path, timeout: float,
             exit_grace: float = 30.0) -> dict:
    """One demo run from ``tree`` with ``busy`` spinning processes; returns the row. A demo still running after
    ``timeout`` seconds, or ``exit_grace`` seconds after writing its report, is killed with its process group (its
    DataLoader workers too); the latter is reported as "hung at exit" with the time the report appeared."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    running = _running()
    out = Path(tempfile.mkdtemp(dir=folder, prefix="demo-"))
    cmd = [sys.executable, "-m", "tubelet", "demo", "--out", str(out), "--set", "train.progress=false"]
    for s in sets:
        cmd += ["--set", s]
    report = out / "demo.json"
    hung, done_at = False, None
    with busy_processes(busy), open(out / "stdout.txt", "w") as fo, open(out / "stderr.txt", "w") as fe:
        t0 = time.perf_counter()
        demo = subprocess.Popen(cmd, env=env, stdout=fo, stderr=fe, cwd=out, start_new_session=True)
        while demo.poll() is None and time.perf_counter() - t0 < timeout:
            time.sleep(0.5)
            if done_at is None and report.exists():
                done_at = time.perf_counter()
            if done_at is not None and time.perf_counter() - done_at > exit_grace:
                hung = True  # the report is written but the process does not exit
                break
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        wall = time.perf_counter() - t0
    stdout, stderr = (out / "stdout.txt").read_text(), (out / "stderr.txt").read_text()
    row = {"tree": tree, "busy": busy, "wall_s": round(wall, 1) if not hung else f"{done_at - t0:.1f} (hung at exit)",
           "load_before": round(load, 2), "running_before": running, "rc": demo.returncode}
    if report.exists():
        r = json.loads(report.read_text())
        row.update(total_s=r["seconds_total"], train_s=r["seconds_train"], top1=r["val_top1"],
                   shuffled_top1=r["shuffled_top1"], passed=r["passed"], threads=r.get("threads", "torch default"))
    else:
        row["error"] = stderr.strip().splitlines()[-1:] or ["no demo.json"]
    clips = [line for line in stdout.splitlines() if line.startswith("epoch ")]
    if clips:  # "epoch E/N: train loss L, X clips/s, ..."
        rates = [float(line.split(", ")[1].split()[0]) for line in clips]
        row["clips_per_s"] = f"{min(rates):.0f}-{max(rates):.0f}"
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tree", action="append", help="tubelet source tree(s) to time (default: this checkout)")
    p.add_argument("--busy", type=int, nargs="+", default=[0, 1], help="competing busy processes per run")
    p.add_argument("--repeat", type=int, default=1, help="alternations of every (tree, busy) cell")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment of the demo")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="demo --set overrides")
    p.add_argument("--timeout", type=float, default=3600, help="seconds after which a demo run is killed")
    args = p.parse_args()
    trees = [os.path.abspath(t) for t in (args.tree or [str(Path(__file__).resolve().parent.parent)])]
    folder = Path(tempfile.mkdtemp(prefix="demo_under_load-"))
    base = {**os.environ, "TUBELET_CACHE": str(folder / "cache"), **dict(kv.split("=", 1) for kv in args.env)}
    import torch  # only for the machine line

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
          f"({len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'} usable), torch "
          f"{torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}; "
          f"date {time.strftime('%Y-%m-%d %H:%M')}; extra env {args.env or '-'}; --set {args.set or '-'}")
    for tree in trees:  # the dataset, once per checkout (same files: same generator and seed)
        env = {**base, "PYTHONPATH": tree}
        used = subprocess.run([sys.executable, "-c", PREPARE, *args.set], env=env, check=True, capture_output=True,
                              text=True, cwd=folder).stdout.split()[0]
        if not used.startswith(tree + os.sep):
            raise SystemExit(f"{tree}: python imports tubelet from {used} instead (an installed copy?)")
    head = ("tree", "busy", "wall_s", "total_s", "train_s", "clips_per_s", "top1", "shuffled_top1", "passed",
            "threads", "load_before", "running_before")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head), flush=True)
    for _ in range(args.repeat):
        for busy in args.busy:
            for tree in trees:
                row = run_demo(tree, busy, {**base, "PYTHONPATH": tree}, args.set, folder, args.timeout)
                print("| " + " | ".join(str(row.get(k, row.get("error", ""))) for k in head) + " |", flush=True)


if __name__ == "__main__":
    main()
