"""Semantic segmentation with the UniFormer ADE20K models: one image in, a class per pixel out; and the ADE20K metrics.

The test path is the official one (Sense-X/UniFormer ``semantic_segmentation``, mmsegmentation 0.13):

1. the image is read as RGB (EXIF orientation applied, as OpenCV's ``imread`` does);
2. it is rescaled keeping its aspect ratio to fit ``(2048, 512)`` (long side <= 2048, short side <= 512, the larger
   of the two factors that satisfies both: mmcv's ``imrescale``; sizes ``int(x * factor + 0.5)``). The Semantic FPN
   models then resize that image a second time to the next multiples of 32 (``AlignResize``, ``size_divisor=32``);
   the UperNet models do not (plain ``Resize``). Both resizes are bilinear on the uint8 image and reproduce OpenCV's
   ``INTER_LINEAR`` (its 11-bit fixed-point weights and rounding) exactly, without OpenCV: :func:`resize_uint8`;
3. normalised with the model's mean / std, run through the model ("whole" inference: the full image at once);
4. the logits (at the network input) are resized bilinearly (``align_corners=False``) to the original image size and
   the class is the argmax (mmseg's ``rescale=True``).

Metrics follow mmseg's ``mean_iou``: intersections, unions, predicted and ground-truth areas are summed over the whole
set, then per class IoU = intersection / union and Acc = intersection / ground-truth area; a class with no pixel in
either has no IoU (NaN in mmseg, None here), a class absent from the ground truth has no Acc, and mIoU / mAcc are the
means over the classes that have one. aAcc = total intersection / total ground-truth area. ADE20K annotations use 0
for "other" (ignored) and 1..150 for the classes: ``reduce_zero_label=True`` maps 0 -> 255 (ignored) and k -> k - 1.

Commands: ``tubelet segment`` and ``tubelet segment-eval`` (:mod:`tubelet.cli.segment`).
"""
from __future__ import annotations

import io
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data.images import (IMAGE_EXTENSIONS, ImageReadError, describe_non_image, open_image, read_file_bytes,
                           rescale_size, resize_uint8)
from ..data.images import read_image as _read_array
from ..errors import AnnotationError, UsageError

__all__ = ["ImageReadError", "IMAGE_EXTENSIONS", "TEST_SCALE", "read_image", "read_label_map", "rescale_size",
           "network_size", "resize_uint8", "test_resize_rule", "preprocess", "segment", "SegmentationResult",
           "ade20k_palette", "palette_for", "colorize", "blend", "class_histogram", "intersect_and_union",
           "segmentation_metrics", "evaluate_segmentation", "match_pairs", "list_images", "format_metrics"]

#: the test scale of every UniFormer ADE20K config: ``img_scale=(2048, 512)`` (long side, short side)
TEST_SCALE = (2048, 512)
#: bytes of logits resized to the image size at once; beyond that the classes go through in groups
_RESIZE_BUDGET = 256 << 20


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """The image at ``path`` as an ``(H, W, 3)`` uint8 RGB tensor (:func:`tubelet.data.images.read_image`: EXIF
    orientation applied, grey / palette / alpha converted to RGB as OpenCV's ``imread`` does for mmseg).

    Raises:
        ImageReadError: a missing file, a folder, a video or other non-image, a damaged or oversized image; the
            message names the file.
    """
    return torch.from_numpy(_read_array(path))


def read_label_map(path: str | os.PathLike) -> np.ndarray:
    """A ground-truth (or saved prediction) label PNG as an ``(H, W)`` integer array, read as mmseg reads annotations
    (Pillow, ``flag='unchanged'``: palette images give their indices, no EXIF rotation).

    Raises:
        AnnotationError: not a single-channel image (an RGB colour mask is not a label map), or unreadable; the message
            names the file.
    """
    img = open_image(str(path), "a label map", AnnotationError)
    if img.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L", "1"):
        raise AnnotationError(f"{path}: a {img.mode} image, not a label map (one channel of class ids, e.g. an 8-bit "
                              f"grey or palette PNG)")
    return np.array(img)


# ------------------------------------------------------------------------------------------------------------ resize
def network_size(height: int, width: int, *, scale: tuple[int, int] = TEST_SCALE,
                 size_divisor: int | None = None) -> tuple[int, int]:
    """``(h, w)`` of the network input for an image of ``height x width``: :func:`rescale_size`, then, with
    ``size_divisor`` (Semantic FPN: 32, ``AlignResize``), each side rounded **up** to a multiple of it."""
    h, w = rescale_size(height, width, scale)
    if size_divisor:
        h, w = (int(math.ceil(h / size_divisor)) * size_divisor, int(math.ceil(w / size_divisor)) * size_divisor)
    return h, w


def test_resize_rule(model) -> dict:
    """``{"scale": (2048, 512), "size_divisor": 32 | None}``: the model's official test resize.

    From ``model.test_resize`` when the model defines one (a dict with those keys); else from its decoder
    (``model.decoder``: ``"fpn"`` -> Semantic FPN's ``AlignResize`` to multiples of 32, ``"upernet"`` -> plain
    ``Resize``); else from the variant name (``*_fpn``)."""
    rule = getattr(model, "test_resize", None)
    if isinstance(rule, dict):
        return {"scale": tuple(rule.get("scale", TEST_SCALE)), "size_divisor": rule.get("size_divisor")}
    decoder = getattr(model, "decoder", None)
    if decoder in ("fpn", "upernet"):
        return {"scale": TEST_SCALE, "size_divisor": 32 if decoder == "fpn" else None}
    cfg = getattr(model, "pretrained_cfg", None)
    arch = (getattr(cfg, "architecture", "") or "").split(".")[0]
    return {"scale": TEST_SCALE, "size_divisor": 32 if "_fpn" in arch else None}


def preprocess(image: torch.Tensor, mean: Sequence[float], std: Sequence[float], *,
               scale: tuple[int, int] = TEST_SCALE, size_divisor: int | None = None) -> torch.Tensor:
    """The network input ``(1, 3, h, w)`` float32 of an ``(H, W, 3)`` uint8 RGB image: keep-ratio rescale to
    ``scale``, with ``size_divisor`` a second resize to its multiples (``AlignResize``), then ``(x - 255 mean) /
    (255 std)`` (``mean``/``std`` on the 0-1 scale)."""
    H, W = image.shape[:2]
    size = rescale_size(H, W, scale)
    x = resize_uint8(image, size) if size != (H, W) else image
    if size_divisor:
        aligned = network_size(H, W, scale=scale, size_divisor=size_divisor)
        if aligned != size:
            x = resize_uint8(x, aligned)
    m = torch.tensor([float(v) * 255 for v in mean], dtype=torch.float64).to(torch.float32)
    inv = (1 / torch.tensor([float(v) * 255 for v in std], dtype=torch.float64)).to(torch.float32)
    return ((x.to(torch.float32) - m) * inv).permute(2, 0, 1)[None].contiguous()


# ------------------------------------------------------------------------------------------------------ presentation
@lru_cache(maxsize=None)
def ade20k_palette() -> tuple[tuple[int, int, int], ...]:
    """The 150 RGB colours of mmseg's ``ADE20KDataset.PALETTE`` (class index order; "road" and "skyscraper" share
    (140, 140, 140) there, and here)."""
    from importlib import resources

    rows = json.loads((resources.files("tubelet.labels") / "ade20k_palette.json").read_text())
    return tuple(tuple(int(c) for c in row) for row in rows)


def palette_for(num_classes: int, label_names: str | None = None) -> tuple[tuple[int, int, int], ...]:
    """ADE20K's palette for ADE20K classifiers (and any of at most 150 classes); otherwise fixed random colours."""
    if num_classes <= 150:
        return ade20k_palette()[:max(num_classes, 0)]
    rng = np.random.default_rng(42)
    return tuple(tuple(int(c) for c in row) for row in rng.integers(0, 256, (num_classes, 3)))


def colorize(labels: torch.Tensor | np.ndarray, palette: Sequence[Sequence[int]]) -> np.ndarray:
    """``(H, W, 3)`` uint8 colour mask: each pixel the palette colour of its class (ids outside the palette: black)."""
    lab = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).astype(np.int64)
    table = np.zeros((max(len(palette), 1) + 1, 3), dtype=np.uint8)
    table[:len(palette)] = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    lab = np.where((lab >= 0) & (lab < len(palette)), lab, len(table) - 1)
    return table[lab]


def blend(image: torch.Tensor | np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """``image x (1 - alpha) + mask x alpha``, truncated to uint8 (mmseg's ``show_result`` with ``opacity=alpha``)."""
    img = np.asarray(image.cpu() if isinstance(image, torch.Tensor) else image).astype(np.float64)
    return (img * (1 - alpha) + mask.astype(np.float64) * alpha).astype(np.uint8)


def class_histogram(labels: torch.Tensor, class_names: Sequence[str] | None = None,
                    num_classes: int | None = None) -> list[dict]:
    """The classes present in ``labels``, largest area first: ``[{"index", "label", "pixels", "fraction"}]``
    (fractions of all pixels; they sum to 1)."""
    flat = labels.reshape(-1).to(torch.int64).cpu()
    counts = torch.bincount(flat, minlength=num_classes or 0)
    total = int(flat.numel())
    present = [(int(c), i) for i, c in enumerate(counts.tolist()) if c]
    present.sort(key=lambda t: (-t[0], t[1]))
    return [{"index": i, "label": class_names[i] if class_names and i < len(class_names) else f"class {i}",
             "pixels": c, "fraction": round(c / total, 6)} for c, i in present]


@dataclass
class SegmentationResult:
    """One image's segmentation.

    Attributes:
        labels: ``(H, W)`` int64 class index per pixel, at the original image size.
        image: the ``(H, W, 3)`` uint8 RGB image that was segmented.
        input_size: ``(h, w)`` of the network input.
        class_names: one name per class, or None.
        palette: one RGB colour per class.
        probabilities: ``(num_classes, H, W)`` softmax probabilities when asked for, else None.
        source: the image's path, when read from a file.
        seconds: time taken by :func:`segment` (reading excluded).
    """

    labels: torch.Tensor
    image: torch.Tensor
    input_size: tuple[int, int]
    class_names: list[str] | None
    palette: tuple[tuple[int, int, int], ...]
    probabilities: torch.Tensor | None = None
    source: str | None = None
    seconds: float = 0.0
    num_classes: int = field(default=0)

    def mask(self) -> np.ndarray:
        """The colour mask, ``(H, W, 3)`` uint8."""
        return colorize(self.labels, self.palette)

    def overlay(self, alpha: float = 0.5) -> np.ndarray:
        """The image blended with the colour mask (``alpha`` = weight of the mask), ``(H, W, 3)`` uint8."""
        return blend(self.image, self.mask(), alpha)

    def histogram(self) -> list[dict]:
        """The classes present, largest first: ``[{"index", "label", "pixels", "fraction"}]``."""
        return class_histogram(self.labels, self.class_names, self.num_classes)

    def save(self, folder: str | os.PathLike, stem: str, alpha: float = 0.5) -> dict[str, str]:
        """Write ``<stem>_mask.png`` (colours), ``<stem>_labels.png`` (class ids 0..num_classes-1: 8-bit grey, 16-bit
        beyond 256 classes) and ``<stem>_overlay.png`` into ``folder``; returns their paths."""
        from PIL import Image

        base = Path(folder) / stem
        base.parent.mkdir(parents=True, exist_ok=True)
        from ..atomic import write_atomically

        files = {"mask": f"{base}_mask.png", "labels": f"{base}_labels.png", "overlay": f"{base}_overlay.png"}
        lab = self.labels.cpu().numpy()
        images = {"mask": Image.fromarray(self.mask()),
                  "labels": (Image.fromarray(lab.astype(np.uint8), mode="L") if self.num_classes <= 256
                             else Image.fromarray(lab.astype(np.uint16))),
                  "overlay": Image.fromarray(self.overlay(alpha))}
        for kind, im in images.items():  # whole files only, even when interrupted
            write_atomically(files[kind], lambda f, im=im: im.save(f, format="PNG"))
        return files

    def to_dict(self) -> dict:
        """JSON-ready summary: image, sizes, classes present (histogram), seconds."""
        return {"image": self.source, "size": list(self.labels.shape), "input_size": list(self.input_size),
                "classes": self.histogram(), "seconds": round(self.seconds, 3)}


# ---------------------------------------------------------------------------------------------------------- inference
def _logits(model, x: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "whole":
        out = model(x)
    elif mode == "slide":
        slide = getattr(model, "slide_inference", None)
        if slide is None:
            raise UsageError(f"{_name(model)} has no sliding-window inference (slide_inference); use mode 'whole'")
        out = slide(x)
    else:
        raise UsageError(f"segmentation mode {mode!r}: expected 'whole' or 'slide'")
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, torch.Tensor) or out.ndim != 4 or out.shape[-2:] != x.shape[-2:]:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UsageError(f"{_name(model)} is not a segmentation model: for an input {tuple(x.shape)} it returns "
                         f"{shape}, not per-pixel logits (B, classes, {x.shape[-2]}, {x.shape[-1]})")
    return out


def _name(model) -> str:
    cfg = getattr(model, "pretrained_cfg", None)
    return getattr(cfg, "architecture", None) or type(model).__name__


def _resize_argmax(logits: torch.Tensor, size: tuple[int, int], align_corners: bool = False) -> torch.Tensor:
    """argmax over classes of the bilinear resize of ``logits (1, K, h, w)`` to ``size``,
    classes taken in groups so that memory stays bounded for large images (first maximum wins, as ``argmax``)."""
    K = logits.shape[1]
    per_class = size[0] * size[1] * logits.element_size()
    group = max(1, min(K, _RESIZE_BUDGET // max(per_class, 1)))
    best_val = best_idx = None
    for start in range(0, K, group):
        part = F.interpolate(logits[:, start:start + group], size=size, mode="bilinear",
                             align_corners=align_corners)[0]
        val, idx = part.max(0)
        idx = idx + start
        if best_val is None:
            best_val, best_idx = val, idx
        else:
            better = val > best_val
            best_val = torch.where(better, val, best_val)
            best_idx = torch.where(better, idx, best_idx)
    return best_idx


def segment(model, image: torch.Tensor | np.ndarray | str | os.PathLike, *, mode: str = "whole",
            probabilities: bool = False, scale: tuple[int, int] | None = None,
            size_divisor: int | None | bool = True) -> SegmentationResult:
    """Segment one image with a segmentation model (``model(x)`` -> logits ``(B, K, h, w)`` at the input size).

    Args:
        model: e.g. ``tubelet.create_model("uniformer_small_fpn", pretrained=True).eval()``; run on its own device.
        image: a file path, or an ``(H, W, 3)`` uint8 RGB array / tensor.
        mode: ``"whole"`` (the official test: the full image at once) or ``"slide"`` (the model's
            ``slide_inference``: mmseg's sliding window, 512 crops every 341 pixels, averaged).
        probabilities: also return the ``(K, H, W)`` softmax probabilities at the original size (memory: 4 K H W
            bytes).
        scale: test scale (default: the model's, ``(2048, 512)``).
        size_divisor: True: the model's rule (32 for Semantic FPN, none for UperNet, :func:`test_resize_rule`); an
            int or None to override it.
    Returns:
        :class:`SegmentationResult` with one class per pixel at the original size (mmseg's ``rescale=True``).
    Raises:
        ImageReadError: an unreadable image file. UsageError: not a segmentation model, an unknown mode.
    """
    source = None
    if isinstance(image, (str, os.PathLike)):
        source = str(image)
        image = read_image(image)
    image = torch.as_tensor(image)
    if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise UsageError(f"segment() takes an (H, W, 3) uint8 RGB image, got {tuple(image.shape)} {image.dtype}")
    t0 = time.perf_counter()
    cfg = model.pretrained_cfg
    rule = test_resize_rule(model)
    divisor = rule["size_divisor"] if size_divisor is True else (size_divisor or None)
    x = preprocess(image, cfg.mean, cfg.std, scale=scale or rule["scale"], size_divisor=divisor)
    try:
        param = next(model.parameters())
        x = x.to(device=param.device, dtype=param.dtype if param.is_floating_point() else torch.float32)
    except StopIteration:
        pass
    H, W = image.shape[:2]
    corners = bool(getattr(model, "align_corners", False))  # False in every UniFormer config
    with torch.inference_mode():
        logits = _logits(model, x, mode).float()
        if probabilities:
            probs = F.interpolate(logits, size=(H, W), mode="bilinear", align_corners=corners).softmax(1)[0]
            labels = probs.argmax(0)
        else:
            probs, labels = None, _resize_argmax(logits, (H, W), corners)
    num_classes = int(logits.shape[1])
    names = cfg.labels() if hasattr(cfg, "labels") else None
    if names is not None and len(names) != num_classes:
        names = None
    return SegmentationResult(labels=labels.cpu(), image=image, input_size=tuple(x.shape[-2:]), class_names=names,
                              palette=palette_for(num_classes, getattr(cfg, "label_names", None)),
                              probabilities=None if probs is None else probs.cpu(), source=source,
                              seconds=time.perf_counter() - t0, num_classes=num_classes)


# ------------------------------------------------------------------------------------------------------------ metrics
def _as_label_tensor(x, what: str) -> torch.Tensor:
    if isinstance(x, (str, os.PathLike)):
        x = read_label_map(x)
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.ndim == 3 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 2:
        raise UsageError(f"{what}: expected an (H, W) label map, got shape {tuple(t.shape)}")
    return t.to(torch.int64)


def intersect_and_union(pred, label, num_classes: int, ignore_index: int = 255, reduce_zero_label: bool = False
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-class pixel areas of one image, as mmseg's ``intersect_and_union``: ``(intersection, union, predicted,
    ground truth)``, float64 tensors of ``num_classes``.

    ``pred``/``label``: ``(H, W)`` arrays, tensors or PNG paths. With ``reduce_zero_label`` the ground truth's 0 becomes
    ``ignore``, and every other id k becomes k - 1 (255 stays ignored). Pixels whose ground truth is
    ``ignore_index`` do not count; ids outside ``0..num_classes-1`` count in no class (a prediction there still
    counts in the union of the ground truth's class, as in mmseg).
    """
    pred = _as_label_tensor(pred, "prediction")
    label = _as_label_tensor(label, "ground truth")
    if pred.shape != label.shape:
        raise UsageError(f"prediction {tuple(pred.shape)} and ground truth {tuple(label.shape)} differ in size")
    if reduce_zero_label:
        label = label.clone()
        label[label == 0] = 255
        label = label - 1
        label[label == 254] = 255
    keep = label != ignore_index
    pred, label = pred[keep], label[keep]

    def area(values: torch.Tensor) -> torch.Tensor:
        values = values[(values >= 0) & (values < num_classes)]
        return torch.bincount(values, minlength=num_classes).to(torch.float64)

    inter = area(pred[pred == label])
    area_pred, area_label = area(pred), area(label)
    return inter, area_pred + area_label - inter, area_pred, area_label


def _ratio(num: torch.Tensor, den: torch.Tensor) -> list[float | None]:
    return [None if d == 0 else float(n / d) for n, d in zip(num.tolist(), den.tolist())]


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _metrics_from_areas(inter, union, area_pred, area_label, class_names=None, num_images: int = 0) -> dict:
    iou, acc = _ratio(inter, union), _ratio(inter, area_label)
    total = float(area_label.sum())
    names = list(class_names) if class_names else [f"class {i}" for i in range(len(iou))]
    return {"aAcc": float(inter.sum()) / total if total else None, "mIoU": _mean(iou), "mAcc": _mean(acc),
            "num_images": num_images, "num_classes": len(iou),
            "per_class": [{"index": i, "name": names[i], "IoU": iou[i], "Acc": acc[i],
                           "gt_pixels": int(area_label[i]), "pred_pixels": int(area_pred[i])}
                          for i in range(len(iou))]}


def segmentation_metrics(pairs: Iterable[tuple], num_classes: int, *, ignore_index: int = 255,
                         reduce_zero_label: bool = False, class_names: Sequence[str] | None = None) -> dict:
    """mmseg's mIoU metrics over a set of ``(prediction, ground truth)`` pairs (arrays, tensors or label PNG paths).

    Returns:
        ``{"aAcc", "mIoU", "mAcc", "num_images", "num_classes", "per_class": [{"index", "name", "IoU", "Acc",
        "gt_pixels", "pred_pixels"}]}``, fractions in 0..1 (mmseg prints them x 100, rounded to 2 decimals). A
        class with no pixel in prediction or ground truth has ``IoU`` None (NaN in mmseg); one absent from the ground
        truth has ``Acc`` None; the means skip them (``nanmean``).
    """
    totals = [torch.zeros(num_classes, dtype=torch.float64) for _ in range(4)]
    count = 0
    for pred, label in pairs:
        for t, a in zip(totals, intersect_and_union(pred, label, num_classes, ignore_index, reduce_zero_label)):
            t += a
        count += 1
    return _metrics_from_areas(*totals, class_names=class_names, num_images=count)


def _image_size(path: str, error=ImageReadError) -> tuple[int, int]:
    """``(H, W)`` of an image from its header (EXIF rotation applied for photos), without decoding it."""
    from PIL import Image

    data = read_file_bytes(path, "an image", error)
    try:
        img = Image.open(io.BytesIO(data))
        w, h = img.size
        orientation = img.getexif().get(0x0112, 1) if error is ImageReadError else 1
    except Exception:
        raise error(f"{path}: {describe_non_image(data, path)}") from None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def list_images(folder: str | os.PathLike) -> list[str]:
    """The image files below ``folder`` (recursively, sorted, hidden ones left out), relative to it."""
    root = Path(folder)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() and not p.name.startswith("."))


def match_pairs(images: str | os.PathLike, annotations: str | os.PathLike, *, check_sizes: bool = True,
                suffix: str = ".png") -> list[tuple[str, str]]:
    """``(image, annotation)`` paths of an ADE20K-style layout: every image below ``images`` (recursively, sorted)
    with the annotation of the same relative path and stem, ``suffix`` ending, below ``annotations``
    (``images/validation/ADE_val_00000001.jpg`` -> ``annotations/validation/ADE_val_00000001.png``).

    Raises:
        UsageError: a folder that does not exist or holds no image. AnnotationError: an image without its annotation,
            or (``check_sizes``) an annotation whose size differs from its image's; the message names both files.
    """
    images, annotations = str(images), str(annotations)
    for what, folder in (("--images", images), ("--annotations", annotations)):
        if not os.path.isdir(folder):
            raise UsageError(f"{what} {folder}: no such folder")
    names = list_images(images)
    if not names:
        raise UsageError(f"--images {images}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
    pairs = []
    for rel in names:
        img = os.path.join(images, rel)
        ann = os.path.join(annotations, str(Path(rel).with_suffix(suffix)))
        if not os.path.isfile(ann):
            raise AnnotationError(f"{img}: no annotation {ann}")
        if check_sizes:
            hi, wi = _image_size(img)
            ha, wa = _image_size(ann, AnnotationError)
            if (hi, wi) != (ha, wa):
                raise AnnotationError(f"{ann}: {wa}x{ha} pixels, but its image {img} is {wi}x{hi}")
        pairs.append((img, ann))
    return pairs


def _model_predictions(model, pairs: Sequence[tuple[str, str]], mode: str, progress: bool):
    """``(predicted labels, annotation array)`` for each ``(image, annotation)`` path pair."""
    it = pairs
    if progress:
        from tqdm import tqdm
        it = tqdm(pairs, desc="segment-eval", unit="image", file=sys.stderr)
    for img, ann in it:
        gt = read_label_map(ann)
        result = segment(model, img, mode=mode)
        if tuple(result.labels.shape) != gt.shape[:2]:
            raise AnnotationError(f"{ann}: {gt.shape[1]}x{gt.shape[0]} pixels, but its image {img} is "
                                  f"{result.labels.shape[1]}x{result.labels.shape[0]}")
        yield result.labels, gt


def _model_classes(model, class_names=None) -> tuple[int, list[str] | None]:
    cfg = model.pretrained_cfg
    k = getattr(model, "num_classes", None) or cfg.num_classes
    names = list(class_names) if class_names else (cfg.labels() if hasattr(cfg, "labels") else None)
    return k, (names if names is not None and len(names) == k else None)


def evaluate_segmentation(model_or_pairs, images: str | os.PathLike | None = None,
                          annotations: str | os.PathLike | None = None, *, num_classes: int | None = None,
                          reduce_zero_label: bool = True, ignore_index: int = 255, mode: str = "whole",
                          class_names: Sequence[str] | None = None, limit: int | None = None,
                          progress: bool = False, matched: Sequence[tuple[str, str]] | None = None) -> dict:
    """mIoU / mAcc / aAcc of a model on an ADE20K-style folder pair, or of given ``(prediction, label)`` pairs.

    ``evaluate_segmentation(model, "ADEChallengeData2016/images/validation",
    "ADEChallengeData2016/annotations/validation")`` segments each image (:func:`segment`, the official test) and
    compares it with its annotation (:func:`match_pairs`; ``limit``: the first N only);
    ``evaluate_segmentation(pairs, num_classes=150)`` scores given predictions (arrays, tensors or label PNGs,
    class ids 0..K-1). ``reduce_zero_label`` (default True, ADE20K's convention: 0 = "other", ignored, k -> k - 1)
    applies to the ground truth only.

    Returns:
        :func:`segmentation_metrics`' dict (``aAcc``, ``mIoU``, ``mAcc``, ``per_class``, ...) plus
        ``reduce_zero_label`` and ``ignore_index``.
    Raises:
        AnnotationError: an image without annotation, sizes that differ, an unreadable annotation. ImageReadError:
            an unreadable image. UsageError: missing folders, or pairs without ``num_classes``.
    """
    if isinstance(model_or_pairs, torch.nn.Module):
        if images is None or annotations is None:
            raise UsageError("evaluate_segmentation(model, images, annotations): give both folders")
        # ``matched``: what match_pairs(images, annotations) already returned (a caller that checked the layout first)
        pairs = list(match_pairs(images, annotations) if matched is None else matched)[:limit]
        k, names = _model_classes(model_or_pairs, class_names)
        preds = _model_predictions(model_or_pairs, pairs, mode, progress)
        out = segmentation_metrics(preds, num_classes or k, ignore_index=ignore_index,
                                   reduce_zero_label=reduce_zero_label, class_names=names)
    else:
        if num_classes is None:
            raise UsageError("evaluate_segmentation(pairs, num_classes=K): give the number of classes")
        out = segmentation_metrics(model_or_pairs, num_classes, ignore_index=ignore_index,
                                   reduce_zero_label=reduce_zero_label, class_names=class_names)
    out.update(reduce_zero_label=reduce_zero_label, ignore_index=ignore_index)
    return out


def _pct(v: float | None) -> str:
    return "nan" if v is None else f"{v * 100:.2f}"


def format_metrics(metrics: dict, per_class: bool = True) -> str:
    """mmseg's report: the per-class table (Class, IoU, Acc in %, "nan" where undefined) and the summary line."""
    lines = []
    if per_class:
        width = max([5] + [len(r["name"]) for r in metrics["per_class"]])
        lines.append(f"{'Class':<{width}}  {'IoU':>6}  {'Acc':>6}")
        for r in metrics["per_class"]:
            lines.append(f"{r['name']:<{width}}  {_pct(r['IoU']):>6}  {_pct(r['Acc']):>6}")
    lines.append(f"aAcc {_pct(metrics['aAcc'])}  mIoU {_pct(metrics['mIoU'])}  mAcc {_pct(metrics['mAcc'])}  "
                 f"({metrics['num_images']} images, {metrics['num_classes']} classes)")
    return "\n".join(lines)
