"""tubelet benchmark: the numbers it reports are consistent with what it ran."""
import json
import os
import platform
import subprocess
import sys

import pytest
import torch

from tubelet.benchmark import benchmark, matmul_peak
from tubelet.cli import main
from tubelet.flops import model_cost

TINY = {"depth": [1, 1, 1, 1], "embed_dim": [16, 32, 64, 128], "head_dim": 16}


@pytest.mark.parametrize("train,dtype", [(False, "fp32"), (True, "bf16")])
def test_fields_are_consistent(train, dtype):
    r = benchmark("uniformer_small", batch=2, frames=4, size=64, dtype=dtype, train=train, warmup=1, runs=3,
                  peak=False, model_kwargs=TINY)
    assert r["input_shape"] == [2, 3, 4, 64, 64] and r["mode"] == ("train" if train else "inference")
    assert r["clips_per_s"] == pytest.approx(2 / r["median_s"])
    macs = model_cost("uniformer_small", (3, 4, 64, 64), **TINY).gflops
    assert r["gflops_per_clip"] == pytest.approx(2 * macs)
    work = 2 * r["gflops_per_clip"] * (3 if train else 1) / 2  # batch 2, x3 for a training step
    assert r["achieved_tflops"] == pytest.approx(work * 2 / r["median_s"] / 1e3)
    assert r["min_s"] <= r["median_s"] and r["peak_memory_mb"] > 0 and "peak_fraction" not in r


def test_peak_fraction_and_matmul_peak():
    assert matmul_peak("fp32", n=256, repeats=2) > 0.1
    r = benchmark("uniformer_small", frames=2, size=32, warmup=0, runs=1, model_kwargs=TINY)
    assert r["peak_fraction"] == pytest.approx(r["achieved_tflops"] * 1e3 / r["peak_gflops"])


def test_bad_requests():
    with pytest.raises(ValueError, match="dtype"):
        benchmark("uniformer_small", dtype="int8")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            benchmark("uniformer_small", device="cuda")


def test_cli(capsys):
    args = ["benchmark", "uniformer_small", "--frames", "2", "--size", "32", "--runs", "1", "--warmup", "0",
            "--set", "depth=[1,1,1,1]", "--set", "embed_dim=[16,32,64,128]", "--set", "head_dim=16"]
    assert main(args + ["--json"]) == 0
    assert json.loads(capsys.readouterr().out)["input_shape"] == [1, 3, 2, 32, 32]
    assert main(args) == 0
    assert "clips/s" in capsys.readouterr().out


_FAULTS = """
import resource, sys, torch
from tubelet import runtime
if sys.argv[1] == "keep":
    assert runtime.keep_freed_memory() and runtime.is_applied()
def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(64 * 2**20 // 4)  # 64 MiB, every page written, then freed
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults()
print(min(faults() for _ in range(3)))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_keep_freed_memory_stops_page_faults_on_reuse():
    """glibc hands a freed 64 MiB block back to the OS, so writing a new one faults in all 16384 pages again; with
    runtime.keep_freed_memory() the block is reused (each case in a fresh process: the setting is process-wide)."""
    def run(mode):
        out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True)
        return int(out.stdout.split()[-1])
    assert run("default") > 10000
    assert run("keep") < 1000


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only")
@pytest.mark.parametrize("env,kept", [("1", True), ("0", False)])
def test_cli_keeps_freed_memory_unless_told_not_to(env, kept):
    cmd = [sys.executable, "-m", "tubelet", "benchmark", "uniformer_small", "--frames", "2", "--size", "32",
           "--runs", "1", "--warmup", "0", "--json"] + [a for kv in TINY.items() for a in ("--set", f"{kv[0]}={kv[1]}")]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env={**os.environ, "TUBELET_KEEP_FREED_MEMORY": env})
    assert json.loads(out.stdout)["keep_freed_memory"] is kept


_SUBNORMAL = """
import sys, torch
from tubelet.runtime import apply_cli_defaults
apply_cli_defaults()
print(float(torch.tensor([1e-39]) * 1.0))
"""


@pytest.mark.parametrize("env,flushed", [("1", True), ("0", False)])
def test_cli_flushes_subnormals_unless_told_not_to(env, flushed):
    """The command's process settings treat subnormal floats as zero (they send x86 AVX2 kernels down a slow path
    during training); TUBELET_FLUSH_DENORMAL=0 keeps IEEE behaviour. A fresh process each: the flags are
    process-wide."""
    out = subprocess.run([sys.executable, "-c", _SUBNORMAL], capture_output=True, text=True, check=True,
                         env={**os.environ, "TUBELET_FLUSH_DENORMAL": env})
    assert (float(out.stdout.split()[-1]) == 0.0) is flushed

