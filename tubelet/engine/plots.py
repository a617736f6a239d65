"""PNG plots of a run: training curves, a confusion matrix and the class probabilities along a long video.

matplotlib is imported inside the functions, so ``import tubelet`` stays fast and works without it. The figures are
plain :class:`matplotlib.figure.Figure` objects saved through the Agg renderer, never pyplot: pyplot would select
(and may switch) the user's interactive backend, and its figure registry would keep every figure alive until
closed. A Figure made directly belongs to no registry and is freed once the function returns.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..atomic import write_atomically
from ..errors import DependencyError

__all__ = ["plot_curves", "plot_confusion", "plot_timeline"]

#: Above this many classes the confusion matrix has no tick labels: 400 names would be an unreadable black band.
_MAX_TICK_CLASSES = 40
#: Up to this many classes each cell of the confusion matrix also shows its value.
_MAX_ANNOTATED_CLASSES = 12


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise DependencyError(f"the PNG plots need matplotlib ({e}): pip install matplotlib") from None

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig, path: str | os.PathLike, dpi: int = 100) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # An explicit format: the figure is a PNG whatever the file name ends with. Written whole or not at all (a
    # temporary renamed over the file): an interrupted run leaves no truncated PNG.
    write_atomically(path, lambda f: fig.savefig(f, format="png", dpi=dpi))
    return path


def _number(value) -> float | None:
    """``value`` as a finite float, or None for a missing, non-numeric or non-finite entry."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _series(records: Sequence[dict], x_key: str, y_key: str) -> tuple[list[float], list[float]]:
    """The (x, y) points of the records that have both keys as finite numbers."""
    xs, ys = [], []
    for r in records:
        x, y = _number(r.get(x_key)), _number(r.get(y_key))
        if x is not None and y is not None:
            xs.append(x)
            ys.append(y)
    return xs, ys


def _smooth(values: list[float]) -> np.ndarray:
    """Debiased exponential moving average spanning about 1/20 of the points (as TensorBoard's smoothing)."""
    beta = 1.0 - 2.0 / (max(len(values) // 20, 1) + 1)
    out, avg = np.empty(len(values)), 0.0
    for i, v in enumerate(values):
        avg = beta * avg + (1.0 - beta) * v
        # Without the correction the curve would start near 0, the average's initial value.
        out[i] = avg / (1.0 - beta ** (i + 1)) if beta > 0 else v
    return out


def _kind(record: dict) -> str:
    """A record's kind; lines written without one are told apart by their metrics."""
    kind = record.get("kind")
    if kind is None:
        kind = "eval" if "top1" in record or "top5" in record else "train"
    return kind


def plot_curves(records: Sequence[dict], path: str | os.PathLike) -> Path:
    """Plot the training curves from the lines of a run's ``metrics.jsonl``.

    Panels, each drawn only when it has data: training loss against step with a smoothed line (plus the validation
    loss when eval records carry one), learning rate against step, and validation top-1 / top-5 against epoch (against
    step if some eval record lacks an epoch). Missing, ``None`` or non-finite values are skipped; with no data at all
    the figure says so.

    Args:
        records: dicts such as ``{"kind": "train", "step": 120, "epoch": 1.5, "loss": 0.53, "lr": 1e-4}`` and
            ``{"kind": "eval", "step": 240, "epoch": 3, "top1": 91.2, "top5": 99.0, "loss": 0.3}``. Records with
            another ``kind`` are ignored.
        path: output PNG; parent directories are created.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    train = [r for r in records if _kind(r) == "train"]
    evals = [r for r in records if _kind(r) == "eval"]
    loss = _series(train, "step", "loss")
    val_loss = _series(evals, "step", "loss")
    lr = _series(train, "step", "lr")
    acc_records = [r for r in evals if _number(r.get("top1")) is not None or _number(r.get("top5")) is not None]
    acc_x = "epoch" if all(_number(r.get("epoch")) is not None for r in acc_records) else "step"
    top1, top5 = _series(acc_records, acc_x, "top1"), _series(acc_records, acc_x, "top5")

    panels = []
    if loss[0] or val_loss[0]:
        panels.append(lambda ax: _draw_loss(ax, loss, val_loss))
    if lr[0]:
        panels.append(lambda ax: _draw_lr(ax, lr))
    if top1[0] or top5[0]:
        panels.append(lambda ax: _draw_accuracy(ax, top1, top5, acc_x))
    fig = _figure(4.8 * max(len(panels), 1), 3.6)
    if panels:
        for draw, ax in zip(panels, fig.subplots(1, len(panels), squeeze=False)[0]):
            draw(ax)
    else:
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no metrics to plot", ha="center", va="center", fontsize=14)
    return _save(fig, path)


def _draw_loss(ax, loss: tuple[list[float], list[float]], val_loss: tuple[list[float], list[float]]) -> None:
    steps, values = loss
    if steps:
        ax.plot(steps, values, color="tab:blue", alpha=0.3, linewidth=0.8, label="train")
        # A handful of points is its own best summary; smoothing them only lags.
        if len(values) >= 10:
            ax.plot(steps, _smooth(values), color="tab:blue", linewidth=1.6, label="train (smoothed)")
    if val_loss[0]:
        ax.plot(*val_loss, "o-", color="tab:orange", markersize=3, label="validation")
    ax.set(title="loss", xlabel="step")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def _draw_lr(ax, lr: tuple[list[float], list[float]]) -> None:
    steps, values = lr
    ax.plot(steps, values, color="tab:green")
    # Step decays span decades and read best on a log axis; a warm-up from 0 (or a flat rate) cannot use one.
    if min(values) > 0 and max(values) / min(values) > 50:
        ax.set_yscale("log")
    else:
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    ax.set(title="learning rate", xlabel="step")
    ax.grid(alpha=0.3)


def _draw_accuracy(ax, top1: tuple[list[float], list[float]], top5: tuple[list[float], list[float]],
                   x_label: str) -> None:
    for (xs, ys), name, color in ((top1, "top-1", "tab:red"), (top5, "top-5", "tab:purple")):
        if xs:
            best = max(ys)
            ax.plot(xs, ys, "o-", color=color, markersize=3, label=f"{name} (best {best:.2f})")
    ax.set(title="validation accuracy (%)", xlabel=x_label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def _as_array(x) -> np.ndarray:
    """A tensor (on any device) or array-like as a NumPy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def plot_confusion(matrix, class_names: Sequence[str] | None, path: str | os.PathLike,
                   normalize: bool = True) -> Path:
    """Plot a confusion matrix as a heat map with a colour bar; the title gives the overall accuracy.

    Tick labels are drawn up to 40 classes and cell values up to 12; larger matrices (400 Kinetics classes) are a
    plain image, still quick to render.

    Args:
        matrix: (K, K) integer counts, rows = true class, columns = predicted (tensor or array), e.g.
            :attr:`tubelet.engine.metrics.ConfusionMatrix.matrix`.
        class_names: K names, or None for class indices.
        path: output PNG; parent directories are created.
        normalize: divide each row by its total, so a cell is the fraction of the true class predicted as the
            column (rows without samples stay 0); else raw counts.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: if the matrix is not square or the number of names differs from K.
    """
    m = _as_array(matrix).astype(np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 1:
        raise ValueError(f"matrix must be square (K, K) with K >= 1, got shape {m.shape}")
    k = m.shape[0]
    if class_names is not None and len(class_names) != k:
        raise ValueError(f"got {len(class_names)} class names for {k} classes")
    total, correct = m.sum(), np.trace(m)
    if normalize:
        support = m.sum(axis=1, keepdims=True)
        m = np.divide(m, support, out=np.zeros_like(m), where=support > 0)

    side = min(max(4.0 + 0.22 * k, 6.0), 12.0)
    # Square, so that the colour bar and labels leave the image width-limited: constrained layout misplaces a
    # height-limited equal-aspect image with a colour bar and cuts off its y label.
    fig = _figure(side, side)
    ax = fig.add_subplot()
    im = ax.imshow(m, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else max(m.max(), 1.0))
    fig.colorbar(im, ax=ax, shrink=0.8, label="fraction of the true class" if normalize else "videos")
    if k <= _MAX_TICK_CLASSES:
        names = [str(n) for n in class_names] if class_names is not None else [str(i) for i in range(k)]
        ax.set_xticks(range(k), names, rotation=90, fontsize="small")
        ax.set_yticks(range(k), names, fontsize="small")
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    if k <= _MAX_ANNOTATED_CLASSES:
        threshold = 0.5 * (1.0 if normalize else max(m.max(), 1.0))
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, f"{v:.2f}" if normalize else f"{int(v)}", ha="center", va="center", fontsize="small",
                    color="white" if v > threshold else "black")
    ax.set(xlabel="predicted class", ylabel="true class")
    accuracy = f"top-1 {100.0 * correct / total:.2f}%" if total else "no samples"
    ax.set_title(f"confusion matrix: {int(total)} videos, {accuracy}")
    # A 400-class matrix drawn at 100 dpi would merge neighbouring classes; more pixels keep single cells visible.
    return _save(fig, path, dpi=150 if k > _MAX_TICK_CLASSES else 100)


def plot_timeline(times: Sequence[float], probs, class_names: Sequence[str] | None, path: str | os.PathLike,
                  topk: int = 5) -> Path:
    """Plot the class probabilities along a long video classified with sliding windows.

    One line per class among the ``topk`` with the highest mean probability over the windows, labelled with that
    mean.

    Args:
        times: W window centres in seconds.
        probs: (W, K) float probabilities (tensor or array), row w for the window centred at ``times[w]``.
        class_names: K names, or None for class indices.
        path: output PNG; parent directories are created.
        topk: classes to draw (clipped to K).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: on no windows, mismatched shapes or a wrong number of names.
    """
    t = _as_array(times).astype(np.float64).reshape(-1)
    p = _as_array(probs).astype(np.float64)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 1:
        raise ValueError(f"probs must be (W, K) with W, K >= 1, got shape {p.shape}")
    if t.shape[0] != p.shape[0]:
        raise ValueError(f"got {t.shape[0]} times for {p.shape[0]} windows")
    if class_names is not None and len(class_names) != p.shape[1]:
        raise ValueError(f"got {len(class_names)} class names for {p.shape[1]} classes")
    if topk < 1:
        raise ValueError(f"topk must be >= 1, got {topk}")
    mean = p.mean(axis=0)
    # A stable sort so that classes with equal means keep their index order from run to run.
    order = np.argsort(-mean, kind="stable")[:topk]

    fig = _figure(9.0, 4.0)
    ax = fig.add_subplot()
    marker = "o" if len(t) <= 50 else None
    for c in order:
        name = str(class_names[c]) if class_names is not None else f"class {c}"
        ax.plot(t, p[:, c], marker=marker, markersize=3, label=f"{name} (mean {mean[c]:.2f})")
    if p.min() >= 0.0 and p.max() <= 1.0:
        ax.set_ylim(-0.02, 1.02)
    ax.set(xlabel="time (s)", ylabel="probability", title=f"top-{len(order)} classes over {len(t)} windows")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return _save(fig, path)
