"""tubelet benchmark: the numbers it reports are consistent with what it ran."""
import json

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
