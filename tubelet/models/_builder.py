"""Build a registered model and load weights into it: strictly, from any known layout, never running code.

``create_model`` is the one entry point. Without a file it calls the variant's entrypoint. With ``checkpoint_path``
it goes through four named steps:

1. read the file (:mod:`._files`: nothing from the file is executed);
2. plan the build: :func:`_plan_tubelet_file` (architecture and options recorded in the file: tubelet
   ``.safetensors`` and training checkpoints) or
   :func:`_plan_foreign_file` (the family converts key names and reads the switches the weights determine, see
   :class:`~tubelet.models._family.ModelFamily`);
3. build the model and fit the weights to it (:func:`_fit_weights`: inflation, the classifier of another label
   space dropped or kept);
4. load every tensor strictly (:func:`_load_strict`).

Anything that does not fit raises :class:`CheckpointError` naming the file and the keys.
"""
from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import CheckpointError, TubeletError, UsageError
from ._family import ModelFamily
from ._files import read_checkpoint, save_model
from ._registry import PretrainedCfg, get_entrypoint, get_family, get_pretrained_cfg, list_models

__all__ = ["create_model", "create_task_model", "save_model", "read_checkpoint", "LoadReport", "count_params"]

_log = logging.getLogger("tubelet")

#: fields of a tubelet file's stored data contract that describe the weights (the rest comes from the variant)
_STORED_CFG_FIELDS = ("input_size", "num_frames", "mean", "std", "sampler", "frame_interval", "test_views",
                      "resize_size", "interpolation", "label_names", "class_names", "notes")


@dataclass
class LoadReport:
    """What happened when a checkpoint was loaded (``model.load_report``).

    Attributes:
        path: the checkpoint file.
        layout: where the weights were found and whose key names they use.
        notes: conversions applied (inflation, renaming).
        dropped: checkpoint keys not loaded (a classifier of another label space).
        new: model keys left at their initialisation.
    """

    path: str
    layout: str
    notes: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"loaded {self.path} ({self.layout})"] + [f"  {n}" for n in self.notes]
        if self.dropped:
            lines.append(f"  not loaded (classifier of another label space): {', '.join(self.dropped)}")
        if self.new:
            lines.append(f"  newly initialised: {', '.join(self.new)}")
        return "\n".join(lines)


@dataclass
class _Plan:
    """What a checkpoint file says about the model to build (the output of step 2)."""

    name: str
    family: ModelFamily
    state_dict: dict
    options: dict  # constructor options (the caller's, plus what the file determines)
    arch: dict  # what the weights determine; ``num_classes`` always present (None: no classifier)
    layout: str  # container and producer, for the load report
    init_only: bool  # the file initialises the model: a classifier of another label space is dropped, not an error
    producer: str | None = None  # foreign files: the producer's layout (for its data contract)
    stored_cfg: dict = field(default_factory=dict)  # tubelet files: the data contract saved with the weights


def _same(a, b) -> bool:
    norm = lambda v: list(v) if isinstance(v, (tuple, list)) else v  # noqa: E731
    return norm(a) == norm(b)


def create_model(name: str | None = None, *, pretrained: bool | str = False, num_classes: int | None = None,
                 checkpoint_path: str | os.PathLike | None = None, drop_head: bool = False,
                 label_map: str | None = None, **overrides) -> nn.Module:
    """Create a registered model, optionally with weights.

    Args:
        name: a name from :func:`list_models`, optionally with a released tag: ``"ARCH.TAG"`` (see
            :func:`.list_pretrained`), which selects that checkpoint's architecture options and data contract. May be
            omitted when ``checkpoint_path`` is a file tubelet wrote (``.safetensors``, or a training run's
            ``last.pt``): it records its architecture, options and data contract; if given, it must agree with the
            file.
        pretrained: load released weights: True (the tag in ``name``, else the architecture's default tag) or a tag
            (e.g. ``"k710_ft_k400_8x224"``; ``"clip"`` / ``"in1k"`` initialise a video model for training). The file
            is downloaded into the cache once and hash-checked (:mod:`tubelet.hub`). With ``checkpoint_path``, the
            tag's settings apply to that file and its hash is checked where one is known (the way to use weights
            that only a person can download).
        num_classes: classifier rows. Default: the checkpoint's, else the variant's.
        checkpoint_path: weights in any layout the original code, MMAction2, timm/DeiT or tubelet write. Loaded
            strictly. An image checkpoint given to a video model initialises it by the official 2-D -> 3-D rule.
        drop_head: start a new ``num_classes`` classifier instead of loading the checkpoint's (fine-tuning to a new
            label space). Without it, a ``num_classes`` that contradicts the checkpoint is an error.
        label_map: select the checkpoint's classifier rows into another label space, e.g. ``"k400"`` loads a
            Kinetics-710 head as a Kinetics-400 one (the official K710 -> K400/K600/K700 fine-tuning start).
        **overrides: constructor options under their official names (e.g. ``depth``, ``embed_dim``,
            ``drop_path_rate``; SlowFast config names such as ``drop_depth_rate`` are accepted too).
    Returns:
        the model (in training mode, as any new ``nn.Module``), with ``pretrained_cfg``, ``model_args`` and, when
        loaded from a file, ``load_report``.
    Raises:
        UsageError: unknown name, or an impossible combination of arguments. OptionError: unknown option.
        CheckpointError: unreadable file, or weights that do not fit.
    """
    weights = None
    if name is not None:
        weights, name = _resolve_weights(name, pretrained, checkpoint_path is not None)
    elif pretrained:
        raise UsageError("pretrained weights need a model name (create_model(NAME, pretrained=...), or --model NAME "
                         "with --pretrained)")
    if weights is not None:
        if weights.arch == name:
            overrides = {**weights.create_options(), **overrides}
        if checkpoint_path is None and pretrained:
            from ..hub import fetch
            checkpoint_path = fetch(weights)
        elif checkpoint_path is not None:
            from ..hub import verify
            verify(checkpoint_path, weights, record=False)
    model = _create(name, num_classes, checkpoint_path, drop_head, label_map, overrides)
    if weights is not None:
        _apply_weights_cfg(model, weights, name)
    return model


def _resolve_weights(name: str, pretrained: bool | str, has_file: bool):
    """``(entry or None, architecture)`` for a model name, a tag in it and ``pretrained``."""
    from ._pretrained import get_weights, split_name

    arch, tag = split_name(name)
    if isinstance(pretrained, str):
        if tag is not None and tag != pretrained:
            raise UsageError(f"create_model({name!r}, pretrained={pretrained!r}): two different tags; give one")
        tag = pretrained
    elif pretrained not in (True, False, None):
        raise UsageError(f"pretrained must be True, False or a tag, got {pretrained!r}")
    if tag is None and not pretrained:
        return None, arch
    if tag is None and has_file:
        return None, arch  # pretrained=True with a file: the file is the weights
    get_entrypoint(arch)  # unknown architecture: the registry's error
    return get_weights(arch, True if tag is None else tag), arch


def _apply_weights_cfg(model: nn.Module, weights, name: str) -> None:
    """The data contract of released weights: the entry's frames, sampler, views, label list (init-only files keep
    the model's own contract: their classifier is not the model's)."""
    if weights.init_only or weights.arch != name:
        model.pretrained_cfg = model.pretrained_cfg.replace(
            notes=f"initialised from {weights.name}. {model.pretrained_cfg.notes}")
        return
    if weights.num_classes is not None and model.num_classes != weights.num_classes:
        # a new classifier (drop_head / num_classes): the entry's sampling still applies, its labels do not
        model.pretrained_cfg = weights.cfg(model.pretrained_cfg).replace(
            num_classes=model.num_classes, label_names=None, class_names=None)
        return
    model.pretrained_cfg = weights.cfg(model.pretrained_cfg)


def _create(name, num_classes, checkpoint_path, drop_head, label_map, overrides) -> nn.Module:
    if checkpoint_path is None:
        if name is None:
            raise UsageError("create_model needs a model name or a tubelet checkpoint_path")
        if drop_head or label_map:
            raise UsageError("drop_head / label_map need a checkpoint_path")
        if num_classes is not None:
            overrides["num_classes"] = num_classes
        return get_entrypoint(name)(**overrides)
    if label_map is not None and drop_head:
        raise UsageError("label_map selects the checkpoint's classifier rows; drop_head discards them: pick one")

    # 1. read
    path = os.fspath(checkpoint_path)
    sd, meta, container = read_checkpoint(path)
    # 2. plan
    if meta is not None:
        plan = _plan_tubelet_file(path, name, sd, meta, container, overrides)
    else:
        plan = _plan_foreign_file(path, name, sd, container, overrides)
    if label_map is not None:
        _apply_label_map(plan, label_map, path)
    # 3. build and fit
    ckpt_classes = plan.arch["num_classes"]
    if num_classes is None and ckpt_classes is not None and not (drop_head or plan.init_only):
        num_classes = ckpt_classes
    model = get_entrypoint(plan.name)(**plan.options, **({} if num_classes is None else {"num_classes": num_classes}))
    report = _fit_weights(plan, model, path, drop_head)
    if label_map is not None:
        report.notes.append(f"classifier rows selected by the label map {label_map!r}")
    # 4. load
    model.load_report = report
    _load_strict(model, plan.state_dict, model.state_dict(), path, plan.name)
    _log.log(logging.WARNING if report.dropped or report.new else logging.INFO, "%s", report)
    model.pretrained_cfg = _loaded_cfg(plan, model, label_map)
    return model


def _plan_tubelet_file(path: str, name: str | None, sd: dict, meta: dict, container: str,
                       overrides: dict) -> _Plan:
    """A file tubelet wrote (``.safetensors``, training ``last.pt``) names its architecture and options; the caller
    may change runtime options (drop-path rate, frames, ...) but nothing that shapes a weight."""
    arch_name = meta["architecture"]
    if not isinstance(arch_name, str) or arch_name not in list_models():
        raise CheckpointError(f"{path}: holds a model of architecture {str(arch_name)[:80]!r}, which this tubelet "
                              f"does not know (written by a newer version?)")
    if name is not None and name != arch_name:
        raise CheckpointError(f"{path}: holds a {arch_name} model, not {name}")
    name = arch_name
    family = get_family(name)
    stored = meta["model_args"]
    _check_declared_architecture(path, name, stored, sd)
    for k, v in overrides.items():
        if k in stored and not _same(stored[k], v) and k not in family.runtime_args:
            raise CheckpointError(f"{path}: was saved with {k}={stored[k]!r}; the override {k}={v!r} "
                                  f"contradicts the weights")
    options = {k: v for k, v in {**stored, **overrides}.items() if k != "num_classes"}
    return _Plan(name, family, sd, options, {"num_classes": stored.get("num_classes")}, container,
                 init_only=False, stored_cfg=meta.get("pretrained_cfg") or {})


def _check_declared_architecture(path: str, name: str, stored: dict, sd: dict) -> None:
    """Build the architecture a tubelet file declares on the meta device (no memory) and compare it with the file's
    tensors, so that damaged or hostile metadata (an unknown option, an absurd width) is an error before anything is
    allocated."""
    try:
        with torch.device("meta"):
            reference = get_entrypoint(name)(**stored).state_dict()
    except (TubeletError, TypeError, ValueError, RuntimeError, ZeroDivisionError, OverflowError, IndexError,
            KeyError, AttributeError) as e:
        raise CheckpointError(f"{path}: the options its metadata records cannot build {name}: "
                              f"{type(e).__name__}: {e}") from e
    missing = [k for k in reference if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in reference]
    misshaped = [f"{k}: file {tuple(sd[k].shape)} vs declared {tuple(reference[k].shape)}"
                 for k in sd if k in reference and sd[k].shape != reference[k].shape]
    if missing or unexpected or misshaped:
        raise CheckpointError(f"{path}: its tensors do not match the {name} architecture its metadata declares: "
                              + _mismatch(missing, unexpected, misshaped))


def _plan_foreign_file(path: str, name: str | None, sd: dict, container: str, overrides: dict) -> _Plan:
    """A file of another producer: the family renames its keys and reads the switches its weights determine; the
    caller's options win (a contradiction is caught after the build)."""
    if name is None:
        raise CheckpointError(f"{path}: is not a file tubelet wrote (.safetensors, or a training run's last.pt), so "
                              f"it does not say which architecture it holds; pass the model name")
    family = get_family(name)
    sd, producer = _family_step(path, family, "convert_state_dict", sd, path)
    arch = _family_step(path, family, "checkpoint_arch", sd, path)
    arch.setdefault("num_classes", None)
    options = dict(overrides)
    for k in family.checkpoint_switches:
        if k in arch and k not in options:
            options[k] = arch[k]
    options.update(_family_step(path, family, "resolve_switches", arch, options, path, name))
    init_only = family.is_init_source(arch, get_pretrained_cfg(name))
    return _Plan(name, family, sd, options, arch, f"{container}, {producer}", init_only, producer=producer)


#: what a family step raises on weights of an unexpected layout (a missing key, a 0-d tensor where a matrix was due)
_LAYOUT_ERRORS = (KeyError, IndexError, ValueError, TypeError, AttributeError, RuntimeError, ZeroDivisionError,
                  OverflowError)


def _family_step(path: str, family: ModelFamily, step: str, *args):
    """Run one of the family's checkpoint steps; a failure on weights of an unexpected layout becomes a
    CheckpointError naming the file (and the key, for a missing one), with the original error chained."""
    try:
        return getattr(family, step)(*args)
    except TubeletError:
        raise
    except KeyError as e:
        raise CheckpointError(f"{path}: not a complete {family.name} checkpoint: the tensor {e.args[0]!r} is "
                              f"missing") from e
    except _LAYOUT_ERRORS as e:
        raise CheckpointError(f"{path}: the weights do not have the layout of a {family.name} checkpoint "
                              f"({step}: {type(e).__name__}: {e})") from e


def _apply_label_map(plan: _Plan, label_map: str, path: str) -> None:
    """Select the checkpoint's classifier rows with an official label map (e.g. Kinetics-710 -> Kinetics-400)."""
    from ..labels import load_label_map, load_labels

    rows, source, target = load_label_map(label_map)
    n_source = len(load_labels(source))
    if plan.arch["num_classes"] != n_source:
        raise CheckpointError(f"{path}: label map {label_map!r} selects rows of a {n_source}-class {source} "
                              f"classifier, but the checkpoint's classifier has {plan.arch['num_classes']} classes")
    plan.state_dict = {k: v[rows].clone() if k.startswith(plan.family.classifier_prefixes) and v.ndim >= 1
                       and v.shape[0] == n_source else v for k, v in plan.state_dict.items()}
    plan.arch = {**plan.arch, "num_classes": len(rows)}


def _fit_weights(plan: _Plan, model: nn.Module, path: str, drop_head: bool) -> LoadReport:
    """Fit the planned state dict to the built model (in place) and say what was done.

    Foreign files: the weights must agree with the options the model was built with, then the family fits them
    (inflation, new modules). The classifier: a checkpoint's classifier of another size is an error unless the
    caller starts a new one (``drop_head``) or the file only initialises the model; a missing one is then new.
    """
    notes: list[str] = []
    family, sd = plan.family, plan.state_dict
    if plan.producer is not None:
        for k, v in plan.arch.items():
            if k in ("num_classes", "video") or k not in model.model_args:
                continue
            if not _same(model.model_args[k], v):
                raise CheckpointError(f"{path}: the weights have {k}={v}, but {plan.name} with the given options "
                                      f"has {k}={model.model_args[k]}; this checkpoint does not belong to "
                                      f"{plan.name}")
        sd, notes = _family_step(path, family, "fit_state_dict", sd, plan.arch, model, path)
    report = LoadReport(path, plan.layout, list(notes))
    ckpt_classes = plan.arch["num_classes"]
    if ckpt_classes is not None and ckpt_classes != model.num_classes and not (plan.init_only or drop_head):
        raise CheckpointError(
            f"{path}: the classifier has {ckpt_classes} classes but num_classes={model.num_classes} was asked "
            f"for; pass drop_head=True to start a new {model.num_classes}-class classifier (fine-tuning), or "
            f"leave num_classes unset to keep the checkpoint's")
    if drop_head or (plan.init_only and ckpt_classes != model.num_classes):
        report.dropped = [k for k in sd if k.startswith(family.classifier_prefixes)]
        sd = {k: v for k, v in sd.items() if k not in report.dropped}
    if drop_head or plan.init_only:
        model_sd = model.state_dict()
        report.new = [k for k in model_sd if k.startswith(family.classifier_prefixes) and k not in sd]
        sd = {**sd, **{k: model_sd[k] for k in report.new}}
    plan.state_dict = sd
    return report


def _loaded_cfg(plan: _Plan, model: nn.Module, label_map: str | None) -> PretrainedCfg:
    """The data contract of the loaded weights: the producer's (foreign files), the label space of a label map,
    or what a tubelet file stored (its label names only while its classifier is kept)."""
    cfg = model.pretrained_cfg
    if plan.producer is not None:
        cfg = plan.family.cfg_for_producer(cfg, plan.producer)
    if label_map is not None:
        from ..labels import load_label_map
        cfg = cfg.replace(label_names=load_label_map(label_map)[2])
    if plan.stored_cfg:
        keep = {k: tuple(v) if isinstance(v, list) else v for k, v in plan.stored_cfg.items()
                if k in _STORED_CFG_FIELDS}
        if model.num_classes != plan.stored_cfg.get("num_classes"):
            keep.pop("label_names", None)
            keep.pop("class_names", None)
        cfg = cfg.replace(**keep)
    return cfg


def _mismatch(missing: list[str], unexpected: list[str], misshaped: list[str]) -> str:
    def few(items):
        return ", ".join(items[:5]) + (f", ... ({len(items) - 5} more)" if len(items) > 5 else "")
    return "; ".join(f"{len(x)} {what} ({few(x)})" for what, x in
                     (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)) if x)


def _load_strict(model: nn.Module, sd: dict, model_sd: dict, path: str, name: str) -> None:
    # BatchNorm's num_batches_tracked is a step counter, not a weight; some exporters omit it.
    for k in model_sd:
        if k.endswith("num_batches_tracked") and k not in sd:
            sd[k] = model_sd[k]
    missing = [k for k in model_sd if k not in sd]
    unexpected = [k for k in sd if k not in model_sd]
    misshaped = [f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(model_sd[k].shape)}"
                 for k in sd if k in model_sd and sd[k].shape != model_sd[k].shape]
    if missing or unexpected or misshaped:
        raise CheckpointError(f"{path}: does not fit {name}: " + _mismatch(missing, unexpected, misshaped))
    # a float weight stored as integers (or an integer index stored as floats) would load without a word
    kinds = [f"{k} ({sd[k].dtype} for a {model_sd[k].dtype} tensor)" for k in model_sd
             if sd[k].is_floating_point() != model_sd[k].is_floating_point()]
    if kinds:
        raise CheckpointError(f"{path}: {len(kinds)} tensors have a type that cannot be the model's: "
                              f"{', '.join(kinds[:5])}{', ...' if len(kinds) > 5 else ''}")
    bad = [k for k, v in sd.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        warnings.warn(f"{path}: {len(bad)} tensors hold NaN or Inf values ({', '.join(bad[:5])}"
                      f"{', ...' if len(bad) > 5 else ''}); the model will output NaN", RuntimeWarning, stacklevel=4)
        model_report = getattr(model, "load_report", None)
        if model_report is not None:
            model_report.notes.append(f"NaN/Inf values in {', '.join(bad[:5])}")
    model.load_state_dict(sd, strict=True)


def create_task_model(name: str | None, task: str, *, pretrained: bool | str = False,
                      checkpoint_path: str | os.PathLike | None = None, device: torch.device | str | None = None,
                      command: str = "this command", **options) -> nn.Module:
    """:func:`create_model` for a program that runs one task (``"classification"``, ``"segmentation"``, ``"pose"``,
    ``"features"``): a variant of another task is refused before it is built when ``name`` is given, and after
    loading otherwise (a tubelet checkpoint names its architecture), with an error naming ``command`` and the one that
    takes it (:func:`~tubelet.models._registry.check_task`). Returns the model in eval mode on ``device`` (default:
    where it was built, the CPU). Every command and the web page build their models through here."""
    from ._pretrained import split_name
    from ._registry import check_task

    if name is not None:
        check_task(split_name(name)[0], task, command)
    model = create_model(name, pretrained=pretrained, checkpoint_path=checkpoint_path, **options)
    check_task(model.pretrained_cfg.architecture, task, command)
    model.eval()
    return model if device is None else model.to(device)


def count_params(model: nn.Module) -> int:
    """Number of learnable parameters (buffers such as BatchNorm statistics excluded)."""
    return sum(p.numel() for p in model.parameters())
