"""The model registry: variant names -> entrypoints, their default data contract and their family.

Only model *variants* are looked up by name. An entrypoint is a small function decorated with
``@register_model(FAMILY, cfg)``: ``FAMILY`` is the :class:`~tubelet.models._family.ModelFamily` of its module (what
the builder needs to read that family's checkpoints), ``cfg`` the variant's default :class:`PretrainedCfg`, so a
variant's settings are known without building it.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import fnmatch
import functools
import inspect
import numbers
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Callable

from ..errors import OptionError, UsageError

__all__ = ["PretrainedCfg", "register_model", "list_models", "get_entrypoint", "get_family", "get_pretrained_cfg",
           "get_task", "check_task", "resolve_args", "check_options", "attach_cfg"]


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

    def for_options(self, num_frames: int | None = None, img_size: int | tuple[int, int] | None = None,
                    num_classes: int | None = None) -> "PretrainedCfg":
        """The contract of the variant built with these options: ``num_frames`` frames per clip, ``img_size``
        pixels square, or ``(height, width)`` (top-down pose crops are 256x192), the test resize keeping its ratio
        to the crop; ``num_classes`` rows (another number drops the label list: the rows are no longer those
        classes).

        Raises:
            OptionError: ``num_frames`` or ``img_size`` that is not a whole number (``"8"``, ``8.0``, ``True``), or
                an ``img_size`` pair that is not two whole numbers.
            UsageError: ``num_frames`` or ``img_size`` below 1, or ``num_frames`` for an image model.
        """
        sizes = [("num_frames", num_frames)]
        if isinstance(img_size, (tuple, list)):
            if len(img_size) != 2:
                raise OptionError(f"{self.architecture}: option img_size expects a whole number or (height, width), "
                                  f"got {img_size!r}")
            sizes += [("img_size", v) for v in img_size]
        else:
            sizes.append(("img_size", img_size))
        for key, value in sizes:
            if value is not None:
                _check_value(self.architecture, key, value, int)
                if value < 1:
                    raise UsageError(f"{self.architecture}: option {key} must be >= 1, got {value}")
        cfg = self
        if num_frames is not None:
            if not cfg.is_video:
                raise UsageError(f"{cfg.architecture} is an image model: num_frames does not apply")
            cfg = cfg.replace(num_frames=num_frames, input_size=(cfg.input_size[0], num_frames, *cfg.input_size[2:]))
        if img_size is not None:
            h, w = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
            if (h, w) != tuple(cfg.input_size[-2:]):
                resize = None if cfg.resize_size is None else int(round(min(h, w) * cfg.resize_size
                                                                        / min(cfg.input_size[-2:])))
                cfg = cfg.replace(input_size=(*cfg.input_size[:-2], h, w), resize_size=resize)
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


def list_families() -> list[str]:
    """The names of the registered model families (``"uniformer"``, ``"uniformerv2"``, ``"video_swin"``), sorted."""
    return sorted({e.family.name for e in _ENTRIES.values()})


def list_models(pattern: str = "*", family: str | None = None) -> list[str]:
    """Registered variant names matching the shell-style ``pattern`` (e.g. ``"uniformer_*_2d"``), sorted.

    The pattern is a plain :func:`fnmatch.fnmatchcase` on the name, as timm's ``list_models``: ``"uniformer*"``
    also matches the UniFormerV2 variants (``uniformerv2_*``). ``family`` keeps one family's variants only
    (``list_models(family="uniformer")`` is UniFormer v1, video and image; :func:`list_families` names them).

    Raises:
        UsageError: an unknown ``family``.
    """
    if family is not None and family not in list_families():
        close = difflib.get_close_matches(family, list_families(), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UsageError(f"unknown model family {family!r}{hint}; families: {', '.join(list_families())}")
    return sorted(n for n, e in _ENTRIES.items()
                  if fnmatch.fnmatchcase(n, pattern) and (family is None or e.family.name == family))


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


#: families whose variants are not classifiers
_FAMILY_TASKS = {"uniformer_seg": "segmentation", "uniformer_pose": "pose", "uniformer_det": "detection"}
#: the command that runs each task
_TASK_COMMANDS = {"classification": "tubelet predict", "segmentation": "tubelet segment", "pose": "tubelet pose",
                  "detection": "tubelet detect",
                  "backbone": "Python: model(x) returns the feature maps"}
_TASK_WORDS = {"classification": "a classifier", "segmentation": "a semantic segmentation model",
               "pose": "a pose (keypoint heatmap) model", "detection": "an object detector (boxes and masks)",
               "backbone": "a dense-prediction backbone (4 feature maps)"}


def get_task(name: str) -> str:
    """What the variant does: ``"classification"`` (video or image classes), ``"segmentation"`` (a class per pixel),
    ``"pose"`` (keypoint heatmaps), ``"detection"`` (boxes and instance masks) or ``"backbone"`` (multi-scale
    feature maps for a detection library)."""
    task = _FAMILY_TASKS.get(get_family(name).name)
    if task is not None:
        return task
    return "backbone" if _entry(name).cfg.num_classes == 0 else "classification"


def check_task(name: str, task: str, command: str) -> None:
    """Raise a UsageError unless variant ``name`` does ``task``, naming what it is and the command that runs it
    (``tubelet predict --model uniformer_small_fpn`` -> "a semantic segmentation model: use tubelet segment")."""
    actual = get_task(name)
    if actual != task:
        raise UsageError(f"{name} is {_TASK_WORDS[actual]}, not {_TASK_WORDS[task]}, so `{command}` cannot use it "
                         f"(for {name}: {_TASK_COMMANDS[actual]})")


def get_pretrained_cfg(name: str, **options) -> PretrainedCfg:
    """The variant's data contract, without building it: the registered default, adjusted for the options that
    change it (``num_frames``, ``img_size``, ``num_classes``; all others leave it as it is)."""
    cfg = _entry(name).cfg
    return cfg.for_options(num_frames=options.get("num_frames"), img_size=options.get("img_size"),
                           num_classes=options.get("num_classes"))


def resolve_args(variant: str, cls: type, model_args: dict, args: dict, fixed: tuple[str, ...] = (),
                 extra: set[str] = frozenset()) -> dict:
    """All constructor arguments of ``cls`` for a variant: ``args`` over the defaults, tuples as lists.

    Every family builds through here, so the checks apply alike to Python calls, YAML recipes and ``--set``.

    Raises:
        OptionError: an option ``cls`` does not take (``extra`` names the other options the variant accepts), with
            the closest valid name; or a value that does not fit the option's annotation (:func:`check_options`).
        UsageError: an option in ``fixed`` that differs from the variant's ``model_args``.
    """
    sig = inspect.signature(cls)
    valid = sorted(set(sig.parameters) | set(extra))
    unknown = sorted(set(args) - set(sig.parameters))
    if unknown:
        hints = [f"{k} (did you mean {close}?)" if (close := _closest(k, valid)) else k for k in unknown]
        raise OptionError(f"{variant}: unknown option{'s' * (len(unknown) > 1)} {', '.join(hints)}; valid options: "
                          f"{', '.join(valid)}")
    check_options(variant, cls, args)
    for k in fixed:
        if args[k] != model_args[k]:
            raise UsageError(f"{variant}: {k}={model_args[k]} is fixed by the variant")
    bound = sig.bind(**args)
    bound.apply_defaults()
    return {k: list(v) if isinstance(v, tuple) else v for k, v in bound.arguments.items()}


def _closest(name: str, valid: list[str]) -> str | None:
    """The valid option closest to a mistyped ``name``; case and ``-`` / ``_`` do not count (``DROP_PATH_RATE``,
    ``drop-path-rate``: the official configs' spelling)."""
    key = str(name).lower().replace("-", "_")
    if key in valid:
        return key
    close = difflib.get_close_matches(key, valid, n=1)
    return close[0] if close else None


# -- option values against the constructor's annotations ------------------------------------------------------------

def check_options(variant: str, cls: type, options: dict) -> None:
    """Check option values against the annotations of ``cls``'s constructor, before anything is built.

    Understood: ``bool``, ``int``, ``float`` (an ``int`` fits), ``str``, ``None``, unions (``X | None``,
    ``Optional[X]``), ``Literal[...]``, sequences (``Sequence[int]``, ``list[int]``, ``tuple[int, ...]``: a list, a
    tuple or any other sequence but a string) and mappings. ``True`` / ``False`` is not a number here (Python counts
    ``bool`` as ``int``; a YAML ``yes`` would otherwise pass as 1), and a string is not a number. Other annotations
    (``Callable``, ``type[nn.Module]``, classes) and options without one are not checked.

    Raises:
        OptionError: naming the option, the type expected, the value given and, for the usual slips, the fix (YAML
            1.1 reads ``1e-1`` as a string; ``yes``/``no`` as booleans).
    """
    hints = _constructor_hints(cls)
    for key, value in options.items():
        if key in hints:
            _check_value(variant, key, value, hints[key])


@functools.lru_cache(maxsize=None)
def _constructor_hints(cls: type) -> dict:
    """``{parameter: annotation}`` of ``cls.__init__``, resolved; a parameter whose annotation cannot be resolved
    (a name only known under ``TYPE_CHECKING``) is left out, so it is not checked."""
    fn = cls.__init__
    try:
        return typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - one unresolvable annotation: resolve the others one by one
        pass
    out = {}
    namespace = getattr(inspect.getmodule(fn), "__dict__", {})
    for name, annotation in getattr(fn, "__annotations__", {}).items():
        try:
            while isinstance(annotation, (str, typing.ForwardRef)):  # "X", or "'X'" under postponed annotations
                text = annotation if isinstance(annotation, str) else annotation.__forward_arg__
                annotation = eval(text, namespace)  # noqa: S307 - the class's own source
        except Exception:  # noqa: BLE001
            continue
        out[name] = annotation
    return out


def _check_value(variant: str, key: str, value, tp) -> None:
    """Raise OptionError unless ``value`` fits the annotation ``tp`` of option ``key``."""
    if _fits(value, tp):
        return
    shown = f"the string {value!r}" if isinstance(value, str) else repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    where, leaf, leaf_tp = "", value, tp
    item = _bad_item(value, tp)
    if item is not None:
        i, leaf, leaf_tp = item
        where = f" (item {i}: {leaf!r})"
    raise OptionError(f"{variant}: option {key} expects {_describe(tp)}, got {shown}{where}{_fix(leaf, leaf_tp)}")


_SEQUENCES = (list, tuple, collections.abc.Sequence, collections.abc.MutableSequence)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def _is_union(tp) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _is_sequence_type(tp) -> bool:
    return tp in _SEQUENCES or typing.get_origin(tp) in _SEQUENCES


def _is_sequence(value) -> bool:
    return isinstance(value, collections.abc.Sequence) and not isinstance(value, (str, bytes, bytearray))


def _item_types(tp, n: int) -> list:
    """The annotation of each of ``n`` items of the sequence type ``tp``."""
    args = typing.get_args(tp)
    if not args:
        return [typing.Any] * n
    if typing.get_origin(tp) is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        return list(args)
    return [args[0]] * n


def _fits(value, tp) -> bool:
    """Whether ``value`` fits the annotation ``tp`` (True for annotations that are not understood)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _is_union(tp):
        return any(_fits(value, a) for a in args)
    if tp is None or tp is type(None):
        return value is None
    if origin is typing.Literal:
        return any(value == a and isinstance(value, bool) == isinstance(a, bool) for a in args)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if _is_sequence_type(tp):
        if not _is_sequence(value):
            return False
        types_ = _item_types(tp, len(value))
        return len(types_) == len(value) and all(_fits(v, t) for v, t in zip(value, types_))
    if tp in _MAPPINGS or origin in _MAPPINGS:
        if not isinstance(value, collections.abc.Mapping):
            return False
        key_tp, value_tp = args if len(args) == 2 else (typing.Any, typing.Any)
        return all(_fits(k, key_tp) and _fits(v, value_tp) for k, v in value.items())
    return True  # Any, Callable, type[nn.Module], classes: not checked


def _bad_item(value, tp):
    """``(index, item, item annotation)`` of the first item of a sequence that does not fit, or None."""
    if not _is_sequence(value):
        return None
    arms = typing.get_args(tp) if _is_union(tp) else (tp,)
    for arm in arms:
        if _is_sequence_type(arm):
            types_ = _item_types(arm, len(value))
            if len(types_) == len(value):
                return next(((i, v, t) for i, (v, t) in enumerate(zip(value, types_)) if not _fits(v, t)), None)
    return None


_ARTICLES = {bool: "a bool (true or false)", int: "an int", float: "a float", str: "a string"}


def _describe(tp) -> str:
    """``tp`` in words: ``a float``, ``a list of int``, ``an int or None``, ``one of 'a', 'b'``."""
    if _is_union(tp):
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        text = " or ".join(_describe(a) for a in arms)
        return text + " or None" if len(arms) < len(typing.get_args(tp)) else text
    if typing.get_origin(tp) is typing.Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(tp)))
    if tp in _ARTICLES:
        return _ARTICLES[tp]
    if _is_sequence_type(tp):
        args = typing.get_args(tp)
        if typing.get_origin(tp) is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            return f"a list of {len(args)} ({', '.join(_name(a) for a in args)})"
        return f"a list of {_name(args[0])}" if args else "a list"
    if tp in _MAPPINGS or typing.get_origin(tp) in _MAPPINGS:
        return "a mapping"
    return _name(tp)


def _name(tp) -> str:
    if _is_union(tp) or typing.get_origin(tp) is not None:
        return _describe(tp)
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


_EXPONENT = re.compile(r"^\s*(?P<mantissa>[-+]?[0-9]+)[eE](?P<exponent>[-+]?[0-9]+)\s*$")
_YAML_BOOLS = {"true", "false", "yes", "no", "on", "off", "y", "n"}


def _fix(value, tp) -> str:
    """The fix for the usual slips, as ``"; ..."`` (empty when there is nothing to add)."""
    arms = set(typing.get_args(tp)) if _is_union(tp) else {tp}
    number = int if int in arms and float not in arms else float if float in arms else None
    if isinstance(value, str) and number is not None:
        try:
            as_number = float(value)
        except ValueError:
            return ""
        m = _EXPONENT.match(value)
        if number is float and m:
            return (f"; YAML 1.1 reads {value.strip()} (no dot) as a string: write {as_number!r} or "
                    f"{m['mantissa']}.0e{m['exponent']}")
        return f"; write the number without quotes: {value.strip()}"
    if isinstance(value, str) and bool in arms and value.strip().lower() in _YAML_BOOLS:
        return "; write true or false without quotes"
    if isinstance(value, bool) and number is not None:
        return "; true/false is not a number (YAML also reads yes/no and on/off as booleans)"
    if number is int and isinstance(value, float) and value.is_integer():
        return f"; write {int(value)}"
    return ""


def attach_cfg(model, variant: str, resolved: dict, num_frames: int | None = None,
               img_size: int | None = None) -> None:
    """Give a freshly built model its ``pretrained_cfg`` (the variant's registered one for these frames, size and
    the model's number of classes) and ``model_args`` (``resolved``: every constructor argument)."""
    model.pretrained_cfg = get_pretrained_cfg(variant, num_frames=num_frames, img_size=img_size,
                                              num_classes=model.num_classes)
    model.model_args = resolved
