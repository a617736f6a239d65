"""Read the tensors of a TorchScript archive without executing anything from it.

A TorchScript archive (how OpenAI released CLIP) is a zip file: ``ARCHIVE/data.pkl`` pickles the module tree (objects
of the archive's own ``__torch__.*`` classes whose state is a dict of attributes), its tensors' bytes are the members
``ARCHIVE/data/KEY``, and ``ARCHIVE/code/`` holds the classes' TorchScript source. ``torch.jit.load`` compiles that
source and runs it (a class's ``__setstate__``, for one) while loading, so tubelet never calls it. Instead
:func:`read_torchscript` unpickles ``data.pkl`` with a restricted unpickler that builds only tensors, plain containers
and inert placeholder objects, and reads from the source *as text* which attributes are parameters and buffers
(the ``__parameters__`` / ``__buffers__`` lines), so the result equals ``torch.jit.load(path).state_dict()``.
"""
from __future__ import annotations

import ast
import collections
import io
import pickle
import re
import zipfile

import torch

from ..errors import CheckpointError

__all__ = ["is_torchscript", "read_torchscript"]

#: storage classes a TorchScript pickle names -> dtype
_STORAGES = {"FloatStorage": torch.float32, "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
             "DoubleStorage": torch.float64, "LongStorage": torch.int64, "IntStorage": torch.int32,
             "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
             "BoolStorage": torch.bool}
_MAX_DEPTH = 64  # module nesting (CLIP: 6)
#: bytes of ``data.pkl``, the pickled module tree (the tensors' bytes are other members): read whole into memory, so
#: bounded (CLIP ViT-L/14's is well under 1 MiB)
MAX_DATA_PKL_BYTES = 64 << 20


def _archive_root(names: list[str]) -> str | None:
    """``"ARCHIVE/"`` for the folder holding ``data.pkl`` and ``code/``, or None when this is no TorchScript zip."""
    for n in names:
        if n.endswith("data.pkl") and n.count("/") <= 1:
            root = n[: -len("data.pkl")]
            if any(m.startswith(root + "code/") for m in names) or root + "constants.pkl" in names:
                return root
    return None


def is_torchscript(z: zipfile.ZipFile) -> bool:
    return _archive_root(z.namelist()) is not None


class _ScriptObject:
    """Stands for an object of one of the archive's ``__torch__`` classes: it only keeps the pickled state."""

    qualname = ""

    def __setstate__(self, state) -> None:  # BUILD: store, never interpret
        self.state = state


def _rebuild_tensor(storage: torch.Tensor, offset: int, size, stride, *_ignored) -> torch.Tensor:
    """``torch._utils._rebuild_tensor_v2`` for a flat storage tensor, with the bounds checked."""
    size, stride = tuple(size), tuple(stride)
    if not (isinstance(offset, int) and len(size) == len(stride)
            and all(isinstance(v, int) and v >= 0 for v in (*size, *stride)) and offset >= 0):
        raise ValueError(f"malformed tensor record (offset {offset!r}, size {size!r}, stride {stride!r})")
    last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else offset - 1
    if last >= storage.numel():
        raise ValueError(f"a tensor of size {list(size)} reaches element {last} of a {storage.numel()}-element "
                         f"storage")
    return torch.as_strided(storage, size, stride, offset).clone()


class _Unpickler(pickle.Unpickler):
    """Builds tensors, plain containers and :class:`_ScriptObject` placeholders; refuses every other global."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, root: str):
        super().__init__(io.BytesIO(data))
        self._zip, self._root = archive, root
        self._storages: dict[str, torch.Tensor] = {}
        self._classes: dict[str, type] = {}

    def find_class(self, module: str, name: str):
        if module == "__torch__" or module.startswith("__torch__."):
            qualname = f"{module}.{name}"
            if qualname not in self._classes:
                self._classes[qualname] = type(name, (_ScriptObject,), {"qualname": qualname})
            return self._classes[qualname]
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _STORAGES:
            return _STORAGES[name]
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch.jit._pickle" and name == "restore_type_tag":
            return lambda value, _type: value
        if module == "torch.jit._pickle" and name.startswith("build_") and name.endswith("list"):
            return list
        raise pickle.UnpicklingError(f"refers to {module}.{name}, which is neither a tensor nor plain data")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)
                and isinstance(pid[2], str) and isinstance(pid[4], int)):
            raise pickle.UnpicklingError(f"unknown storage record {pid!r:.80}")
        _, dtype, key, _location, numel = pid
        if key not in self._storages:
            member = f"{self._root}data/{key}"
            try:
                info = self._zip.getinfo(member)
            except KeyError:
                raise pickle.UnpicklingError(f"the storage {member} is missing") from None
            itemsize = torch.empty((), dtype=dtype).element_size()
            if info.file_size != numel * itemsize:  # checked before anything is read or decompressed
                raise pickle.UnpicklingError(f"the storage {member} holds {info.file_size} bytes, not the "
                                             f"{numel * itemsize} of {numel} {dtype} values")
            raw = bytearray(self._zip.read(member))
            self._storages[key] = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        storage = self._storages[key]
        if storage.dtype != dtype:
            storage = storage.view(torch.uint8).view(dtype)
        return storage


_CLASS = re.compile(r"^class (\w+)\(", re.M)
_LIST = re.compile(r"^  (__parameters__|__buffers__) = (\[.*?\])\s*$", re.M)


def _declared_tensors(archive: zipfile.ZipFile, root: str, qualname: str) -> tuple[list[str], list[str]] | None:
    """The ``__parameters__`` and ``__buffers__`` a class's TorchScript source declares (read as text), or None."""
    module, _, name = qualname.rpartition(".")
    member = f"{root}code/{module.replace('.', '/')}.py"
    try:
        source = archive.read(member).decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        return None
    starts = [(m.group(1), m.start()) for m in _CLASS.finditer(source)]
    for i, (cls, start) in enumerate(starts):
        if cls == name:
            body = source[start: starts[i + 1][1] if i + 1 < len(starts) else len(source)]
            found = {}
            for kind, text in _LIST.findall(body):
                try:
                    found[kind] = [v for v in ast.literal_eval(text) if isinstance(v, str)]
                except (ValueError, SyntaxError):
                    return None
            if len(found) == 2:
                return found["__parameters__"], found["__buffers__"]
            return None
    return None


def _state_dict(obj: _ScriptObject, archive: zipfile.ZipFile, root: str) -> dict[str, torch.Tensor]:
    """Parameters and buffers of the module tree in ``nn.Module.state_dict`` order (each module's parameters, its
    buffers, then its sub-modules); a class whose source does not declare them contributes all its tensors."""
    out: dict[str, torch.Tensor] = {}
    declared_cache: dict[str, tuple[list[str], list[str]] | None] = {}
    seen: set[int] = set()

    def visit(node: _ScriptObject, prefix: str, depth: int) -> None:
        if id(node) in seen:
            return
        if depth > _MAX_DEPTH:
            raise CheckpointError(f"module tree deeper than {_MAX_DEPTH} levels at {prefix or 'the root'}")
        seen.add(id(node))
        state = getattr(node, "state", None)
        if not isinstance(state, dict):
            return  # a class with its own __getstate__: not a module with weights
        if node.qualname not in declared_cache:
            declared_cache[node.qualname] = _declared_tensors(archive, root, node.qualname)
        declared = declared_cache[node.qualname]
        names = declared[0] + declared[1] if declared else [k for k, v in state.items()
                                                           if isinstance(v, torch.Tensor)]
        for k in names:
            if isinstance(state.get(k), torch.Tensor):
                out[prefix + k] = state[k]
        for k, v in state.items():
            if isinstance(v, _ScriptObject):
                visit(v, f"{prefix}{k}.", depth + 1)

    visit(obj, "", 0)
    return out


def _read_data_pkl(archive: zipfile.ZipFile, member: str, path: str) -> bytes:
    """``member`` read whole, at most :data:`MAX_DATA_PKL_BYTES`: refused by its declared size before anything is
    decompressed, and by what it inflates to when that size lies."""
    limit = MAX_DATA_PKL_BYTES
    declared = archive.getinfo(member).file_size
    data = b""
    if declared <= limit:
        with archive.open(member) as f:
            data = f.read(limit + 1)
    if declared > limit or len(data) > limit:
        size = f"declares {declared:,} bytes" if declared > limit else f"holds over {limit:,} bytes"
        raise CheckpointError(f"{path}: {member} {size}, over tubelet's limit of {limit:,} bytes for the pickled "
                              f"module tree of a TorchScript archive (the weights' bytes are other members): not "
                              f"a model archive tubelet reads")
    return data


def read_torchscript(path: str) -> dict[str, torch.Tensor]:
    """The state dict of a TorchScript archive, read without executing anything from it.

    Raises:
        CheckpointError: a damaged archive, or one whose pickle refers to anything but tensors and plain data.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            root = _archive_root(archive.namelist())
            if root is None:
                raise CheckpointError(f"{path}: not a TorchScript archive (no data.pkl with code/)")
            data = _read_data_pkl(archive, root + "data.pkl", path)
            obj = _Unpickler(data, archive, root).load()
            if not isinstance(obj, _ScriptObject):
                raise CheckpointError(f"{path}: the TorchScript archive holds a {type(obj).__name__}, not a module")
            sd = _state_dict(obj, archive, root)
    except CheckpointError as e:
        msg = str(e)
        raise CheckpointError(msg if msg.startswith(path) else f"{path}: {msg}") from None
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path}: refused: the TorchScript archive's data {e}; tubelet never runs code from "
                              f"a checkpoint") from None
    except Exception as e:  # noqa: BLE001 - a damaged zip or pickle fails in many ways (BadZipFile, EOFError, ...)
        raise CheckpointError(f"{path}: damaged TorchScript archive ({type(e).__name__}: {e})") from None
    if not sd:
        raise CheckpointError(f"{path}: the TorchScript archive holds no tensors")
    return sd
