"""Multi-view evaluation: every test view of a video goes through the model, per-view scores are averaged (softmax
then mean, or mean of raw logits, as the recipe's official test), and top-1 / top-5 / mean-class accuracy and the
confusion matrix are accumulated (summed across processes under torchrun)."""
from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data import average_views
from . import distributed
from .metrics import ConfusionMatrix

__all__ = ["evaluate", "autocast"]


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
            raise ValueError(f"frame_order must be 'keep' or 'shuffle', got {frame_order!r}")
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
