"""From a :class:`~tubelet.config.Config` to the objects the loop uses: the model, the data config it is fed with,
the datasets and their transforms. ``train``, ``eval`` and ``demo`` all build through here (one data path)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..config import Config, ConfigError
from ..errors import AnnotationError, CheckpointError
from ..data import (EvalTransform, Mixup, TrainTransform, VideoDataset, make_sampler, make_synthetic_dataset,
                    read_class_folders, read_list_file, read_ssv2)
from ..models import create_model

__all__ = ["data_cfg", "build_model", "train_transform", "make_mixup", "read_split", "class_names_for", "build_datasets", "synthetic_root",
           "ensure_synthetic"]


def data_cfg(pcfg, cfg: Config):
    """The model's ``pretrained_cfg`` with the recipe's data fields applied: what the model is trained and
    evaluated on, and what a saved checkpoint tells ``predict`` to feed it."""
    d = cfg.data
    if not pcfg.is_video:
        raise ConfigError(f"model.name: {pcfg.architecture} is an image model; tubelet trains video models")
    frames = d.num_frames or pcfg.num_frames
    crop = d.crop_size or pcfg.input_size[-1]
    resize = d.test_resize or (pcfg.resize_size if d.crop_size is None
                               else round((pcfg.resize_size or pcfg.input_size[-1]) * crop / pcfg.input_size[-1]))
    return pcfg.replace(num_frames=frames, input_size=(3, frames, crop, crop), sampler=d.sampler or pcfg.sampler,
                        frame_interval=d.frame_interval or pcfg.frame_interval, resize_size=resize,
                        test_views=(d.test_clips or pcfg.test_views[0], d.test_crops or pcfg.test_views[1]))


def cache_dir() -> Path:
    """Where generated datasets go: ``$TUBELET_CACHE``, else ``~/.cache/tubelet``."""
    return Path(os.environ.get("TUBELET_CACHE", Path.home() / ".cache" / "tubelet"))


def synthetic_root(cfg: Config) -> Path:
    s = cfg.data.synthetic
    if cfg.data.root:
        return Path(cfg.data.root)
    return cache_dir() / f"synthetic-{s.num_train}-{s.num_val}-{s.num_frames}x{s.height}x{s.width}-seed{s.seed}"


def generate_once(root: Path, params: dict, make) -> Path:
    """Run ``make()`` (which writes a generated dataset into ``root``) unless ``root/done.json`` records ``params``;
    the stamp is written last, so an interrupted generation is redone rather than half-used. Returns ``root``."""
    from ..atomic import write_text

    stamp = root / "done.json"
    if stamp.exists():
        try:
            if json.loads(stamp.read_text()) == params:
                return root
        except ValueError:
            pass
    make()
    write_text(stamp, json.dumps(params))
    return root


def ensure_synthetic(cfg: Config) -> Path:
    """Write the synthetic video dataset once (:func:`generate_once`)."""
    s = cfg.data.synthetic
    params = {"num_train": s.num_train, "num_val": s.num_val, "num_frames": s.num_frames, "height": s.height,
              "width": s.width, "seed": s.seed}
    root = synthetic_root(cfg)
    return generate_once(root, params, lambda: make_synthetic_dataset(
        root, num_train=s.num_train, num_val=s.num_val, num_frames=s.num_frames, height=s.height, width=s.width,
        seed=s.seed))


def read_split(cfg: Config, split: str) -> list[tuple[str, int]]:
    """``(path, label)`` samples of the ``train`` or ``val`` split; errors name the annotation file and line."""
    d = cfg.data
    if d.format == "synthetic":
        root = ensure_synthetic(cfg)
        return read_list_file(root / f"{split}.txt", root)
    path = getattr(d, split)
    if path is None:
        raise ConfigError(f"data.{split}: no annotation file given (format {d.format!r})")
    if not os.path.exists(path):
        raise AnnotationError(f"data.{split}: {path}: no such file or folder")
    if d.format == "list":
        return read_list_file(path, d.root)
    if d.format == "csv":
        return read_list_file(path, d.root, sep=",")
    if d.format == "ssv2":
        if d.labels is None:
            raise ConfigError("data.labels: the ssv2 format needs the labels json")
        return read_ssv2(d.labels, path, d.root)
    return read_class_folders(path)[0]  # folders


def class_names_for(cfg: Config) -> list[str] | None:
    """Class names from ``data.labels`` (a shipped list name, a txt file, or the SSv2 labels json), the synthetic
    dataset, or the folder names; None when nothing names the classes."""
    d = cfg.data
    if d.format == "synthetic":
        return (ensure_synthetic(cfg) / "classes.txt").read_text().splitlines()
    if d.format == "folders" and d.labels is None:
        if not (d.train or d.val):
            raise ConfigError("data.train: the folders format needs the folder of class folders")
        return read_class_folders(d.train or d.val)[1]
    if d.labels is None:
        return None
    from ..data.datasets import read_class_names as class_names
    try:
        return class_names(d.labels)
    except ValueError as e:
        raise ConfigError(f"data.labels: {e}") from None


def build_model(cfg: Config, num_classes: int | None):
    """The recipe's model, initialised from ``model.checkpoint`` (strictly, with the family's conversions).

    Raises:
        CheckpointError: ``model.checkpoint`` does not exist, or does not fit the model.
    """
    m = cfg.model
    checkpoint = m.checkpoint
    if checkpoint is not None and not os.path.exists(checkpoint):
        raise CheckpointError(f"model.checkpoint: {checkpoint}: no such file")
    if checkpoint is None:
        model = create_model(m.name, num_classes=num_classes, **m.options)
    else:
        model = create_model(m.name, checkpoint_path=checkpoint, num_classes=num_classes, drop_head=m.drop_head,
                             label_map=m.label_map, **m.options)
    if m.grad_checkpointing:
        model.set_grad_checkpointing(True)
    return model


def train_transform(d, dcfg) -> TrainTransform:
    """The recipe's training augmentation (``DataConfig`` ``d``) for clips of the data config ``dcfg``."""
    return TrainTransform.from_cfg(dcfg, scale=tuple(d.scale), ratio=tuple(d.ratio), flip=d.flip,
                                   short_side=d.short_side, interpolation=dcfg.interpolation,
                                   rand_augment=d.rand_augment, erase_prob=d.erase_prob, crop=d.crop)


def make_mixup(t, num_classes: int, seed: int):
    """The recipe's mixup/cutmix (``TrainConfig`` ``t``), or None when both are off."""
    if t.mixup <= 0 and t.cutmix <= 0:
        return None
    return Mixup(num_classes, mixup_alpha=t.mixup, cutmix_alpha=t.cutmix, prob=t.mixup_prob,
                 switch_prob=t.mixup_switch_prob, label_smoothing=t.label_smoothing, seed=seed)


def build_datasets(cfg: Config, dcfg, *, splits=("train", "val"), rank: int = 0, world_size: int = 1):
    """``{split: VideoDataset}`` with the recipe's sampler and transforms (train: random clip + augmentation;
    val: every test view)."""
    d = cfg.data
    out = {}
    if "train" in splits:
        flip_map = None
        if d.flip_label_map:
            from ..labels import flip_label_map
            try:
                flip_map = flip_label_map(d.flip_label_map)
            except ValueError as e:
                raise ConfigError(f"data.flip_label_map: {e}") from None
        out["train"] = VideoDataset(read_split(cfg, "train"), make_sampler(dcfg), train_transform(d, dcfg), train=True,
                                    flip_label_map=flip_map, skip_bad=d.skip_bad, seed=cfg.train.seed,
                                    num_samples=d.num_samples)
    if "val" in splits:
        clips, crops = dcfg.test_views
        out["val"] = VideoDataset(read_split(cfg, "val"), make_sampler(dcfg, num_clips=clips),
                                  EvalTransform.from_cfg(dcfg, num_crops=crops), train=False, num_clips=clips,
                                  skip_bad=d.skip_bad, seed=cfg.train.seed)
    return out


def infer_num_classes(cfg: Config, class_names, samples) -> int:
    if cfg.model.num_classes is not None:
        n = cfg.model.num_classes
    elif class_names:
        n = len(class_names)
    else:
        n = max(label for _, label in samples) + 1
    bad = [(p, y) for p, y in samples if y >= n]
    if bad:
        raise ConfigError(f"model.num_classes={n} but {bad[0][0]} has label {bad[0][1]} ({len(bad)} such samples)")
    if class_names and len(class_names) != n:
        raise ConfigError(f"data.labels names {len(class_names)} classes but the model has {n}")
    return n


def describe(model: torch.nn.Module) -> str:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return f"{model.pretrained_cfg.architecture}: {total:,} parameters ({trainable:,} trainable)"
