"""Throughput of a model: inference or a training step, fp32 / bf16 / fp16, eager or compiled, CPU or CUDA.

Protocol: ``warmup`` untimed calls (compilation happens there), then ``runs`` timed calls; the median is reported
(CUDA is synchronised around every call). Work is counted as 2 x the multiply-accumulates of ``tubelet flops``
(x3 for a training step: forward + backward), so "achieved TFLOP/s" compares with hardware peaks, and

* on CPU, ``peak_fraction`` = achieved / the measured matmul peak of the same dtype on this machine, same threads
  (:func:`matmul_peak`: the best of a few square matmuls);
* on a known GPU, ``mfu`` = achieved / the GPU's dense bf16 tensor-core peak (``GPU_BF16_PEAK``).

``peak_memory_mb`` is ``torch.cuda.max_memory_allocated`` on CUDA and the process's peak resident set on CPU (which
includes the interpreter and torch itself, ~0.4 GB). ``keep_freed_memory`` says whether the process keeps freed
memory (:mod:`tubelet.runtime`, on by default in the ``tubelet`` command; large effect on CPU times).
"""
from __future__ import annotations

import statistics
import time
from contextlib import nullcontext

import torch

from tubelet import runtime
from tubelet.errors import UsageError

__all__ = ["GPU_BF16_PEAK", "benchmark", "matmul_peak"]

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

#: dense (no sparsity) bf16 tensor-core peaks, TFLOP/s, from the vendors' data sheets
GPU_BF16_PEAK = {"H200": 989.0, "H100 SXM": 989.0, "H100 80GB HBM3": 989.0, "H100 PCIe": 756.0, "H100 NVL": 835.0,
                 "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0, "RTX 4090": 165.0}


def _gpu_peak(name: str) -> float | None:
    for key, peak in GPU_BF16_PEAK.items():
        if key in name:
            return peak
    return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_rss_mb() -> float | None:
    """Peak resident set of this process (Linux / macOS units differ: KiB / bytes); None where unavailable."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    import sys
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def matmul_peak(dtype: str = "fp32", device: str = "cpu", n: int = 2048, repeats: int = 5) -> float:
    """Best observed GFLOP/s of an ``n x n @ n x n`` matmul (2 n^3 FLOPs) at ``dtype`` on ``device``."""
    dev = torch.device(device)
    a = torch.randn(n, n, device=dev, dtype=DTYPES[dtype])
    b = torch.randn(n, n, device=dev, dtype=DTYPES[dtype])
    best = float("inf")
    for _ in range(repeats + 1):
        _sync(dev)
        t = time.perf_counter()
        a @ b
        _sync(dev)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def benchmark(name: str, *, batch: int = 1, frames: int | None = None, size: int | None = None, dtype: str = "fp32",
              device: str = "cpu", compile: bool = False, train: bool = False, warmup: int = 2, runs: int = 5,
              peak: bool = True, model_kwargs: dict | None = None) -> dict:
    """Time ``name`` (random weights) on a random batch; see the module docstring for the protocol and fields."""
    from tubelet.flops import model_cost, resolve_input
    from tubelet.models import create_model

    if dtype not in DTYPES:
        raise UsageError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise UsageError(f"--device {device!r}: not a torch device ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available to this torch")
    if batch < 1 or runs < 1 or warmup < 0:
        raise UsageError("batch and runs must be >= 1, warmup >= 0")
    model = create_model(name, **(model_kwargs or {})).to(dev)
    shape = resolve_input(model.pretrained_cfg, frames, size)
    macs = model_cost(name, shape, **(model_kwargs or {})).gflops * 1e9  # on the meta device, batch 1
    x = torch.randn(batch, *shape, device=dev)
    low = dtype != "fp32"
    amp = torch.autocast(dev.type, dtype=DTYPES[dtype]) if low else nullcontext()
    scaler = torch.amp.GradScaler(dev.type, enabled=dtype == "fp16" and dev.type == "cuda")
    model.train(train)
    fn = torch.compile(model) if compile else model
    if train:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=dev.type in ("cuda", "cpu"))
        target = torch.zeros(batch, dtype=torch.long, device=dev)

        def step():
            with amp:
                loss = torch.nn.functional.cross_entropy(fn(x).float(), target)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
    else:
        def step():
            with torch.inference_mode(), amp:
                fn(x)

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    _sync(dev)
    warmup_s = time.perf_counter() - t0
    times = []
    for _ in range(runs):
        _sync(dev)
        t = time.perf_counter()
        step()
        _sync(dev)
        times.append(time.perf_counter() - t)
    median = statistics.median(times)
    flops = 2 * macs * batch * (3 if train else 1)
    result = {
        "model": name, "input_shape": [batch, *shape], "dtype": dtype, "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(), "mode": "train" if train else "inference", "compiled": compile,
        "runs": runs, "median_s": median, "min_s": min(times), "warmup_s": warmup_s, "clips_per_s": batch / median,
        "gflops_per_clip": 2 * macs / 1e9, "achieved_tflops": flops / median / 1e12,
        "peak_memory_mb": (torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else _peak_rss_mb()),
        "keep_freed_memory": runtime.is_applied(),
    }
    if dev.type == "cuda":
        gpu_peak = _gpu_peak(result["device_name"])
        result["mfu"] = result["achieved_tflops"] / gpu_peak if gpu_peak else None
    elif peak:
        result["peak_gflops"] = matmul_peak("bf16" if dtype == "bf16" else "fp32")
        result["peak_fraction"] = result["achieved_tflops"] * 1e3 / result["peak_gflops"]
    return result
