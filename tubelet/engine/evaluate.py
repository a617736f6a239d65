"""Multi-view evaluation: every test view of a video goes through the model, per-view scores are averaged (softmax
then mean, or mean of raw logits, as the recipe's official test), and top-1 / top-5 / mean-class accuracy and the
confusion matrix are accumulated (summed across processes under torchrun).

:func:`evaluate_checkpoint` is ``tubelet eval``: a recipe's validation set through a checkpoint, with the report
files written next to it."""
from __future__ import annotations

import json
import os
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..atomic import write_text
from ..data import average_views
from ..errors import ConfigError, UsageError
from . import distributed
from .metrics import ConfusionMatrix

__all__ = ["evaluate", "evaluate_checkpoint", "default_eval_dir", "autocast"]


def autocast(device: torch.device, amp: str):
    """The autocast context for ``amp`` (none | bf16 | fp16)."""
    if amp == "none":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader, *, num_classes: int, device: torch.device, view_average: str = "prob",
             amp: str = "none", max_views: int = 16, frame_order: str = "keep", seed: int = 0,
             progress: bool = False, desc: str = "eval", keep_scores: bool = False,
             equal_forwards: bool = False) -> dict:
    """Evaluate ``model`` on a test loader that yields ``(views (B, V, C, T, H, W), labels (B,))``.

    Args:
        view_average: ``prob`` (mean of per-view softmax) or ``logits`` (mean of raw logits).
        max_views: clips per forward pass (12-view batches are split so memory does not grow with the views).
        frame_order: ``keep``, or ``shuffle`` to permute each video's frames at random (the same permutation for all
            its views): a model that uses temporal order should fail on shuffled clips.
        keep_scores: also return this process's per-video scores ``(N, K)`` and their dataset indices.
        equal_forwards: make every process run as many forward passes as the busiest one (FSDP gathers parameters
            collectively in each forward; shards of a test set may differ by one video). Extra passes are not
            counted.
    Returns:
        ``{"top1", "top5", "mean_class_accuracy", "loss", "num_samples", "confusion": ConfusionMatrix}`` (+
        ``"scores"``, ``"indices"``), reduced over every process.
    """
    was_training = model.training
    model.eval()
    meter = ConfusionMatrix(num_classes)
    loss_sum = torch.zeros((), dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    scores_all, index_all = [], []
    sampler = getattr(loader, "sampler", None)
    indices = iter(sampler) if sampler is not None and hasattr(sampler, "_indices") else None
    forwards, last_chunk = 0, None
    for views, labels in tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
        B, V = views.shape[:2]
        if frame_order == "shuffle":
            T = views.shape[3]
            perms = torch.stack([torch.randperm(T, generator=gen) for _ in range(B)])  # B, T
            views = torch.stack([v[:, :, p] for v, p in zip(views, perms)])
        elif frame_order != "keep":
            raise UsageError(f"frame_order must be 'keep' or 'shuffle', got {frame_order!r}")
        flat = views.flatten(0, 1).to(device, non_blocking=True)  # B*V, C, T, H, W
        with autocast(device, amp):
            logits = torch.cat([model(chunk) for chunk in flat.split(max_views)])
        forwards += len(flat.split(max_views))
        last_chunk = flat[:1]
        scores = average_views(logits.float().cpu(), V, view_average)  # B, K
        labels = labels.view(-1)
        if view_average == "prob":
            loss_sum += F.nll_loss(scores.clamp_min(1e-12).log(), labels, reduction="sum").double()
        else:
            loss_sum += F.cross_entropy(scores, labels, reduction="sum").double()
        meter.update(scores, labels)
        if keep_scores:
            scores_all.append(scores)
            if indices is not None:
                index_all += [next(indices)[1] for _ in range(B)]
    if equal_forwards:
        most = distributed.all_reduce_max(forwards)
        for _ in range(most - forwards):
            with autocast(device, amp):
                model(last_chunk)
    distributed.all_reduce_sum(*meter.tensors(), loss_sum)
    model.train(was_training)
    out = dict(meter.summary())
    n = out["num_samples"]
    out["loss"] = float(loss_sum / n) if n else float("nan")
    out["confusion"] = meter
    if keep_scores:
        out["scores"] = torch.cat(scores_all) if scores_all else torch.zeros(0, num_classes)
        out["indices"] = index_all
    return out


def default_eval_dir(checkpoint: str | os.PathLike, views: tuple[int, int], shuffle_frames: bool = False) -> Path:
    """Where ``tubelet eval`` writes by default: ``eval/<checkpoint stem>_<clips>x<crops>[_shuffled]`` next to the
    checkpoint (``runs/k400/eval/best_4x3``), one folder per checkpoint and view setting."""
    checkpoint = Path(checkpoint)
    clips, crops = views
    return checkpoint.parent / "eval" / f"{checkpoint.stem}_{clips}x{crops}{'_shuffled' if shuffle_frames else ''}"


def evaluate_checkpoint(cfg, checkpoint: str | os.PathLike, out_dir: str | os.PathLike | None = None, *,
                        shuffle_frames: bool = False) -> dict:
    """``tubelet eval``: test ``checkpoint`` on the validation set of the run config ``cfg`` with the recipe's views
    (``data.test_clips`` x ``data.test_crops``, else the model's) and write the report files.

    Builds ``cfg.model`` from the checkpoint (any supported layout), the validation data through the same path as
    training, and evaluates under torchrun as in a single process. The main process writes to ``out_dir`` (default:
    :func:`default_eval_dir`, ``eval/<checkpoint stem>_<clips>x<crops>[_shuffled]/`` next to the checkpoint, so that
    evaluations of other checkpoints or views do not overwrite each other): ``predictions.jsonl`` (per-video scores;
    single process only, the scores are not gathered), ``confusion.png``, ``report.txt`` (the per-class table of
    :meth:`ConfusionMatrix.report`) and ``metrics.json``. Class names come from the recipe, else from the checkpoint
    when they fit its classifier (else, with a warning, class indices).

    Args:
        shuffle_frames: shuffle each clip's frames (a model that uses temporal order should fail).
    Returns:
        The summary written to ``metrics.json`` (every process gets the same reduced metrics): ``top1``, ``top5``,
        ``mean_class_accuracy``, ``loss``, ``num_samples``, ``views``, ``checkpoint``, ``seconds``, ``frame_order``,
        ``out_dir``.
    Raises:
        ConfigError: the recipe's class names or the validation labels do not fit the checkpoint's classifier.
        CheckpointError, AnnotationError, VideoDecodeError: as their messages say, naming the file.
    """
    from ..data import make_loader
    from ..models import create_model
    from .build import build_datasets, class_names_for, data_cfg

    checkpoint = os.fspath(checkpoint)
    frame_order = "shuffle" if shuffle_frames else "keep"
    info = distributed.init_distributed(cfg.train.device)
    class_names = class_names_for(cfg)
    model = create_model(cfg.model.name, checkpoint_path=checkpoint, num_classes=cfg.model.num_classes,
                         **cfg.model.options)
    num_classes = model.num_classes
    if class_names is not None and len(class_names) != num_classes:
        raise ConfigError(f"data.labels: the recipe names {len(class_names)} classes (format {cfg.data.format!r}) "
                          f"but the checkpoint {checkpoint} has {num_classes}")
    dcfg = data_cfg(model.pretrained_cfg, cfg)
    if class_names is None:
        from .inference import model_labels
        class_names = model_labels(model.pretrained_cfg, num_classes, hint="name them with data.labels")
    model.to(info.device)
    ds = build_datasets(cfg, dcfg, splits=("val",))["val"]
    bad = [(p, y) for p, y in ds.samples if not 0 <= y < num_classes]
    if bad:
        raise ConfigError(f"data.val: {bad[0][0]} has label {bad[0][1]}, but the checkpoint {checkpoint} has "
                          f"{num_classes} classes ({len(bad)} such videos)")
    loader = make_loader(ds, cfg.data.eval_batch_size or cfg.data.batch_size, train=False,
                         num_workers=cfg.data.num_workers, num_replicas=info.world_size, rank=info.rank)
    t0 = time.perf_counter()
    result = evaluate(model, loader, num_classes=num_classes, device=info.device, view_average=cfg.data.view_average,
                      amp=cfg.train.amp, progress=cfg.train.progress and info.is_main, frame_order=frame_order,
                      keep_scores=True)
    out = Path(out_dir or default_eval_dir(checkpoint, dcfg.test_views, shuffle_frames))

    def summary() -> dict:
        s = {k: result[k] for k in ("top1", "top5", "mean_class_accuracy", "loss", "num_samples")}
        s.update(views=list(dcfg.test_views), checkpoint=checkpoint, seconds=round(time.perf_counter() - t0, 2),
                 frame_order=frame_order, out_dir=str(out))
        return s

    if not info.is_main:
        return summary()
    from .metrics import write_predictions
    from .plots import plot_confusion

    out.mkdir(parents=True, exist_ok=True)
    meter = result["confusion"]
    if not info.enabled:  # per-video predictions need every process's scores; a single process has them all
        paths = [ds.samples[i][0] for i in result["indices"]]
        labels = torch.tensor([ds.samples[i][1] for i in result["indices"]])
        write_predictions(out / "predictions.jsonl", paths, labels, result["scores"], class_names)
    plot_confusion(meter.matrix, class_names, out / "confusion.png")
    write_text(out / "report.txt", meter.report(class_names) + "\n")  # each file whole or not at all
    s = summary()  # the seconds include writing the files, as they always have
    write_text(out / "metrics.json", json.dumps(s, indent=1))
    return s
