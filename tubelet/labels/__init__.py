"""Label lists shipped with tubelet: one class name per line, line index = class index.

* ``kinetics400``: Kinetics-400 in alphabetical order (MMAction2's ``label_map_k400.txt``).
* ``kinetics600``, ``kinetics700``: alphabetical (MMAction2's label maps).
* ``sthv2``: Something-Something v2 (174 classes, index order of its labels.json).
* ``kinetics710``: the Kinetics-710 label space of UniFormerV2's post-pretraining (MMAction2's ``label_map_k710.txt``).
* ``kinetics400_uniformer``: Kinetics-400 in the order of the official UniFormer weights
  (``video_classification/data_list/k400/kinetics_400_categroies.txt``: "riding a bike", "marching", ...), derived
  from MMAction2's documented row re-ordering of those weights.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

from ..errors import UsageError

__all__ = ["available", "load_labels", "load_label_map", "flip_label_map", "class_names", "LABEL_MAPS"]

#: row maps from a source label space to a target one: name -> (json file of source rows, source list, target list).
#: ``k710_to_k{400,600,700}.json`` are UniFormerV2's / MMAction2's ``k710_channel_map/map_k*.json``: entry i is the
#: Kinetics-710 row of target class i.
LABEL_MAPS = {
    "k400": ("k710_to_k400.json", "kinetics710", "kinetics400"),
    "k600": ("k710_to_k600.json", "kinetics710", "kinetics600"),
    "k700": ("k710_to_k700.json", "kinetics710", "kinetics700"),
}


def available() -> list[str]:
    return sorted(p.name[:-4] for p in resources.files(__package__).iterdir() if p.name.endswith(".txt"))



@lru_cache(maxsize=None)
def load_labels(name: str) -> tuple[str, ...]:
    """Class names of the shipped label list ``name`` (see :func:`available`)."""
    f = resources.files(__package__) / f"{name}.txt"
    if not f.is_file():
        raise UsageError(f"unknown label list {name!r}; shipped: {', '.join(available())}")
    return tuple(line for line in f.read_text(encoding="utf-8").splitlines() if line)


def load_label_map(name: str) -> tuple[list[int], str, str]:
    """``(source rows for each target class, source list name, target list name)`` of the row map ``name``."""
    import json

    if name not in LABEL_MAPS:
        raise UsageError(f"unknown label map {name!r}; shipped: {', '.join(LABEL_MAPS)}")
    file, source, target = LABEL_MAPS[name]
    rows = json.loads((resources.files(__package__) / file).read_text())
    return [int(r) for r in rows], source, target


def flip_label_map(name: str) -> dict[int, int]:
    """``{class: class after a horizontal flip}`` for the classes of list ``name`` whose meaning flips (their name with
    "left" and "right" swapped is another class). For ``sthv2`` this gives MMAction2's ``{86: 87, 87: 86, 93: 94,
    94: 93, 166: 167, 167: 166}`` (pulling / pushing left-right, turning the camera)."""
    import re

    labels = load_labels(name)
    index = {label: i for i, label in enumerate(labels)}
    swap = {"left": "right", "right": "left"}
    out = {}
    for i, label in enumerate(labels):
        flipped = re.sub(r"\b(left|right)\b", lambda m: swap[m.group(1)], label)
        if flipped != label and flipped in index:
            out[i] = index[flipped]
    return out


#: short names accepted wherever a label list is named (``--labels k400``, ``data.labels: k400``)
ALIASES = {"k400": "kinetics400", "k600": "kinetics600", "k700": "kinetics700", "k710": "kinetics710"}


def class_names(spec: str) -> list[str]:
    """Class names from ``spec``: a text file (one name per line), an SSv2-style labels json (``{"name": "index"}``),
    or a shipped list by name or short name (``k400``, ``k600``, ``k700``, ``k710``, ``sthv2``, ...).

    Raises:
        ValueError: ``spec`` is neither a file nor a shipped list.
    """
    import json
    import os
    from pathlib import Path

    if os.path.isfile(spec):
        text = Path(spec).read_text(encoding="utf-8")
        if spec.endswith(".json"):
            table = json.loads(text)
            return [name for name, _ in sorted(table.items(), key=lambda kv: int(kv[1]))]
        return [line.strip() for line in text.splitlines() if line.strip()]
    name = ALIASES.get(spec, spec)
    if name not in available():
        raise UsageError(f"{spec!r} is neither a file nor a shipped list ({', '.join(available())})")
    return list(load_labels(name))
