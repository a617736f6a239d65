"""``tubelet demo``: the whole job on the built-in default, end to end, in a few minutes on a laptop CPU.

1. generate the synthetic dataset (real H.264 files; 10 classes in 5 time-reversed pairs: moving left / right, ...,
   appearing / disappearing), cached;
2. train a small UniFormer (the registered ``uniformer_small`` architecture, narrowed) from scratch with the normal
   ``train`` loop (no pretrained weights can be downloaded offline, so nothing is fine-tuned from a checkpoint);
3. evaluate the best checkpoint on the validation clips, and again with each clip's frames shuffled: the pairs
   differ only in the direction of time, so a model that uses temporal order drops towards 50% there;
4. plot the curves and the confusion matrix, and classify one validation video with ``predict``'s code.

The main process runs one torch thread fewer per DataLoader worker than the CPUs it may use (at least one:
:func:`tubelet.runtime.set_threads_for_workers`), for the demo only: with more busy threads than cores, each parallel
operation waits for its slowest thread, and the run slows down many times over once other processes compete for
the CPUs (see BENCHMARKS.md). ``TUBELET_NUM_THREADS=N`` sets the number instead.
"""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import torch

from ..atomic import write_text
from ..config import _deep_update, load_config
from ..data import make_loader
from ..models import create_model
from ..runtime import set_threads_for_workers
from .build import build_datasets, class_names_for, data_cfg, ensure_synthetic, synthetic_root
from .evaluate import evaluate
from .inference import classify_video, topk
from .train import train

__all__ = ["DEMO_CONFIG", "run_demo", "TARGET_TOP1", "MAX_SHUFFLED_TOP1"]

TARGET_TOP1 = 90.0  # the demo must reach this validation top-1 (%)
MAX_SHUFFLED_TOP1 = 60.0  # ... and stay at or below this on frame-shuffled clips (chance within a pair is 50%)

#: the demo recipe (a config like any in configs/, kept in code so `tubelet demo` needs no file)
DEMO_CONFIG = {
    "model": {"name": "uniformer_small",
              "options": {"depth": [1, 1, 2, 1], "embed_dim": [32, 64, 128, 256], "head_dim": 32,
                          "drop_path_rate": 0.0}},
    "data": {"format": "synthetic", "num_frames": 8, "sampler": "segment", "crop_size": 32, "short_side": None,
             "scale": [0.85, 1.0], "flip": False,  # a flip would turn "moving left" into "moving right"
             "batch_size": 16, "eval_batch_size": 50, "num_workers": 1, "test_clips": 1, "test_crops": 1,
             "synthetic": {"num_train": 1000, "num_val": 200, "num_frames": 16, "height": 32, "width": 40,
                           "seed": 0}},
    "optim": {"lr": 1e-3, "epochs": 12, "warmup_epochs": 1.0, "weight_decay": 0.05, "min_lr": 0.0,
              "warmup_lr": 0.0},
    "train": {"log_every": 10, "label_smoothing": 0.1},
    "notes": "tubelet demo: a narrowed UniFormer trained from scratch on the synthetic time-reversal dataset",
}

#: --quick: a smoke run of the same code path (no accuracy target)
QUICK = {"data": {"synthetic": {"num_train": 20, "num_val": 10}, "num_workers": 0, "batch_size": 4},
         "optim": {"epochs": 1, "warmup_epochs": 0.0}, "train": {"steps_per_epoch": 2, "log_every": 1}}


def train_demo(cfg, out: Path, restart: bool = False, step: str = "[2/4]") -> tuple[dict, int, float]:
    """The demos' training step: ``(train's result, torch threads, seconds)``. The thread count is set for the data
    loader workers (:func:`tubelet.runtime.set_threads_for_workers`) and announced with the model on line ``step``.

    A demo folder is the demo's own: a finished demo (``demo.json``) or another run there is replaced, saying so; an
    interrupted demo (``last.pt`` without ``demo.json``, e.g. after Ctrl-C) resumes exactly where it stopped when
    its settings are this launch's, else starts over saying why. ``restart``: always start over."""
    threads = set_threads_for_workers(cfg.data.num_workers)
    workers = cfg.data.num_workers
    print(f"{step} training {cfg.model.name} (narrowed: {cfg.model.options}) for {cfg.optim.epochs} epochs "
          f"({threads} torch thread{'s' * (threads > 1)} + {workers} data loader worker{'s' * (workers != 1)})")
    t = time.perf_counter()
    return _train_or_resume(cfg, out, restart), threads, time.perf_counter() - t


def _train_or_resume(cfg, out: Path, restart: bool) -> dict:
    from ..errors import CheckpointError, ConfigError

    last, finished = out / "last.pt", (out / "demo.json").exists()
    if last.is_file() and not finished and not restart:
        print(f"resuming the interrupted demo in {out} (tubelet demo --restart starts over)")
        try:
            return train(cfg, out, resume=True)
        except (ConfigError, CheckpointError) as e:
            print(f"note: cannot resume it ({e}); starting over")
    elif finished or last.is_file():
        why = "--restart" if restart and not finished else "it holds a finished demo"
        print(f"note: starting over in {out} ({why}); its files are replaced")
    return train(cfg, out, overwrite=True)


def run_demo(out: str | Path = "runs/demo", overrides: list[str] | None = None, quick: bool = False,
             restart: bool = False) -> dict:
    """Run the demo; returns the report as a dict (``passed`` says whether the accuracy targets were met).

    torch's intra-op thread count is lowered for the run (see the module docstring) and restored afterwards."""
    threads = torch.get_num_threads()
    try:
        return _run_demo(out, overrides, quick, restart)
    finally:
        torch.set_num_threads(threads)


def _run_demo(out: str | Path, overrides: list[str] | None, quick: bool, restart: bool) -> dict:
    t0 = time.perf_counter()
    out = Path(out)
    values = copy.deepcopy(DEMO_CONFIG)
    if quick:
        _deep_update(values, copy.deepcopy(QUICK))
    cfg = load_config(None, overrides, base=values)  # a bad --set is named as such

    print(f"[1/4] synthetic dataset: {cfg.data.synthetic.num_train} train + {cfg.data.synthetic.num_val} val clips "
          f"-> {synthetic_root(cfg)}")
    t = time.perf_counter()
    ensure_synthetic(cfg)
    t_data = time.perf_counter() - t

    result, threads, t_train = train_demo(cfg, out, restart, "[2/4]")

    print("[3/4] evaluating the best checkpoint on the validation clips, in order and with frames shuffled")
    model = create_model(checkpoint_path=out / "best.safetensors").eval()
    dcfg = data_cfg(model.pretrained_cfg, cfg)
    class_names = class_names_for(cfg)
    val = build_datasets(cfg, dcfg, splits=("val",))["val"]
    loader = make_loader(val, cfg.data.batch_size, train=False, num_workers=cfg.data.num_workers)
    kept = evaluate(model, loader, num_classes=model.num_classes, device=next(model.parameters()).device)
    shuffled = evaluate(model, loader, num_classes=model.num_classes, device=next(model.parameters()).device,
                        frame_order="shuffle", seed=cfg.train.seed)
    from .plots import plot_confusion
    plot_confusion(kept["confusion"].matrix, class_names, out / "confusion.png")

    print("[4/4] predicting one validation video")
    video, label = val.samples[0]
    pred = topk(classify_video(model, video), model.pretrained_cfg.labels(), 3)

    report = {"val_top1": kept["top1"], "val_top5": kept["top5"], "shuffled_top1": shuffled["top1"],
              "num_val": kept["num_samples"], "seconds_total": round(time.perf_counter() - t0, 1),
              "seconds_data": round(t_data, 1), "seconds_train": round(t_train, 1), "epochs": result["epoch"],
              "threads": threads, "num_workers": cfg.data.num_workers,
              "out_dir": str(out), "checkpoint": str(out / "best.safetensors"), "curves": str(out / "curves.png"),
              "confusion": str(out / "confusion.png"), "metrics": str(out / "metrics.jsonl"),
              "prediction": {"video": video, "label": class_names[label], "top3": pred}, "quick": quick}
    report["passed"] = report["val_top1"] >= TARGET_TOP1 and report["shuffled_top1"] <= MAX_SHUFFLED_TOP1
    write_text(out / "demo.json", json.dumps(report, indent=1))

    print()
    print("tubelet demo: report")
    print(f"  validation top-1         {kept['top1']:6.2f} %  (target >= {TARGET_TOP1:.0f} %; "
          f"{kept['num_samples']} clips, top-5 {kept['top5']:.2f} %)")
    print(f"  frame-shuffled top-1     {shuffled['top1']:6.2f} %  (same model, frames in random order; "
          f"must be <= {MAX_SHUFFLED_TOP1:.0f} %)")
    print(f"  time                     {report['seconds_total']:6.1f} s  (data {t_data:.1f} s, "
          f"training + eval {t_train:.1f} s)")
    print(f"  prediction               {Path(video).name} (true: {class_names[label]}): "
          + ", ".join(f"{p['label']} {p['score']:.2f}" for p in pred))
    print(f"  files                    {out}/: best.safetensors, last.pt, metrics.jsonl, curves.png, "
          f"confusion.png, config.yaml, demo.json")
    verdict = "PASSED" if report["passed"] else ("(quick run: no target)" if quick else "FAILED")
    print(f"  result                   {verdict}")
    return report
