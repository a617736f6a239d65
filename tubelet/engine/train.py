"""The training loop, as importable functions that read top to bottom (nanoGPT's loop, no runner, no hooks).

``train(cfg, out_dir)`` sets up (process group, model, data, optimiser, schedule, scaler, EMA, resume), then
alternates ``train_one_epoch`` and ``evaluate``, writing ``metrics.jsonl``, ``last.pt`` (everything needed to resume
exactly, plus the model's architecture, options and data contract), ``best.safetensors`` (inference weights +
preprocessing metadata) and ``curves.png`` into ``out_dir``.

A run's folder is safe: a folder that holds a run is refused unless the caller resumes it or overwrites it, nothing
in it is touched before every check of the launch has passed, ``--resume`` refuses a config that differs from the
run's, and SIGINT / SIGTERM stop at the next step boundary with a resumable ``last.pt``
(:class:`TrainingInterrupted`). The dry run (``tubelet train --dry-run``, one real step of a recipe) is in
:mod:`tubelet.engine.dry_run`.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import re
import signal
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..atomic import write_text
from ..config import Config, ConfigError, config_differences, config_to_dict, save_config
from ..data import Mixup, make_loader
from ..errors import TubeletError, UsageError
from ..models import create_model, get_pretrained_cfg, save_model
from ..models._files import TRAINING_METADATA_KEY, tubelet_metadata
from ..runtime import resolve_config_amp
from . import distributed
from .build import build_model, describe
from .checkpoint import load_checkpoint, remove_stale_temporaries, rng_state, save_checkpoint, set_rng_state
from .loggers import Loggers, open_loggers, require_loggers
from .objective import ClassificationTask, TrainingTask, training_task
from .optim import ModelEma, build_optimizer, lr_at

__all__ = ["train", "train_one_epoch", "TrainState", "MetricsLog", "TrainingInterrupted", "run_outputs",
           "RESUME_MAY_CHANGE"]

_log = logging.getLogger("tubelet.engine")


@dataclass
class TrainState:
    step: int = 0  # optimiser steps done
    epoch: int = 0  # current epoch (0-based)
    batch_in_epoch: int = 0  # micro-batches of this epoch already consumed (data position for resume)
    best: float = -1.0  # best validation top-1 so far


class MetricsLog:
    """``metrics.jsonl``: one JSON object per line, flushed at once (a crash loses nothing already logged).
    Each record also goes to ``loggers`` (TensorBoard, W&B, MLflow: :mod:`tubelet.engine.loggers`)."""

    def __init__(self, path: Path, enabled: bool, resume_step: int | None = None, loggers: Loggers | None = None):
        self.path, self.enabled, self.records = path, enabled, []
        self.loggers = loggers if loggers is not None else Loggers()
        if not enabled:
            return
        if resume_step is not None and path.exists():  # drop what the interrupted run logged after its checkpoint
            self.records = [r for r in map(json.loads, path.read_text().splitlines()) if r.get("step", 0) <= resume_step]
            write_text(path, "".join(json.dumps(r) + "\n" for r in self.records))  # whole or not at all
        elif path.exists():
            path.unlink()

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        self.records.append(record)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        self.loggers.log(record)  # a logger that fails is warned about once, never raises

    def close(self, exit_code: int = 0) -> None:
        """Close the loggers; ``exit_code`` (0 finished, 1 failed, 130 / 143 interrupted) is what W&B and MLflow
        record as the run's end."""
        self.loggers.close(exit_code)


class TrainingInterrupted(TubeletError):
    """Training stopped on SIGINT or SIGTERM, after saving a resumable ``last.pt`` at the step it reached.

    Attributes:
        signal: the signal (``signal.SIGINT`` / ``signal.SIGTERM``).
        step: the optimiser step saved in ``checkpoint``.
        checkpoint: the ``last.pt`` to resume from.
        exit_code: ``128 + signal number`` (130 for SIGINT, 143 for SIGTERM), what the ``tubelet`` command exits with.
    """

    def __init__(self, signum: int, step: int, where: str, checkpoint: Path):
        self.signal, self.step, self.checkpoint = signal.Signals(signum), step, Path(checkpoint)
        self.exit_code = 128 + int(signum)
        super().__init__(f"interrupted ({self.signal.name}) at step {step} ({where}); saved {checkpoint}")


class _StopSignals:
    """While active (a ``with`` block), SIGINT and SIGTERM ask the loop to stop at the next step boundary instead of
    killing it; the previous handlers come back afterwards. Only the main thread can install handlers: elsewhere this
    does nothing.

    After the first signal a second SIGINT (Ctrl-C) stops the process at once (the default action; the atomic save
    keeps the last complete checkpoint); further SIGTERMs are absorbed: whoever sent one (torchrun, Slurm, Kubernetes)
    kills after its own grace period. The run's DataLoader workers ignore SIGINT
    (:func:`_worker_leaves_signals_to_main`); any other process forked meanwhile inherits a handler that does nothing
    there.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, announce: bool):
        self.signum: int | None = None
        self.announce = announce  # rank 0 says at once what will happen
        self._previous: dict = {}
        self._pid = os.getpid()

    def __enter__(self) -> "_StopSignals":
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()

    def _handle(self, signum: int, frame) -> None:
        if os.getpid() != self._pid or self.signum is not None:
            return
        self.signum = signum
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if self.announce:  # os.write: a signal handler must not re-enter a buffered stream that tqdm may be writing
            os.write(2, f"\ntubelet: {signal.Signals(signum).name}: saving last.pt at the end of this step, "
                        f"then stopping (Ctrl-C again stops at once, keeping the last complete checkpoint)\n"
                        .encode())

    def agreed(self) -> int | None:
        """The stop signal if any process received one (every process calls this at the same step: one tiny
        all-reduce when distributed), else None."""
        return distributed.all_reduce_max(self.signum or 0) or None


def _worker_leaves_signals_to_main(init, worker_id: int) -> None:
    """``worker_init_fn`` of the run's DataLoader workers: SIGINT is ignored there (a terminal's Ctrl-C reaches the
    whole process group), so the main process stops at a step boundary with its workers alive and shuts them down
    itself. SIGTERM keeps its default: multiprocessing stops leftover workers with it at exit, and a worker that
    ignored it would keep the process from ever exiting."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if init is not None:
        init(worker_id)


#: config keys that may differ when a run is resumed: they control this launch, not what is computed
RESUME_MAY_CHANGE = ("train.stop_at_step", "train.progress", "train.save_every_steps", "train.log_every",
                     "train.tensorboard", "train.wandb", "train.mlflow", "data.num_workers")

#: what ``train`` (and the demo, and ``tubelet eval`` in its default ``eval/`` or ``eval/<checkpoint>_<views>/``
#: folders) writes into a run folder: the files that mark a folder as holding a run, and all that ``overwrite``
#: deletes
_RUN_FILES = ("last.pt", "best.safetensors", "metrics.jsonl", "config.yaml", "curves.png", "confusion.png",
              "demo.json")
_EVAL_FILES = ("report.txt", "confusion.png", "predictions.jsonl", "metrics.json")
_EVAL_FOLDER = re.compile(r"^.+_\d+x\d+(_shuffled)?$")  # eval/<checkpoint stem>_<clips>x<crops>[_shuffled]


def run_outputs(out: str | Path) -> list[Path]:
    """The files of a training run in ``out`` (tubelet's own names only; anything else in the folder is not listed)."""
    out = Path(out)

    def present(p: Path) -> bool:
        return p.is_symlink() or p.is_file()

    found = [out / n for n in _RUN_FILES if present(out / n)]
    if (out / "eval").is_dir():
        folders = [out / "eval"] + sorted(p for p in (out / "eval").iterdir()
                                          if _EVAL_FOLDER.match(p.name) and p.is_dir() and not p.is_symlink())
        found += [f / n for f in folders for n in _EVAL_FILES if present(f / n)]
    if (out / "tensorboard").is_dir():
        found += sorted(p for p in (out / "tensorboard").iterdir()
                        if p.name.startswith("events.out.tfevents.") and present(p))
    return found


def _describe_outputs(out: Path, files: list[Path]) -> str:
    names: dict[str, int] = {}
    for p in files:
        top = p.relative_to(out).parts
        key = top[0] + ("/" if len(top) > 1 else "")
        names[key] = names.get(key, 0) + 1
    return ", ".join(k if not k.endswith("/") else f"{k} ({n} file{'s' if n > 1 else ''})" for k, n in names.items())


def _folder_problem(out: Path, resume: bool, overwrite: bool) -> str | None:
    """What stops a launch into ``out`` (read-only: the folder is not touched), or None."""
    if out.exists() and not out.is_dir():
        return f"--out {out}: exists and is not a folder"
    if resume:
        return None if (out / "last.pt").exists() else f"--resume: {out / 'last.pt'}: no checkpoint to resume from"
    existing = run_outputs(out)
    if existing and not overwrite:
        return (f"--out {out}: holds a training run ({_describe_outputs(out, existing)}); pass --resume to continue it "
                f"or --overwrite to start over (deletes those files), or choose another --out")
    parent = out
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"--out {out}: cannot be written (no permission to write in {parent})"
    return None


def _show(value) -> str:
    """A config value as a user writes it in YAML (``null``, ``true``, ``[1, 1, 2, 1]``); UNSET is ``not set``."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except TypeError:
        return repr(value)


def _check_resume(ckpt: dict, cfg: Config, path: Path, allow_changes: bool, main: bool) -> None:
    """``cfg`` must be the config the run was started with (:data:`RESUME_MAY_CHANGE` aside), unless
    ``allow_changes``; the model never changes."""
    if ckpt.get("model_name") != cfg.model.name:
        raise ConfigError(f"--resume: {path} holds a {ckpt.get('model_name')} run, the config trains {cfg.model.name}")
    saved = ckpt.get("config")
    changes = [d for d in config_differences(saved, cfg) if d[0] not in RESUME_MAY_CHANGE] \
        if isinstance(saved, dict) else []
    listed = "; ".join(f"{k}: the run was started with {_show(a)}, this launch says {_show(b)}" for k, a, b in changes)
    if changes and not allow_changes:
        raise ConfigError(f"--resume: the config differs from the one {path.parent} was started with: {listed}; pass "
                          f"--allow-changes (Python: allow_changes=True) to continue with the new values")
    if changes and main:
        print(f"resuming with a changed config: {listed}")
    stop = cfg.train.stop_at_step
    if stop is not None and stop <= ckpt["step"]:
        raise ConfigError(f"train.stop_at_step={stop}: {path} is already at step {ckpt['step']}; set a later step, "
                          f"or null to train to the end")


def _start_run_folder(out: Path, cfg: Config, overwrite: bool) -> None:
    """Rank 0, once every check has passed: create the folder, clear what a killed save or (``overwrite``) the
    previous run left, and record the config."""
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)  # of a run that was killed mid-save
    old = run_outputs(out) if overwrite else []
    for p in old:
        p.unlink()
    emptied = sorted({p.parent for p in old if p.parent != out}, key=lambda f: -len(f.parts))
    for folder in emptied + ([out / "eval"] if old else []):  # eval/best_1x1/, eval/, tensorboard/
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    if old:
        print(f"--overwrite: removed the previous run's {_describe_outputs(out, old)} from {out}")
    save_config(cfg, out / "config.yaml")


def train_one_epoch(model, loader, optimizer, *, lr_fn, scaler, cfg: Config, state: TrainState, device,
                    steps_per_epoch: int, raw_model=None, ema: ModelEma | None = None, mixup: Mixup | None = None,
                    log: MetricsLog | None = None, on_step=None, progress: bool = False,
                    task: TrainingTask | None = None) -> dict:
    """One pass over ``loader`` (from ``state.batch_in_epoch`` on): the task's forward pass and loss under autocast
    (:meth:`~tubelet.engine.objective.TrainingTask.train_loss`), loss / accum_steps, unscale then clip, optimiser step,
    ``zero_grad(set_to_none=True)``, EMA update. Returns ``{"loss", "clips_per_s"}`` of the epoch (samples per
    second, whatever a sample is).

    ``on_step(state)`` runs after every optimiser step (checkpointing); it returns True to stop the run.
    """
    task = task or ClassificationTask()
    o, t = cfg.optim, resolve_config_amp(cfg, device).train  # CPU without native bf16: fp32 (tubelet.runtime)
    accum = o.accum_steps
    raw_model = raw_model or model
    params = [p for g in optimizer.param_groups for p in g["params"]]
    model.train()
    window_loss, window_n, epoch_loss, epoch_n, clips, stop = 0.0, 0, 0.0, 0, 0, False
    t0 = time.perf_counter()
    total = steps_per_epoch * accum
    bar = tqdm(total=total, initial=state.batch_in_epoch, disable=not progress, dynamic_ncols=True,
               desc=f"epoch {state.epoch + 1}/{o.epochs}", unit="batch")
    for batch in loader:
        if state.batch_in_epoch >= total:
            break
        micro = state.batch_in_epoch % accum
        last_micro = micro == accum - 1
        # gradients are all-reduced only on the micro-batch that completes an accumulation
        sync = nullcontext() if last_micro or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            loss, n_samples = task.train_loss(model, batch, device, t.amp, cfg, mixup)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at step {state.step} (epoch {state.epoch + 1}); "
                                         f"lower optim.lr, or use train.amp=bf16 / fp16 with its scaler")
            scaler.scale(loss / accum).backward()
        state.batch_in_epoch += 1
        clips += n_samples
        loss_value = loss.item()  # a sync point on GPU: cheap next to a video model's step
        window_loss += loss_value
        window_n += 1
        epoch_loss += loss_value
        epoch_n += 1
        bar.update(1)
        if not last_micro:
            continue
        # one optimiser step
        lr = lr_fn(state.step)
        for g in optimizer.param_groups:
            g["lr"] = lr * g["lr_scale"]
        grad_norm = None
        if o.clip_grad is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, o.clip_grad))
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.update(raw_model)
        state.step += 1
        bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}")
        if state.step % t.log_every == 0 and log is not None:
            mean = torch.tensor([window_loss, window_n], dtype=torch.float64)
            distributed.all_reduce_sum(mean)
            record = {"kind": "train", "step": state.step,
                      "epoch": round(state.epoch + state.batch_in_epoch / total, 4),
                      "loss": float(mean[0] / mean[1]), "lr": lr,
                      "clips_per_s": round(clips / (time.perf_counter() - t0), 2)}
            if grad_norm is not None:
                record["grad_norm"] = grad_norm
            if scaler.is_enabled():
                record["loss_scale"] = scaler.get_scale()
            log.write(record)
            window_loss, window_n = 0.0, 0
        if on_step is not None and on_step(state):
            stop = True
            break
    bar.close()
    return {"loss": epoch_loss / max(epoch_n, 1), "clips_per_s": clips / max(time.perf_counter() - t0, 1e-9),
            "stopped": stop}


def _seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train(cfg: Config, out_dir: str | Path, *, resume: bool = False, overwrite: bool = False,
          allow_changes: bool = False) -> dict:
    """Train (and evaluate) as ``cfg`` says; files go to ``out_dir``. Returns the final metrics.

    Under ``torchrun`` every process runs this; rank 0 alone logs and writes files. Nothing is written into
    ``out_dir`` before every check has passed (the folder, the resume state, the data, the model); SIGINT / SIGTERM
    during training save ``last.pt`` at the next step boundary and raise :class:`TrainingInterrupted`.

    Args:
        resume: continue the run in ``out_dir`` from its ``last.pt``, exactly where it stopped. ``cfg`` must be the
            config the run was started with (the launch controls in :data:`RESUME_MAY_CHANGE` aside).
        overwrite: start over in a folder that holds a run: the previous run's files (:func:`run_outputs`, nothing
            else) are deleted when training starts. Without ``resume`` or ``overwrite`` such a folder is an error.
        allow_changes: with ``resume``, continue with ``cfg`` where it differs from the run's config.
    Raises:
        ConfigError: a folder that holds a run, a resume that does not fit, or an invalid recipe.
        UsageError: ``resume`` with ``overwrite``, or ``allow_changes`` without ``resume``.
        TrainingInterrupted: SIGINT / SIGTERM; ``last.pt`` holds the step where training stopped.
    """
    if resume and overwrite:
        raise UsageError("--resume continues the run in the folder, --overwrite deletes it: pass one of them")
    if allow_changes and not resume:
        raise UsageError("--allow-changes applies to --resume (a new run takes any config)")
    t_start = time.perf_counter()
    out = Path(out_dir)
    o, t, d = cfg.optim, cfg.train, cfg.data

    # -- processes, the run folder (read, not written), resume state --------------------------------------------------
    dist_info = distributed.init_distributed(t.device)
    device, main = dist_info.device, dist_info.is_main
    problem = distributed.gather_objects(_folder_problem(out, resume, overwrite) if main else None, dist_info)[0]
    if problem:  # rank 0 looked; every rank stops
        raise ConfigError(problem)
    require_loggers(t)  # a missing tensorboard / wandb / mlflow is a ConfigError now, not after the data is built
    last_path, best_path = out / "last.pt", out / "best.safetensors"
    ckpt = None
    if resume:
        ckpt = load_checkpoint(last_path)
        _check_resume(ckpt, cfg, last_path, allow_changes, main)
    _seed_everything(t.seed)  # identical initial weights on every rank

    # -- data and model -------------------------------------------------------------------------------------------
    task = training_task(cfg)
    if main:  # rank 0 writes what the data needs (a synthetic set), the others wait for it
        task.prepare(cfg)
    distributed.barrier()
    class_names = task.class_names(cfg)
    dcfg = task.data_cfg(get_pretrained_cfg(cfg.model.name, **cfg.model.options), cfg)
    datasets = task.build_datasets(cfg, dcfg, rank=dist_info.rank, world_size=dist_info.world_size)
    num_classes = task.num_classes(cfg, class_names, datasets)
    model = build_model(cfg, num_classes)
    model.pretrained_cfg = dcfg.replace(num_classes=num_classes, label_names=None,
                                        class_names=tuple(class_names) if class_names else None)
    model.to(device)
    if main:
        print(describe(model), f"on {device}" + (f" x {dist_info.world_size} processes" if dist_info.enabled else ""))

    _seed_everything(t.seed + dist_info.rank)  # different dropout / drop-path draws per rank
    train_loader = make_loader(datasets["train"], d.batch_size, train=True, num_workers=d.num_workers, seed=t.seed,
                               num_replicas=dist_info.world_size, rank=dist_info.rank)
    val_loader = make_loader(datasets["val"], task.eval_batch_size(cfg), train=False,
                             num_workers=d.num_workers, seed=t.seed, num_replicas=dist_info.world_size,
                             rank=dist_info.rank)
    for loader in (train_loader, val_loader):
        loader.worker_init_fn = functools.partial(_worker_leaves_signals_to_main, loader.worker_init_fn)
    steps_per_epoch = len(train_loader) // o.accum_steps
    if t.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, t.steps_per_epoch)
    if steps_per_epoch < 1:
        raise ConfigError(f"data: {len(datasets['train'])} training {task.samples_word} make no full optimiser step of "
                          f"{d.batch_size} x {o.accum_steps} x {dist_info.world_size} processes")

    # -- the schedule ----------------------------------------------------------------------------------------------
    total_batch = d.batch_size * d.num_samples * o.accum_steps * dist_info.world_size
    peak_lr = o.lr * total_batch / o.reference_batch if o.reference_batch else o.lr
    total_steps = o.epochs * steps_per_epoch
    warmup_steps = o.warmup_epochs * steps_per_epoch

    def lr_fn(step: int) -> float:
        return lr_at(step, lr=peak_lr, total_steps=total_steps, warmup_steps=warmup_steps,
                     warmup_lr=min(o.warmup_lr, peak_lr), min_lr=min(o.min_lr, peak_lr), schedule=o.schedule,
                     power=o.poly_power, milestones=[m * steps_per_epoch for m in o.milestones], gamma=o.gamma)

    # -- resume: weights first (FSDP shards them next), then the optimiser and the rest -------------------------
    state = TrainState()
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])

    raw_model = model
    fsdp = dist_info.enabled and t.distributed == "fsdp"
    if fsdp:
        if t.ema_decay:
            raise ConfigError("train.ema_decay is not supported with train.distributed=fsdp")
        distributed.fsdp_shard(model)  # swaps in sharded parameters: the optimiser comes after

    optimizer = build_optimizer(model, o)
    scaler = torch.amp.GradScaler(device.type, enabled=t.amp == "fp16")
    ema = ModelEma(model, t.ema_decay) if t.ema_decay else None
    mixup = task.make_mixup(cfg, num_classes, seed=t.seed + dist_info.rank)
    if ckpt is not None:
        distributed.optimizer_state(model, optimizer, fsdp, ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        if ema is not None and ckpt.get("ema") is not None:
            ema.load_state_dict(ckpt["ema"])
        if mixup is not None and ckpt.get("mixup_rng") is not None:
            mixup.rng.bit_generator.state = json.loads(ckpt["mixup_rng"])[dist_info.rank]
        set_rng_state(ckpt["rng"][dist_info.rank] if dist_info.rank < len(ckpt["rng"]) else ckpt["rng"][0])
        state = TrainState(ckpt["step"], ckpt["epoch"], ckpt["batch_in_epoch"], ckpt["best"])
        if main:
            print(f"resumed from {last_path}: step {state.step}, epoch {state.epoch + 1}, "
                  f"batch {state.batch_in_epoch} of the epoch")
        del ckpt
    if dist_info.enabled and not fsdp:
        if device.type != "cpu":  # torch's SyncBatchNorm runs on accelerators only
            model = task.sync_batchnorm(model, t.sync_bn)  # before DDP (after the resume: the same parameter names)
        elif t.sync_bn:
            raise ConfigError("train.sync_bn: SyncBatchNorm runs on GPUs only (torch); this run is on the CPU: set "
                              "train.sync_bn=null (per-process BatchNorm statistics)")
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if t.compile:
        model = torch.compile(model)  # the loop calls the compiled module; raw_model is what gets saved

    def checkpoint(st: TrainState) -> None:
        """Write last.pt (every rank takes part in gathering RNG states; rank 0 writes)."""
        rng = distributed.gather_objects(rng_state(), dist_info)
        mix = distributed.gather_objects(mixup.rng.bit_generator.state, dist_info) if mixup is not None else None
        payload = {"model": distributed.full_state_dict(raw_model, fsdp),
                   "optimizer": distributed.optimizer_state(raw_model, optimizer, fsdp), "scaler": scaler.state_dict(),
                   "ema": ema.state_dict() if ema is not None else None, "step": st.step, "epoch": st.epoch,
                   "batch_in_epoch": st.batch_in_epoch, "best": st.best, "config": config_to_dict(cfg),
                   "model_name": cfg.model.name, "rng": rng, "mixup_rng": json.dumps(mix) if mix else None,
                   TRAINING_METADATA_KEY: tubelet_metadata(raw_model)}  # create_model(checkpoint_path=last.pt)
        if main:
            save_checkpoint(payload, last_path)

    stop = _StopSignals(announce=main)
    interrupted: list[int] = []  # the agreed signal, once the loop stops for one

    def on_step(st: TrainState) -> bool:
        saved = bool(t.save_every_steps) and st.step % t.save_every_steps == 0
        if saved:
            checkpoint(st)
        signum = stop.agreed()  # every rank, every step: all stop at the same one
        if signum or (t.stop_at_step is not None and st.step >= t.stop_at_step):
            if not saved:
                checkpoint(st)
            if signum:
                interrupted.append(signum)
            return True
        return False

    # -- the loop: the run folder is written from here on ---------------------------------------------------------
    with stop:
        if main:
            _start_run_folder(out, cfg, overwrite)
        log = MetricsLog(out / "metrics.jsonl", main, resume_step=state.step if resume else None,
                         loggers=open_loggers(cfg, out) if main else None)
        if main:
            print(f"{len(datasets['train'])} training / {len(datasets['val'])} validation {task.samples_word}; "
                  f"{o.epochs} epochs "
                  f"x {steps_per_epoch} steps, total batch {total_batch}, peak lr {peak_lr:.3g}; writing to {out}")
        final = {}
        stopped = False
        exit_code = 1  # what W&B / MLflow record if the loop raises: a failed run
        try:
            while state.epoch < o.epochs:
                train_loader.sampler.set_epoch(state.epoch, start=state.batch_in_epoch * d.batch_size)
                stats = train_one_epoch(model, train_loader, optimizer, lr_fn=lr_fn, scaler=scaler, cfg=cfg,
                                        state=state, device=device, steps_per_epoch=steps_per_epoch,
                                        raw_model=raw_model, ema=ema, mixup=mixup, log=log, on_step=on_step,
                                        progress=t.progress and main, task=task)
                if stats["stopped"]:
                    stopped = True
                    break
                state.epoch, state.batch_in_epoch = state.epoch + 1, 0
                if state.epoch % t.eval_every == 0 or state.epoch == o.epochs:
                    final = _evaluate_and_save(cfg, raw_model, ema, val_loader, num_classes, device, state, log,
                                               best_path, main, dist_info, task)
                    if main:
                        ema_part = (f", EMA {task.metric} {final['ema_' + task.metric]:.2f}" if ema is not None
                                    else "")
                        print(f"epoch {state.epoch}/{o.epochs}: train loss {stats['loss']:.4f}, "
                              f"{stats['clips_per_s']:.1f} {task.samples_word}/s, {task.summary(final)}{ema_part}")
                checkpoint(state)
                if main:
                    _plot(log, out)
                if state.epoch < o.epochs:  # a signal during the evaluation: the epoch's checkpoint is saved
                    signum = stop.agreed()
                    if signum:
                        interrupted.append(signum)
                        break
            exit_code = 128 + (stop.signum or interrupted[0]) if interrupted else 0  # 130: Ctrl-C
        finally:
            log.close(exit_code)
    distributed.barrier()  # rank 0 has written last.pt before any process returns (torchrun stops all at the first)
    if interrupted:
        where = (f"epoch {state.epoch + 1} of {o.epochs}, batch {state.batch_in_epoch} of "
                 f"{steps_per_epoch * o.accum_steps}" if state.batch_in_epoch else
                 f"after epoch {state.epoch} of {o.epochs}")
        raise TrainingInterrupted(stop.signum or interrupted[0], state.step, where, last_path)
    final = {k: v for k, v in final.items() if k != "confusion"}
    final.update({"step": state.step, "epoch": state.epoch, f"best_{task.metric}": state.best, "stopped": stopped,
                  "seconds": time.perf_counter() - t_start, "out_dir": str(out)})
    return final


def _evaluate_and_save(cfg, model, ema, loader, num_classes, device, state, log, best_path, main, dist_info,
                       task: TrainingTask):
    t = resolve_config_amp(cfg, device).train  # CPU without native bf16: fp32 (tubelet.runtime)
    if dist_info.enabled:  # every rank validates with the BatchNorm statistics that rank 0 saves
        distributed.broadcast_buffers(model, ema.module if ema is not None else None)
    result = task.evaluate(model, loader, num_classes=num_classes, device=device, cfg=cfg, amp=t.amp,
                           progress=t.progress and main, desc=f"eval epoch {state.epoch}",
                           equal_forwards=dist_info.enabled and t.distributed == "fsdp")
    metric = task.metric
    record = {"kind": "eval", "step": state.step, "epoch": state.epoch, **task.record(result)}
    candidates = [(result[metric], model)]
    if ema is not None:
        ema_result = task.evaluate(ema.module, loader, num_classes=num_classes, device=device, cfg=cfg, amp=t.amp)
        record.update({f"ema_{k}": v for k, v in task.record(ema_result).items()
                       if k in (metric, "top5")})
        result[f"ema_{metric}"] = ema_result[metric]
        candidates.append((ema_result[metric], ema.module))
    log.write(record)
    score, best_model = max(candidates, key=lambda c: c[0])
    if score > state.best:
        state.best = score
        if dist_info.enabled and t.distributed == "fsdp":  # sharded weights: every rank helps gather them
            sd = distributed.full_state_dict(best_model, sharded=True)
            if main:
                export = create_model(cfg.model.name, **model.model_args)  # the trained model's own options
                export.load_state_dict(sd)
                export.pretrained_cfg = model.pretrained_cfg
                save_model(export, best_path)
        elif main:
            save_model(best_model, best_path)  # the EMA copy carries the same pretrained_cfg / model_args
    return result


def _plot(log: MetricsLog, out: Path) -> None:
    try:
        from .plots import plot_curves
        plot_curves(log.records, out / "curves.png")
    except ImportError as e:  # matplotlib missing: curves are optional
        _log.warning("curves.png not written: %s", e)

