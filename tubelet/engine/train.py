"""The training loop, as importable functions that read top to bottom (nanoGPT's loop, no runner, no hooks).

``train(cfg, out_dir)`` sets up (process group, model, data, optimiser, schedule, scaler, EMA, resume), then
alternates ``train_one_epoch`` and ``evaluate``, writing ``metrics.jsonl``, ``last.pt`` (everything needed to resume
exactly), ``best.safetensors`` (inference weights + preprocessing metadata) and ``curves.png`` into ``out_dir``.
The dry run (``tubelet train --dry-run``, one real step of a recipe) is in :mod:`tubelet.engine.dry_run`.
"""
from __future__ import annotations

import json
import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..config import Config, ConfigError, config_to_dict, save_config
from ..data import Mixup, make_loader
from ..models import create_model, get_pretrained_cfg, save_model
from . import distributed
from .build import (build_datasets, build_model, class_names_for, data_cfg, describe, ensure_synthetic,
                    infer_num_classes, make_mixup)
from .checkpoint import load_checkpoint, remove_stale_temporaries, rng_state, save_checkpoint, set_rng_state
from .evaluate import autocast, evaluate
from .optim import ModelEma, build_optimizer, lr_at

__all__ = ["train", "train_one_epoch", "TrainState", "MetricsLog"]

_log = logging.getLogger("tubelet.engine")


@dataclass
class TrainState:
    step: int = 0  # optimiser steps done
    epoch: int = 0  # current epoch (0-based)
    batch_in_epoch: int = 0  # micro-batches of this epoch already consumed (data position for resume)
    best: float = -1.0  # best validation top-1 so far


class MetricsLog:
    """``metrics.jsonl``: one JSON object per line, flushed at once (a crash loses nothing already logged).
    Optionally mirrored to TensorBoard."""

    def __init__(self, path: Path, enabled: bool, tensorboard: bool = False, resume_step: int | None = None):
        self.path, self.enabled, self.records = path, enabled, []
        self.tb = None
        if not enabled:
            return
        if resume_step is not None and path.exists():  # drop what the interrupted run logged after its checkpoint
            self.records = [r for r in map(json.loads, path.read_text().splitlines()) if r.get("step", 0) <= resume_step]
            path.write_text("".join(json.dumps(r) + "\n" for r in self.records))
        elif path.exists():
            path.unlink()
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:
                raise ConfigError(f"train.tensorboard needs the tensorboard package ({e})") from None
            self.tb = SummaryWriter(str(path.parent / "tensorboard"))

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        self.records.append(record)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch"):
                    self.tb.add_scalar(f"{record['kind']}/{k}", v, record["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _loss(logits: torch.Tensor, target: torch.Tensor, smoothing: float) -> torch.Tensor:
    logits = logits.float()  # the loss in fp32 whatever the autocast dtype
    if target.dim() == 2:  # soft targets from mixup/cutmix (already smoothed)
        return torch.sum(-target * F.log_softmax(logits, dim=-1), dim=-1).mean()
    return F.cross_entropy(logits, target, label_smoothing=smoothing)


def train_one_epoch(model, loader, optimizer, *, lr_fn, scaler, cfg: Config, state: TrainState, device,
                    steps_per_epoch: int, raw_model=None, ema: ModelEma | None = None, mixup: Mixup | None = None,
                    log: MetricsLog | None = None, on_step=None, progress: bool = False) -> dict:
    """One pass over ``loader`` (from ``state.batch_in_epoch`` on): autocast, loss / accum_steps, unscale then clip,
    optimiser step, ``zero_grad(set_to_none=True)``, EMA update. Returns ``{"loss", "clips_per_s"}`` of the epoch.

    ``on_step(state)`` runs after every optimiser step (checkpointing); it returns True to stop the run.
    """
    o, t = cfg.optim, cfg.train
    accum = o.accum_steps
    raw_model = raw_model or model
    params = [p for g in optimizer.param_groups for p in g["params"]]
    model.train()
    window_loss, window_n, epoch_loss, epoch_n, clips, stop = 0.0, 0, 0.0, 0, 0, False
    t0 = time.perf_counter()
    total = steps_per_epoch * accum
    bar = tqdm(total=total, initial=state.batch_in_epoch, disable=not progress, dynamic_ncols=True,
               desc=f"epoch {state.epoch + 1}/{o.epochs}", unit="batch")
    for x, y in loader:
        if state.batch_in_epoch >= total:
            break
        if x.dim() == 6:  # num_samples clips per video: B, n, C, T, H, W -> B*n, C, T, H, W
            x, y = x.flatten(0, 1), y.flatten()
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        target = y
        if mixup is not None:
            x, target = mixup(x, y)
        micro = state.batch_in_epoch % accum
        last_micro = micro == accum - 1
        # gradients are all-reduced only on the micro-batch that completes an accumulation
        sync = nullcontext() if last_micro or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            with autocast(device, t.amp):
                logits = model(x)
            loss = _loss(logits, target, t.label_smoothing)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at step {state.step} (epoch {state.epoch + 1}); "
                                         f"lower optim.lr, or use train.amp=bf16 / fp16 with its scaler")
            scaler.scale(loss / accum).backward()
        state.batch_in_epoch += 1
        clips += x.shape[0]
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


def train(cfg: Config, out_dir: str | Path, *, resume: bool = False) -> dict:
    """Train (and evaluate) as ``cfg`` says; files go to ``out_dir``. Returns the final metrics.

    Under ``torchrun`` every process runs this; rank 0 alone logs and writes files.
    """
    t_start = time.perf_counter()
    out = Path(out_dir)
    o, t, d = cfg.optim, cfg.train, cfg.data

    # -- processes, seeds, device ---------------------------------------------------------------------------------
    dist_info = distributed.init_distributed(t.device)
    device, main = dist_info.device, dist_info.is_main
    if main:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out)  # of a run that was killed mid-save
        save_config(cfg, out / "config.yaml")
    _seed_everything(t.seed)  # identical initial weights on every rank

    # -- data and model -------------------------------------------------------------------------------------------
    if d.format == "synthetic":  # rank 0 writes the files, the others wait for them
        if main:
            ensure_synthetic(cfg)
        distributed.barrier()
    class_names = class_names_for(cfg)
    dcfg = data_cfg(get_pretrained_cfg(cfg.model.name, **cfg.model.options), cfg)
    datasets = build_datasets(cfg, dcfg, rank=dist_info.rank, world_size=dist_info.world_size)
    num_classes = infer_num_classes(cfg, class_names, datasets["train"].samples + datasets["val"].samples)
    model = build_model(cfg, num_classes)
    model.pretrained_cfg = dcfg.replace(num_classes=num_classes, label_names=None,
                                        class_names=tuple(class_names) if class_names else None)
    model.to(device)
    if main:
        print(describe(model), f"on {device}" + (f" x {dist_info.world_size} processes" if dist_info.enabled else ""))

    _seed_everything(t.seed + dist_info.rank)  # different dropout / drop-path draws per rank
    train_loader = make_loader(datasets["train"], d.batch_size, train=True, num_workers=d.num_workers, seed=t.seed,
                               num_replicas=dist_info.world_size, rank=dist_info.rank)
    val_loader = make_loader(datasets["val"], d.eval_batch_size or d.batch_size, train=False,
                             num_workers=d.num_workers, seed=t.seed, num_replicas=dist_info.world_size,
                             rank=dist_info.rank)
    steps_per_epoch = len(train_loader) // o.accum_steps
    if t.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, t.steps_per_epoch)
    if steps_per_epoch < 1:
        raise ConfigError(f"data: {len(datasets['train'])} training videos make no full optimiser step of "
                          f"{d.batch_size} x {o.accum_steps} x {dist_info.world_size} processes")

    # -- the schedule ----------------------------------------------------------------------------------------------
    total_batch = d.batch_size * d.num_samples * o.accum_steps * dist_info.world_size
    peak_lr = o.lr * total_batch / o.reference_batch if o.reference_batch else o.lr
    total_steps = o.epochs * steps_per_epoch
    warmup_steps = o.warmup_epochs * steps_per_epoch

    def lr_fn(step: int) -> float:
        return lr_at(step, lr=peak_lr, total_steps=total_steps, warmup_steps=warmup_steps,
                     warmup_lr=min(o.warmup_lr, peak_lr), min_lr=min(o.min_lr, peak_lr))

    # -- resume: weights first (FSDP shards them next), then the optimiser and the rest -------------------------
    state = TrainState()
    last_path, best_path = out / "last.pt", out / "best.safetensors"
    ckpt = None
    if resume:
        if not last_path.exists():
            raise ConfigError(f"--resume: {last_path}: no checkpoint to resume from")
        ckpt = load_checkpoint(last_path)
        if ckpt.get("model_name") != cfg.model.name:
            raise ConfigError(f"--resume: {last_path} holds a {ckpt.get('model_name')} run, the config trains "
                              f"{cfg.model.name}")
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
    mixup = make_mixup(t, num_classes, seed=t.seed + dist_info.rank)
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
    log = MetricsLog(out / "metrics.jsonl", main, t.tensorboard, resume_step=state.step if resume else None)
    if dist_info.enabled and not fsdp:
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
                   "model_name": cfg.model.name, "rng": rng, "mixup_rng": json.dumps(mix) if mix else None}
        if main:
            save_checkpoint(payload, last_path)

    def on_step(st: TrainState) -> bool:
        if t.save_every_steps and st.step % t.save_every_steps == 0:
            checkpoint(st)
        if t.stop_at_step is not None and st.step >= t.stop_at_step:
            checkpoint(st)
            return True
        return False

    # -- the loop -------------------------------------------------------------------------------------------------
    if main:
        print(f"{len(datasets['train'])} training / {len(datasets['val'])} validation videos; {o.epochs} epochs x "
              f"{steps_per_epoch} steps, total batch {total_batch}, peak lr {peak_lr:.3g}; writing to {out}")
    final = {}
    stopped = False
    while state.epoch < o.epochs:
        train_loader.sampler.set_epoch(state.epoch, start=state.batch_in_epoch * d.batch_size)
        stats = train_one_epoch(model, train_loader, optimizer, lr_fn=lr_fn, scaler=scaler, cfg=cfg, state=state,
                                device=device, steps_per_epoch=steps_per_epoch, raw_model=raw_model, ema=ema,
                                mixup=mixup, log=log, on_step=on_step, progress=t.progress and main)
        if stats["stopped"]:
            stopped = True
            break
        state.epoch, state.batch_in_epoch = state.epoch + 1, 0
        if state.epoch % t.eval_every == 0 or state.epoch == o.epochs:
            final = _evaluate_and_save(cfg, raw_model, ema, val_loader, num_classes, device, state, log, best_path,
                                       main, dist_info)
            if main:
                print(f"epoch {state.epoch}/{o.epochs}: train loss {stats['loss']:.4f}, "
                      f"{stats['clips_per_s']:.1f} clips/s, val top-1 {final['top1']:.2f}%, top-5 "
                      f"{final['top5']:.2f}%" + (f", EMA top-1 {final['ema_top1']:.2f}%" if ema is not None else ""))
        checkpoint(state)
        if main:
            _plot(log, out)
    log.close()
    final = {k: v for k, v in final.items() if k != "confusion"}
    final.update(step=state.step, epoch=state.epoch, best_top1=state.best, stopped=stopped,
                 seconds=time.perf_counter() - t_start, out_dir=str(out))
    distributed.barrier()
    return final


def _evaluate_and_save(cfg, model, ema, loader, num_classes, device, state, log, best_path, main, dist_info):
    t, d = cfg.train, cfg.data
    result = evaluate(model, loader, num_classes=num_classes, device=device, view_average=d.view_average, amp=t.amp,
                      progress=t.progress and main, desc=f"eval epoch {state.epoch}",
                      equal_forwards=dist_info.enabled and t.distributed == "fsdp")
    record = {"kind": "eval", "step": state.step, "epoch": state.epoch,
              **{k: result[k] for k in ("top1", "top5", "mean_class_accuracy", "loss", "num_samples")}}
    candidates = [(result["top1"], model)]
    if ema is not None:
        ema_result = evaluate(ema.module, loader, num_classes=num_classes, device=device,
                              view_average=d.view_average, amp=t.amp)
        record.update(ema_top1=ema_result["top1"], ema_top5=ema_result["top5"])
        result["ema_top1"] = ema_result["top1"]
        candidates.append((ema_result["top1"], ema.module))
    log.write(record)
    top1, best_model = max(candidates, key=lambda c: c[0])
    if top1 > state.best:
        state.best = top1
        if dist_info.enabled and t.distributed == "fsdp":  # sharded weights: every rank helps gather them
            sd = distributed.full_state_dict(best_model, sharded=True)
            if main:
                export = create_model(cfg.model.name, num_classes=num_classes, **cfg.model.options)
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

