"""Checkpoint files: reading any supported file without executing anything from it, and writing tubelet's own.

:func:`read_checkpoint` sniffs the file (safetensors, a TorchScript archive, a ``torch.save`` pickle), reads it with
a loader that builds tensors and plain data only (``torch.load(weights_only=True)``, safetensors) and finds the state
dict inside the producer's container. :func:`save_model` writes tubelet's ``.safetensors`` (weights plus the
architecture, its options and the data contract); the training checkpoint ``last.pt`` carries the same metadata
(:func:`tubelet_metadata`) under its ``"tubelet"`` key, so either file rebuilds its model without being told its name.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import stat
import zipfile

import torch
from torch import nn

from ..errors import CheckpointError, UsageError
from ._convert import find_state_dict
from ._torchscript import is_torchscript, read_torchscript

__all__ = ["read_checkpoint", "save_model", "tubelet_metadata", "check_tensors", "TUBELET_FORMAT",
           "TUBELET_FORMAT_VERSION", "TRAINING_METADATA_KEY"]

TUBELET_FORMAT = "tubelet"
TUBELET_FORMAT_VERSION = "1"
#: the key of a training checkpoint (``last.pt``, a ``torch.save`` dict) that holds :func:`tubelet_metadata`
TRAINING_METADATA_KEY = "tubelet"


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


#: magic bytes of files users mistake for checkpoints -> what the file is and what to do
_MAGIC = (
    (b"\x1f\x8b", "a gzip-compressed file; decompress it first (gunzip / tar xzf) and load what it holds"),
    (b"BZh", "a bzip2-compressed file; decompress it first (bunzip2) and load what it holds"),
    (b"\xfd7zXZ\x00", "an xz-compressed file; decompress it first (unxz) and load what it holds"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file; decompress it first (unzstd) and load what it holds"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive; extract it first and load the checkpoint inside"),
    (b"Rar!\x1a\x07", "a RAR archive; extract it first and load the checkpoint inside"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (Keras / TensorFlow weights), not a PyTorch checkpoint"),
    (b"\x93NUMPY", "a NumPy .npy array, not a checkpoint"),
    (b"version https://git-lfs", "a Git LFS pointer, not the file itself; fetch it with `git lfs pull`"),
    (b"\x89PNG", "a PNG image, not a checkpoint"),
    (b"\xff\xd8\xff", "a JPEG image, not a checkpoint"),
)
_HTML = (b"<!doctype html", b"<html", b"<?xml", b"<head")
_MAX_SAFETENSORS_HEADER = 100_000_000  # the safetensors format's own limit
_SAFETENSORS_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                       "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict | None, str]:
    """Read the weights of a checkpoint file without executing anything from it.

    The format is told by the file's first bytes, not its name: safetensors (any suffix), a TorchScript archive (read
    by a restricted unpickler, see :mod:`._torchscript`), a ``torch.save`` zip or legacy pickle
    (``torch.load(weights_only=True)``). Other files are named for what they are (a gzip file, a web page, a Git LFS
    pointer, ...).

    Returns:
        ``(state_dict, tubelet_metadata_or_None, container)``, where ``container`` says where the weights were; the
        metadata (``architecture``, ``model_args``, ``pretrained_cfg``) comes with tubelet ``.safetensors`` files
        and tubelet training checkpoints (``last.pt``).
    Raises:
        CheckpointError: missing, unreadable, truncated, foreign or code-carrying file; no state dict inside; a
            tensor that cannot be a weight (sparse, quantized, complex).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: not a regular file (a device, FIFO or socket), so not a checkpoint")
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot be read ({e.strerror or e})") from None
    if len(head) < 8:
        raise CheckpointError(f"{path}: empty or truncated file ({size} bytes)")
    if _looks_like_safetensors(head, size):
        sd, meta, where = _read_safetensors(path, size)
    elif head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        sd, meta, where = _read_zip(path)
    elif head.startswith(b"\x80"):  # a pickle: torch.save's legacy format
        sd, meta, where = _read_torch_save(path, "a legacy torch.save file")
    else:
        raise CheckpointError(f"{path}: {_describe(head, path)}")
    check_tensors(sd, path)
    return sd, meta, where


def _describe(head: bytes, path: str) -> str:
    """What a file that is no checkpoint is (from its first bytes)."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return f"is {what}"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "is a tar archive; extract it first (tar xf) and load the checkpoint inside"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(_HTML):
        return ("is a web page (HTML), not a checkpoint: the download link returned a page (e.g. Google Drive's "
                "confirmation page or a login page) instead of the file; download the file itself in a browser")
    if path.endswith(".onnx"):
        return "is an ONNX model; tubelet loads weights from PyTorch and safetensors files"
    if b"\x00" not in head:
        try:
            start = head.decode("utf-8").strip().splitlines()[0][:60] if head.strip() else ""
            return f"is a text file (it starts with {start!r}), not a checkpoint"
        except (UnicodeDecodeError, IndexError):
            pass
    return (f"is not a checkpoint: no known format starts with the bytes {head[:8].hex(' ')} (PyTorch files are zip "
            f"archives or pickles, safetensors files start with their header's length)")


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    """safetensors: an 8-byte little-endian header length, then the JSON header."""
    return 2 <= int.from_bytes(head[:8], "little") <= _MAX_SAFETENSORS_HEADER and head[8:9] == b"{"


def _read_zip(path: str):
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            torchscript = is_torchscript(z)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot be read as a PyTorch checkpoint (a truncated or damaged zip "
                              f"archive, the format torch.save writes: {e})") \
            from None
    if torchscript:
        return read_torchscript(path), None, "TorchScript archive"
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return _read_torch_save(path, "a torch.save file")
    if names and all(n.endswith(".npy") for n in names):
        raise CheckpointError(f"{path}: is a NumPy .npz archive, not a checkpoint")
    shown = ", ".join(names[:5]) + (f", ... ({len(names) - 5} more)" if len(names) > 5 else "")
    raise CheckpointError(f"{path}: is a zip archive ({shown or 'empty'}), not a checkpoint; extract the "
                          f"checkpoint from it first")


def _read_torch_save(path: str, what: str):
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            with open(path, "rb") as f:  # a file object: torch.load would read a "*.safetensors" path as one
                obj = torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: refused: the file pickles objects other than tensors and plain data, and "
                              f"tubelet never runs code from a checkpoint ({first}). Re-save its state dict with "
                              f"torch.save(model.state_dict(), ...)") from None
    except Exception as e:  # noqa: BLE001 - garbage makes the unpickler fail in many ways (IndexError, KeyError...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckpointError(f"{path}: {what} that cannot be read (truncated or damaged): "
                              f"{type(e).__name__}: {first}") from None
    meta = obj.get(TRAINING_METADATA_KEY) if isinstance(obj, dict) else None
    if isinstance(meta, dict) and meta.get("format") == TUBELET_FORMAT:  # tubelet's last.pt: weights + metadata
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
            raise CheckpointError(f"{path}: tubelet metadata is damaged (it must map names to strings)")
        if not isinstance(obj.get("model"), dict):
            raise CheckpointError(f"{path}: a tubelet training checkpoint without its 'model' weights")
        sd, _ = find_state_dict(obj["model"], path)
        return sd, _tubelet_metadata(meta, path), "tubelet training checkpoint"
    sd, where = find_state_dict(obj, path)
    return sd, None, where


def _safetensors_header(path: str, size: int) -> dict:
    """The JSON header, checked entry by entry against the file (dtype, shape, offsets) before any tensor is read."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if n > size - 8:
            raise CheckpointError(f"{path}: cannot be read as safetensors (truncated): the header alone is {n} "
                                  f"bytes, the file {size}")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{path}: safetensors header is not valid JSON ({type(e).__name__})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: safetensors header is a {type(header).__name__}, not an object")
    data_size = size - 8 - n
    for key, entry in header.items():
        if key == "__metadata__":
            if not (isinstance(entry, dict) and all(isinstance(v, str) for v in entry.values())):
                raise CheckpointError(f"{path}: safetensors __metadata__ must map names to strings")
            continue
        ok = isinstance(entry, dict) and entry.get("dtype") in _SAFETENSORS_DTYPES
        shape, offsets = (entry.get("shape"), entry.get("data_offsets")) if ok else (None, None)
        ok = ok and isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape) \
            and isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
        if not ok:
            raise CheckpointError(f"{path}: safetensors entry {key!r} is malformed ({str(entry)[:120]})")
        numel = 1
        for d in shape:
            numel *= d
        begin, end = offsets
        if not 0 <= begin <= end <= data_size or end - begin != numel * _SAFETENSORS_DTYPES[entry["dtype"]]:
            raise CheckpointError(f"{path}: safetensors entry {key!r} ({entry['dtype']} {shape}) declares bytes "
                                  f"{begin}..{end} of a {data_size}-byte data section (truncated or corrupt)")
    return header


def _read_safetensors(path: str, size: int):
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load as load_bytes

    header = _safetensors_header(path, size)
    meta = header.get("__metadata__") or {}
    try:
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:  # the Rust reader takes UTF-8 paths only: read the bytes through Python
            with open(path, "rb") as f:
                sd = load_bytes(f.read())
        else:
            with safe_open(path, framework="pt") as f:
                sd = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"{path}: cannot be read as safetensors (truncated or corrupt): {e}") from None
    if meta.get("format") == TUBELET_FORMAT:
        return sd, _tubelet_metadata(meta, path), "tubelet safetensors"
    if not sd:
        raise CheckpointError(f"{path}: the safetensors file holds no tensors")
    return sd, None, "safetensors"


def _tubelet_metadata(meta: dict, path: str) -> dict:
    """tubelet's metadata, type-checked: ``architecture`` (str), ``model_args`` and ``pretrained_cfg`` (objects)."""
    try:
        out = {"architecture": meta["architecture"], "model_args": json.loads(meta["model_args"]),
               "pretrained_cfg": json.loads(meta.get("pretrained_cfg", "{}"))}
    except KeyError as e:
        raise CheckpointError(f"{path}: tubelet metadata is damaged (no {e.args[0]!r})") from None
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{path}: tubelet metadata is damaged (not JSON: {type(e).__name__})") from None
    for key, kind in (("model_args", dict), ("pretrained_cfg", dict)):
        if not isinstance(out[key], kind):
            raise CheckpointError(f"{path}: tubelet metadata {key!r} is a {type(out[key]).__name__}, not an object")
    if meta.get("format_version", TUBELET_FORMAT_VERSION) != TUBELET_FORMAT_VERSION:
        raise CheckpointError(f"{path}: written in tubelet format version {meta.get('format_version')!r}; this "
                              f"tubelet reads version {TUBELET_FORMAT_VERSION} (upgrade tubelet)")
    return out


def check_tensors(sd: dict, path: str) -> None:
    """Every value must be a dense real tensor: a sparse, quantized, complex or meta tensor is no weight of a
    tubelet model, and would otherwise fail deep inside ``load_state_dict``."""
    for k, v in sd.items():
        problem = None
        if v.layout != torch.strided:
            problem = f"a sparse tensor ({v.layout})"
        elif v.is_quantized:
            problem = "a quantized tensor"
        elif v.is_complex():
            problem = f"a complex tensor ({v.dtype})"
        elif v.is_meta:
            problem = "a meta tensor (no data)"
        elif v.dtype not in _WEIGHT_DTYPES:
            problem = f"a {v.dtype} tensor"
        elif v.ndim == 0 and k.endswith(".weight"):
            problem = "a 0-d tensor (a single number)"
        if problem:
            raise CheckpointError(f"{path}: {k!r} is {problem}; model weights are dense float or integer tensors")


_WEIGHT_DTYPES = {torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32,
                  torch.int16, torch.int8, torch.uint8, torch.bool}


def tubelet_metadata(model: nn.Module) -> dict[str, str]:
    """What tubelet stores next to a model's weights (strings only): the format, the ``architecture``, its
    constructor options (``model_args``) and the data contract (``pretrained_cfg``: input size, frames, sampler,
    mean/std, test views, class names).

    Raises:
        UsageError: the model was not made by :func:`tubelet.create_model` (it has no ``pretrained_cfg`` /
            ``model_args``).
    """
    cfg = getattr(model, "pretrained_cfg", None)
    if cfg is None or not hasattr(model, "model_args"):
        raise UsageError("save_model needs a model made by tubelet.create_model")
    return {"format": TUBELET_FORMAT, "format_version": TUBELET_FORMAT_VERSION, "architecture": cfg.architecture,
            "model_args": json.dumps(model.model_args), "pretrained_cfg": json.dumps(cfg.to_dict())}


def save_model(model: nn.Module, path: str | os.PathLike) -> None:
    """Save inference weights as tubelet ``.safetensors``: the state dict plus metadata naming the architecture and
    its options, so ``create_model(checkpoint_path=path)`` rebuilds the model without being told its name."""
    from safetensors.torch import save_file

    path = os.fspath(path)
    if not path.endswith(".safetensors"):
        raise UsageError(f"{path}: tubelet checkpoints are .safetensors files")
    meta = tubelet_metadata(model)
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    from ..atomic import remove_stale_temporaries, temporary_name

    remove_stale_temporaries(os.path.dirname(path) or ".")
    tmp = temporary_name(path)
    try:
        with open(tmp, "wb"):  # the mode of a new file: 0o666 less the umask, as every other file tubelet writes
            pass
        mode = stat.S_IMODE(os.stat(tmp).st_mode)
        save_file(sd, tmp, metadata=meta)  # safetensors >= 0.8 writes through its own 0o600 temporary file
        os.chmod(tmp, mode)
        os.replace(tmp, path)  # never leave a half-written checkpoint under the final name
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
