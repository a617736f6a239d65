"""Shared tensor surgery for checkpoint conversion: unwrapping containers, prefixes, 2-D -> 3-D inflation."""
from __future__ import annotations

import re
from typing import Mapping

import torch

from ..errors import CheckpointError

__all__ = ["CheckpointError", "find_state_dict", "strip_prefix", "inflate_average", "split_parts", "describe_parts",
           "count_blocks", "shape_of"]


#: container keys under which known producers store the weights, in the order they are tried:
#: PySlowFast (UniFormer/UniFormerV2 video) ``model_state``; mmcv/mmengine/timm ``state_dict``; DeiT/Swin ``model``;
#: a few wrappers ``module``.
_CONTAINER_KEYS = ("model_state", "state_dict", "model", "module")
_MAX_NESTING = 8


def _is_state_dict(obj) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def find_state_dict(obj, path: str) -> tuple[dict[str, torch.Tensor], str]:
    """Find the weights in a loaded checkpoint object.

    Returns:
        the flat state dict (``module.`` DDP prefixes removed) and the container path it was found at
        (e.g. ``"['model_state']"``, or ``"flat"``).
    Raises:
        CheckpointError: no state dict inside.
    """
    where: list[str] = []
    seen: set[int] = set()
    while not _is_state_dict(obj):
        if not isinstance(obj, Mapping):
            at = "".join(f"[{k!r}]" for k in where)
            raise CheckpointError(f"{path}: holds a {type(obj).__name__}{f' at {at}' if at else ''}, not a state dict")
        if id(obj) in seen or len(where) >= _MAX_NESTING:  # a container that holds itself, or absurd nesting
            raise CheckpointError(f"{path}: no weights found: the containers under "
                                  f"{''.join(f'[{k!r}]' for k in where)} nest without end")
        seen.add(id(obj))
        for key in _CONTAINER_KEYS:
            if key in obj and isinstance(obj[key], Mapping):
                where.append(key)
                obj = obj[key]
                break
        else:
            keys = ", ".join(map(repr, list(obj)[:8]))
            bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)][:3]
            hint = (f"; entries that are not named tensors: {', '.join(repr(k)[:40] for k in bad)}"
                    if bad and len(bad) < len(obj) else "")
            raise CheckpointError(f"{path}: no weights found: expected a state dict or one under "
                                  f"{'/'.join(_CONTAINER_KEYS)}; top-level keys are {keys}{hint}")
    sd = dict(obj)
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd, "".join(f"[{k!r}]" for k in where) or "flat"


def strip_prefix(key: str, prefix: str) -> str:
    return key[len(prefix):] if key.startswith(prefix) else key


_NUMBER = re.compile(r"[0-9]+")


def count_blocks(state_dict: Mapping[str, torch.Tensor], prefix: str) -> int | None:
    """How many numbered blocks ``PREFIX0.*``, ``PREFIX1.*``, ... the keys hold; None when the numbers have a gap.

    For inferring an architecture from the keys: a key that does not have the form ``PREFIX<number>.<name>`` (a name
    where the number should be, a key that ends at the prefix, a non-ASCII digit) is no block. Numbers with a gap
    (blocks 0 and 2, or 0-3 and 7) tell nothing for sure: a block missing in the middle, or a stray key of a block
    beyond the last. The caller then infers nothing from them, and the strict load against the model the options
    build names the missing or unexpected keys.
    """
    found = set()
    for k in state_dict:
        if k.startswith(prefix):
            head, dot, rest = k[len(prefix):].partition(".")
            if dot and rest and _NUMBER.fullmatch(head):
                found.add(int(head))
    n = 0
    while n in found:
        n += 1
    return n if n == len(found) else None


def shape_of(state_dict: Mapping[str, torch.Tensor], key: str, ndim: int | tuple[int, ...]) -> torch.Size | None:
    """The shape of ``state_dict[key]`` if the key is there with ``ndim`` dimensions (one of them, for a tuple), else
    None: a tensor of another rank says nothing about the architecture (the strict load names it as mis-shaped)."""
    v = state_dict.get(key)
    if v is None or v.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
        return None
    return v.shape


def inflate_average(state_dict: dict[str, torch.Tensor],
                    target: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """2-D -> 3-D inflation by averaging: a kernel ``(Co, Ci, kh, kw)`` whose 3-D counterpart in ``target`` is
    ``(Co, Ci, kt, kh, kw)`` is repeated ``kt`` times along a new time axis and divided by ``kt``.

    Other tensors are returned unchanged (a remaining shape mismatch is reported by the strict load).
    """
    out = {}
    for k, v in state_dict.items():
        t = target.get(k)
        if t is not None and v.ndim == 4 and t.ndim == 5 and v.shape == t.shape[:2] + t.shape[3:]:
            kt = t.shape[2]
            v = v.unsqueeze(2).repeat(1, 1, kt, 1, 1) / kt
        out[k] = v
    return out


#: top-level parts of the mmdet / mmseg / mmpose models (MaskRCNN, CascadeRCNN, EncoderDecoder, TopDown) that the
#: UniFormer dense-prediction checkpoints hold, in the frameworks' attribute order
TASK_PARTS = ("backbone", "neck", "rpn_head", "roi_head", "decode_head", "auxiliary_head", "keypoint_head")


def split_parts(state_dict: Mapping[str, torch.Tensor], keep: tuple[str, ...]) -> tuple[dict[str, torch.Tensor],
                                                                                          dict[str, int]]:
    """Split an mmdet / mmseg / mmpose state dict (``backbone.*``, ``neck.*``, ``decode_head.*``, ...) by its
    top-level parts.

    Args:
        state_dict: the file's weights.
        keep: the parts the model has (e.g. ``("backbone",)`` for a backbone, ``("backbone", "neck",
            "decode_head")`` for a semantic FPN); their keys keep their prefix.
    Returns:
        ``(kept, left_out)``: the kept entries, and ``part -> number of tensors`` of every other part of the file
        (in file order), for the load report (see :func:`describe_parts`).
    """
    kept: dict[str, torch.Tensor] = {}
    left_out: dict[str, int] = {}
    for k, v in state_dict.items():
        part = k.split(".", 1)[0]
        if part in keep:
            kept[k] = v
        else:
            left_out[part] = left_out.get(part, 0) + 1
    return kept, left_out


def describe_parts(left_out: Mapping[str, int]) -> str:
    """``"left out (not part of this model): neck.* (12 tensors), rpn_head.* (6 tensors)"``, or ``""``."""
    if not left_out:
        return ""
    return "left out (not part of this model): " + ", ".join(
        f"{part}.* ({n} tensor{'s' if n != 1 else ''})" for part, n in left_out.items())
