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

:func:`resolve_amp` is the autocast tubelet runs on a device: on a CPU without native bf16 (AVX2 only, see
:func:`cpu_has_native_bf16`) bf16 and fp16 autocast are emulated, a matmul ~50x slower than fp32, so training
(``train.amp``), the dry run and ``tubelet benchmark --dtype bf16`` run in fp32 there and say so once per process.
``TUBELET_FORCE_BF16=1`` in the environment keeps the requested autocast anyway (to measure the emulation, or on a
CPU that the check misjudges).

:func:`set_threads_for_workers` sizes the main process's intra-op thread pool next to DataLoader workers (each of
which runs one thread, :mod:`tubelet.data.loader`): with more runnable threads than cores, the OpenMP threads of one
parallel region wait for each other through the OS's time slices, and a run slows down many times over as soon as
other processes compete for the CPUs. ``tubelet demo`` applies it; ``TUBELET_NUM_THREADS`` (or ``OMP_NUM_THREADS``)
sets the number instead.
"""
from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import platform

from .errors import UsageError

__all__ = ["FORCE_BF16_ENV", "bf16_forced", "cpu_count", "cpu_has_native_bf16", "flush_denormals", "is_applied",
           "keep_freed_memory", "resolve_amp", "resolve_config_amp", "set_threads_for_workers",
           "threads_for_workers"]

#: environment variable that keeps bf16 / fp16 autocast on a CPU without native bf16 (emulated: very slow)
FORCE_BF16_ENV = "TUBELET_FORCE_BF16"

_M_TRIM_THRESHOLD = -1  # <malloc.h>
_M_MMAP_MAX = -4
_INT_MAX = 2**31 - 1

_log = logging.getLogger("tubelet")
_applied = False
_amp_warned = False  # resolve_amp's fallback warning is printed once per process


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


def bf16_forced() -> bool:
    """Whether the environment asks for bf16 / fp16 autocast even where it is emulated (``TUBELET_FORCE_BF16=1``)."""
    return os.environ.get(FORCE_BF16_ENV, "0") not in ("", "0")


def resolve_amp(amp: str, device) -> str:
    """The autocast (``none`` | ``bf16`` | ``fp16``) to run for the requested ``amp`` on ``device``.

    ``amp`` itself, except bf16 / fp16 on a CPU without native bf16: emulated there (~50x slower than fp32), so
    ``none`` (fp32) unless :func:`bf16_forced`. The fallback is announced once per process (a warning of the
    ``tubelet`` logger; printed to stderr where logging is not configured).

    Args:
        amp: the requested autocast, ``none``, ``bf16`` or ``fp16``.
        device: a ``torch.device`` or a device string.
    """
    global _amp_warned
    kind = device if isinstance(device, str) else device.type
    if amp == "none" or kind.split(":")[0] != "cpu" or bf16_forced() or cpu_has_native_bf16():
        return amp
    if not _amp_warned:
        _amp_warned = True
        import torch

        _log.warning("tubelet: warning: this CPU has no native bf16 (torch CPU capability %s): %s autocast would be "
                     "emulated, ~50x slower than fp32, so tubelet runs fp32 instead; set %s=1 to keep %s",
                     torch.backends.cpu.get_cpu_capability(), amp, FORCE_BF16_ENV, amp)
    return "none"


def resolve_config_amp(cfg, device):
    """A run config (:class:`tubelet.config.Config`) whose ``train.amp`` is :func:`resolve_amp`'s choice on
    ``device``: ``cfg`` itself when that is the recipe's, else a copy (the caller's config is not changed)."""
    amp = resolve_amp(cfg.train.amp, device)
    if amp == cfg.train.amp:
        return cfg
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, amp=amp))


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one, else all of them)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def threads_for_workers(num_workers: int, cpus: int | None = None) -> int:
    """Intra-op threads for a main process that shares ``cpus`` (default: :func:`cpu_count`) with ``num_workers``
    DataLoader workers of one thread each: one CPU per worker, the rest to the main process, at least one."""
    cpus = cpu_count() if cpus is None else cpus
    return max(1, cpus - max(0, num_workers))


def set_threads_for_workers(num_workers: int) -> int:
    """Lower this process's torch intra-op threads to :func:`threads_for_workers` (never raise them); or set
    ``TUBELET_NUM_THREADS`` threads; or leave them when ``OMP_NUM_THREADS`` is set. Returns the number in effect.

    Raises:
        UsageError: ``TUBELET_NUM_THREADS`` is not a whole number >= 1.
    """
    import torch

    explicit = os.environ.get("TUBELET_NUM_THREADS")
    if explicit:
        if not explicit.isdigit() or int(explicit) < 1:
            raise UsageError(f"TUBELET_NUM_THREADS={explicit!r}: expected a whole number >= 1")
        torch.set_num_threads(int(explicit))
    elif not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(min(torch.get_num_threads(), threads_for_workers(num_workers)))
    return torch.get_num_threads()


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
