"""Checkpoint files: reading any supported file without executing anything from it, and writing tubelet's own.

:func:`read_checkpoint` sniffs the file (safetensors, a TorchScript archive, a ``torch.save`` pickle), reads it with
a loader that builds tensors and plain data only (``torch.load(weights_only=True)``, safetensors) and finds the state
dict inside the producer's container. :func:`save_model` writes tubelet's ``.safetensors`` (weights plus the
architecture, its options and the data contract).
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import zipfile

import torch
from torch import nn

from ..errors import CheckpointError, UsageError
from ._convert import find_state_dict

__all__ = ["read_checkpoint", "save_model", "TUBELET_FORMAT", "TUBELET_FORMAT_VERSION"]

TUBELET_FORMAT = "tubelet"
TUBELET_FORMAT_VERSION = "1"


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


def save_model(model: nn.Module, path: str | os.PathLike) -> None:
    """Save inference weights as tubelet ``.safetensors``: the state dict plus metadata naming the architecture and
    its options, so ``create_model(checkpoint_path=path)`` rebuilds the model without being told its name."""
    from safetensors.torch import save_file

    path = os.fspath(path)
    if not path.endswith(".safetensors"):
        raise UsageError(f"{path}: tubelet checkpoints are .safetensors files")
    cfg = getattr(model, "pretrained_cfg", None)
    if cfg is None or not hasattr(model, "model_args"):
        raise UsageError("save_model needs a model made by tubelet.create_model")
    meta = {"format": TUBELET_FORMAT, "format_version": TUBELET_FORMAT_VERSION, "architecture": cfg.architecture,
            "model_args": json.dumps(model.model_args), "pretrained_cfg": json.dumps(cfg.to_dict())}
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = path + ".tmp"
    save_file(sd, tmp, metadata=meta)
    os.replace(tmp, path)  # never leave a half-written checkpoint under the final name
