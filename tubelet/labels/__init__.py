"""Label lists shipped with tubelet: one class name per line, line index = class index.

* ``kinetics400``: Kinetics-400 in alphabetical order (MMAction2's ``label_map_k400.txt``).
* ``kinetics600``, ``kinetics700``: alphabetical (MMAction2's label maps).
* ``sthv2``: Something-Something v2 (174 classes, index order of its labels.json).
* ``kinetics710``: the Kinetics-710 label space of UniFormerV2's post-pretraining (MMAction2's ``label_map_k710.txt``).
* ``kinetics400_uniformer``: Kinetics-400 in the order of the official UniFormer weights
  (``video_classification/data_list/k400/kinetics_400_categroies.txt``: "riding a bike", "marching", ...), derived
  from MMAction2's documented row re-ordering of those weights.
* ``kinetics600_uniformer``: Kinetics-600 in the order of the official UniFormer K600 weights: the class indices of
  ``video_classification/data_list/k600/k600_common_category.list`` and ``k600_special_category.list`` ("feeding
  fish", "poking bellybutton", ...), each name replaced by its ``kinetics600`` spelling (those lists write
  ``hurling_sport`` for "hurling (sport)", ``massaging_persons_head`` for "massaging person's head").
* ``sthv1``: Something-Something v1 (174 classes) in the order of its ``something-something-v1-labels.csv``
  (MMAction2's ``label_map_sthv1.txt``: "Holding something", "Turning something upside down", ...).
* ``sthv1_uniformer``: Something-Something v1 in alphabetical order, the order of the UniFormer (and TSM) data lists
  and weights (``video_classification/data_list/sthv1/category.txt``); the same list as ``sthv2``.
  UniFormer's Something-Something v2 weights follow ``sthv2``: its split lists label videos by labels.json index; its
  ``data_list/sthv2/category.txt`` (bracketed templates, sorted differently) does not give their order.
* ``ucf101``: UCF101 (101 classes) in the order of its ``classInd.txt`` (alphabetical ignoring case; MMAction2's
  label map); UniFormer's UCF101 lists use the same indices.
* ``hmdb51``: HMDB51 (51 classes), alphabetical (MMAction2's label map); UniFormer's HMDB51 lists use the same indices.
* ``mit``: Moments in Time (339 classes) in MMAction2's label-map order ("clapping", "praying", ...; not alphabetical).
* ``activitynet``: ActivityNet v1.3 (200 classes) in MMAction2's label-map order (not alphabetical).
* ``ade20k``: ADE20K (150 classes) in mmseg's ``ADE20KDataset.CLASSES`` order ("wall", "building", "sky", ...;
  "bed " written without its trailing space); its colours are in ``ade20k_palette.json`` (mmseg's ``PALETTE``).
* ``coco_keypoints``: the 17 COCO person keypoints in their annotation order ("nose", "left_eye", ...): the heatmap
  channels of the pose models.
* ``coco``: the 80 COCO object classes in mmdet's ``CocoDataset.CLASSES`` order ("person", "bicycle", "car", ...,
  "toothbrush"): the class indices of the detectors. Their COCO category ids (1..90 with gaps) are
  :data:`tubelet.tasks.detection.COCO_CATEGORY_IDS`.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

from ..errors import UsageError

__all__ = ["available", "load_labels", "load_label_map", "flip_label_map", "lists_of_length",
           "LABEL_MAPS"]

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
ALIASES = {"k400": "kinetics400", "k600": "kinetics600", "k700": "kinetics700", "k710": "kinetics710",
           "k600_uniformer": "kinetics600_uniformer", "ssv1": "sthv1", "ucf": "ucf101", "hmdb": "hmdb51",
           "moments": "mit", "anet": "activitynet"}


def lists_of_length(num_classes: int) -> list[str]:
    """The shipped label lists with exactly ``num_classes`` names (what ``--labels`` could be for that classifier)."""
    return [name for name in available() if len(load_labels(name)) == num_classes]


def __getattr__(name: str):
    """``tubelet.labels.class_names`` moved to :func:`tubelet.data.read_class_names` (it reads a user's file, which
    is the data pipeline's work): the old name still works, with a DeprecationWarning."""
    if name == "class_names":
        import importlib
        import warnings

        warnings.warn("tubelet.labels.class_names moved to tubelet.data.read_class_names", DeprecationWarning,
                      stacklevel=2)
        return importlib.import_module("tubelet.data.datasets").read_class_names
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
