"""The model registry: variant names -> entrypoints, their default data contract and their family.

Only model *variants* are looked up by name. An entrypoint is a small function decorated with
``@register_model(FAMILY, cfg)``: ``FAMILY`` is the :class:`~tubelet.models._family.ModelFamily` of its module (what
the builder needs to read that family's checkpoints), ``cfg`` the variant's default :class:`PretrainedCfg`, so a
variant's settings are known without building it.
"""
from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from ..errors import OptionError, UsageError

if TYPE_CHECKING:
    from ._family import ModelFamily

__all__ = ["PretrainedCfg", "register_model", "list_models", "get_entrypoint", "get_family", "get_pretrained_cfg",
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
            return list(load_labels(self.label_names))
        return None

    def replace(self, **changes) -> "PretrainedCfg":
        return dataclasses.replace(self, **changes)

    def for_options(self, num_frames: int | None = None, img_size: int | None = None,
                    num_classes: int | None = None) -> "PretrainedCfg":
        """The contract of the variant built with these options: ``num_frames`` frames per clip, ``img_size``
        pixels square (the test resize keeps its ratio to the crop), ``num_classes`` rows (another number drops the
        label list: the rows are no longer those classes)."""
        cfg = self
        if num_frames is not None:
            if not cfg.is_video:
                raise UsageError(f"{cfg.architecture} is an image model: num_frames does not apply")
            cfg = cfg.replace(num_frames=num_frames, input_size=(cfg.input_size[0], num_frames, *cfg.input_size[2:]))
        if img_size is not None and img_size != cfg.input_size[-1]:
            resize = None if cfg.resize_size is None else int(round(img_size * cfg.resize_size / cfg.input_size[-1]))
            cfg = cfg.replace(input_size=(*cfg.input_size[:-2], img_size, img_size), resize_size=resize)
        if num_classes is not None and num_classes != cfg.num_classes:
            cfg = cfg.replace(num_classes=num_classes, label_names=None, class_names=None)
        return cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class _Entry:
    name: str
    fn: Callable
    family: "ModelFamily" = field(repr=False)
    cfg: PretrainedCfg = field(repr=False)


_ENTRIES: dict[str, _Entry] = {}


def register_model(family: "ModelFamily", cfg: PretrainedCfg) -> Callable[[Callable], Callable]:
    """Decorator: register the entrypoint under its ``__name__``, with its family and default data contract.

    ::

        @register_model(FAMILY, _video_cfg("uniformer_small"))
        def uniformer_small(**kwargs) -> UniFormer:
            ...
    """
    def register(fn: Callable) -> Callable:
        name = fn.__name__
        if name in _ENTRIES:
            raise ValueError(f"model {name!r} is registered twice ({_ENTRIES[name].fn.__module__} and "
                             f"{fn.__module__})")
        if cfg.architecture != name:
            raise ValueError(f"model {name!r} is registered with the pretrained_cfg of {cfg.architecture!r}")
        _ENTRIES[name] = _Entry(name, fn, family, cfg)
        return fn
    return register


def list_models(pattern: str = "*") -> list[str]:
    """Registered variant names matching the shell-style ``pattern`` (e.g. ``"uniformer_*_2d"``), sorted."""
    return sorted(n for n in _ENTRIES if fnmatch.fnmatchcase(n, pattern))


def _entry(name: str) -> _Entry:
    if name not in _ENTRIES:
        close = difflib.get_close_matches(name, list(_ENTRIES), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UsageError(f"unknown model {name!r}{hint} (`tubelet models` lists all {len(_ENTRIES)} variants)")
    return _ENTRIES[name]


def get_entrypoint(name: str) -> Callable:
    return _entry(name).fn


def get_family(name: str) -> "ModelFamily":
    """The :class:`~tubelet.models._family.ModelFamily` the variant belongs to."""
    return _entry(name).family


def get_pretrained_cfg(name: str, **options) -> PretrainedCfg:
    """The variant's data contract, without building it: the registered default, adjusted for the options that
    change it (``num_frames``, ``img_size``, ``num_classes``; all others leave it as it is)."""
    cfg = _entry(name).cfg
    return cfg.for_options(num_frames=options.get("num_frames"), img_size=options.get("img_size"),
                           num_classes=options.get("num_classes"))


def resolve_args(variant: str, cls: type, model_args: dict, args: dict, fixed: tuple[str, ...] = (),
                 extra: set[str] = frozenset()) -> dict:
    """All constructor arguments of ``cls`` for a variant: ``args`` over the defaults, tuples as lists.

    Raises:
        OptionError: an option ``cls`` does not take (``extra`` names the other options the variant accepts).
        UsageError: an option in ``fixed`` that differs from the variant's ``model_args``.
    """
    sig = inspect.signature(cls)
    valid = sorted(set(sig.parameters) | set(extra))
    unknown = sorted(set(args) - set(sig.parameters))
    if unknown:
        hints = [f"{k} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(k, valid, n=1)) else k
                 for k in unknown]
        raise OptionError(f"{variant}: unknown option(s) {', '.join(hints)}; valid options: {', '.join(valid)}")
    for k in fixed:
        if args[k] != model_args[k]:
            raise UsageError(f"{variant}: {k}={model_args[k]} is fixed by the variant")
    bound = sig.bind(**args)
    bound.apply_defaults()
    return {k: list(v) if isinstance(v, tuple) else v for k, v in bound.arguments.items()}


def attach_cfg(model, variant: str, resolved: dict, num_frames: int | None = None,
               img_size: int | None = None) -> None:
    """Give a freshly built model its ``pretrained_cfg`` (the variant's registered one for these frames, size and
    the model's number of classes) and ``model_args`` (``resolved``: every constructor argument)."""
    model.pretrained_cfg = get_pretrained_cfg(variant, num_frames=num_frames, img_size=img_size,
                                              num_classes=model.num_classes)
    model.model_args = resolved
