"""The model registry: variant names -> entrypoints, and the data contract each variant carries.

Only model *variants* are looked up by name. An entrypoint is a small function decorated with
:func:`register_model`; its family module supplies the checkpoint converter (see ``_builder.py``).
"""
from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import inspect
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Callable

__all__ = ["PretrainedCfg", "register_model", "list_models", "get_entrypoint", "get_family", "is_model",
           "resolve_args", "attach_cfg"]


@dataclass(frozen=True)
class PretrainedCfg:
    """What a model expects of its input and where its architecture comes from.

    Preprocessing follows these fields, so evaluation cannot drift away from the weights (timm's ``pretrained_cfg``,
    torchvision's ``weights.transforms()``). Pixel statistics are on the 0-1 scale (uint8 / 255).

    Attributes:
        architecture: the registered variant name.
        num_classes: classifier rows (0 = no classifier).
        input_size: ``(C, T, H, W)`` for video models, ``(C, H, W)`` for image models.
        mean, std: per-channel normalisation on the 0-1 scale.
        num_frames: frames per clip (video models), else None.
        sampler: the official frame-sampling rule (``tubelet.data.presets.SAMPLERS``): ``"dense"`` (PySlowFast clip of
            ``num_frames`` spanning ``num_frames * frame_interval``), ``"sample_frames"`` (MMAction2, stride exactly
            ``frame_interval``), ``"segment"`` / ``"segment_middle"`` (one frame from each of ``num_frames`` equal
            segments); None for image models.
        frame_interval: stride between sampled frames for the dense sampler.
        test_views: ``(clips, crops)`` used for the published multi-view numbers.
        resize_size: short side the frames are resized to before the centre crop at evaluation.
        interpolation: resize interpolation.
        label_names: name of the label list shipped in ``tubelet/labels`` that the classifier rows follow, or None.
        class_names: the class names themselves, for classifiers trained on a dataset without a shipped list (a
            tubelet checkpoint stores them); takes precedence over ``label_names``.
        source: the official repository and commit the architecture reproduces.
        license: licence of the original code/weights.
        paper: the paper's title and arXiv id.
        notes: anything a user must know.
    """

    architecture: str
    num_classes: int
    input_size: tuple[int, ...]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    num_frames: int | None = None
    sampler: str | None = None
    frame_interval: int | None = None
    test_views: tuple[int, int] = (1, 1)
    resize_size: int | None = None
    interpolation: str = "bilinear"
    label_names: str | None = None
    class_names: tuple[str, ...] | None = None
    source: str = ""
    license: str = ""
    paper: str = ""
    notes: str = ""

    @property
    def is_video(self) -> bool:
        return len(self.input_size) == 4

    def labels(self) -> list[str] | None:
        """The classifier's class names (``class_names``, else the shipped ``label_names`` list), or None."""
        if self.class_names:
            return list(self.class_names)
        if self.label_names:
            from ..labels import load_labels
            return load_labels(self.label_names)
        return None

    def replace(self, **changes) -> "PretrainedCfg":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class _Entry:
    name: str
    fn: Callable
    family: ModuleType = field(repr=False)


_ENTRIES: dict[str, _Entry] = {}


def register_model(fn: Callable) -> Callable:
    """Register ``fn`` under its ``__name__``; its module is the family (it provides the checkpoint converter)."""
    name = fn.__name__
    if name in _ENTRIES:
        raise ValueError(f"model {name!r} is registered twice ({_ENTRIES[name].fn.__module__} and {fn.__module__})")
    _ENTRIES[name] = _Entry(name, fn, sys.modules[fn.__module__])
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Registered variant names matching the shell-style ``pattern`` (e.g. ``"uniformer_*_2d"``), sorted."""
    return sorted(n for n in _ENTRIES if fnmatch.fnmatchcase(n, pattern))


def is_model(name: str) -> bool:
    return name in _ENTRIES


def _entry(name: str) -> _Entry:
    if name not in _ENTRIES:
        close = difflib.get_close_matches(name, list(_ENTRIES), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model {name!r}{hint} (`tubelet models` lists all {len(_ENTRIES)} variants)")
    return _ENTRIES[name]


def get_entrypoint(name: str) -> Callable:
    return _entry(name).fn


def get_family(name: str) -> ModuleType:
    return _entry(name).family


def resolve_args(variant: str, cls: type, model_args: dict, args: dict, fixed: tuple[str, ...] = (),
                 extra: set[str] = frozenset()) -> dict:
    """All constructor arguments of ``cls`` for a variant: ``args`` over the defaults, tuples as lists.

    Raises:
        TypeError: an option ``cls`` does not take (``extra`` names the other options the variant accepts).
        ValueError: an option in ``fixed`` that differs from the variant's ``model_args``.
    """
    sig = inspect.signature(cls)
    unknown = sorted(set(args) - set(sig.parameters))
    if unknown:
        valid = ", ".join(sorted(set(sig.parameters) | set(extra)))
        raise TypeError(f"{variant}: unknown option(s) {unknown}; valid options: {valid}")
    for k in fixed:
        if args[k] != model_args[k]:
            raise ValueError(f"{variant}: {k}={model_args[k]} is fixed by the variant")
    bound = sig.bind(**args)
    bound.apply_defaults()
    return {k: list(v) if isinstance(v, tuple) else v for k, v in bound.arguments.items()}


def attach_cfg(model, cfg: PretrainedCfg, resolved: dict, **data) -> None:
    """Give a freshly built model its ``pretrained_cfg`` and ``model_args``: ``data`` (frames, sizes) replaces cfg
    fields; a classifier that differs from the cfg's drops the label list (its rows are no longer those classes)."""
    cfg = cfg.replace(**data)
    if model.num_classes != cfg.num_classes:
        cfg = cfg.replace(num_classes=model.num_classes, label_names=None, class_names=None)
    model.pretrained_cfg = cfg
    model.model_args = resolved
