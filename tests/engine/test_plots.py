"""Plots: each writes a real, non-blank PNG, large confusion matrices stay quick, and pyplot is never touched."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from tubelet.engine.plots import plot_confusion, plot_curves, plot_timeline

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_width=200, min_height=200):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] >= min_height and image.shape[1] >= min_width
    assert image[..., :3].std() > 0.01  # something was drawn on the white background
    return image


def run_records(epochs=4, steps_per_epoch=25):
    records = []
    for step in range(1, epochs * steps_per_epoch + 1):
        records.append({"kind": "train", "step": step, "epoch": step / steps_per_epoch,
                        "loss": 2.0 * np.exp(-step / 40) + 0.1 * np.sin(step), "lr": 1e-3 * min(1.0, step / 20)})
        if step % steps_per_epoch == 0:
            epoch = step // steps_per_epoch
            records.append({"kind": "eval", "step": step, "epoch": epoch, "top1": 50 + 10 * epoch,
                            "top5": 80 + 4 * epoch, "loss": 1.5 / epoch})
    return records


def test_plot_curves(tmp_path):
    path = plot_curves(run_records(), tmp_path / "plots" / "curves.png")
    assert path == tmp_path / "plots" / "curves.png"
    image = assert_png(path, min_width=1000)
    assert image.shape[1] > 2 * image.shape[0]  # three panels side by side


def test_plot_curves_without_eval_records_and_with_missing_keys(tmp_path):
    train_only = [r for r in run_records() if r["kind"] == "train"]
    assert_png(plot_curves(train_only, tmp_path / "train_only.png"))
    ragged = [{"kind": "train", "step": 1, "loss": 2.0}, {"kind": "train", "step": 2, "loss": None, "lr": 0.1},
              {"kind": "train", "loss": 1.0}, {"kind": "train", "step": 3, "loss": float("nan"), "lr": "x"},
              {"kind": "eval", "step": 3, "top1": 40.0}, {"kind": "eval", "epoch": 2, "top5": 70.0},
              {"step": 4, "top1": 45.0}, {"kind": "other", "step": 5}, {}]
    assert_png(plot_curves(ragged, tmp_path / "ragged.png"))
    # Nothing to draw still gives a figure that says so, rather than an error in the middle of a run.
    assert_png(plot_curves([], tmp_path / "empty.png"))


def test_plot_confusion_small_with_names(tmp_path):
    matrix = torch.tensor([[5, 1, 0], [2, 3, 0], [0, 0, 0]])
    assert_png(plot_confusion(matrix, ["walking", "running", "jumping"], tmp_path / "cm.png"))
    assert_png(plot_confusion(matrix.numpy(), None, tmp_path / "counts.png", normalize=False))
    with pytest.raises(ValueError, match="square"):
        plot_confusion(np.zeros((2, 3)), None, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="class names"):
        plot_confusion(matrix, ["a"], tmp_path / "bad.png")


def test_plot_confusion_400_classes(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 400, 20000)
    preds = np.where(rng.random(20000) < 0.8, labels, rng.integers(0, 400, 20000))
    matrix = np.zeros((400, 400), dtype=np.int64)
    np.add.at(matrix, (labels, preds), 1)
    path = plot_confusion(matrix, [f"class {i}" for i in range(400)], tmp_path / "k400.png")
    assert_png(path, min_width=1000)
    assert path.stat().st_size < 5_000_000


def test_plot_timeline(tmp_path):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(40, 20))
    logits[:20, 3] += 4  # class 3 dominates the first half, class 7 the second
    logits[20:, 7] += 4
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    times = np.arange(40) * 2.0 + 1.0
    assert_png(plot_timeline(times, probs, [f"action {i}" for i in range(20)], tmp_path / "t" / "timeline.png"))
    assert_png(plot_timeline(torch.tensor(times[:1]), torch.tensor(probs[:1, :3]), None, tmp_path / "one.png",
                             topk=5))
    with pytest.raises(ValueError, match="times"):
        plot_timeline(times[:3], probs, None, tmp_path / "bad.png")


def test_import_is_lazy_and_never_touches_pyplot(tmp_path):
    code = (
        "import sys\n"
        "import tubelet.engine.metrics, tubelet.engine.plots\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'\n"
        "from tubelet.engine.plots import plot_confusion\n"
        f"plot_confusion([[1, 0], [0, 1]], None, {str(tmp_path / 'cm.png')!r})\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
