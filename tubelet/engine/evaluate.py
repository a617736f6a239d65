"""Multi-view evaluation: every test view of a video goes through the model, per-view scores are averaged (softmax
then mean, or mean of raw logits, as the recipe's official test), and top-1 / top-5 / mean-class accuracy and the
confusion matrix are accumulated (summed across processes under torchrun).

:func:`evaluate_checkpoint` is ``tubelet eval``: a recipe's validation set through a checkpoint, with the report
files written next to it."""
from __future__ import annotations

import dataclasses
import json
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Mapping

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..atomic import write_text
from ..data import average_views
from ..errors import ConfigError, UsageError
from . import distributed
from .metrics import ConfusionMatrix

__all__ = ["evaluate", "evaluate_checkpoint", "default_eval_dir", "eval_data_cfg", "input_settings",
           "records_data_contract", "autocast", "EVAL_FILES"]

#: what ``tubelet eval`` writes into its folder
EVAL_FILES = ("predictions.jsonl", "confusion.png", "report.txt", "metrics.json")

#: the recipe's data fields that a tubelet checkpoint records in its data contract, and what the notes call them
RECORDED_FIELDS = {"num_frames": "frames", "sampler": "sampler", "frame_interval": "frame interval",
                   "crop_size": "crop size", "test_resize": "test short side", "test_clips": "test clips",
                   "test_crops": "test crops"}


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


def records_data_contract(model) -> bool:
    """Whether ``model``'s weights came from a file tubelet wrote (``.safetensors``, a run's ``last.pt``): such a
    file records the data contract the weights were trained with, and the model's ``pretrained_cfg`` is that."""
    report = getattr(model, "load_report", None)
    return report is not None and report.layout.startswith("tubelet ")


def _recorded(pcfg) -> dict:
    """The value of each of :data:`RECORDED_FIELDS` in the data contract ``pcfg``."""
    return {"num_frames": pcfg.num_frames, "sampler": pcfg.sampler, "frame_interval": pcfg.frame_interval,
            "crop_size": pcfg.input_size[-1], "test_resize": pcfg.resize_size or pcfg.input_size[-1],
            "test_clips": pcfg.test_views[0], "test_crops": pcfg.test_views[1]}


def eval_data_cfg(pcfg, cfg, *, recorded: bool, given: Mapping[str, str] | None = None):
    """The data config a checkpoint's model is evaluated with, and the notes that say where it is not the recipe's.

    A checkpoint tubelet wrote (``recorded``) carries the settings it was trained with (its ``pretrained_cfg``):
    frames, sampler, frame interval, crop, test short side and test views. Those win over the recipe's, each recipe
    value that differs giving a note; a data field the user set on the command line (``given``) wins over the
    checkpoint, with a note naming both values when they differ. Mean, std and interpolation are always the
    checkpoint's. Any other checkpoint records nothing: the recipe's fields, else the model's
    (:func:`tubelet.engine.build.data_cfg`).

    Args:
        pcfg: the loaded model's ``pretrained_cfg``.
        recorded: ``pcfg`` is what the checkpoint file recorded (:func:`records_data_contract`).
        given: the dotted keys set on the command line, each with how the user spelled it (``{"data.num_frames":
            "--set data.num_frames=16", "data.test_clips": "--views 4x3", ...}``).
    Returns:
        ``(data config, notes)``; each note is one line without the ``note:`` prefix.
    """
    from .build import data_cfg

    if not recorded:
        return data_cfg(pcfg, cfg), []
    given = given or {}
    d, theirs = cfg.data, _recorded(pcfg)
    keep, notes = {}, []
    for key, what in RECORDED_FIELDS.items():
        mine, how = getattr(d, key), given.get(f"data.{key}")
        keep[key] = mine if how is not None else None  # None: the model's, here the checkpoint's
        if mine is None or mine == theirs[key]:
            continue
        if how is not None:
            notes.append(f"{what}: {mine} ({how}) overrides the checkpoint's {theirs[key]}")
        else:
            notes.append(f"{what}: the checkpoint's {theirs[key]}, not the recipe's data.{key}={mine} (override with "
                         f"--set data.{key}={mine})")
    return data_cfg(pcfg, dataclasses.replace(cfg, data=dataclasses.replace(d, **keep))), notes


def input_settings(dcfg, view_average: str) -> dict:
    """What the test pipeline fed the model with (``metrics.json``'s ``input``): frames and their sampling, the
    crop and the short side it is cut from, normalisation, interpolation and how the views' scores are averaged."""
    return {"num_frames": dcfg.num_frames, "sampler": dcfg.sampler, "frame_interval": dcfg.frame_interval,
            "crop_size": dcfg.input_size[-1], "resize_size": dcfg.resize_size or dcfg.input_size[-1],
            "mean": list(dcfg.mean), "std": list(dcfg.std), "interpolation": dcfg.interpolation,
            "view_average": view_average}


def _out_problem(out: Path, overwrite: bool) -> str | None:
    """What stops ``tubelet eval`` from writing into ``out`` (read only), or None."""
    if out.exists() and not out.is_dir():
        return f"{out}: exists and is not a folder; choose another --out"
    existing = [name for name in EVAL_FILES if os.path.lexists(out / name)]
    if existing and not overwrite:
        return (f"{out}: holds an earlier evaluation ({', '.join(existing)}); pass --overwrite to replace it, or "
                f"choose another --out")
    return None


def _folder_class_names(cfg, checkpoint: str, num_classes: int) -> list[str]:
    """Class names of a ``folders`` recipe without ``data.labels`` whose checkpoint does not name its classes: the
    training folder's class folders (sorted, as training numbered them) when it is there, else the validation
    folder's."""
    from ..data import read_class_folders

    d = cfg.data
    split = "train" if d.train and os.path.isdir(d.train) else "val"
    root = getattr(d, split)
    if root is None:
        raise ConfigError("data.val: the folders format needs the folder of class folders")
    names = read_class_folders(root)[1]
    if len(names) != num_classes:
        raise ConfigError(f"data.{split}: {root} has {len(names)} class folders, but the checkpoint {checkpoint} has "
                          f"{num_classes} classes and does not name them; name them in training order with "
                          f"data.labels")
    return names


def _label_by_folder(samples, root: str, class_names: list[str], checkpoint: str) -> list[tuple[str, int]]:
    """The validation folder's ``(path, label)`` pairs, labelled by the name of each video's class folder in
    ``class_names`` (the checkpoint's order; the folder may hold fewer classes, so its own sorted order can differ)."""
    index = {name: i for i, name in enumerate(class_names)}
    out, unknown = [], set()
    for path, _ in samples:
        name = Path(path).relative_to(root).parts[0]
        if name in index:
            out.append((path, index[name]))
        else:
            unknown.add(name)
    if unknown:
        shown = ", ".join(sorted(unknown)[:3]) + (f" (and {len(unknown) - 3} more)" if len(unknown) > 3 else "")
        raise ConfigError(f"data.val: the class folders {shown} of {root} are none of the {len(class_names)} "
                          f"classes of the checkpoint {checkpoint} ({', '.join(class_names[:3])}, ...); name the "
                          f"classes with data.labels")
    return out


def evaluate_checkpoint(cfg, checkpoint: str | os.PathLike, out_dir: str | os.PathLike | None = None, *,
                        shuffle_frames: bool = False, given: Mapping[str, str] | None = None,
                        overwrite: bool = False, notify: Callable[[str], None] | None = None) -> dict:
    """``tubelet eval``: test ``checkpoint`` on the validation set of the run config ``cfg`` and write the report
    files.

    Builds ``cfg.model`` from the checkpoint (any supported layout), the validation data through the same path as
    training, and evaluates under torchrun as in a single process. The input settings (frames, sampler, crop, test
    short side, test views) are those a tubelet checkpoint recorded, unless set on the command line (``given``); the
    recipe's only for other checkpoints (:func:`eval_data_cfg`). The main process writes to ``out_dir`` (default:
    :func:`default_eval_dir`, ``eval/<checkpoint stem>_<clips>x<crops>[_shuffled]/`` next to the checkpoint, so that
    evaluations of other checkpoints or views do not overwrite each other): ``predictions.jsonl`` (per-video scores;
    single process only, the scores are not gathered), ``confusion.png``, ``report.txt`` (the per-class table of
    :meth:`ConfusionMatrix.report`) and ``metrics.json``. Class names come from the recipe, else from the checkpoint
    when they fit its classifier (else, with a warning, class indices); a ``folders`` recipe without
    ``data.labels`` takes the checkpoint's names (else the class folders') and needs only the validation folder.

    Args:
        shuffle_frames: shuffle each clip's frames (a model that uses temporal order should fail).
        given: the config keys set on the command line, each with how the user spelled it (see
            :func:`eval_data_cfg`).
        overwrite: replace the files of an earlier evaluation in the folder (default: a UsageError naming it,
            before any data is read).
        notify: called on the main process with each note (one line, no ``note:`` prefix) before the evaluation.
    Returns:
        The summary written to ``metrics.json`` (every process gets the same reduced metrics): ``top1``, ``top5``,
        ``mean_class_accuracy``, ``loss``, ``num_samples``, ``views``, ``input`` (:func:`input_settings`),
        ``input_from`` (``"checkpoint"``: the settings it records, ``"recipe"``: the recipe's, else the model's),
        ``notes``, ``checkpoint``, ``seconds``, ``frame_order``, ``out_dir``.
    Raises:
        UsageError: the folder holds an earlier evaluation and ``overwrite`` is not set.
        ConfigError: the recipe's class names or the validation labels do not fit the checkpoint's classifier.
        CheckpointError, AnnotationError, VideoDecodeError: as their messages say, naming the file.
    """
    from ..data import make_loader
    from ..models import create_model
    from .build import build_datasets, class_names_for

    checkpoint = os.fspath(checkpoint)
    frame_order = "shuffle" if shuffle_frames else "keep"
    info = distributed.init_distributed(cfg.train.device)
    by_folder = cfg.data.format == "folders" and cfg.data.labels is None  # named by the checkpoint, not data.train
    class_names = None if by_folder else class_names_for(cfg)
    model = create_model(cfg.model.name, checkpoint_path=checkpoint, num_classes=cfg.model.num_classes,
                         **cfg.model.options)
    num_classes = model.num_classes
    if class_names is not None and len(class_names) != num_classes:
        raise ConfigError(f"data.labels: the recipe names {len(class_names)} classes (format {cfg.data.format!r}) "
                          f"but the checkpoint {checkpoint} has {num_classes}")
    recorded = records_data_contract(model)
    dcfg, notes = eval_data_cfg(model.pretrained_cfg, cfg, recorded=recorded, given=given)
    if class_names is None:
        from .inference import model_labels
        class_names = model_labels(model.pretrained_cfg, num_classes, hint="name them with data.labels")
    if by_folder and class_names is None:
        class_names = _folder_class_names(cfg, checkpoint, num_classes)
    out = Path(out_dir or default_eval_dir(checkpoint, dcfg.test_views, shuffle_frames))
    problem = distributed.gather_objects(_out_problem(out, overwrite) if info.is_main else None, info)[0]
    if problem:  # the main process looked; every process stops
        raise UsageError(problem)
    if notify is not None and info.is_main:
        for note in notes:
            notify(note)
    model.to(info.device)
    ds = build_datasets(cfg, dcfg, splits=("val",))["val"]
    if by_folder:
        ds.samples = _label_by_folder(ds.samples, cfg.data.val, class_names, checkpoint)
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

    def summary() -> dict:
        s = {k: result[k] for k in ("top1", "top5", "mean_class_accuracy", "loss", "num_samples")}
        s.update(views=list(dcfg.test_views), input=input_settings(dcfg, cfg.data.view_average),
                 input_from="checkpoint" if recorded else "recipe", notes=notes, checkpoint=checkpoint,
                 seconds=round(time.perf_counter() - t0, 2), frame_order=frame_order, out_dir=str(out))
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
    elif (out / "predictions.jsonl").exists():  # --overwrite: an earlier run's predictions are not these
        (out / "predictions.jsonl").unlink()
    plot_confusion(meter.matrix, class_names, out / "confusion.png")
    write_text(out / "report.txt", meter.report(class_names) + "\n")  # each file whole or not at all
    s = summary()  # the seconds include writing the files, as they always have
    write_text(out / "metrics.json", json.dumps(s, indent=1))
    return s
