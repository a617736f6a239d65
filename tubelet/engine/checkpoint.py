"""Training checkpoints: written atomically, read without executing code, complete enough to resume exactly.

A checkpoint holds ``model`` (the unwrapped, uncompiled module's state dict), ``optimizer``, ``scaler``, ``ema``,
``step``, ``epoch``, ``batch_in_epoch`` (data position), ``best``, ``config``, ``model_name``, ``rng`` (Python,
NumPy, torch CPU/CUDA and the mixup generator) and ``tubelet``: the architecture, its options and the data contract
(:func:`tubelet.models._files.tubelet_metadata`, as in a tubelet ``.safetensors`` file), so that
``create_model(checkpoint_path="OUT/last.pt")`` rebuilds the trained model without being told its name. Files
written before that key existed still load, with the model's name. A checkpoint is written to a temporary file in
the same folder, flushed to disk, then renamed over the old one: killing the process at any moment leaves either the
old or the new file, never a torn one.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from ..atomic import remove_stale_temporaries, temporary_name, write_atomically  # noqa: F401  (re-exported)
from ..errors import CheckpointError

__all__ = ["save_checkpoint", "load_checkpoint", "rng_state", "set_rng_state", "remove_stale_temporaries",
           "temporary_name", "write_atomically"]

CHECKPOINT_VERSION = 1


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Atomically write ``state`` to ``path`` (temp file + fsync + rename); temporaries of saves that were killed
    before are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    return write_atomically(path, lambda f: torch.save({"version": CHECKPOINT_VERSION, **state}, f))


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a training checkpoint (``weights_only``: no code from the file runs).

    Raises:
        CheckpointError: the file is not a tubelet training checkpoint; the message names it.
    """
    path = os.fspath(path)
    _check_format(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated / foreign files raise many different errors
        raise CheckpointError(f"{path}: not a readable training checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or "model" not in state or "step" not in state:
        raise CheckpointError(f"{path}: not a tubelet training checkpoint (no 'model'/'step' entries)")
    if state.get("version", 0) > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: written by a newer tubelet (checkpoint version {state['version']})")
    return state


def _check_format(path: str) -> None:
    """A training checkpoint is a ``torch.save`` zip: say what any other file is before torch tries to read it."""
    from ..models._files import _describe, _looks_like_safetensors

    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such training checkpoint" if not os.path.exists(path) else
                              f"{path}: not a regular file, so not a training checkpoint")
    with open(path, "rb") as f:
        head = f.read(512)
    if _looks_like_safetensors(head, os.path.getsize(path)):
        raise CheckpointError(f"{path}: a safetensors file holds weights only, not a training state to resume; "
                              f"start a run from its weights with model.checkpoint instead")
    if len(head) >= 8 and not head.startswith((b"PK\x03\x04", b"\x80")):
        raise CheckpointError(f"{path}: {_describe(head, path)}")


def rng_state() -> dict:
    """Every global random state the loop draws from, in types ``torch.load(weights_only=True)`` accepts."""
    np_state = np.random.get_state()
    state = {"python": list(random.getstate()[1]), "python_version": random.getstate()[0],
             "python_gauss": random.getstate()[2],
             "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                       "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
