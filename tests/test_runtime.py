"""Process-level choices of :mod:`tubelet.runtime`: bf16 on CPUs without native bf16 (emulated: fp32 instead, warned
once, unless forced), the benchmark's peaks, and the thread count next to DataLoader workers.

A CPU without native bf16 (AVX2 only) is emulated by monkeypatching the detection: nothing here runs bf16 where it
would be slow (forced bf16 only on tiny inputs)."""
import contextlib
import json
import logging

import pytest
import torch

from tubelet import benchmark as bench
from tubelet import runtime
from tubelet.cli import main
from tubelet.engine.dry_run import step_amp
from tubelet.errors import UsageError

TINY = {"depth": [1, 1, 1, 1], "embed_dim": [16, 32, 64, 128], "head_dim": 16}
CPU = torch.device("cpu")
FORCE = "TUBELET_FORCE_BF16"  # the documented switch that keeps emulated bf16


@pytest.fixture
def avx2(monkeypatch):
    """This process's CPU reports no native bf16; the once-per-process warning is re-armed; no force."""
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr(runtime, "_amp_warned", False, raising=False)
    monkeypatch.delenv(FORCE, raising=False)


@pytest.fixture
def threads():
    """Restore torch's thread count after the test (it is process-wide)."""
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def _warnings(caplog):
    return [r for r in caplog.records if r.name == "tubelet" and "native bf16" in r.getMessage()]


# -- bf16 / fp16 autocast where it would be emulated -----------------------------------------------------------------

def test_resolve_amp_falls_back_to_fp32_and_warns_once(avx2, caplog):
    with caplog.at_level(logging.WARNING, logger="tubelet"):
        assert runtime.resolve_amp("bf16", CPU) == "none"
        assert runtime.resolve_amp("fp16", "cpu") == "none"
        assert runtime.resolve_amp("bf16", torch.device("cuda", 0)) == "bf16"  # GPUs: untouched
        assert runtime.resolve_amp("none", CPU) == "none"
    warned = _warnings(caplog)
    assert len(warned) == 1 and FORCE in warned[0].getMessage()


def test_resolve_amp_keeps_bf16_when_native_or_forced(monkeypatch, avx2, caplog):
    monkeypatch.setenv(FORCE, "1")
    with caplog.at_level(logging.WARNING, logger="tubelet"):
        assert runtime.resolve_amp("bf16", CPU) == "bf16"
    monkeypatch.setenv(FORCE, "0")
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    with caplog.at_level(logging.WARNING, logger="tubelet"):
        assert runtime.resolve_amp("bf16", CPU) == "bf16"
    assert not _warnings(caplog)


def test_dry_run_step_amp(monkeypatch, avx2):
    amp, why = step_amp(CPU, "fp16")
    assert amp == "none" and "no native bf16" in why and FORCE in why
    monkeypatch.setenv(FORCE, "1")  # forced: bf16 (emulated), and the note says so
    amp, why = step_amp(CPU, "fp16")
    assert amp == "bf16" and "emulated on this CPU" in why
    assert step_amp(CPU, "bf16")[0] == "bf16"


def test_training_loop_runs_fp32_where_bf16_is_emulated(avx2, monkeypatch, tmp_path):
    """train.amp=bf16 on a CPU without native bf16: the training steps and the evaluations autocast in fp32 (the
    recorded amp is "none"); config.yaml and last.pt keep the recipe's bf16 (a --resume compares them with it)."""
    from tests.engine.conftest import tiny_config
    from tubelet.engine import evaluate as evaluate_module
    from tubelet.engine import train as train_module
    from tubelet.engine.checkpoint import load_checkpoint

    seen = []

    def recording_autocast(device, amp):
        seen.append(amp)
        return contextlib.nullcontext()

    # the training task's forward (tubelet.engine.objective) and the evaluation both take autocast from here
    monkeypatch.setattr(evaluate_module, "autocast", recording_autocast)
    monkeypatch.setattr(train_module, "_plot", lambda log, out: None)  # curves.png: matplotlib, seconds
    cfg = tiny_config(tmp_path / "syn", optim={"epochs": 1}, train={"amp": "bf16", "steps_per_epoch": 1},
                      data={"synthetic": {"num_train": 4, "num_val": 2}})
    train_module.train(cfg, tmp_path / "run")
    assert seen and set(seen) == {"none"}
    assert "amp: bf16" in (tmp_path / "run" / "config.yaml").read_text()
    assert load_checkpoint(tmp_path / "run" / "last.pt")["config"]["train"]["amp"] == "bf16"


# -- tubelet benchmark ------------------------------------------------------------------------------------------------

def test_benchmark_bf16_falls_back_to_fp32_with_a_note(avx2):
    r = bench.benchmark("uniformer_small", frames=2, size=32, dtype="bf16", warmup=0, runs=1, peak=False,
                        model_kwargs=TINY)
    assert r["dtype"] == "fp32" and r["requested_dtype"] == "bf16" and "no native bf16" in r["dtype_fallback"]
    assert "\nnote: " in bench.format_result(r)


def test_forced_emulated_bf16_is_compared_with_the_fp32_peak(avx2, monkeypatch):
    """Emulated bf16 computes in fp32: its ceiling is the fp32 matmul peak (a bf16 matmul there runs a slow fallback
    kernel, which once gave "1912 % of the measured 0 GFLOP/s peak")."""
    monkeypatch.setenv(FORCE, "1")
    peaks = []
    monkeypatch.setattr(bench, "matmul_peak", lambda dtype="fp32", **kw: peaks.append(dtype) or 50.0)
    r = bench.benchmark("uniformer_small", frames=2, size=32, dtype="bf16", warmup=0, runs=1, model_kwargs=TINY)
    assert r["dtype"] == "bf16" and r["dtype_fallback"] is None
    assert peaks == ["fp32"] and r["peak_dtype"] == "fp32" and r["peak_gflops"] == 50.0


def test_matmul_peak_shrinks_a_slow_product_to_its_time_budget(monkeypatch):
    """A 1 GFLOP/s kernel: six 2048^3 products would take 103 s; the measured sizes stay within the default
    5 s budget."""
    sizes = []

    def slow(n, dtype, dev, calls):
        sizes.append(n)
        return 2 * n ** 3 / 1e9

    monkeypatch.setattr(bench, "_best_matmul_s", slow, raising=False)
    assert bench.matmul_peak("bf16", n=2048, repeats=5) == pytest.approx(1.0)
    assert sizes == [256, 512] and 6 * 2 * 512 ** 3 / 1e9 <= 5.0
    sizes.clear()
    monkeypatch.setattr(bench, "_best_matmul_s", lambda n, dtype, dev, calls: sizes.append(n) or 2 * n ** 3 / 1e11)
    bench.matmul_peak("fp32", n=2048)  # 100 GFLOP/s: the full size
    assert sizes == [256, 2048]


def test_printed_peaks_and_fractions_have_enough_digits(monkeypatch, capsys):
    """A sub-1 GFLOP/s peak printed as "0 GFLOP/s" (format .0f), next to an absurd fraction."""
    result = {"model": "uniformer_small", "mode": "inference", "input_shape": [1, 3, 2, 32, 32], "dtype": "fp32",
              "requested_dtype": "bf16", "dtype_fallback": "ran fp32 instead", "device": "cpu", "device_name": "cpu",
              "threads": 2, "compiled": False, "runs": 1, "median_s": 0.2, "min_s": 0.2, "warmup_s": 0.0,
              "clips_per_s": 5.0, "gflops_per_clip": 0.001, "achieved_tflops": 0.004e-3, "peak_memory_mb": 300.0,
              "keep_freed_memory": True, "peak_dtype": "fp32", "peak_gflops": 0.4, "peak_fraction": 0.01}
    monkeypatch.setattr(bench, "benchmark", lambda *a, **k: dict(result))
    assert main(["benchmark", "uniformer_small", "--dtype", "bf16"]) == 0
    out = capsys.readouterr().out
    assert "0.4 GFLOP/s fp32 matmul peak" in out and " 0 GFLOP/s" not in out and "0.004 GFLOP/s" in out
    assert "note: ran fp32 instead" in out
    result.update(peak_fraction=0.0004)
    assert main(["benchmark", "uniformer_small"]) == 0
    assert "0.04% of the measured" in capsys.readouterr().out
    assert main(["benchmark", "uniformer_small", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["peak_gflops"] == 0.4


# -- threads next to DataLoader workers -------------------------------------------------------------------------------

def test_threads_for_workers():
    assert runtime.threads_for_workers(1, cpus=2) == 1
    assert runtime.threads_for_workers(0, cpus=2) == 2
    assert runtime.threads_for_workers(4, cpus=2) == 1
    assert runtime.threads_for_workers(2, cpus=16) == 14


def test_set_threads_for_workers(monkeypatch, threads):
    monkeypatch.delenv("TUBELET_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runtime, "cpu_count", lambda: 4)
    torch.set_num_threads(2)
    assert runtime.set_threads_for_workers(1) == 2  # never more threads than torch had
    assert runtime.set_threads_for_workers(3) == 1 == torch.get_num_threads()
    monkeypatch.setenv("TUBELET_NUM_THREADS", "2")
    assert runtime.set_threads_for_workers(3) == 2
    monkeypatch.setenv("TUBELET_NUM_THREADS", "two")
    with pytest.raises(UsageError, match="TUBELET_NUM_THREADS"):
        runtime.set_threads_for_workers(1)
    monkeypatch.delenv("TUBELET_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user's own setting wins
    assert runtime.set_threads_for_workers(3) == 2


def test_demo_trains_with_one_thread_per_spare_cpu_and_restores_threads(monkeypatch, threads, tmp_path):
    """2 CPUs and the demo's one loader worker: the main process trains on 1 thread (2 threads + the worker on 2
    cores collapse under load: BENCHMARKS.md), and gets its threads back afterwards."""
    from tubelet.engine import demo

    class Stop(Exception):
        pass

    seen = []

    def fake_train(cfg, out, **kwargs):
        seen.append((torch.get_num_threads(), cfg.data.num_workers))
        raise Stop

    monkeypatch.delenv("TUBELET_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runtime, "cpu_count", lambda: 2, raising=False)
    monkeypatch.setattr(demo, "ensure_synthetic", lambda cfg: tmp_path)
    monkeypatch.setattr(demo, "train", fake_train)
    torch.set_num_threads(2)
    with pytest.raises(Stop):
        demo.run_demo(tmp_path / "demo")
    assert seen == [(1, 1)] and torch.get_num_threads() == 2
