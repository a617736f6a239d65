"""The checks that the COCO annotation files of every task share (instances for detection, person keypoints for
pose): the values pycocotools takes, and the "images" and per-annotation entries that name the entry at fault.

Each task's full check is its own (:func:`tubelet.tasks.detection.check_instances`,
:func:`tubelet.tasks.pose.check_coco`); this module holds only what they have in common.
"""
from __future__ import annotations

import json
import math

from ..errors import AnnotationError

__all__ = ["number", "is_id", "shown", "is_box", "check_images", "check_annotation_ids", "check_box_area_crowd"]


def number(value) -> float | None:
    """``value`` as a float when it is a finite JSON number (``true`` is not one), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def is_id(value) -> bool:
    """A COCO id: an integer or a string (JSON ``true`` is not one)."""
    return not isinstance(value, bool) and isinstance(value, (int, str))


def shown(value, limit: int = 80) -> str:
    """``value`` as JSON for a message, cut at ``limit`` characters."""
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def is_box(value) -> bool:
    """``value`` is [x, y, w, h], 4 finite numbers with w, h >= 0."""
    return (isinstance(value, list) and len(value) == 4 and all(number(v) is not None for v in value)
            and value[2] >= 0 and value[3] >= 0)


def check_images(data: dict, source, *, size_needed_for: str | None = None) -> dict:
    """The ids of ``data["images"]`` -> their index, after checking each entry: a unique integer or string "id", a
    "file_name" and, when given, a "width" and "height" > 0 (required when ``size_needed_for`` names what needs
    them, e.g. "mask AP")."""
    images: dict = {}
    for i, img in enumerate(data["images"]):
        where = f"{source}: images entry {i}"
        if not isinstance(img, dict) or "id" not in img or "file_name" not in img:
            raise AnnotationError(f"{where} needs an \"id\" and a \"file_name\"")
        if not is_id(img["id"]):
            raise AnnotationError(f"{where}: \"id\" must be an integer or a string, got {shown(img['id'])}")
        if img["id"] in images:
            raise AnnotationError(f"{where}: id {img['id']!r} is also the id of images entry {images[img['id']]}")
        images[img["id"]] = i
        if not isinstance(img["file_name"], str) or not img["file_name"]:
            raise AnnotationError(f"{where} (id {img['id']!r}): \"file_name\" must be a file name, got "
                                  f"{shown(img['file_name'])}")
        for key in ("width", "height"):
            if img.get(key) is None and size_needed_for:
                raise AnnotationError(f"{where} (id {img['id']!r}): {size_needed_for} needs the image's \"width\" "
                                      f"and \"height\"")
            if img.get(key) is not None and (number(img[key]) is None or img[key] <= 0):
                raise AnnotationError(f"{where} (id {img['id']!r}): \"{key}\" must be a number > 0, got "
                                      f"{shown(img[key])}")
    return images


def check_annotation_ids(ann, i: int, source, images: dict, ids: dict) -> str:
    """Check annotations entry ``i``'s unique "id" (recorded in ``ids``) and its "image_id" (a key of ``images``);
    returns how messages name the entry ("SOURCE: annotations entry I (id X)")."""
    where = f"{source}: annotations entry {i}"
    if not isinstance(ann, dict) or "image_id" not in ann or "id" not in ann:
        raise AnnotationError(f"{where} needs an \"id\" and an \"image_id\"")
    if not is_id(ann["id"]):
        raise AnnotationError(f"{where}: \"id\" must be an integer or a string, got {shown(ann['id'])}")
    where = f"{where} (id {ann['id']!r})"
    if ann["id"] in ids:
        raise AnnotationError(f"{where}: the id is also that of annotations entry {ids[ann['id']]}")
    ids[ann["id"]] = i
    if not is_id(ann["image_id"]) or ann["image_id"] not in images:
        raise AnnotationError(f"{where}: image_id {shown(ann['image_id'])} is not the id of an image of the file")
    return where


def check_box_area_crowd(ann: dict, where: str) -> None:
    """An annotation's "bbox" [x, y, w, h], "area" >= 0 and "iscrowd" 0 or 1 (present: the caller checked)."""
    if not is_box(ann["bbox"]):
        raise AnnotationError(f"{where}: \"bbox\" must be [x, y, w, h], 4 finite numbers with w, h >= 0, got "
                              f"{shown(ann['bbox'])}")
    if number(ann["area"]) is None or ann["area"] < 0:
        raise AnnotationError(f"{where}: \"area\" must be a number >= 0, got {shown(ann['area'])}")
    if ann["iscrowd"] not in (0, 1) or isinstance(ann["iscrowd"], float):
        raise AnnotationError(f"{where}: \"iscrowd\" must be 0 or 1, got {shown(ann['iscrowd'])}")
