"""Process-level settings that make CPU inference and training faster; applied by the ``tubelet`` command line.

glibc's ``malloc`` serves every block above a threshold (128 KiB, adapting up to 32 MiB) with a fresh ``mmap`` and
gives it back to the OS on ``free``. PyTorch has no caching allocator on CPU, so every large activation of every
forward is new memory, and the first write to each 4 KiB page of it is a page fault: for a large video model that
is hundreds of thousands of faults per forward, a sizeable share of its CPU time. Keeping freed memory removes them,
as PyTorch's CUDA caching allocator does on GPUs; its cost is that the process's resident memory stays at its peak
instead of shrinking after a large forward.

:func:`keep_freed_memory` turns this on for glibc (Linux). The ``tubelet`` command runs it before any model work
unless the environment sets ``TUBELET_KEEP_FREED_MEMORY=0``; a program that imports tubelet decides for itself
(call it once, early). With another allocator (jemalloc / tcmalloc preloaded, macOS, Windows) it does nothing.

:func:`flush_denormals` makes the CPU treat subnormal floats (below 1.2e-38 in float32) as zero. Training produces
them (squared tiny gradients in the optimiser state, saturated softmax tails), and the AVX2 kernels of x86 CPUs take
a slow path for each one: on AVX2-only machines the demo's training slowed down ~10x once they appeared. The
``tubelet`` command turns this on unless ``TUBELET_FLUSH_DENORMAL=0``; no result of tubelet depends on values that
small.
"""
from __future__ import annotations

import ctypes
import os
import platform

__all__ = ["cpu_has_native_bf16", "flush_denormals", "is_applied", "keep_freed_memory"]

_M_TRIM_THRESHOLD = -1  # <malloc.h>
_M_MMAP_MAX = -4
_INT_MAX = 2**31 - 1

_applied = False


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to serve large blocks from the heap and never trim it (``M_MMAP_MAX=0``,
    ``M_TRIM_THRESHOLD=INT_MAX``), so freed activations are reused instead of being unmapped and faulted in again.

    Affects allocations made after the call, for the whole process. Returns True when applied (glibc only).
    """
    global _applied
    if _applied:
        return True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    ok = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, _INT_MAX) == 1
    _applied = ok
    return ok


def is_applied() -> bool:
    """Whether :func:`keep_freed_memory` is in effect in this process."""
    return _applied


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (oneDNN's bf16 kernels: AVX-512 BF16 / AMX, or AVX-512 as oneDNN
    counts it). Without it, CPU autocast to bf16 (and fp16) falls back to emulation: a matmul ~50x slower than fp32
    on AVX2-only machines. False where the check itself is missing (a PyTorch without oneDNN)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def flush_denormals() -> bool:
    """Treat subnormal floats as zero in this process (``torch.set_flush_denormal``: the FTZ/DAZ flags on x86).

    Returns:
        whether the CPU supports it.
    """
    import torch

    return bool(torch.set_flush_denormal(True))


def apply_cli_defaults() -> None:
    """What the ``tubelet`` command sets for itself (see the module docstring for the opt-outs)."""
    if os.environ.get("TUBELET_KEEP_FREED_MEMORY", "1") != "0":
        keep_freed_memory()
    if os.environ.get("TUBELET_FLUSH_DENORMAL", "1") != "0":
        flush_denormals()
