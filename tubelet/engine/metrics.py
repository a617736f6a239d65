"""Classification metrics for video evaluation: top-k counts, a confusion matrix and a per-video predictions file.

The accumulated state is a handful of int64 tensors, so distributed evaluation needs no gathering of predictions:
each rank updates its own :class:`ConfusionMatrix` and ``all_reduce`` sums :meth:`ConfusionMatrix.tensors` in place.
Accuracies are percentages (``91.2`` means 91.2 %), as the papers and the official logs report them.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from ..atomic import write_atomically

__all__ = ["topk_correct", "ConfusionMatrix", "write_predictions"]

#: The second accuracy every video benchmark reports besides top-1.
_TOP5 = 5


def _check_labels(labels: Tensor, num_classes: int, what: str = "labels") -> Tensor:
    """Return ``labels`` as int64 after checking they are 1-D class indices in ``[0, num_classes)``."""
    labels = torch.as_tensor(labels)
    if labels.ndim != 1:
        raise ValueError(f"{what} must be 1-D (N,), got shape {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"{what} must be integer class indices, got dtype {labels.dtype}")
    if labels.numel():
        lo, hi = (int(v) for v in torch.aminmax(labels))
        if lo < 0 or hi >= num_classes:
            # The usual cause is a label list or checkpoint for another dataset (Kinetics-600 labels, K400 head).
            raise ValueError(f"{what} must lie in [0, {num_classes}) for {num_classes} classes, got values in "
                             f"[{lo}, {hi}]; do the labels and the model's number of classes match?")
    return labels.long()


def _check_scores(scores: Tensor, labels: Tensor) -> Tensor:
    """Return ``scores`` as a tensor after checking it is (N, K), K >= 1, with N the length of 1-D ``labels``."""
    scores = torch.as_tensor(scores)
    if scores.ndim != 2 or scores.shape[1] < 1:
        raise ValueError(f"scores must be 2-D (N, K) with K >= 1, got shape {tuple(scores.shape)}")
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (N,), got shape {tuple(labels.shape)}")
    if scores.shape[0] != labels.shape[0]:
        raise ValueError(f"scores has {scores.shape[0]} rows but there are {labels.shape[0]} labels")
    return scores


def topk_correct(scores: Tensor, labels: Tensor, ks: Sequence[int] = (1, 5)) -> list[int]:
    """Count the samples whose label is among the ``k`` highest scores, for each ``k`` in ``ks``.

    Args:
        scores: (N, K) float logits or probabilities.
        labels: (N,) integer class indices in ``[0, K)``.
        ks: the ``k`` values; each is clipped to ``K`` (top-5 of a 3-class problem is top-3, so 100 %).

    Returns:
        One count per ``k``, in the order of ``ks``.

    Raises:
        ValueError: on mismatched shapes, a ``k < 1`` or a label outside ``[0, K)``.
    """
    if any(k < 1 for k in ks):
        raise ValueError(f"every k must be >= 1, got {tuple(ks)}")
    labels = torch.as_tensor(labels)
    scores = _check_scores(scores, labels)
    num_classes = scores.shape[1]
    labels = _check_labels(labels, num_classes).to(scores.device)
    ks = [min(k, num_classes) for k in ks]
    if not ks:
        return []
    # Row j of the cumulative sum counts the samples whose label sits in the first j + 1 ranks: all ks at once.
    hits = (scores.topk(max(ks), dim=1).indices == labels[:, None]).cumsum(dim=1).sum(dim=0)
    return [int(hits[k - 1]) for k in ks]


class ConfusionMatrix:
    """Confusion matrix plus top-5 count, accumulated over batches (and ranks) of video-level predictions.

    ``matrix[t, p]`` counts the videos of true class ``t`` predicted as ``p``. Top-1 and the mean class accuracy
    follow from it; top-5 needs the scores, so :meth:`update` takes them and keeps the count separately.

    Distributed evaluation: build it with ``device`` set to the rank's GPU (NCCL reduces GPU tensors only), update
    it locally, then ``for t in cm.tensors(): dist.all_reduce(t)`` before :meth:`summary`.

    Args:
        num_classes: K.
        device: where the state lives (default CPU).
    """

    def __init__(self, num_classes: int, device: torch.device | str | None = None):
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.long, device=device)
        #: Videos whose label is in their top-5 scores, and videos that came with scores at all (a ``preds``
        #: update has no top-5, and a top-5 over only part of the set would be misleading).
        self.top5_correct = torch.zeros((), dtype=torch.long, device=device)
        self.num_scored = torch.zeros((), dtype=torch.long, device=device)

    def update(self, scores_or_preds: Tensor, labels: Tensor) -> None:
        """Add a batch.

        Args:
            scores_or_preds: (N, K) float scores (the top-1 prediction is the highest score; enables top-5), or
                (N,) integer predicted classes.
            labels: (N,) integer true classes in ``[0, K)``.

        Raises:
            ValueError: on mismatched shapes or a class index outside ``[0, K)``.
        """
        device = self.matrix.device
        labels = _check_labels(labels, self.num_classes).to(device)
        num = labels.shape[0]
        x = torch.as_tensor(scores_or_preds)
        if x.ndim == 2:
            scores = _check_scores(x, labels)
            if scores.shape[1] != self.num_classes:
                raise ValueError(f"scores have {scores.shape[1]} classes, the confusion matrix {self.num_classes}")
            ranked = scores.to(device).topk(min(_TOP5, self.num_classes), dim=1).indices
            # Rank 0 of the same ranking as top-5, so with tied scores a top-1 hit is always a top-5 hit too.
            preds = ranked[:, 0]
            self.top5_correct += (ranked == labels[:, None]).any(dim=1).sum()
            self.num_scored += num
        elif x.ndim == 1:
            if x.shape[0] != num:
                raise ValueError(f"got {x.shape[0]} predictions but {num} labels")
            preds = _check_labels(x, self.num_classes, what="predictions").to(device)
        else:
            raise ValueError(f"expected scores (N, K) or predictions (N,), got shape {tuple(x.shape)}")
        k = self.num_classes
        self.matrix += torch.bincount(labels * k + preds, minlength=k * k).view(k, k)

    def tensors(self) -> list[Tensor]:
        """The state tensors, to be summed across ranks in place (``dist.all_reduce(t)`` for each)."""
        return [self.matrix, self.top5_correct, self.num_scored]

    def state(self) -> dict[str, Tensor]:
        """A copy of the state (int64 CPU tensors), e.g. to save a shard's partial result."""
        return {"matrix": self.matrix.cpu().clone(), "top5_correct": self.top5_correct.cpu().clone(),
                "num_scored": self.num_scored.cpu().clone()}

    def load_state(self, state: dict[str, Tensor]) -> None:
        """Replace the state with one from :meth:`state` (of a matrix with the same number of classes)."""
        matrix = torch.as_tensor(state["matrix"])
        if matrix.shape != self.matrix.shape:
            raise ValueError(f"state is for a {tuple(matrix.shape)} matrix, this one is {tuple(self.matrix.shape)}")
        self.matrix.copy_(matrix)
        self.top5_correct.copy_(torch.as_tensor(state["top5_correct"]))
        self.num_scored.copy_(torch.as_tensor(state["num_scored"]))

    def reset(self) -> None:
        """Zero the state for a new evaluation."""
        for t in self.tensors():
            t.zero_()

    def summary(self) -> dict[str, float | int | None]:
        """Overall metrics.

        Returns:
            ``num_samples`` (int); ``top1``, ``top5`` and ``mean_class_accuracy`` in percent (float), or ``None``
            when undefined: no samples, or for ``top5`` some samples updated as predictions without scores. The
            mean class accuracy averages the per-class recall over the classes with at least one sample; on an
            imbalanced set it differs from top-1, which weights every video alike.
        """
        m = self.matrix.cpu()
        n = int(m.sum())
        out: dict[str, float | int | None] = {"num_samples": n, "top1": None, "top5": None,
                                              "mean_class_accuracy": None}
        if n == 0:
            return out
        out["top1"] = 100.0 * int(m.trace()) / n
        if int(self.num_scored) == n:
            out["top5"] = 100.0 * int(self.top5_correct) / n
        support = m.sum(dim=1)
        present = support > 0
        out["mean_class_accuracy"] = 100.0 * float((m.diagonal()[present].double() / support[present]).mean())
        return out

    def _names(self, class_names: Sequence[str] | None) -> list[str]:
        if class_names is None:
            return [str(i) for i in range(self.num_classes)]
        if len(class_names) != self.num_classes:
            raise ValueError(f"got {len(class_names)} class names for {self.num_classes} classes")
        return [str(name) for name in class_names]

    def per_class(self, class_names: Sequence[str] | None = None) -> list[dict]:
        """Per-class counts and rates, by class index.

        Args:
            class_names: K names; the index as a string when omitted.

        Returns:
            One dict per class: ``index``, ``name``, ``support`` (videos of the class), ``correct``, ``predicted``
            (videos predicted as the class), ``recall`` (= the class accuracy) and ``precision`` in percent, or
            ``None`` when the class has no videos / no predictions.
        """
        names = self._names(class_names)
        m = self.matrix.cpu()
        support, predicted, correct = m.sum(dim=1).tolist(), m.sum(dim=0).tolist(), m.diagonal().tolist()
        return [{"index": i, "name": names[i], "support": support[i], "correct": correct[i],
                 "predicted": predicted[i],
                 "recall": 100.0 * correct[i] / support[i] if support[i] else None,
                 "precision": 100.0 * correct[i] / predicted[i] if predicted[i] else None}
                for i in range(self.num_classes)]

    def report(self, class_names: Sequence[str] | None = None, max_rows: int | None = None, worst: int = 5) -> str:
        """A fixed-width per-class table by class index, then the overall metrics and the worst classes.

        Args:
            class_names: K names; indices when omitted. Names longer than 40 characters are cut.
            max_rows: show only the first ``max_rows`` classes (a line says how many were left out).
            worst: list this many classes with the lowest recall (among those with videos); 0 for none.

        Returns:
            The report, lines joined by ``\\n`` (no trailing newline).
        """
        rows = self.per_class(class_names)
        width = min(max([len("class")] + [len(r["name"]) for r in rows]), 40)

        def pct(v: float | None, w: int) -> str:
            return f"{'-':>{w}}" if v is None else f"{v:>{w}.1f}"

        def cut(name: str) -> str:
            return name if len(name) <= width else name[:width - 3] + "..."

        lines = [f"{'idx':>5}  {'class':<{width}}  {'support':>7}  {'correct':>7}  {'recall':>6}  {'precision':>9}"]
        shown = rows if max_rows is None else rows[:max_rows]
        lines += [f"{r['index']:>5}  {cut(r['name']):<{width}}  {r['support']:>7}  {r['correct']:>7}  "
                  f"{pct(r['recall'], 6)}  {pct(r['precision'], 9)}" for r in shown]
        if len(shown) < len(rows):
            lines.append(f"  ... {len(rows) - len(shown)} more classes")
        s = self.summary()

        def overall(v: float | None) -> str:
            return "-" if v is None else f"{v:.2f}"

        lines.append(f"{s['num_samples']} videos  top-1 {overall(s['top1'])}  top-5 {overall(s['top5'])}  "
                     f"mean class accuracy {overall(s['mean_class_accuracy'])}")
        ranked = sorted((r for r in rows if r["recall"] is not None), key=lambda r: (r["recall"], r["index"]))
        if worst > 0 and ranked:
            lines.append("lowest recall: " + ", ".join(f"{r['name']} {r['recall']:.1f}" for r in ranked[:worst]))
        return "\n".join(lines)


def write_predictions(path: str | os.PathLike, videos: Sequence[str | os.PathLike], labels: Tensor, scores: Tensor,
                      class_names: Sequence[str] | None = None, topk: int = 5) -> Path:
    """Write one JSON object per video (JSON Lines) with its label and its top-k predictions.

    Each line reads ``{"video": ..., "label": 3, "label_name": "...", "correct": true,
    "predictions": [{"label": 3, "name": "...", "score": 0.91}, ...]}``, predictions best first; names are ``null``
    without ``class_names``. Scores are written as given (e.g. softmax averaged over the test views), rounded to
    6 decimals.

    Args:
        path: output file; parent directories are created.
        videos: N video ids or paths.
        labels: (N,) integer true classes in ``[0, K)``.
        scores: (N, K) float scores.
        class_names: K names.
        topk: predictions per video (clipped to K).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: on mismatched lengths, a label outside ``[0, K)`` or a wrong number of class names.
    """
    labels = torch.as_tensor(labels)
    scores = _check_scores(scores, labels)
    num_classes = scores.shape[1]
    labels = _check_labels(labels, num_classes).tolist()
    if len(videos) != len(labels):
        raise ValueError(f"got {len(videos)} videos but {len(labels)} labels")
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"got {len(class_names)} class names for {num_classes} classes")
    if topk < 1:
        raise ValueError(f"topk must be >= 1, got {topk}")
    top = scores.detach().float().cpu().topk(min(topk, num_classes), dim=1)

    def name(i: int) -> str | None:
        return None if class_names is None else str(class_names[i])

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(f) -> None:
        for n, (video, label) in enumerate(zip(videos, labels)):
            idx, val = top.indices[n].tolist(), top.values[n].tolist()
            record = {"video": os.fspath(video), "label": label, "label_name": name(label), "correct": idx[0] == label,
                      "predictions": [{"label": i, "name": name(i), "score": round(v, 6)} for i, v in zip(idx, val)]}
            f.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))

    return write_atomically(path, write)  # the whole file or none, even when interrupted
