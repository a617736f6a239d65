"""Object detection and instance segmentation of images with the UniFormer COCO detectors (Mask R-CNN, Cascade Mask
R-CNN): boxes, classes, scores and masks of one image, COCO results, and COCO box and mask AP.

The test path is the official one (Sense-X/UniFormer ``object_detection``, mmdet 2.11: ``MultiScaleFlipAug`` with
``img_scale=(1333, 800)``, ``flip=False``):

1. the image is read as RGB (EXIF orientation applied, as OpenCV's ``imread(IMREAD_COLOR)`` does for mmdet);
2. it is rescaled keeping its aspect ratio to fit ``(1333, 800)`` (mmcv's ``imrescale``: factor = min(1333 / long
   side, 800 / short side), each side ``int(side * factor + 0.5)``), bilinear on the uint8 image exactly as OpenCV's
   ``INTER_LINEAR`` (:func:`tubelet.tasks.segmentation.resize_uint8`); ``scale_factor`` = (new w / w, new h / h,
   new w / w, new h / h) in float32;
3. normalised as mmcv's ``imnormalize``: ``(x - mean) * (1 / std)`` in float32 with mmdet's ``img_norm_cfg``
   (mean 123.675, 116.28, 103.53; std 58.395, 57.12, 57.375 on the 0-255 scale);
4. zero-padded at the bottom and right to multiples of 32 (``Pad(size_divisor=32)``);
5. ``model.detect(x, img_shape, ori_shape)``: the RPN and RoI heads, boxes in original-image pixels
   (``rescale=True``), at most 100 detections scored above 0.05, masks pasted at the original size.

Results are written as mmdet's ``results2json`` writes them (:meth:`DetectionResult.to_coco`: ``bbox`` [x, y, w, h],
``score``, ``category_id``, and for the masks a compressed RLE ``segmentation``), and scored with pycocotools'
``COCOeval`` (:func:`evaluate_coco_detection`; ``pip install "tubelet[coco]"``).

Commands: ``tubelet detect`` and ``tubelet detect-eval`` (:mod:`tubelet.cli.detect`).
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..data.images import ImageReadError
from ..errors import AnnotationError, DependencyError, UsageError
from ..data.coco import check_annotation_ids, check_box_area_crowd, check_images, is_box, is_id, number, shown
from .pose import load_json, read_image
from .segmentation import palette_for, rescale_size, resize_uint8

__all__ = ["COCO_CATEGORY_IDS", "TEST_SCALE", "SIZE_DIVISOR", "MEAN", "STD", "SCORE_THR", "STAT_NAMES", "IOU_TYPES",
           "ImageReadError", "read_image", "preprocess", "model_test_scale", "detect", "DetectionResult",
           "draw_detections", "mask_to_rle", "coco_image_id", "require_coco", "check_instances", "load_instances",
           "check_image_files", "model_iou_types",
           "category_ids_for", "detect_class_names", "evaluate_coco_detection", "detect_eval", "format_metrics"]

#: the COCO category id of each of the 80 classes (``tubelet/labels/coco.txt``, mmdet's class order): 1..90 without
#: the 10 ids that COCO 2017 does not use
COCO_CATEGORY_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31,
                     32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56,
                     57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85,
                     86, 87, 88, 89, 90)
#: the test scale of every UniFormer detection config: ``img_scale=(1333, 800)`` (long side, short side)
TEST_SCALE = (1333, 800)
#: test images are zero-padded to multiples of this (``Pad(size_divisor=32)``)
SIZE_DIVISOR = 32
#: mmdet's ``img_norm_cfg`` (0-255 scale, RGB): ImageNet's mean and std x 255
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)
#: detections drawn and listed by ``tubelet detect``: those scored above this (mmdet's ``show_result`` default)
SCORE_THR = 0.3
#: the 12 COCO detection metrics, in the order of ``COCOeval.stats``; keys are ``<kind>_<name>`` (``bbox_AP``)
STAT_NAMES = ("AP", "AP50", "AP75", "AP_s", "AP_m", "AP_l", "AR_1", "AR_10", "AR_100", "AR_s", "AR_m", "AR_l")
#: what is evaluated: boxes and masks (pycocotools' ``iouType``)
IOU_TYPES = ("bbox", "segm")

COCO_HINT = 'pip install "tubelet[coco]"'


# ------------------------------------------------------------------------------------------------------ preprocessing
def preprocess(image: np.ndarray | torch.Tensor, *, scale: tuple[int, int] = TEST_SCALE,
               size_divisor: int | None = SIZE_DIVISOR, mean: Sequence[float] = MEAN,
               std: Sequence[float] = STD) -> tuple[torch.Tensor, dict]:
    """mmdet 2.11's test pipeline for one ``(H, W, 3)`` uint8 RGB image: the network input and its image meta.

    1. keep-ratio rescale to fit ``scale`` (long side, short side), as mmcv's ``imrescale``: factor =
       min(long / max(H, W), short / min(H, W)), new sides ``int(side * factor + 0.5)``;
    2. bilinear resize of the uint8 image (:func:`~tubelet.tasks.segmentation.resize_uint8`: OpenCV's
       ``INTER_LINEAR``, which mmcv calls, bit for bit, without OpenCV);
    3. ``(x - mean) * (1 / std)`` in float32, ``mean`` and ``std`` on the 0-255 scale (mmcv's ``imnormalize``:
       it subtracts the float32 mean, then multiplies by the float32 inverse of the std; a true division differs
       in the last bit on some values);
    4. zeros at the bottom and right up to multiples of ``size_divisor`` (None: no padding).

    Returns:
        ``x`` ``(1, 3, Hp, Wp)`` float32 (the resized image at the top-left), and ``meta``: ``ori_shape`` (H, W),
        ``img_shape`` (h, w) of the resized image, ``pad_shape`` (Hp, Wp) and ``scale_factor`` (w scale, h scale,
        w scale, h scale), the float32 values mmdet uses (as Python floats).
    """
    if not isinstance(image, torch.Tensor):
        image = np.asarray(image)
        image = torch.from_numpy(image if image.flags.writeable else image.copy())
    if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise UsageError(f"preprocess() takes an (H, W, 3) uint8 RGB image, got {tuple(image.shape)} {image.dtype}")
    H, W = int(image.shape[0]), int(image.shape[1])
    h, w = rescale_size(H, W, scale)
    x = resize_uint8(image, (h, w)) if (h, w) != (H, W) else image
    m = torch.from_numpy(np.asarray(mean, dtype=np.float32).copy())
    inv = torch.from_numpy((1 / np.asarray(std, dtype=np.float32).astype(np.float64)).astype(np.float32))
    x = ((x.to(torch.float32) - m) * inv).permute(2, 0, 1)
    Hp, Wp = h, w
    if size_divisor:
        Hp, Wp = (int(math.ceil(h / size_divisor)) * size_divisor, int(math.ceil(w / size_divisor)) * size_divisor)
    padded = x.new_zeros((1, 3, Hp, Wp))
    padded[0, :, :h, :w] = x
    factor = np.array([w / W, h / H, w / W, h / H], dtype=np.float32)
    meta = {"ori_shape": (H, W), "img_shape": (h, w), "pad_shape": (Hp, Wp),
            "scale_factor": tuple(float(v) for v in factor)}
    return padded, meta


# ---------------------------------------------------------------------------------------------------------- drawing
def _text_colour(rgb) -> tuple[int, int, int]:
    r, g, b = rgb
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 128 else (255, 255, 255)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType: a scalable font
    except (TypeError, OSError, ValueError, AttributeError, ImportError):
        return ImageFont.load_default()


def draw_detections(image, boxes, scores, labels, masks=None, class_names: Sequence[str] | None = None,
                    palette: Sequence[Sequence[int]] | None = None, alpha: float = 0.5, width: int | None = None,
                    text: bool = True):
    """``image`` (an (H, W, 3) uint8 RGB array or a PIL image) with each detection drawn on it, in its class's colour
    (``palette``: one RGB colour per class; default :func:`~tubelet.tasks.segmentation.palette_for`): the mask
    blended in (``image x (1 - alpha) + colour x alpha`` on the mask's pixels), the box outline (``width`` pixels
    inside the box, default from the image size) and, with ``text``, a label "name score" on a filled rectangle
    above the box (inside it at the image's top). Returns a new RGB PIL image of the same size; the input is left
    alone."""
    from PIL import Image, ImageDraw

    arr = np.array(image.convert("RGB") if isinstance(image, Image.Image) else np.asarray(image, dtype=np.uint8))
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if palette is None:
        palette = palette_for(max(int(labels.max()) + 1 if labels.size else 1, len(class_names or [])))
    colours = [tuple(int(c) for c in palette[k % len(palette)]) for k in labels]
    if masks is not None:
        for mask, colour in zip(masks, colours):
            mask = np.asarray(mask, dtype=bool)
            arr[mask] = (arr[mask].astype(np.float64) * (1 - alpha) + np.asarray(colour) * alpha).astype(np.uint8)
    im = Image.fromarray(arr)
    draw = ImageDraw.Draw(im)
    side = max(im.size)
    width = max(1, round(side / 400)) if width is None else width
    font = _font(max(10, round(side / 60)))
    for (x1, y1, x2, y2), colour in zip(boxes, colours):
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=width)
    if text:
        for (x1, y1, _, _), k, s, colour in zip(boxes, labels, scores, colours):
            name = class_names[k] if class_names and 0 <= k < len(class_names) else f"class {k}"
            caption = f"{name} {s:.2f}"
            left, top, right, bottom = draw.textbbox((0, 0), caption, font=font)
            tw, th = right - left + 4, bottom - top + 4
            ty = y1 - th if y1 - th >= 0 else y1
            draw.rectangle([x1, ty, x1 + tw, ty + th], fill=colour)
            draw.text((x1 + 2 - left, ty + 2 - top), caption, fill=_text_colour(colour), font=font)
    return im


# ------------------------------------------------------------------------------------------------------- COCO results
def require_coco(what: str = "COCO detection results and evaluation"):
    """pycocotools' ``COCO``, ``COCOeval`` and ``mask`` module, or a :class:`DependencyError` naming ``what`` needs
    them and the install hint ``pip install "tubelet[coco]"``."""
    try:
        from pycocotools import mask as mask_util
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as e:
        raise DependencyError(f"{what} need pycocotools, which is not installed ({e}); {COCO_HINT}") from None
    return COCO, COCOeval, mask_util


def mask_to_rle(mask) -> dict:
    """One ``(H, W)`` binary mask as COCO's compressed RLE, ``{"size": [H, W], "counts": str}`` (pycocotools'
    ``mask.encode`` of the Fortran-ordered uint8 mask, the counts decoded to text, as mmdet writes them).

    Raises:
        DependencyError: pycocotools is not installed (without it the masks cannot be written as COCO results).
    """
    _, _, mask_util = require_coco("COCO masks (RLE)")
    rle = mask_util.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)[:, :, None]))[0]
    counts = rle["counts"]
    return {"size": [int(v) for v in rle["size"]], "counts": counts.decode() if isinstance(counts, bytes) else counts}


def coco_image_id(path: str | os.PathLike, index: int) -> int:
    """The COCO image id of an image file: the number of a COCO file name (``000000000139.jpg`` -> 139), else
    ``index``."""
    stem = Path(path).stem
    return int(stem) if stem.isdigit() else index


@dataclass
class DetectionResult:
    """One image's detections, in mmdet's result order (by class, then by descending score).

    Attributes:
        boxes: ``(n, 4)`` float32 x1, y1, x2, y2 in original-image pixels.
        scores: ``(n,)`` float32.
        labels: ``(n,)`` int64 class index (0-based; :attr:`class_names`).
        masks: ``(n, H, W)`` bool, or None for a model without a mask head.
        class_names: one name per class of the model.
        image: the ``(H, W, 3)`` uint8 RGB image that was detected on.
        input_size: ``(Hp, Wp)`` of the padded network input; ``img_shape``: ``(h, w)`` of the resized image in it.
        scale_factor: mmdet's ``(w scale, h scale, w scale, h scale)``.
        score_threshold: the detections are those scored above this (None: all the model returned).
        source: the image's path, when read from a file.
        seconds: time taken by :func:`detect` (reading excluded).
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    masks: np.ndarray | None
    class_names: list[str]
    image: np.ndarray
    input_size: tuple[int, int]
    img_shape: tuple[int, int]
    scale_factor: tuple[float, float, float, float]
    score_threshold: float | None = None
    source: str | None = None
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the image."""
        return int(self.image.shape[0]), int(self.image.shape[1])

    def class_name(self, label: int) -> str:
        return self.class_names[label] if 0 <= label < len(self.class_names) else f"class {label}"

    def to_coco(self, image_id, category_ids: Sequence[int | None] = COCO_CATEGORY_IDS,
                masks: bool = True) -> list[dict]:
        """The detections as COCO results, as mmdet's ``results2json``: ``{"image_id", "bbox": [x1, y1, x2 - x1,
        y2 - y1], "score", "category_id"}`` (the float32 coordinates as exact floats, the width and height
        subtracted in double precision, as mmdet's ``xyxy2xywh``), with ``masks`` and a mask head also
        ``"segmentation"``: the mask's compressed RLE (:func:`mask_to_rle`), scored with the box's score.

        ``category_ids``: the category id of each class (default COCO's, :data:`COCO_CATEGORY_IDS`); a detection of
        a class whose entry is None is left out.

        Raises:
            DependencyError: masks to write and pycocotools is not installed (:func:`mask_to_rle`).
        """
        out = []
        with_masks = masks and self.masks is not None
        if with_masks and len(self):
            require_coco("COCO masks (RLE)")
        for i in range(len(self)):
            k = int(self.labels[i])
            category = category_ids[k] if 0 <= k < len(category_ids) else None
            if category is None:
                continue
            x1, y1, x2, y2 = self.boxes[i].tolist()
            entry = {"image_id": image_id, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(self.scores[i]),
                     "category_id": category}
            if with_masks:
                entry["segmentation"] = mask_to_rle(self.masks[i])
            out.append(entry)
        return out

    def draw(self, alpha: float = 0.5, width: int | None = None, text: bool = True):
        """The image with the masks, boxes and "class score" labels drawn on it (:func:`draw_detections`): a PIL
        image."""
        return draw_detections(self.image, self.boxes, self.scores, self.labels, self.masks, self.class_names,
                               palette_for(len(self.class_names)), alpha=alpha, width=width, text=text)

    def save(self, folder: str | os.PathLike, stem: str, alpha: float = 0.5) -> dict[str, str]:
        """Write the drawing (:meth:`draw`) as ``<stem>_detections.png`` into ``folder`` (whole or not at all);
        returns ``{"detections": path}``."""
        from ..atomic import write_atomically

        path = Path(folder) / f"{stem}_detections.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        drawing = self.draw(alpha=alpha)
        write_atomically(path, lambda f: drawing.save(f, format="PNG"))
        return {"detections": str(path)}

    def detections(self) -> list[dict]:
        """``[{"label", "class", "score", "box": [x1, y1, x2, y2]}]`` in result order (scores to 4 decimals, boxes
        to 2)."""
        return [{"label": int(k), "class": self.class_name(int(k)), "score": round(float(s), 4),
                 "box": [round(float(v), 2) for v in b]} for b, s, k in zip(self.boxes, self.scores, self.labels)]

    def to_dict(self) -> dict:
        """JSON-ready summary: image, size, input size, detections (:meth:`detections`), seconds."""
        return {"image": self.source, "size": list(self.size), "input_size": list(self.input_size),
                "score_threshold": self.score_threshold, "detections": self.detections(),
                "seconds": round(self.seconds, 3)}


def _as_array(value, dtype, shape_tail: tuple[int, ...] = ()) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value, dtype=dtype)
    return arr.reshape((-1, *shape_tail)) if shape_tail or arr.ndim != 1 else arr


def model_test_scale(model) -> tuple[int, int]:
    """The test scale (long side, short side) of a detector: ``model.test_scale`` when it sets one (a smaller scale
    for quick checks), else the official :data:`TEST_SCALE`, ``(1333, 800)``."""
    scale = getattr(model, "test_scale", None)
    return tuple(scale) if scale else TEST_SCALE


def detect(model, image: np.ndarray | torch.Tensor | str | os.PathLike, *, score_threshold: float | None = SCORE_THR,
           scale: tuple[int, int] | None = None, size_divisor: int | None = None) -> DetectionResult:
    """Detect the objects of one image with a detector (``model.detect(x, img_shape=, ori_shape=)``, e.g.
    ``tubelet.create_model("uniformer_small_maskrcnn", pretrained=True).eval()``), with the official test
    (:func:`preprocess`), on the model's device.

    Args:
        image: a file path (:func:`read_image`), or an ``(H, W, 3)`` uint8 RGB array / tensor.
        score_threshold: keep the detections scored above this (default 0.3, what mmdet draws); None keeps all the
            model returns (scored above its own 0.05: what the COCO evaluation takes).
        scale: the test scale (long side, short side; default :func:`model_test_scale`, the official
            ``(1333, 800)``).
        size_divisor: padding multiple (default the model's ``size_divisor``, 32).
    Returns:
        :class:`DetectionResult`, boxes and masks in original-image pixels.
    Raises:
        ImageReadError: an unreadable image file (the message names it). UsageError: not a detection model, or not
            an RGB image.
    """
    source = None
    if isinstance(image, (str, os.PathLike)):
        source = str(image)
        image = read_image(image)
    image = np.asarray(image.cpu() if isinstance(image, torch.Tensor) else image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise UsageError(f"detect() takes an (H, W, 3) uint8 RGB image, got {tuple(image.shape)} {image.dtype}")
    if not callable(getattr(model, "detect", None)):
        cfg = getattr(model, "pretrained_cfg", None)
        raise UsageError(f"{getattr(cfg, 'architecture', None) or type(model).__name__} is not a detection model (it "
                         f"has no detect()); the detectors are uniformer_*_maskrcnn and uniformer_*_cascade_maskrcnn")
    t0 = time.perf_counter()
    cfg = model.pretrained_cfg
    mean = tuple(float(np.float32(float(v) * 255)) for v in cfg.mean)  # the float32 values of mmdet's img_norm_cfg
    std = tuple(float(np.float32(float(v) * 255)) for v in cfg.std)
    divisor = size_divisor if size_divisor is not None else getattr(model, "size_divisor", SIZE_DIVISOR)
    x, meta = preprocess(image, scale=scale or model_test_scale(model), size_divisor=divisor, mean=mean, std=std)
    try:
        param = next(model.parameters())
        x = x.to(device=param.device, dtype=param.dtype if param.is_floating_point() else torch.float32)
    except StopIteration:
        pass
    with torch.inference_mode():
        out = model.detect(x, img_shape=meta["img_shape"], ori_shape=meta["ori_shape"])
    boxes = _as_array(out["boxes"], np.float32, (4,))
    scores = _as_array(out["scores"], np.float32)
    labels = _as_array(out["labels"], np.int64)
    masks = out.get("masks")
    masks = None if masks is None else _as_array(masks, bool, tuple(meta["ori_shape"]))
    if score_threshold is not None:
        keep = scores > score_threshold
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        masks = None if masks is None else masks[keep]
    return DetectionResult(boxes=boxes, scores=scores, labels=labels, masks=masks,
                           class_names=detect_class_names(model), image=image, input_size=tuple(meta["pad_shape"]),
                           img_shape=tuple(meta["img_shape"]), scale_factor=meta["scale_factor"],
                           score_threshold=score_threshold, source=source, seconds=time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------------------- checks








def _rle_size(value) -> bool:
    return (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value))


def _gt_segmentation_problem(segm) -> str | None:
    """Why pycocotools cannot take ``segm`` as a ground-truth "segmentation", or None: polygons (a non-empty list of
    lists of at least 4 finite numbers) or an RLE (``{"size": [h, w], "counts": str or list of whole numbers}``)."""
    if isinstance(segm, list):
        if segm and all(isinstance(p, list) and len(p) >= 4 and all(number(v) is not None for v in p)
                        for p in segm):
            return None
        return "polygons must be a non-empty list of lists [x1, y1, x2, y2, ...] of numbers"
    if isinstance(segm, dict):
        counts = segm.get("counts")
        if _rle_size(segm.get("size")) and (isinstance(counts, str) or (
                isinstance(counts, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in counts))):
            return None
        return "an RLE needs \"size\": [h, w] and \"counts\" (a string or a list of whole numbers)"
    return "expected polygons [[x1, y1, ...], ...] or an RLE {\"size\", \"counts\"}"


def check_instances(data, source: str | os.PathLike = "the annotations", iou_types: Sequence[str] = IOU_TYPES) -> None:
    """Raise :class:`AnnotationError` for what pycocotools' detection evaluation cannot take in a COCO instances
    annotation dict (``instances_val2017.json``), naming ``source`` and the entry (its index and id): lists
    "images", "annotations" and "categories"; images with a unique integer or string "id", a "file_name" and, when
    given (needed for masks, ``"segm"`` in ``iou_types``), a "width" and "height" > 0; categories with a unique
    "id"; annotations with a unique "id", the "image_id" of an image, the "category_id" of a category, "bbox" [x, y,
    w, h] (4 finite numbers, w, h >= 0), "area" >= 0, "iscrowd" 0 or 1 and, for masks, a "segmentation" (polygons
    or an RLE)."""
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list)
                                             for k in ("images", "annotations", "categories")):
        raise AnnotationError(f"{source}: not a COCO instances file (expected an object with lists \"images\", "
                              f"\"annotations\" and \"categories\", as instances_val2017.json)")
    masks = "segm" in iou_types
    images = check_images(data, source, size_needed_for="mask AP" if masks else None)
    categories: dict = {}
    for i, cat in enumerate(data["categories"]):
        if not isinstance(cat, dict) or not is_id(cat.get("id")):
            raise AnnotationError(f"{source}: categories entry {i} needs an \"id\" (an integer or a string)")
        if cat["id"] in categories:
            raise AnnotationError(f"{source}: categories entry {i}: id {cat['id']!r} is also the id of categories "
                                  f"entry {categories[cat['id']]}")
        categories[cat["id"]] = i
    ids: dict = {}
    for i, ann in enumerate(data["annotations"]):
        where = check_annotation_ids(ann, i, source, images, ids)
        needed = ("category_id", "bbox", "area", "iscrowd") + (("segmentation",) if masks else ())
        missing = [k for k in needed if k not in ann]
        if missing:
            raise AnnotationError(f"{where}: an instance annotation needs {', '.join(map(json.dumps, missing))}"
                                  f"{' (mask AP reads the segmentation)' if missing == ['segmentation'] else ''}")
        if not is_id(ann["category_id"]) or ann["category_id"] not in categories:
            raise AnnotationError(f"{where}: category_id {shown(ann['category_id'])} is not the id of a category of "
                                  f"the file")
        check_box_area_crowd(ann, where)
        if masks:
            problem = _gt_segmentation_problem(ann["segmentation"])
            if problem:
                raise AnnotationError(f"{where}: \"segmentation\": {problem}, got {shown(ann['segmentation'])}")


def load_instances(annotation_file: str | os.PathLike, iou_types: Sequence[str] = IOU_TYPES) -> dict:
    """A COCO instances annotation file, checked for an evaluation of ``iou_types`` (:func:`check_instances`).

    Raises:
        AnnotationError: the file cannot be read, is not JSON, or is malformed; the message names it.
    """
    data = load_json(annotation_file, "annotation file")
    check_instances(data, annotation_file, iou_types)
    return data


def check_image_files(data: dict, image_dir: str | os.PathLike, annotation_file: str | os.PathLike = "the annotations",
                      limit: int | None = None) -> list[dict]:
    """The images entries of ``data`` (the first ``limit``), after checking that each ``file_name`` is a file below
    ``image_dir``.

    Raises:
        UsageError: an image that is not there, named with its path (and how many others are missing).
    """
    images = data["images"][:limit] if limit else data["images"]
    root = Path(image_dir)
    missing = [img["file_name"] for img in images if not (root / img["file_name"]).is_file()]
    if missing:
        raise UsageError(f"{root / missing[0]}: no such image, but {annotation_file} lists it"
                         f"{f' ({len(missing)} of its {len(images)} images are missing)' if len(missing) > 1 else ''}"
                         f"; --images is the folder of the annotation file's file_name entries")
    return images


def _check_results(results, data: dict, iou_types: Sequence[str], source: str) -> None:
    """Raise :class:`AnnotationError` for a result that pycocotools' ``loadRes`` / ``COCOeval`` cannot take, naming
    ``source`` and the entry: each needs "image_id" (of an image of the annotation file), "category_id" (one of its
    categories), "score" (a finite number), for box AP "bbox" [x, y, w, h] and for mask AP "segmentation", a
    compressed RLE ``{"size": [h, w], "counts": str}`` of the image's size."""
    if not isinstance(results, list):
        raise AnnotationError(f"{source}: expected a JSON list of COCO detection results, got a "
                              f"{type(results).__name__}")
    first = results[0] if results and isinstance(results[0], dict) else {}
    for key in ("caption", "keypoints"):  # loadRes would read the file as results of another kind
        if key in first:
            raise AnnotationError(f"{source}: entry 0 has a \"{key}\": not a COCO detection result (pycocotools "
                                  f"would read the file as {key} results)")
    images = {img["id"]: img for img in data["images"]}
    categories = {c["id"] for c in data["categories"]}
    needed = ("image_id", "category_id", "score") + (("bbox",) if "bbox" in iou_types else ()) + (
        ("segmentation",) if "segm" in iou_types else ())
    for i, r in enumerate(results):
        where = f"{source}: entry {i}"
        if not isinstance(r, dict):
            raise AnnotationError(f"{where}: a detection result is an object {{\"image_id\", \"category_id\", "
                                  f"\"bbox\", \"score\"}}, got {shown(r)}")
        missing = [k for k in needed if k not in r]
        if missing:
            hint = " (mask AP reads the masks; evaluate boxes only without them)" if missing == ["segmentation"] else ""
            raise AnnotationError(f"{where}: a detection result needs {', '.join(map(json.dumps, missing))}; "
                                  f"it has {', '.join(map(json.dumps, r)) or 'nothing'}{hint}")
        if not is_id(r["image_id"]) or r["image_id"] not in images:
            raise AnnotationError(f"{where}: image_id {shown(r['image_id'])} is not an image of the annotation file")
        if not is_id(r["category_id"]) or r["category_id"] not in categories:
            known = ", ".join(map(json.dumps, sorted(categories, key=str)[:12])) + (", ..." if len(categories) > 12
                                                                                   else "")
            raise AnnotationError(f"{where}: category_id {shown(r['category_id'])} is not a category of the "
                                  f"annotation file ({known})")
        if number(r["score"]) is None:
            raise AnnotationError(f"{where}: \"score\" must be a number, got {shown(r['score'])}")
        if "bbox" in iou_types and not is_box(r["bbox"]):
            raise AnnotationError(f"{where}: \"bbox\" must be [x, y, w, h], 4 finite numbers with w, h >= 0, got "
                                  f"{shown(r['bbox'])}")
        if "segm" in iou_types:
            segm, img = r["segmentation"], images[r["image_id"]]
            if not (isinstance(segm, dict) and isinstance(segm.get("counts"), str) and _rle_size(segm.get("size"))):
                raise AnnotationError(f"{where}: \"segmentation\" must be a compressed RLE {{\"size\": [h, w], "
                                      f"\"counts\": str}} (pycocotools' mask.encode), got {shown(segm)}")
            if segm["size"] != [img["height"], img["width"]]:
                raise AnnotationError(f"{where}: the mask is {segm['size'][1]}x{segm['size'][0]}, but image "
                                      f"{r['image_id']!r} is {img['width']}x{img['height']} in the annotation file")


def _result_set(COCO, gt, data: dict, results: list, kind: str):
    """The results of one kind as pycocotools' result set (``loadRes``; an empty one when there are none)."""
    if not results:  # loadRes cannot take an empty list: no results score 0
        dt = COCO()
        dt.dataset = {"images": list(data["images"]), "categories": copy.deepcopy(data["categories"]),
                      "annotations": []}
        dt.createIndex()
        return dt
    if kind == "bbox":
        anns = [{"image_id": r["image_id"], "category_id": r["category_id"], "bbox": list(r["bbox"]),
                 "score": r["score"]} for r in results]
    else:
        # mmdet 2.11 evaluates the masks of results that also hold their box: pycocotools then takes an instance's
        # area (which decides the small / medium / large ranges) from the box, not the mask (mmdet >= 2.12 drops the
        # box). The overall AP does not depend on it.
        boxed = all(is_box(r.get("bbox")) for r in results)
        anns = [{"image_id": r["image_id"], "category_id": r["category_id"],
                 "segmentation": copy.deepcopy(r["segmentation"]), "score": r["score"],
                 **({"bbox": list(r["bbox"])} if boxed else {})} for r in results]
    return gt.loadRes(anns)


def model_iou_types(model) -> tuple[str, ...]:
    """``("bbox", "segm")`` for a detector with a mask head, ``("bbox",)`` for one without (``model.with_mask``,
    else ``model.roi_head.mask_head``; a model that says neither is taken to have one)."""
    with_mask = getattr(model, "with_mask", None)
    if with_mask is None:
        roi_head = getattr(model, "roi_head", None)
        with_mask = True if roi_head is None else getattr(roi_head, "mask_head", None) is not None
    return IOU_TYPES if with_mask else ("bbox",)


def _evaluate(data: dict, results: list, iou_types: Sequence[str], image_ids, verbose: bool) -> dict[str, float]:
    COCO, COCOeval, _ = require_coco("COCO detection evaluation")
    report = io.StringIO()
    metrics: dict[str, float] = {}
    with contextlib.redirect_stdout(report):
        gt = COCO()
        gt.dataset = data
        gt.createIndex()
        for kind in iou_types:
            dt = _result_set(COCO, gt, data, results, kind)
            ev = COCOeval(gt, dt, kind)
            if image_ids is not None:
                ev.params.imgIds = list(image_ids)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            metrics.update({f"{kind}_{name}": float(v) for name, v in zip(STAT_NAMES, ev.stats)})
    if verbose:
        print(report.getvalue(), end="", file=sys.stderr)
    return metrics


def _iou_types(iou_types) -> tuple[str, ...]:
    kinds = (iou_types,) if isinstance(iou_types, str) else tuple(iou_types)
    wrong = [k for k in kinds if k not in IOU_TYPES]
    if wrong or not kinds:
        raise UsageError(f"iou_types: expected 'bbox' and / or 'segm', got {', '.join(map(repr, wrong)) or 'none'}")
    return kinds


def evaluate_coco_detection(annotation_file: str | os.PathLike, results: list[dict] | str | os.PathLike,
                            iou_types: Sequence[str] = IOU_TYPES, *, image_ids: Sequence | None = None,
                            verbose: bool = False, source: str | os.PathLike | None = None) -> dict[str, float]:
    """COCO box and mask AP/AR of ``results`` (a list in the COCO detection result format, or a JSON file of one)
    against ``annotation_file`` (``instances_val2017.json``), with pycocotools' ``COCOeval`` for each of
    ``iou_types`` (``"bbox"``, ``"segm"``), as mmdet's ``CocoDataset.evaluate``.

    For mask AP each result's "segmentation" is evaluated with its box, as mmdet 2.11 does (pycocotools then sizes
    the instance by its box for the small / medium / large ranges; mmdet >= 2.12 drops the box; AP over all areas
    is the same). ``image_ids``: evaluate on these images only (default: all of the file's). ``verbose``:
    pycocotools' own report on stderr. ``source``: what the messages call the results (default: the file's path,
    "results" for a list).

    Returns:
        ``{"bbox_AP", "bbox_AP50", "bbox_AP75", "bbox_AP_s", "bbox_AP_m", "bbox_AP_l", "bbox_AR_1", "bbox_AR_10",
        "bbox_AR_100", "bbox_AR_s", "bbox_AR_m", "bbox_AR_l", "segm_AP", ...}``: ``COCOeval.stats`` of each kind in
        that order, fractions in 0..1, -1 where an area range has no ground truth. No results at all score 0.
    Raises:
        DependencyError: pycocotools is not installed.
        AnnotationError: a file that cannot be read or parsed, a malformed annotation (:func:`check_instances`), or
            a malformed result (a missing or malformed "image_id", "category_id", "score", "bbox" or
            "segmentation"), or one of an image or a category not in the annotation file; the message names the
            file and the entry.
    """
    require_coco("COCO detection evaluation")
    iou_types = _iou_types(iou_types)
    data = load_instances(annotation_file, iou_types)
    if not isinstance(results, list):
        source = source or results
        results = load_json(results, "results file")
    _check_results(results, data, iou_types, str(source or "results"))
    if image_ids is not None:
        known = {img["id"] for img in data["images"]}
        unknown = [i for i in image_ids if i not in known]
        if unknown:
            raise UsageError(f"image_ids: {shown(unknown[0])} is not an image of {annotation_file}")
    return _evaluate(data, results, iou_types, image_ids, verbose)


def format_metrics(metrics: dict[str, float]) -> str:
    """The 12 numbers of each kind (``bbox``, ``segm``) in pycocotools' ``summarize`` layout (" Average Precision
    (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.347"), each kind under pycocotools' "Evaluate annotation
    type *bbox*" line."""
    rows = [(1, "0.50:0.95", "all", 100), (1, "0.50", "all", 100), (1, "0.75", "all", 100),
            (1, "0.50:0.95", "small", 100), (1, "0.50:0.95", "medium", 100), (1, "0.50:0.95", "large", 100),
            (0, "0.50:0.95", "all", 1), (0, "0.50:0.95", "all", 10), (0, "0.50:0.95", "all", 100),
            (0, "0.50:0.95", "small", 100), (0, "0.50:0.95", "medium", 100), (0, "0.50:0.95", "large", 100)]
    lines = []
    for kind in IOU_TYPES:
        if f"{kind}_AP" not in metrics:
            continue
        lines.append(f"Evaluate annotation type *{kind}*")
        for (ap, iou, area, dets), name in zip(rows, STAT_NAMES):
            title, short = ("Average Precision", "(AP)") if ap else ("Average Recall", "(AR)")
            lines.append(f" {title:<18} {short} @[ IoU={iou:<9} | area={area:>6s} | maxDets={dets:>3d} ] = "
                         f"{metrics[f'{kind}_{name}']:0.3f}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------ the test run
def category_ids_for(class_names: Sequence[str], data: dict, source: str | os.PathLike = "the annotations"
                     ) -> list:
    """The annotation file's category id of each class, by name, as mmdet's ``get_cat_ids(cat_names=CLASSES)``
    (None for a class the file has no category of; COCO's own file has all 80).

    Raises:
        AnnotationError: a category without a "name", or no category that is a class of the model.
    """
    by_name = {}
    for i, cat in enumerate(data["categories"]):
        if not isinstance(cat.get("name"), str):
            raise AnnotationError(f"{source}: categories entry {i} (id {cat['id']!r}) needs a \"name\" (a class name "
                                  f"of the model, e.g. \"person\")")
        by_name.setdefault(cat["name"], cat["id"])
    ids = [by_name.get(name) for name in class_names]
    if all(i is None for i in ids):
        shown = ", ".join(list(by_name)[:5]) + (", ..." if len(by_name) > 5 else "")
        raise AnnotationError(f"{source}: none of its categories ({shown or 'none'}) is a class of the model "
                              f"({', '.join(list(class_names)[:3])}, ...)")
    return ids


def detect_eval(model, annotation_file: str | os.PathLike, image_dir: str | os.PathLike, *, limit: int | None = None,
                out_dir: str | os.PathLike | None = None, progress=None, scale: tuple[int, int] | None = None,
                iou_types: Sequence[str] | None = None, data: dict | None = None) -> tuple[dict, list[dict]]:
    """``tubelet detect-eval``: the official COCO test. Every image of ``annotation_file`` (its ``file_name`` below
    ``image_dir``; ``limit``: the first N only, and only they are evaluated) through :func:`detect` with all the
    model's detections (no score threshold), their COCO results (:meth:`DetectionResult.to_coco`, classes mapped to
    the file's categories by name), then :func:`evaluate_coco_detection` (``iou_types``: default boxes, and masks
    for a model with a mask head). With ``out_dir``: ``results.json`` and ``metrics.json`` there (each whole or not
    at all). ``progress(done, total)`` is called after each image; ``data``: the annotation file's contents when
    already read (:func:`load_instances`). Returns (metrics, results).

    Raises:
        DependencyError: pycocotools is not installed (before any inference).
        AnnotationError: an unreadable or malformed annotation file (:func:`check_instances`), categories that are
            none of the model's classes, an image whose size differs from the file's "width" / "height".
        UsageError: an image of the file that is not in ``image_dir`` (before any inference).
        ImageReadError: an image that cannot be read; the message names it.
    """
    require_coco("COCO detection evaluation")  # before hours of inference
    iou_types = _iou_types(iou_types if iou_types is not None else model_iou_types(model))
    if data is None:
        data = load_instances(annotation_file, iou_types)
    else:
        check_instances(data, annotation_file, iou_types)
    category_ids = category_ids_for(detect_class_names(model), data, annotation_file)
    images = check_image_files(data, image_dir, annotation_file, limit)  # before any inference
    root = Path(image_dir)
    results: list[dict] = []
    for n, img in enumerate(images, 1):
        path = root / img["file_name"]
        result = detect(model, path, score_threshold=None, scale=scale)
        h, w = result.size
        if (img.get("width"), img.get("height")) not in ((w, h), (None, None)):
            raise AnnotationError(f"{path}: {w}x{h} pixels, but {annotation_file} says {img.get('width')}x"
                                  f"{img.get('height')} (image id {img['id']!r})")
        results += result.to_coco(img["id"], category_ids, masks="segm" in iou_types)
        if progress is not None:
            progress(n, len(images))
    metrics = _evaluate(data, results, iou_types, [img["id"] for img in images] if limit else None, False)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        from ..atomic import write_text  # whole files only, even when interrupted

        write_text(out / "results.json", json.dumps(results))
        write_text(out / "metrics.json", json.dumps(metrics, indent=1))
    return metrics, results


def detect_class_names(model) -> list[str]:
    """The detector's class names (its ``pretrained_cfg.labels()``: COCO's 80), or ``class i``."""
    cfg = model.pretrained_cfg
    k = getattr(model, "num_classes", None) or cfg.num_classes
    names = cfg.labels() if hasattr(cfg, "labels") else None
    return list(names) if names is not None and len(names) == k else [f"class {i}" for i in range(k)]
