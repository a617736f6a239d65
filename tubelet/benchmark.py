"""Throughput of a model: inference or a training step, fp32 / bf16 / fp16, eager or compiled, CPU or CUDA.

Protocol: ``warmup`` untimed calls (compilation happens there), then ``runs`` timed calls; the median is reported
(CUDA is synchronised around every call). Work is counted as 2 x the multiply-accumulates of ``tubelet flops``
(x3 for a training step: forward + backward), so "achieved TFLOP/s" compares with hardware peaks, and

* on CPU, ``peak_fraction`` = achieved / the measured matmul peak of the same dtype on this machine, same threads
  (:func:`matmul_peak`: the best of a few square matmuls; ``peak_dtype`` says which). A CPU without native bf16
  emulates bf16 through fp32 arithmetic, so there the bf16 ceiling is the fp32 peak (a bf16 matmul measured there
  runs a slow fallback kernel, not at any hardware peak);
* on a known GPU, ``mfu`` = achieved / the GPU's dense bf16 tensor-core peak (``GPU_BF16_PEAK``).

``peak_memory_mb`` is ``torch.cuda.max_memory_allocated`` on CUDA and the process's peak resident set on CPU (which
includes the interpreter and torch itself, ~0.4 GB). ``keep_freed_memory`` says whether the process keeps freed
memory (:mod:`tubelet.runtime`, on by default in the ``tubelet`` command; large effect on CPU times).

bf16 / fp16 on a CPU without native bf16 (AVX2 only) would be emulated, ~50x slower than fp32: the benchmark runs
fp32 instead and says so (``dtype`` fp32, ``requested_dtype``, ``dtype_fallback``), unless ``TUBELET_FORCE_BF16=1``
(:func:`tubelet.runtime.resolve_amp`).
"""
from __future__ import annotations

import statistics
import time
from contextlib import nullcontext

import torch

from tubelet import runtime
from tubelet.errors import UsageError

__all__ = ["GPU_BF16_PEAK", "benchmark", "format_result", "matmul_peak"]

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


def _best_matmul_s(n: int, dtype: torch.dtype, dev: torch.device, calls: int) -> float:
    a = torch.randn(n, n, device=dev, dtype=dtype)
    b = torch.randn(n, n, device=dev, dtype=dtype)
    best = float("inf")
    for _ in range(calls):
        _sync(dev)
        t = time.perf_counter()
        a @ b
        _sync(dev)
        best = min(best, time.perf_counter() - t)
    return best


def matmul_peak(dtype: str = "fp32", device: str = "cpu", n: int = 2048, repeats: int = 5,
                budget_s: float = 5.0) -> float:
    """Best observed GFLOP/s of an ``n x n @ n x n`` matmul (2 n^3 FLOPs) at ``dtype`` on ``device``.

    The first of the ``repeats + 1`` products is a warm-up. A slow kernel (e.g. bf16 emulated on a CPU without native
    bf16, ~2 GFLOP/s) would take minutes at n = 2048: ``n`` is halved (down to 256) until the products fit in about
    ``budget_s`` seconds, judged from a 256^3 probe."""
    dev = torch.device(device)
    dt = DTYPES[dtype]
    probe = min(n, 256)
    rate = 2 * probe ** 3 / _best_matmul_s(probe, dt, dev, 2)  # FLOP/s
    while n > 256 and (repeats + 1) * 2 * n ** 3 / rate > budget_s:
        n //= 2
    return 2 * n ** 3 / _best_matmul_s(n, dt, dev, repeats + 1) / 1e9


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
    requested, fallback = dtype, None
    if dtype != "fp32" and runtime.resolve_amp(dtype, dev) == "none":  # emulated on this CPU: warned once
        dtype = "fp32"
        fallback = (f"this CPU has no native bf16, so {requested} would be emulated (~50x slower than fp32): ran "
                    f"fp32 instead ({runtime.FORCE_BF16_ENV}=1 measures {requested} anyway)")
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
        "model": name, "input_shape": [batch, *shape], "dtype": dtype, "requested_dtype": requested,
        "dtype_fallback": fallback, "device": str(dev),
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
        # emulated bf16 (forced) computes in fp32: the fp32 peak is its ceiling; fp16 is compared with fp32 too
        result["peak_dtype"] = "bf16" if dtype == "bf16" and runtime.cpu_has_native_bf16() else "fp32"
        result["peak_gflops"] = matmul_peak(result["peak_dtype"])
        result["peak_fraction"] = result["achieved_tflops"] * 1e3 / result["peak_gflops"]
    return result


def _gflops(value: float) -> str:
    """A GFLOP/s figure with enough digits: 88, 8.3, 0.41, 0.0052 (never a bare 0 for a measured rate)."""
    if value >= 10:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.1f}"
    return f"{value:.2g}"


def _percent(fraction: float) -> str:
    """A fraction as a percentage with enough digits: 76%, 0.31% (a tiny model is far from any peak)."""
    return f"{fraction:.0%}" if fraction >= 0.01 else f"{fraction * 100:.2g}%"


def format_result(r: dict) -> str:
    """One line of text for a :func:`benchmark` result (``tubelet benchmark`` prints it), plus a note line when the
    requested dtype fell back to fp32."""
    if r.get("mfu") is not None:
        extra = f", MFU {r['mfu']:.1%}"
    elif "peak_fraction" in r:
        extra = (f", {_percent(r['peak_fraction'])} of the measured {_gflops(r['peak_gflops'])} GFLOP/s "
                 f"{r.get('peak_dtype', r['dtype'])} matmul peak")
    else:
        extra = ""
    line = (f"{r['model']} {r['mode']} {tuple(r['input_shape'])} {r['dtype']} on {r['device_name']} "
            f"({r['threads']} threads{', compiled' if r['compiled'] else ''}"
            f"{', freed memory kept' if r['keep_freed_memory'] else ''}): {r['clips_per_s']:.2f} clips/s, "
            f"latency {r['median_s'] * 1e3:.1f} ms (median of {r['runs']}), "
            f"{_gflops(r['achieved_tflops'] * 1e3)} GFLOP/s{extra}"
            + (f", peak memory {r['peak_memory_mb']:.0f} MB" if r["peak_memory_mb"] is not None else ""))
    if r.get("dtype_fallback"):
        line += f"\nnote: {r['dtype_fallback']}"
    return line
