"""Run configuration: dataclasses with a default and a one-line comment per field, a YAML recipe on top, and
``--set key=value`` overrides on top of that.

Unknown keys and values of the wrong type are errors that name the key (nanoGPT's configurator rule, without
``exec``). ``None`` in a data field means "what the model's ``pretrained_cfg`` says", so evaluation follows the
weights unless a recipe says otherwise. The resolved config is saved into every run directory.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .atomic import write_text
from .errors import ConfigError

__all__ = ["Config", "ModelConfig", "DataConfig", "SyntheticConfig", "OptimConfig", "TrainConfig", "ConfigError",
           "load_config", "config_to_dict", "save_config", "parse_overrides", "parse_value", "config_differences",
           "UNSET"]


@dataclass
class ModelConfig:
    name: str = "uniformer_small"  # registered variant (`tubelet models`)
    num_classes: int | None = None  # classifier rows; None: the dataset's number of classes
    checkpoint: str | None = None  # initial weights in any supported layout (official, MMAction2, CLIP, tubelet)
    drop_head: bool = False  # start a new classifier instead of loading the checkpoint's (new label space)
    label_map: str | None = None  # take the checkpoint's classifier rows for k400/k600/k700 (K710 fine-tunes)
    options: dict = field(default_factory=dict)  # constructor options, e.g. {drop_path_rate: 0.1, frozen: true}
    grad_checkpointing: bool = False  # recompute blocks in the backward pass (activation memory for compute)


@dataclass
class SyntheticConfig:
    num_train: int = 500  # training clips generated
    num_val: int = 100  # validation clips generated
    num_frames: int = 16  # frames per generated clip
    height: int = 64  # frame height of the generated clips
    width: int = 80  # frame width of the generated clips
    seed: int = 0  # dataset seed (the same seed always writes the same files)


@dataclass
class DataConfig:
    format: str = "list"  # list ("path label" lines) | csv (PySlowFast "path,label") | ssv2 | folders | synthetic;
    # segmentation: ade20k (root/images/<split>, root/annotations/<split>) | synthetic; pose: coco_keypoints | synthetic
    train: str | None = None  # training annotation file (ssv2: the split json; folders: the root folder)
    val: str | None = None  # validation/test annotation file, same format
    root: str = ""  # folder joined to relative video paths (synthetic: the cache folder; "" = ~/.cache/tubelet)
    labels: str | None = None  # class names: a tubelet label list (k400, sthv2, ...), a txt file, or ssv2 labels json
    num_frames: int | None = None  # frames per clip; None: the model's
    sampler: str | None = None  # dense | sample_frames | segment | segment_middle; None: the model's
    frame_interval: int | None = None  # dense samplers' stride; None: the model's
    crop_size: int | None = None  # train and test crop; None: the model's input size
    short_side: int | None = 256  # train: resize the short side before cropping; None keeps the decoded size
    test_resize: int | None = None  # test: short side before the centre/three crop; None: the model's
    crop: str = "random_resized"  # train crop: random_resized (Inception) | multi_scale (MMAction2 TSN)
    scale: list[float] = field(default_factory=lambda: [0.08, 1.0])  # random-resized-crop area range
    ratio: list[float] = field(default_factory=lambda: [0.75, 4 / 3])  # random-resized-crop aspect range
    flip: bool = True  # random horizontal flip (off for Something-Something)
    flip_label_map: str | None = None  # on flip, swap left/right labels with this map (e.g. sthv2)
    rand_augment: str | None = None  # timm-style policy, e.g. rand-m7-n4-mstd0.5-inc1
    erase_prob: float = 0.0  # random erasing probability (after normalisation)
    num_samples: int = 1  # clips drawn per video per step (PySlowFast AUG.NUM_SAMPLE, repeated augmentation)
    test_clips: int | None = None  # temporal views at test; None: the model's test_views
    test_crops: int | None = None  # spatial views at test (1 or 3); None: the model's test_views
    view_average: str = "prob"  # prob: mean of per-view softmax | logits: mean of raw logits
    batch_size: int = 8  # clips per process per step (before num_samples)
    eval_batch_size: int | None = None  # videos per process per eval step; None: batch_size
    num_workers: int = 2  # decoding processes per training process
    skip_bad: bool = False  # skip (and count) videos that fail to decode instead of stopping
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)  # format: synthetic only
    # segmentation and pose (format ade20k / coco_keypoints / synthetic):
    pipeline: dict = field(default_factory=dict)  # options of the task's train pipeline, e.g. {crop_size: [512, 512]}
    reduce_zero_label: bool = True  # segmentation: annotation 0 is "other" (ignored), k is class k - 1 (ADE20K)
    train_images: str | None = None  # pose: the training images' folder (data.train: the COCO keypoints json)
    val_images: str | None = None  # pose: the validation images' folder (data.val: its json)


@dataclass
class OptimConfig:
    lr: float = 1e-4  # peak learning rate (at reference_batch when that is set)
    reference_batch: int | None = None  # total batch lr was tuned for; lr scales linearly with the actual one
    min_lr: float = 1e-6  # end of the cosine
    warmup_lr: float = 1e-6  # start of the linear warmup
    warmup_epochs: float = 0.0  # linear warmup length (fractions allowed)
    epochs: int = 30  # training epochs
    schedule: str = "cosine"  # lr after the warmup: cosine | poly (mmseg) | step (mmpose: x gamma at milestones)
    poly_power: float = 1.0  # schedule poly: the exponent
    milestones: list[float] = field(default_factory=list)  # schedule step: epochs at which lr is multiplied by gamma
    gamma: float = 0.1  # schedule step: the factor
    weight_decay: float = 0.05  # AdamW decoupled weight decay
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # AdamW betas
    eps: float = 1e-8  # AdamW epsilon
    no_decay_1d: bool = True  # no weight decay on 1-D parameters (biases, norms); Video Swin decays its biases
    no_decay_keys: list[str] = field(default_factory=list)  # extra name substrings kept out of weight decay
    layer_decay: float | None = None  # layer-wise lr decay (lr x decay^(depth from the top)); None: off
    backbone_lr_ratio: float = 1.0  # lr multiplier for all but the classifier (Video Swin: 0.1)
    clip_grad: float | None = None  # max global gradient norm; None: no clipping
    accum_steps: int = 1  # micro-batches per optimiser step (gradient accumulation)


@dataclass
class TrainConfig:
    seed: int = 0  # seeds the model init, the data order and every augmentation
    device: str = "auto"  # auto (cuda if available) | cpu | cuda | cuda:N
    amp: str = "none"  # none | bf16 | fp16 (with a gradient scaler)
    label_smoothing: float = 0.0  # cross-entropy label smoothing
    mixup: float = 0.0  # mixup alpha (0: off)
    cutmix: float = 0.0  # cutmix alpha (0: off)
    mixup_prob: float = 1.0  # probability of mixing a batch when mixup/cutmix is on
    mixup_switch_prob: float = 0.5  # probability of cutmix instead of mixup when both are on
    ema_decay: float | None = None  # keep an exponential moving average of the weights; None: off
    compile: bool = False  # torch.compile the model (first step is slow)
    distributed: str = "ddp"  # ddp | fsdp (fully_shard) when launched with torchrun
    sync_bn: bool | None = None  # under torchrun, BatchNorm statistics over all processes (SyncBatchNorm); None: the
    #   task's choice (segmentation: the decode heads, as mmseg's SyncBN; others: no)
    eval_every: int = 1  # evaluate every N epochs (and after the last)
    log_every: int = 10  # write a train record to metrics.jsonl every N optimiser steps
    save_every_steps: int | None = None  # also save the last checkpoint every N steps (preemptible machines)
    stop_at_step: int | None = None  # stop after this optimiser step (as a preempted job; schedule unchanged)
    steps_per_epoch: int | None = None  # cap optimiser steps per epoch (quick runs); None: the whole dataset
    tensorboard: bool = False  # also write TensorBoard events to OUT/tensorboard/ (tubelet[tensorboard])
    wandb: bool = False  # also log to Weights & Biases (tubelet[wandb]); WANDB_PROJECT, WANDB_MODE=offline, ... say where
    mlflow: bool = False  # also log to MLflow (tubelet[mlflow]); MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME say where
    progress: bool = True  # tqdm progress bars
    dry_run_frames: int = 2  # --dry-run: frames of the one real training step (the full clip is shape-checked)
    dry_run_size: int | None = 64  # --dry-run: crop of that step; None (or a model with a fixed size): the recipe's


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    notes: str = ""  # where the recipe comes from (paper, official config, run.sh)


# -- checking and merging ---------------------------------------------------------------------------------------------

def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _check(value, tp, key: str):
    """Return ``value`` converted to ``tp`` or raise ConfigError naming ``key``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _check(value, a, key)
            except ConfigError as e:
                errors.append(e)
        raise errors[0]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return _merge(tp(), value, key)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_check(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)] if args else list(value)
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - every field type is handled above
        raise TypeError(f"{key}: unsupported field type {tp}")
    raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")


def _merge(obj, values: dict, prefix: str = ""):
    """Return a copy of dataclass ``obj`` with ``values`` (a nested mapping) applied and checked."""
    hints = _hints(type(obj))
    out = dataclasses.replace(obj)
    for key, value in values.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if key not in hints:
            close = difflib.get_close_matches(str(key), list(hints), n=1)
            raise ConfigError(f"unknown key {name!r}" + (f" (did you mean {(prefix + '.' if prefix else '') + close[0]!r}?)" if close else "")
                              + f"; known keys here: {', '.join(hints)}")
        current = getattr(out, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            setattr(out, key, _merge(current, value, name))
        else:
            setattr(out, key, _check(value, hints[key], name))
    return out


class _ValueLoader(yaml.SafeLoader):
    """Safe YAML for recipe files and ``--set`` values, plus the number spellings YAML 1.1 leaves as strings
    (``1e-4``, ``5E3``)."""


_ValueLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def parse_value(text: str):
    """A ``--set`` value: YAML (``8``, ``1e-4``, ``[1, 1, 2, 1]``, ``true``, ``null``, ``{a: 1}``); text that is
    not valid YAML, and an empty value, is the string itself (``""``)."""
    if not text.strip():
        return ""
    try:
        return yaml.load(text, Loader=_ValueLoader)
    except yaml.YAMLError:
        return text


def parse_overrides(pairs: list[str] | None, *, within: str | None = None) -> dict:
    """``--set`` overrides, the one grammar of every ``tubelet`` command: ``["optim.lr=1e-4",
    "model.options.depth=[1,1,2,1]"]`` -> ``{"optim": {"lr": 1e-4}, "model": {"options": {"depth": [1, 1, 2, 1]}}}``.

    Keys are dotted paths into the run config (:class:`Config`); values are read by :func:`parse_value`.

    Args:
        within: a dotted section (``"model.options"`` for the commands that only build a model: predict, export,
            benchmark, convert). Keys must then lie inside it: ``within.KEY=VALUE``, or ``KEY=VALUE`` for short;
            the section's own mapping is returned. Any other dotted key is an error naming it.
    Raises:
        ConfigError: a pair without ``=``, a key outside ``within``, or a key both set to a value and used as a
            section.
    """
    out: dict = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if within is not None and key.startswith(within + "."):
            key = key[len(within) + 1:]
        elif within is not None and "." in key:
            raise ConfigError(f"--set {key}: this command takes only {within}.KEY=VALUE (or KEY=VALUE for short), "
                              f"e.g. --set {within}.num_frames=8")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        value = parse_value(text)
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {p!r} was already set to a value")
        node[parts[-1]] = value
    return out


def _deep_update(base: dict, new: dict) -> dict:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _deep_update(base[k], v)
        else:
            base[k] = v
    return base


_MAX_CONFIG_VALUES = 100_000  # a recipe has ~100; YAML aliases can make a small file expand without end


def _check_size(value, where: str) -> None:
    """Refuse a config whose values, aliases expanded, exceed ``_MAX_CONFIG_VALUES`` (a "billion laughs" file), before
    anything walks it."""
    budget = [_MAX_CONFIG_VALUES]

    def walk(v, depth: int) -> None:
        budget[0] -= 1
        if budget[0] < 0 or depth > 100:
            raise ConfigError(f"{where}: not a config: more than {_MAX_CONFIG_VALUES} values or 100 levels once "
                              f"its YAML aliases are expanded")
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else ()
        for c in children:
            walk(c, depth + 1)

    walk(value, 0)


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | dict | None = None, *,
                base: dict | None = None) -> Config:
    """Defaults, then the YAML file at ``path`` (or the values ``base``, a built-in recipe), then ``overrides``
    (``key=value`` strings or a nested dict).

    Raises:
        ConfigError: unreadable YAML, unknown key, wrong type or impossible value; the message names file and key.
    """
    values: dict = copy.deepcopy(base) if base is not None else {}
    where = "config"
    if path is not None:
        where = os.fspath(path)
        if os.path.exists(where) and not os.path.isfile(where):  # a FIFO would block, a device never end
            raise ConfigError(f"{where}: not a regular file, so not a config file")
        try:
            with open(where, encoding="utf-8-sig") as f:  # a byte-order mark (Notepad) is not part of the YAML
                loaded = yaml.load(f, Loader=_ValueLoader)  # 1e-4 is a number in a file as in --set
            _check_size(loaded, where)
        except yaml.YAMLError as e:
            raise ConfigError(f"{where}: not valid YAML: {e}") from None
        except RecursionError:
            raise ConfigError(f"{where}: not a config: nested too deeply") from None
        except FileNotFoundError:
            raise ConfigError(f"{where}: no such config file") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"{where}: not a UTF-8 text file (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                              f"save it as UTF-8") from None
        except OSError as e:
            raise ConfigError(f"{where}: cannot be read ({e.strerror or e})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{where}: expected a mapping at the top level, got {type(loaded).__name__}")
        values = loaded or {}
    extra = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
    # model.options is a free mapping: --set model.options.x=1 adds to it rather than replacing it
    values = _deep_update(values, extra)
    try:
        cfg = _merge(Config(), values)
        validate(cfg)
    except ConfigError as e:
        pairs = None if isinstance(overrides, dict) else overrides
        raise blame_overrides(e, pairs) or ConfigError(f"{where}: {e}") from None
    return cfg


def blame_overrides(error: ConfigError, pairs: list[str] | None) -> ConfigError | None:
    """The error of a config value as the ``--set KEY=VALUE`` that gave it (``--set optim.lr=abc: expected float,
    got 'abc'``), or None when no pair of ``pairs`` set the key the message starts with (the file's value, or a
    check of several keys)."""
    key, sep, problem = str(error).partition(": ")
    if not sep:
        return None
    for pair in reversed(pairs or []):  # the last pair of a key is the one that counts
        given = pair.partition("=")[0].strip()
        if key == given or key.startswith(given + "."):
            return ConfigError(f"--set {pair}: {key + ': ' if key != given else ''}{problem}")
    return None


def _one_of(value, allowed, key):
    if value not in allowed:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(repr, allowed))}")


#: the data formats of each task that tubelet trains
TASK_FORMATS = {"classification": ("list", "csv", "ssv2", "folders", "synthetic"),
                "segmentation": ("ade20k", "synthetic"), "pose": ("coco_keypoints", "synthetic")}


def _check_trainable(name) -> str | None:
    """The recipes train video classifiers, semantic segmentation and pose models: a detector or a bare backbone is a
    ConfigError naming what it is. Returns the model's task (None for a name the registry does not know: the model
    section's own check names it)."""
    from .models import list_models
    from .models._registry import get_task

    if not (isinstance(name, str) and name in list_models()):
        return None
    task = get_task(name)
    if task not in TASK_FORMATS:
        what = {"detection": "an object detector", "backbone": "a dense-prediction backbone"}.get(task, task)
        raise ConfigError(f"model.name: {name} is {what}; the recipes train video classifiers "
                          f"({', '.join(TASK_FORMATS)} models; detection training is not part of tubelet yet)")
    return task


def validate(cfg: Config) -> None:
    """Value checks that types cannot express."""
    d, o, t = cfg.data, cfg.optim, cfg.train
    task = _check_trainable(cfg.model.name) or "classification"
    if d.format not in TASK_FORMATS[task]:
        raise ConfigError(f"data.format: {d.format!r} is not a {task} format; {cfg.model.name} takes "
                          f"{', '.join(map(repr, TASK_FORMATS[task]))}")
    _one_of(o.schedule, ("cosine", "poly", "step"), "optim.schedule")
    _one_of(d.crop, ("random_resized", "multi_scale"), "data.crop")
    _one_of(d.view_average, ("prob", "logits"), "data.view_average")
    _one_of(t.amp, ("none", "bf16", "fp16"), "train.amp")
    _one_of(t.distributed, ("ddp", "fsdp"), "train.distributed")
    if d.sampler is not None:
        _one_of(d.sampler, ("dense", "sample_frames", "segment", "segment_middle"), "data.sampler")
    if d.test_crops is not None:
        _one_of(d.test_crops, (1, 3), "data.test_crops")
    if d.rand_augment is not None:
        from .data.augment import RandAugment
        try:
            RandAugment(d.rand_augment)
        except ValueError as e:
            raise ConfigError(f"data.rand_augment: {e}") from None
    for key, value in (("data.batch_size", d.batch_size), ("data.num_samples", d.num_samples),
                       ("optim.epochs", o.epochs), ("optim.accum_steps", o.accum_steps),
                       ("train.eval_every", t.eval_every), ("train.log_every", t.log_every),
                       ("train.dry_run_frames", t.dry_run_frames)):
        if value < 1:
            raise ConfigError(f"{key}: must be >= 1, got {value}")
    for key, value in (("data.num_frames", d.num_frames), ("data.frame_interval", d.frame_interval),
                       ("data.crop_size", d.crop_size), ("data.test_clips", d.test_clips),
                       ("data.eval_batch_size", d.eval_batch_size), ("train.save_every_steps", t.save_every_steps),
                       ("train.stop_at_step", t.stop_at_step), ("train.steps_per_epoch", t.steps_per_epoch),
                       ("optim.reference_batch", o.reference_batch), ("train.dry_run_size", t.dry_run_size)):
        if value is not None and value < 1:
            raise ConfigError(f"{key}: must be >= 1, got {value}")
    if d.num_workers < 0:
        raise ConfigError(f"data.num_workers: must be >= 0, got {d.num_workers}")
    if o.lr <= 0 or o.warmup_epochs < 0 or o.warmup_epochs > o.epochs:
        raise ConfigError(f"optim: need lr > 0 and 0 <= warmup_epochs <= epochs, got lr={o.lr}, "
                          f"warmup_epochs={o.warmup_epochs}, epochs={o.epochs}")
    if len(d.scale) != 2 or not 0 < d.scale[0] <= d.scale[1] <= 1:
        raise ConfigError(f"data.scale: need [min, max] with 0 < min <= max <= 1, got {d.scale}")
    if len(d.ratio) != 2 or not 0 < d.ratio[0] <= d.ratio[1]:
        raise ConfigError(f"data.ratio: need [min, max] with 0 < min <= max, got {d.ratio}")
    if len(o.betas) != 2 or not all(0 <= b < 1 for b in o.betas):
        raise ConfigError(f"optim.betas: need two values in [0, 1), got {o.betas}")
    if o.layer_decay is not None and not 0 < o.layer_decay <= 1:
        raise ConfigError(f"optim.layer_decay: must be in (0, 1], got {o.layer_decay}")
    if t.ema_decay is not None and not 0 < t.ema_decay < 1:
        raise ConfigError(f"train.ema_decay: must be in (0, 1), got {t.ema_decay}")
    if (t.mixup > 0 or t.cutmix > 0) and d.batch_size * d.num_samples % 2:
        raise ConfigError(f"train.mixup/cutmix mix a batch with its reverse and need an even batch, got "
                          f"data.batch_size={d.batch_size} x data.num_samples={d.num_samples}")
    if not 0 <= t.label_smoothing < 1 or not 0 <= d.erase_prob <= 1:
        raise ConfigError("train.label_smoothing must be in [0, 1) and data.erase_prob in [0, 1]")


def config_to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


class _Unset:
    """The value of a key that one side of :func:`config_differences` does not set (a model option)."""

    def __repr__(self) -> str:
        return "not set"


#: a free-mapping key (``model.options.X``) that one config sets and the other does not
UNSET = _Unset()


def _free_mappings(cls=Config, prefix: str = "") -> set[str]:
    """Dotted paths of the ``dict`` fields (free mappings such as ``model.options``), compared key by key."""
    out = set()
    for name, tp in _hints(cls).items():
        path = f"{prefix}{name}"
        if dataclasses.is_dataclass(tp):
            out |= _free_mappings(tp, path + ".")
        elif tp is dict or typing.get_origin(tp) is dict:
            out.add(path)
    return out


def _flatten(values: dict, prefix: str = "", out: dict | None = None) -> dict:
    """``{"optim": {"lr": 1e-4}}`` -> ``{"optim.lr": 1e-4}`` (sections and free mappings alike; lists are values)."""
    out = {} if out is None else out
    for k, v in values.items():
        if isinstance(v, dict):
            _flatten(v, f"{prefix}{k}.", out)
        else:
            out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
    return out


def config_differences(before: "Config | dict", after: "Config | dict") -> list[tuple[str, object, object]]:
    """The dotted keys whose values differ from ``before`` to ``after``, as ``(key, before, after)`` in field order.

    Either side may be a :class:`Config` or its :func:`config_to_dict` form (e.g. the one a checkpoint stores): a key
    an older dict lacks counts as its default, a key this version does not know is ignored, and a free mapping
    (``model.options``) is compared key by key, :data:`UNSET` standing for a key one side does not set.
    """
    defaults = config_to_dict(Config())
    free = _free_mappings()

    def flat(cfg) -> dict:
        values = config_to_dict(cfg) if dataclasses.is_dataclass(cfg) else \
            _deep_update(copy.deepcopy(defaults), copy.deepcopy(cfg))
        return _flatten(values)

    known = set(_flatten(defaults))
    a, b = flat(before), flat(after)
    keys = [k for k in {**a, **b} if k in known or any(k.startswith(f + ".") for f in free)]
    return [(k, a.get(k, UNSET), b.get(k, UNSET)) for k in keys if a.get(k, UNSET) != b.get(k, UNSET)]


def save_config(cfg: Config, path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML (loadable with :func:`load_config`), whole or not at all
    (:func:`tubelet.atomic.write_text`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
