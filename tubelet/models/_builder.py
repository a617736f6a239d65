"""Build a registered model and load weights into it: strictly, from any known layout, never running code.

``create_model`` is the one entry point. With ``checkpoint_path`` it reads the file (``torch.load(weights_only=True)``
or safetensors), finds the state dict inside the producer's container, lets the family convert key names and read
the architecture switches that the weights determine, builds the model, and loads every tensor strictly. Anything
that does not fit raises :class:`CheckpointError` naming the file and the keys.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import zipfile
from dataclasses import dataclass, field

import torch
from torch import nn

from ._convert import CheckpointError, find_state_dict
from ._registry import PretrainedCfg, get_entrypoint, get_family

__all__ = ["create_model", "save_model", "read_checkpoint", "LoadReport", "count_params"]

_log = logging.getLogger("tubelet")

TUBELET_FORMAT = "tubelet"
TUBELET_FORMAT_VERSION = "1"


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


# ---------------------------------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------------------------------

def _safe_globals() -> list:
    """Plain-data classes that real checkpoints pickle besides tensors (DeiT stores its argparse ``args``, timm and
    mmengine may store numpy scalars). Allowing them runs no code from the file."""
    allowed = [argparse.Namespace]
    try:
        import numpy as np
        allowed += [np.dtype, type(np.dtype("float64")), type(np.dtype("float32")), type(np.dtype("int64"))]
        try:
            from numpy._core.multiarray import scalar
        except ImportError:  # numpy < 2
            from numpy.core.multiarray import scalar
        allowed.append(scalar)
    except ImportError:
        pass
    return allowed


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict | None, str]:
    """Read the weights of a checkpoint file without executing anything from it.

    Returns:
        ``(state_dict, tubelet_metadata_or_None, container)``, where ``container`` says where the weights were.
    Raises:
        CheckpointError: missing, unreadable, truncated or code-carrying file; no state dict inside.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) < 8:
        raise CheckpointError(f"{path}: empty or truncated file ({os.path.getsize(path)} bytes)")
    if path.endswith(".safetensors"):
        return _read_safetensors(path)
    if _is_torchscript(path):
        return _read_torchscript(path)
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: refused: the file pickles objects other than tensors and plain data, and "
                              f"tubelet never runs code from a checkpoint ({first}). Re-save its state dict with "
                              f"torch.save(model.state_dict(), ...)") from None
    except Exception as e:  # noqa: BLE001 - garbage makes the unpickler fail in many ways (IndexError, KeyError...)
        raise CheckpointError(f"{path}: cannot be read as a PyTorch checkpoint (truncated or not a checkpoint): "
                              f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}") \
            from None
    sd, where = find_state_dict(obj, path)
    return sd, None, where


def _is_torchscript(path: str) -> bool:
    """TorchScript archives (e.g. OpenAI's released CLIP files) are zip files with a ``code/`` folder."""
    try:
        with zipfile.ZipFile(path) as z:
            return any("/code/" in n or n.startswith("code/") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _read_torchscript(path: str):
    # torch.jit.load compiles the archive's TorchScript (no Python is executed) and gives its tensors back.
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load is deprecated, CLIP files are not
            sd = torch.jit.load(path, map_location="cpu").state_dict()
    except Exception as e:  # noqa: BLE001 - any failure of the archive is reported as a checkpoint error
        raise CheckpointError(f"{path}: cannot be read as a TorchScript archive ({type(e).__name__}: {e})") \
            from None
    if not sd:
        raise CheckpointError(f"{path}: the TorchScript archive holds no tensors")
    return {k: v.detach() for k, v in sd.items()}, None, "TorchScript archive"


def _read_safetensors(path: str):
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            sd = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot be read as safetensors (truncated or corrupt): {e}") from None
    if meta.get("format") == TUBELET_FORMAT:
        try:
            meta = {"architecture": meta["architecture"], "model_args": json.loads(meta["model_args"]),
                    "pretrained_cfg": json.loads(meta.get("pretrained_cfg", "{}"))}
        except (KeyError, json.JSONDecodeError) as e:
            raise CheckpointError(f"{path}: tubelet metadata is damaged ({e})") from None
        return sd, meta, "tubelet safetensors"
    if not sd:
        raise CheckpointError(f"{path}: the safetensors file holds no tensors")
    return sd, None, "safetensors"


# ---------------------------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------------------------

def _same(a, b) -> bool:
    norm = lambda v: list(v) if isinstance(v, (tuple, list)) else v  # noqa: E731
    return norm(a) == norm(b)


def create_model(name: str | None = None, *, num_classes: int | None = None,
                 checkpoint_path: str | os.PathLike | None = None, drop_head: bool = False,
                 label_map: str | None = None, **overrides) -> nn.Module:
    """Create a registered model, optionally with weights.

    Args:
        name: a name from :func:`list_models`. May be omitted when ``checkpoint_path`` is a tubelet ``.safetensors``
            file (it records its architecture); if given, it must agree with the file.
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
        ValueError: unknown name. TypeError: unknown option.
        CheckpointError: unreadable file, or weights that do not fit.
    """
    if checkpoint_path is None:
        if name is None:
            raise ValueError("create_model needs a model name or a tubelet checkpoint_path")
        if drop_head or label_map:
            raise ValueError("drop_head / label_map need a checkpoint_path")
        if num_classes is not None:
            overrides["num_classes"] = num_classes
        return get_entrypoint(name)(**overrides)

    path = os.fspath(checkpoint_path)
    sd, meta, container = read_checkpoint(path)
    if meta is not None:  # tubelet's own format: architecture and options come from the file
        if name is not None and name != meta["architecture"]:
            raise CheckpointError(f"{path}: holds a {meta['architecture']} model, not {name}")
        name = meta["architecture"]
        family = get_family(name)
        stored = meta["model_args"]
        for k, v in overrides.items():
            if k in stored and not _same(stored[k], v) and k not in family.RUNTIME_ARGS:
                raise CheckpointError(f"{path}: was saved with {k}={stored[k]!r}; the override {k}={v!r} "
                                      f"contradicts the weights")
        kwargs = {k: v for k, v in {**stored, **overrides}.items() if k != "num_classes"}
        arch = {"num_classes": stored.get("num_classes")}
        layout, notes, init_only = container, [], False
    else:
        if name is None:
            raise CheckpointError(f"{path}: is not a tubelet .safetensors file, so it does not say which "
                                  f"architecture it holds; pass the model name")
        family = get_family(name)
        sd, producer = family.convert_state_dict(sd, path)
        arch = family.checkpoint_arch(sd, path)
        layout = f"{container}, {producer}"
        kwargs = dict(overrides)
        for k in family.CHECKPOINT_SWITCHES:
            if k in arch and k not in kwargs:
                kwargs[k] = arch[k]
        if hasattr(family, "resolve_switches"):  # switches that need more than a lookup (Swin's window size)
            kwargs.update(family.resolve_switches(arch, kwargs, path))
        init_only = None  # decided below from the variant

    if label_map is not None:
        if drop_head:
            raise ValueError("label_map selects the checkpoint's classifier rows; drop_head discards them: pick one")
        sd, arch = _apply_label_map(sd, arch, label_map, family, path)
    ckpt_classes = arch.get("num_classes")
    if init_only is None:
        init_only = family.is_init_source(arch, _default_cfg(name))
    if num_classes is None and ckpt_classes is not None and not (drop_head or init_only):
        num_classes = ckpt_classes
    model = get_entrypoint(name)(**kwargs, **({} if num_classes is None else {"num_classes": num_classes}))
    if meta is None:
        for k, v in arch.items():
            if k in ("num_classes", "video") or k not in model.model_args:
                continue
            if not _same(model.model_args[k], v):
                raise CheckpointError(f"{path}: the weights have {k}={v}, but {name} with the given options has "
                                      f"{k}={model.model_args[k]}; this checkpoint does not belong to {name}")
        sd, notes = family.fit_state_dict(sd, arch, model, path)
        model.pretrained_cfg = family.cfg_for_producer(model.pretrained_cfg, producer)

    report = LoadReport(path, layout, list(notes))
    if label_map is not None:
        report.notes.append(f"classifier rows selected by the label map {label_map!r}")
    model_sd = model.state_dict()
    head_keys = [k for k in sd if k.startswith(family.CLASSIFIER_PREFIXES)]
    if ckpt_classes is not None and ckpt_classes != model.num_classes:
        if not (init_only or drop_head):
            raise CheckpointError(
                f"{path}: the classifier has {ckpt_classes} classes but num_classes={model.num_classes} was asked "
                f"for; pass drop_head=True to start a new {model.num_classes}-class classifier (fine-tuning), or "
                f"leave num_classes unset to keep the checkpoint's")
    if drop_head or (init_only and ckpt_classes != model.num_classes):
        for k in head_keys:
            del sd[k]
        report.dropped = head_keys
    missing_head = [k for k in model_sd if k.startswith(family.CLASSIFIER_PREFIXES) and k not in sd]
    if missing_head and (drop_head or init_only):
        report.new = missing_head
        sd.update({k: model_sd[k] for k in missing_head})
    _load_strict(model, sd, model_sd, path, name)
    model.load_report = report
    if report.dropped or report.new:
        _log.warning("%s", report)
    else:
        _log.info("%s", report)
    if label_map is not None:
        from ..labels import load_label_map
        model.pretrained_cfg = model.pretrained_cfg.replace(label_names=load_label_map(label_map)[2])
    if meta is not None and meta.get("pretrained_cfg"):
        stored_cfg = meta["pretrained_cfg"]
        keep = {k: tuple(v) if isinstance(v, list) else v for k, v in stored_cfg.items()
                if k in ("input_size", "num_frames", "mean", "std", "sampler", "frame_interval", "test_views",
                         "resize_size", "interpolation", "label_names", "class_names", "notes")}
        if model.num_classes != stored_cfg.get("num_classes"):
            keep.pop("label_names", None)
            keep.pop("class_names", None)
        model.pretrained_cfg = model.pretrained_cfg.replace(**keep)
    return model


def _apply_label_map(sd: dict, arch: dict, label_map: str, family, path: str) -> tuple[dict, dict]:
    from ..labels import load_label_map, load_labels

    rows, source, target = load_label_map(label_map)
    n_source = len(load_labels(source))
    if arch.get("num_classes") != n_source:
        raise CheckpointError(f"{path}: label map {label_map!r} selects rows of a {n_source}-class {source} "
                              f"classifier, but the checkpoint's classifier has {arch.get('num_classes')} classes")
    sd = dict(sd)
    for k, v in sd.items():
        if k.startswith(family.CLASSIFIER_PREFIXES) and v.ndim >= 1 and v.shape[0] == n_source:
            sd[k] = v[rows].clone()
    return sd, {**arch, "num_classes": len(rows)}


def _default_cfg(name: str) -> PretrainedCfg:
    """The variant's default data contract, from a build on the meta device (allocates nothing)."""
    with torch.device("meta"):
        return get_entrypoint(name)().pretrained_cfg


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
        def few(items):
            return ", ".join(items[:5]) + (f", ... ({len(items) - 5} more)" if len(items) > 5 else "")
        parts = [f"{len(x)} {what} ({few(x)})" for what, x in
                 (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)) if x]
        raise CheckpointError(f"{path}: does not fit {name}: " + "; ".join(parts))
    model.load_state_dict(sd, strict=True)


# ---------------------------------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------------------------------

def save_model(model: nn.Module, path: str | os.PathLike) -> None:
    """Save inference weights as tubelet ``.safetensors``: the state dict plus metadata naming the architecture and
    its options, so ``create_model(checkpoint_path=path)`` rebuilds the model without being told its name."""
    from safetensors.torch import save_file

    path = os.fspath(path)
    if not path.endswith(".safetensors"):
        raise ValueError(f"{path}: tubelet checkpoints are .safetensors files")
    cfg = getattr(model, "pretrained_cfg", None)
    if cfg is None or not hasattr(model, "model_args"):
        raise ValueError("save_model needs a model made by tubelet.create_model")
    meta = {"format": TUBELET_FORMAT, "format_version": TUBELET_FORMAT_VERSION, "architecture": cfg.architecture,
            "model_args": json.dumps(model.model_args), "pretrained_cfg": json.dumps(cfg.to_dict())}
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = path + ".tmp"
    save_file(sd, tmp, metadata=meta)
    os.replace(tmp, path)  # never leave a half-written checkpoint under the final name


def count_params(model: nn.Module) -> int:
    """Number of learnable parameters (buffers such as BatchNorm statistics excluded)."""
    return sum(p.numel() for p in model.parameters())
