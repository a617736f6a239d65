"""Label lists shipped with tubelet: one class name per line, line index = class index.

* ``kinetics400``: Kinetics-400 in alphabetical order (MMAction2's ``label_map_k400.txt``).
* ``kinetics400_uniformer``: Kinetics-400 in the order of the official UniFormer weights
  (``video_classification/data_list/k400/kinetics_400_categroies.txt``: "riding a bike", "marching", ...), derived
  from MMAction2's documented row re-ordering of those weights.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

__all__ = ["available", "load_labels"]


def available() -> list[str]:
    return sorted(p.name[:-4] for p in resources.files(__package__).iterdir() if p.name.endswith(".txt"))


@lru_cache(maxsize=None)
def load_labels(name: str) -> tuple[str, ...]:
    """Class names of the shipped label list ``name`` (see :func:`available`)."""
    f = resources.files(__package__) / f"{name}.txt"
    if not f.is_file():
        raise ValueError(f"unknown label list {name!r}; shipped: {', '.join(available())}")
    return tuple(line for line in f.read_text(encoding="utf-8").splitlines() if line)
