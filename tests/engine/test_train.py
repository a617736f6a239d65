"""The training loop end to end on tiny models: files, exact resume, atomic checkpoints, EMA/AMP/accumulation,
and DDP with two CPU processes."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import tubelet
from tubelet.config import save_config
from tubelet.engine.checkpoint import load_checkpoint, save_checkpoint
from tubelet.engine.train import train

from .conftest import TINY_SWIN, tiny_config


def _records(run, kind="train"):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
            if json.loads(line)["kind"] == kind]


def test_a_run_writes_everything_and_its_weights_predict(synthetic_root, tmp_path):
    cfg = tiny_config(synthetic_root)
    run = tmp_path / "run"
    run.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    for name in ("last.pt", "best.safetensors"):  # what a run killed mid-save leaves behind
        (run / f".{name}.tmp{int(dead.stdout)}").write_bytes(b"half a file")
    result = train(cfg, run)
    for name in ("config.yaml", "metrics.jsonl", "last.pt", "best.safetensors", "curves.png"):
        assert (run / name).is_file(), name
    assert not [p.name for p in run.iterdir() if ".tmp" in p.name]
    train_records, evals = _records(run), _records(run, "eval")
    assert [r["step"] for r in train_records] == list(range(1, 9))  # 16 clips / batch 4 = 4 steps x 2 epochs
    assert all(r["loss"] > 0 and r["lr"] > 0 for r in train_records)
    assert [e["epoch"] for e in evals] == [1, 2] and all(e["num_samples"] == 10 for e in evals)
    assert result["best_top1"] == max(e["top1"] for e in evals)
    # the resolved config reloads to the same thing
    assert tubelet.config.load_config(run / "config.yaml") == cfg
    # best.safetensors carries the training data config: predict feeds it 4 frames of 32x32, segment-sampled
    model = tubelet.create_model(checkpoint_path=run / "best.safetensors")
    pcfg = model.pretrained_cfg
    assert pcfg.input_size == (3, 4, 32, 32) and pcfg.sampler == "segment" and pcfg.num_classes == 10
    assert pcfg.labels() == list(tubelet.data.SYNTHETIC_CLASSES)
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["step"] == 8 and ckpt["epoch"] == 2 and ckpt["model_name"] == "uniformer_small"


@pytest.mark.parametrize("extra", [
    {},
    {"train": {"ema_decay": 0.9, "mixup": 0.8, "cutmix": 1.0, "label_smoothing": 0.1},
     "optim": {"accum_steps": 2, "clip_grad": 1.0}, "data": {"num_samples": 2, "batch_size": 2}},
], ids=["plain", "ema-mixup-accum-clip-repeated"])
def test_resume_is_identical_to_an_uninterrupted_run(synthetic_root, tmp_path, extra):
    """N steps in one go == N/2 steps, stop (as a preempted job), --resume, N/2 more: same losses, same weights."""
    sections = {"optim": {"epochs": 3, **extra.get("optim", {})}, "train": {"log_every": 1, **extra.get("train", {})},
                "data": extra.get("data", {}), "model": {"options": {"depth": [1, 1, 1, 1],
                                                                     "embed_dim": [16, 32, 64, 128], "head_dim": 16,
                                                                     "drop_path_rate": 0.1}}}
    full = tiny_config(synthetic_root, **sections)
    train(full, tmp_path / "full")
    steps = load_checkpoint(tmp_path / "full" / "last.pt")["step"]
    stop = steps // 2 + 1  # mid-epoch
    half = tiny_config(synthetic_root, **{**sections, "train": {**sections["train"], "stop_at_step": stop}})
    first = train(half, tmp_path / "split")
    assert first["stopped"] and first["step"] == stop
    train(full, tmp_path / "split", resume=True)
    a, b = _records(tmp_path / "full"), _records(tmp_path / "split")
    assert [r["step"] for r in a] == [r["step"] for r in b]
    assert [r["loss"] for r in a] == [r["loss"] for r in b]
    assert [r["lr"] for r in a] == [r["lr"] for r in b]
    sa, sb = (load_checkpoint(tmp_path / d / "last.pt") for d in ("full", "split"))
    assert all(torch.equal(sa["model"][k], sb["model"][k]) for k in sa["model"])
    if sa["ema"] is not None:
        assert all(torch.equal(sa["ema"][k], sb["ema"][k]) for k in sa["ema"])
    assert [e["top1"] for e in _records(tmp_path / "full", "eval")] == \
           [e["top1"] for e in _records(tmp_path / "split", "eval")]


def test_resume_needs_a_checkpoint_and_the_same_model(synthetic_root, tmp_path):
    cfg = tiny_config(synthetic_root, train={"stop_at_step": 1})
    with pytest.raises(tubelet.ConfigError, match="last.pt"):
        train(cfg, tmp_path / "none", resume=True)
    train(cfg, tmp_path / "run")
    other = tiny_config(synthetic_root, model=TINY_SWIN)
    with pytest.raises(ValueError, match="uniformer_small run"):
        train(other, tmp_path / "run", resume=True)


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {"w": torch.ones(3)}, "step": 1}, path)

    def dies_half_way(obj, f, *a, **k):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt  # the process is killed while writing

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"model": {"w": torch.zeros(3)}, "step": 2}, path)
    monkeypatch.undo()
    state = load_checkpoint(path)  # the previous checkpoint, intact
    assert state["step"] == 1 and torch.equal(state["model"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="last.pt: not a readable training checkpoint"):
        load_checkpoint(path)


def test_killing_a_run_mid_save_keeps_the_last_checkpoint(synthetic_root, tmp_path):
    """SIGKILL a real training process at a random moment while it replaces last.pt after every step: the file
    left behind always loads."""
    cfg = tiny_config(synthetic_root, train={"save_every_steps": 1}, optim={"epochs": 50})
    save_config(cfg, tmp_path / "cfg.yaml")
    run = tmp_path / "run"
    code = ("import sys; from tubelet.cli import main; "
            f"sys.exit(main(['train', {str(tmp_path / 'cfg.yaml')!r}, '--out', {str(run)!r}]))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import time
    deadline = time.time() + 300
    while not (run / "last.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert (run / "last.pt").exists(), "the training process wrote no checkpoint"
    first = (run / "last.pt").stat().st_mtime_ns
    while (run / "last.pt").stat().st_mtime_ns == first and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)  # wait until checkpoints are being replaced, then kill at a random moment
    time.sleep(float(np.random.default_rng().uniform(0, 0.5)))
    proc.kill()
    proc.wait()
    state = load_checkpoint(run / "last.pt")
    assert state["step"] >= 1 and set(state["model"]) == set(tubelet.create_model(
        "uniformer_small", num_classes=10, **cfg.model.options).state_dict())


def test_amp_bf16_and_layer_decay_train(synthetic_root, tmp_path):
    cfg = tiny_config(synthetic_root, train={"amp": "bf16"}, optim={"epochs": 1, "layer_decay": 0.7,
                                                                  "backbone_lr_ratio": 0.5})
    result = train(cfg, tmp_path / "run")
    assert result["step"] == 4
    assert all(r["loss"] == r["loss"] for r in _records(tmp_path / "run"))  # finite (not NaN)


def test_fp16_scaler_state_is_saved(synthetic_root, tmp_path):
    cfg = tiny_config(synthetic_root, train={"amp": "fp16"}, optim={"epochs": 1})
    train(cfg, tmp_path / "run")
    scaler = load_checkpoint(tmp_path / "run" / "last.pt")["scaler"]
    assert scaler and scaler["scale"] > 0


def _torchrun(cfg_path, out, nproc):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           "-m", "tubelet", "train", str(cfg_path), "--out", str(out), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_ddp_two_processes_match_one_process_with_the_same_total_batch(synthetic_root, tmp_path):
    """gloo DDP on CPU: 2 x batch 2 == 1 x batch 4 (a LayerNorm model, so per-rank statistics do not differ)."""
    common = {"model": TINY_SWIN, "optim": {"epochs": 2}, "train": {"log_every": 1}}
    one = tiny_config(synthetic_root, **common, data={"batch_size": 4})
    two = tiny_config(synthetic_root, **common, data={"batch_size": 2})
    save_config(two, tmp_path / "two.yaml")
    _torchrun(tmp_path / "two.yaml", tmp_path / "ddp", 2)
    train(one, tmp_path / "single")
    a, b = _records(tmp_path / "single"), _records(tmp_path / "ddp")
    assert len(a) == len(b) == 8
    for ra, rb in zip(a, b):
        assert ra["step"] == rb["step"] and ra["lr"] == pytest.approx(rb["lr"])
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-4, abs=1e-5)
    ea, eb = _records(tmp_path / "single", "eval"), _records(tmp_path / "ddp", "eval")
    assert [e["num_samples"] for e in eb] == [10, 10]  # every val video once, across both ranks
    assert [e["top1"] for e in ea] == [e["top1"] for e in eb]
    wa = load_checkpoint(tmp_path / "single" / "last.pt")["model"]
    wb = load_checkpoint(tmp_path / "ddp" / "last.pt")["model"]
    assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)


def test_fsdp_two_processes_stop_resume_match_one_process(synthetic_root, tmp_path):
    """FSDP2 (fully_shard, gloo on CPU): the same numbers as one process, also across a stop + --resume (the sharded
    optimiser state is gathered into last.pt and scattered back)."""
    common = {"model": TINY_SWIN, "optim": {"epochs": 2}, "train": {"log_every": 1}}
    one = tiny_config(synthetic_root, **common, data={"batch_size": 4})
    stop = tiny_config(synthetic_root, model=TINY_SWIN, optim={"epochs": 2}, data={"batch_size": 2},
                       train={"log_every": 1, "distributed": "fsdp", "stop_at_step": 3})
    save_config(stop, tmp_path / "stop.yaml")
    _torchrun(tmp_path / "stop.yaml", tmp_path / "fsdp", 2)
    resume = tiny_config(synthetic_root, model=TINY_SWIN, optim={"epochs": 2}, data={"batch_size": 2},
                         train={"log_every": 1, "distributed": "fsdp"})
    save_config(resume, tmp_path / "resume.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "tubelet", "train", str(tmp_path / "resume.yaml"), "--out", str(tmp_path / "fsdp"),
                           "--resume"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    train(one, tmp_path / "single")
    a, b = _records(tmp_path / "single"), _records(tmp_path / "fsdp")
    assert [r["step"] for r in a] == [r["step"] for r in b] == list(range(1, 9))
    for ra, rb in zip(a, b):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-4, abs=1e-5)
    wa = load_checkpoint(tmp_path / "single" / "last.pt")["model"]
    wb = load_checkpoint(tmp_path / "fsdp" / "last.pt")["model"]
    assert set(wa) == set(wb) and all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)
    model = tubelet.create_model(checkpoint_path=tmp_path / "fsdp" / "best.safetensors")  # a full, loadable export
    assert model.num_classes == 10
