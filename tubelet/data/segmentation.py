"""Semantic-segmentation training data: ADE20K-style folders, the official train / test pipelines, the loss, and a
small built-in dataset.

Everything follows the mmsegmentation 0.13 fork in Sense-X/UniFormer (``semantic_segmentation/``): the pipelines of
``configs/_base_/datasets/ade20k.py`` (the UperNet configs ``exp/upernet_*/config.py``) and
``fpn_seg/configs/_base_/datasets/ade20k.py`` (Semantic FPN, ``fpn_seg/exp*/*/config.py``), whose transforms live in
``mmseg/datasets/pipelines/{loading,transforms}.py`` (``AlignResize``: ``fpn_seg/align_resize.py``), and the loss of
``mmseg/models/decode_heads/decode_head.py`` (``losses``) with ``mmseg/models/losses/{cross_entropy_loss,utils}.py``.
Every UniFormer ADE20K config trains with the same pipeline (Semantic FPN included: ``AlignResize`` is used at test
only); the configs differ in the test resize and in the auxiliary head (UperNet only, loss weight 0.4).

Train (:class:`SegTrainPipeline`), in mmseg's order:

1. ``LoadAnnotations(reduce_zero_label=True)``: the annotation is read as uint8; 0 ("other") becomes 255 (ignored)
   and every other id k becomes k - 1 (255 stays 255) (:func:`reduce_zero_label`).
2. ``Resize(img_scale=(2048, 512), ratio_range=(0.5, 2.0))`` (keep ratio): a ratio r uniform in [0.5, 2.0), the
   scale ``(int(2048 r), int(512 r))``, then mmcv's ``imrescale`` to that scale
   (:func:`~tubelet.data.images.rescale_size`): the image bilinearly (OpenCV ``INTER_LINEAR`` on uint8, exactly:
   :func:`~tubelet.data.images.resize_uint8`), the label by nearest neighbour (OpenCV ``INTER_NEAREST``, exactly:
   :func:`resize_nearest`).
3. ``RandomCrop(crop_size=(512, 512), cat_max_ratio=0.75)``: a random window (offsets uniform in 0..margin, the
   whole side when the image is smaller); it is drawn again, up to 10 times, while the crop's label holds fewer
   than two classes or one class covers ``>= 0.75`` of its non-ignored pixels; the 11th window is taken unchecked.
4. ``RandomFlip(prob=0.5)``: horizontal, image and label together.
5. ``PhotoMetricDistortion()`` on the uint8 image: brightness (+U(-32, 32)), contrast (x U(0.5, 1.5)) first or last
   (a coin), saturation (x U(0.5, 1.5), in HSV) and hue (+ an integer in [-18, 17], in OpenCV's 0..179 hue), each
   with probability 1/2; each step truncates to uint8 (:func:`photometric_distortion`); the HSV conversions are
   OpenCV's uint8 ones (:func:`rgb_to_hsv`, :func:`hsv_to_rgb`: mmcv's ``bgr2hsv`` / ``hsv2bgr`` run on the uint8
   image, not on float32).
6. ``Normalize(mean, std, to_rgb=True)``: ``(x - mean) / std`` in float32, RGB order.
7. ``Pad(size=crop_size, pad_val=0, seg_pad_val=255)``: bottom / right to the crop size; image 0 (after
   normalisation), label 255 (ignored).

Test (:class:`SegEvalPipeline`): keep-ratio resize to fit ``(2048, 512)`` (plus, for Semantic FPN, ``AlignResize``:
a second bilinear resize to the next multiples of 32), normalise; the label keeps its size (mmseg compares at the
original size: the logits are resized to it, as :mod:`tubelet.tasks.segmentation` does).

Loss (:func:`segmentation_loss`): the logits (1/4 of the input for both heads' decode outputs; 1/16 for the
auxiliary FCN head) are resized bilinearly (``align_corners=False``) to the label's size, then cross entropy with
``ignore_index=255`` averaged over **all** label pixels, ignored ones counting 0 (mmseg 0.13: ``F.cross_entropy(...,
reduction='none')`` then ``weight_reduce_loss`` -> ``loss.mean()``; no ``avg_factor``), times the head's
``loss_weight`` (decode 1.0, auxiliary 0.4).

Images are RGB here, BGR in mmseg: every step but ``Normalize``'s ``to_rgb`` treats the channels alike or, for the
HSV conversion, by their role (OpenCV's ``BGR2HSV`` of a BGR image equals ``RGB2HSV`` of the RGB image), so the
results are the same.

Randomness: every random step draws from a ``numpy.random.Generator`` passed per call (``pipeline(image, label,
rng)``), in mmseg's order of draws and with its distributions (mmseg draws from NumPy's global legacy generator, so
the numbers themselves differ); :class:`SegmentationFolder` seeds one per item from ``(seed, epoch, index)``.
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import AnnotationError, ImageReadError, UsageError
from .images import IMAGE_EXTENSIONS, open_image, read_image, rescale_size, resize_uint8
from .loader import first_good_sample

__all__ = ["ADE20K_MEAN", "ADE20K_STD", "SYNTHETIC_SHAPES", "read_label_map", "reduce_zero_label", "resize_nearest",
           "sample_scale", "rescale", "crop_box", "random_crop", "random_flip", "rgb_to_hsv", "hsv_to_rgb",
           "adjust_brightness", "adjust_contrast", "adjust_saturation", "shift_hue", "photometric_distortion",
           "normalize", "pad", "SegTrainPipeline", "SegEvalPipeline", "SegmentationFolder", "segmentation_loss",
           "make_synthetic_segmentation", "synthetic_pipelines"]

_log = logging.getLogger("tubelet.data")

#: ``img_norm_cfg`` of every UniFormer ADE20K config (0..255 scale, RGB order)
ADE20K_MEAN = (123.675, 116.28, 103.53)
ADE20K_STD = (58.395, 57.12, 57.375)

_LABEL_MODES = ("L", "P", "1", "I", "I;16", "I;16B", "I;16L", "I;16N")


# ------------------------------------------------------------------------------------------------------------ labels
def read_label_map(path: str | os.PathLike) -> np.ndarray:
    """A label PNG as an ``(H, W)`` uint8 array, read as mmseg's ``LoadAnnotations`` reads it (Pillow, unchanged:
    a palette image gives its indices, a grey image its values; no EXIF rotation).

    A 16- or 32-bit grey image is accepted when its values fit 8 bits (mmseg would wrap larger values silently).

    Raises:
        AnnotationError: missing or unreadable, not a single-channel image (an RGB colour mask is not a label map), or
            values above 255; the message names the file.
    """
    img = open_image(str(path), "a label map", AnnotationError)
    if img.mode not in _LABEL_MODES:
        raise AnnotationError(f"{path}: a {img.mode} image ({len(img.getbands())} channels), not a label map (one "
                              f"channel of class ids: an 8-bit grey or palette PNG)")
    arr = np.asarray(img)
    if arr.dtype == np.uint8:
        return arr.copy()
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    low, high = int(arr.min()), int(arr.max())
    if low < 0 or high > 255:
        raise AnnotationError(f"{path}: label values {low}..{high} do not fit 8 bits (class ids 0..255 expected)")
    return arr.astype(np.uint8)


def reduce_zero_label(label: np.ndarray) -> np.ndarray:
    """mmseg's ``reduce_zero_label`` on a uint8 label map: 0 -> 255 (ignored), k -> k - 1 for 1 <= k <= 254, and
    255 stays 255 (a new array)."""
    label = np.asarray(label)
    if label.dtype != np.uint8:
        raise ValueError(f"reduce_zero_label expects a uint8 label map, got {label.dtype}")
    out = label - np.uint8(1)  # 0 wraps to 255
    out[label == 255] = 255
    return out


def _label_lut(reduce: bool) -> np.ndarray:
    """uint8 -> uint8 table of :func:`reduce_zero_label` (identity without ``reduce``)."""
    values = np.arange(256, dtype=np.uint8)
    return reduce_zero_label(values) if reduce else values


# ---------------------------------------------------------------------------------------------------------- geometry
def resize_nearest(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an ``(H, W[, C])`` array to ``size = (h, w)``, as OpenCV's ``cv2.resize(...,
    interpolation=INTER_NEAREST)`` (mmcv's ``'nearest'``): output pixel ``x`` takes source ``floor(x * (W / w))``
    (the ratio in double precision: ``1 / (w / W)``), clipped to ``W - 1``; likewise for rows."""
    h, w = int(size[0]), int(size[1])
    H, W = label.shape[:2]
    if h < 1 or w < 1:
        raise ValueError(f"cannot resize to {h}x{w}")
    if (h, w) == (H, W):
        return label.copy()
    ys = np.minimum(np.floor(np.arange(h, dtype=np.float64) * (1.0 / (h / H))).astype(np.int64), H - 1)
    xs = np.minimum(np.floor(np.arange(w, dtype=np.float64) * (1.0 / (w / W))).astype(np.int64), W - 1)
    return label[ys[:, None], xs[None, :]]


def sample_scale(rng: np.random.Generator | None, img_scale: tuple[int, int] | None,
                 ratio_range: tuple[float, float] | None, image_size: tuple[int, int] | None = None
                 ) -> tuple[int, int]:
    """The target scale of mmseg's ``Resize``: with ``ratio_range``, r = ``rng.random() * (max - min) + min`` (one
    draw) and ``(int(s0 * r), int(s1 * r))`` of ``img_scale`` (or, when ``img_scale`` is None, of the image's own
    ``(w, h)`` from ``image_size = (h, w)``); without it, ``img_scale`` itself (no draw)."""
    if ratio_range is None:
        if img_scale is None:
            raise UsageError("Resize needs img_scale or ratio_range")
        return tuple(img_scale)
    low, high = ratio_range
    if not 0 < low <= high:
        raise UsageError(f"ratio_range must be (min, max) with 0 < min <= max, got {ratio_range}")
    ratio = rng.random() * (high - low) + low
    base = img_scale if img_scale is not None else (image_size[1], image_size[0])
    return int(base[0] * ratio), int(base[1] * ratio)


def rescale(image: np.ndarray, label: np.ndarray | None, scale: tuple[int, int]
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """mmcv's ``imrescale`` of the image (bilinear, OpenCV-exact on uint8) and the label (nearest) to fit
    ``scale`` keeping the aspect ratio (:func:`~tubelet.data.images.rescale_size`)."""
    H, W = image.shape[:2]
    size = rescale_size(H, W, scale)
    if min(size) < 1:
        raise UsageError(f"scale {scale} shrinks a {W}x{H} image to nothing")
    out = resize_uint8(torch.from_numpy(np.ascontiguousarray(image)), size).numpy()
    return out, (None if label is None else resize_nearest(label, size))


def crop_box(rng: np.random.Generator, shape: tuple[int, int], crop_size: tuple[int, int]
             ) -> tuple[int, int, int, int]:
    """``(y1, y2, x1, x2)`` of mmseg's ``RandomCrop.get_crop_bbox``: the top offset ``rng.integers(0, margin_h +
    1)`` then the left one likewise, with ``margin = max(side - crop, 0)``; ``y2 = y1 + crop_h`` (a slice past the
    image's end stops at it)."""
    margin_h, margin_w = max(shape[0] - crop_size[0], 0), max(shape[1] - crop_size[1], 0)
    y1 = int(rng.integers(0, margin_h + 1))
    x1 = int(rng.integers(0, margin_w + 1))
    return y1, y1 + crop_size[0], x1, x1 + crop_size[1]


def _crop_ok(label: np.ndarray, cat_max_ratio: float, ignore_index: int) -> bool:
    counts = np.bincount(label.ravel(), minlength=256)
    if ignore_index < 256:
        counts[ignore_index] = 0
    counts = counts[counts > 0]
    return len(counts) > 1 and counts.max() / counts.sum() < cat_max_ratio


def random_crop(image: np.ndarray, label: np.ndarray, rng: np.random.Generator, crop_size: tuple[int, int],
                cat_max_ratio: float = 1.0, ignore_index: int = 255) -> tuple[np.ndarray, np.ndarray]:
    """mmseg's ``RandomCrop``: a :func:`crop_box`; with ``cat_max_ratio < 1``, up to 10 checks: the box is kept when
    its label has at least two classes other than ``ignore_index`` and the largest covers less than
    ``cat_max_ratio`` of them, otherwise a new box is drawn; after 10 failed checks the last (11th) box is used
    unchecked. The image and label are cropped with the same box (views, not copies)."""
    box = crop_box(rng, image.shape[:2], crop_size)
    if cat_max_ratio < 1.0:
        for _ in range(10):
            y1, y2, x1, x2 = box
            if _crop_ok(label[y1:y2, x1:x2], cat_max_ratio, ignore_index):
                break
            box = crop_box(rng, image.shape[:2], crop_size)
    y1, y2, x1, x2 = box
    return image[y1:y2, x1:x2], label[y1:y2, x1:x2]


def random_flip(image: np.ndarray, label: np.ndarray, rng: np.random.Generator, prob: float = 0.5
                ) -> tuple[np.ndarray, np.ndarray, bool]:
    """mmseg's ``RandomFlip(prob)``: flips image and label left-right together when ``rng.random() < prob`` (one
    draw); returns ``(image, label, flipped)``."""
    flipped = bool(rng.random() < prob)
    if flipped:
        return image[:, ::-1], label[:, ::-1], True
    return image, label, False


# ------------------------------------------------------------------------------------------------------- photometric
_HSV_SHIFT = 12
_SDIV = np.zeros(256, np.int64)
_HDIV = np.zeros(256, np.int64)
_SDIV[1:] = np.rint((255 << _HSV_SHIFT) / np.arange(1, 256, dtype=np.float64))
_HDIV[1:] = np.rint((180 << _HSV_SHIFT) / (6.0 * np.arange(1, 256, dtype=np.float64)))
_SECTORS = np.array([[1, 3, 0], [1, 0, 2], [3, 0, 1], [0, 2, 1], [0, 1, 3], [2, 1, 0]])  # (b, g, r) from tab


def rgb_to_hsv(image: np.ndarray) -> np.ndarray:
    """OpenCV's ``cvtColor(RGB2HSV)`` of a uint8 image (= ``BGR2HSV`` of the BGR image, mmcv's ``bgr2hsv``): H in
    0..179 (degrees / 2), S and V in 0..255, with OpenCV's 12-bit fixed-point tables (``s = round(diff * 255 / v)``,
    ``h`` rounded likewise, exact integer arithmetic). Checked equal to opencv-python 5.1 on all 2^24 colours."""
    x = image.astype(np.int64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    v = np.maximum(np.maximum(r, g), b)
    diff = v - np.minimum(np.minimum(r, g), b)
    s = (diff * _SDIV[v] + (1 << (_HSV_SHIFT - 1))) >> _HSV_SHIFT
    h = np.where(v == r, g - b, np.where(v == g, b - r + 2 * diff, r - g + 4 * diff))
    h = (h * _HDIV[diff] + (1 << (_HSV_SHIFT - 1))) >> _HSV_SHIFT
    h = np.where(h < 0, h + 180, h)
    return np.stack([h, s, v], -1).astype(np.uint8)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """OpenCV's ``cvtColor(HSV2RGB)`` of a uint8 HSV image (H in 0..179; = mmcv's ``hsv2bgr`` of BGR data) as its
    vectorised code computes it: in float32, ``h * (6 / 180)``, sector = its integer part, f = the fraction,
    ``s, v / 255``; the sector picks ``v``, ``v(1 - s)``, ``v(1 - s f)`` and ``v(1 - s(1 - f))`` (``1 - s f`` and
    ``1 - s(1 - f)`` as fused multiply-adds, as the AVX2 / AVX-512 builds compute them); each times 255,
    **truncated** to uint8.

    Checked equal to opencv-python 5.1 (AVX-512 build) on all 180 x 256 x 256 HSV values. OpenCV runs this on
    whole vector blocks of a row (16, 32 or 64 pixels by CPU); the few pixels left at the end of a row whose width is
    not a multiple of the block go through its scalar code, which rounds instead of truncating (and does not fuse):
    that CPU-dependent tail is not reproduced (a 512-pixel-wide crop has none)."""
    hsv = np.asarray(hsv)
    f32 = np.float32
    h = hsv[..., 0].astype(f32) * (f32(6.0) / f32(180.0))
    s = hsv[..., 1].astype(f32) * (f32(1.0) / f32(255.0))
    v = hsv[..., 2].astype(f32) * (f32(1.0) / f32(255.0))
    whole = np.trunc(h)
    f = h - whole
    sector = whole.astype(np.int64) % 6
    s64 = s.astype(np.float64)  # s * f is exact in float64, so 1 - s * f rounds once: a fused multiply-add
    tab = np.stack([v, v * (f32(1) - s), v * (1.0 - s64 * f).astype(f32), v * (1.0 - s64 * (f32(1) - f)).astype(f32)],
                   -1)
    bgr = np.take_along_axis(tab, _SECTORS[sector], -1) * f32(255.0)
    out = np.clip(np.trunc(bgr), 0, 255).astype(np.uint8)
    return out[..., ::-1].copy()  # (b, g, r) -> (r, g, b)


def _affine_u8(x: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    """mmseg's ``PhotoMetricDistortion.convert``: ``float32(x) * alpha + beta`` in float32, clipped to 0..255,
    truncated to uint8."""
    y = x.astype(np.float32) * np.float32(alpha) + np.float32(beta)
    return np.clip(y, 0, 255).astype(np.uint8)


def adjust_brightness(image: np.ndarray, delta: float) -> np.ndarray:
    """``image + delta``, clipped and truncated to uint8 (the brightness step)."""
    return _affine_u8(image, 1.0, delta)


def adjust_contrast(image: np.ndarray, alpha: float) -> np.ndarray:
    """``image * alpha``, clipped and truncated to uint8 (the contrast step: no mean is subtracted)."""
    return _affine_u8(image, alpha, 0.0)


def adjust_saturation(image: np.ndarray, alpha: float) -> np.ndarray:
    """RGB -> HSV (:func:`rgb_to_hsv`), ``S * alpha`` clipped and truncated to uint8, -> RGB (:func:`hsv_to_rgb`)."""
    hsv = rgb_to_hsv(image)
    hsv[..., 1] = _affine_u8(hsv[..., 1], alpha, 0.0)
    return hsv_to_rgb(hsv)


def shift_hue(image: np.ndarray, delta: int) -> np.ndarray:
    """RGB -> HSV, ``H = (H + delta) mod 180``, -> RGB."""
    hsv = rgb_to_hsv(image)
    hsv[..., 0] = (hsv[..., 0].astype(np.int64) + int(delta)) % 180
    return hsv_to_rgb(hsv)


def photometric_distortion(image: np.ndarray, rng: np.random.Generator, brightness_delta: float = 32,
                           contrast_range: tuple[float, float] = (0.5, 1.5),
                           saturation_range: tuple[float, float] = (0.5, 1.5), hue_delta: int = 18) -> np.ndarray:
    """mmseg's ``PhotoMetricDistortion`` on an ``(H, W, 3)`` uint8 RGB image; the draws, in order:

    1. brightness: ``rng.integers(2)``; if 1, ``+ rng.uniform(-delta, delta)``;
    2. mode ``rng.integers(2)``; if 1, contrast now: ``rng.integers(2)``; if 1, ``x rng.uniform(*contrast_range)``;
    3. saturation: ``rng.integers(2)``; if 1, ``S x rng.uniform(*saturation_range)``;
    4. hue: ``rng.integers(2)``; if 1, ``H + rng.integers(-hue_delta, hue_delta)`` (upper bound excluded, as
       ``numpy.random.randint``: -18..17);
    5. if mode was 0, contrast now (as in 2).

    Every step returns uint8 (values truncated), and saturation / hue each make their own HSV round trip.
    """
    img = image
    if rng.integers(2):
        img = adjust_brightness(img, rng.uniform(-brightness_delta, brightness_delta))
    mode = rng.integers(2)
    if mode == 1 and rng.integers(2):
        img = adjust_contrast(img, rng.uniform(*contrast_range))
    if rng.integers(2):
        img = adjust_saturation(img, rng.uniform(*saturation_range))
    if rng.integers(2):
        img = shift_hue(img, int(rng.integers(-hue_delta, hue_delta)))
    if mode == 0 and rng.integers(2):
        img = adjust_contrast(img, rng.uniform(*contrast_range))
    return img


# ------------------------------------------------------------------------------------------------- normalise and pad
def normalize(image: np.ndarray, mean: Sequence[float] = ADE20K_MEAN, std: Sequence[float] = ADE20K_STD
              ) -> np.ndarray:
    """mmcv's ``imnormalize``: ``(float32(x) - mean) * (1 / std)`` in float32 (mean and std as float32, the inverse
    taken in double and rounded to float32, as ``cv2.subtract`` / ``cv2.multiply`` apply them). ``(H, W, 3)``
    float32, RGB (mean / std in RGB order, 0..255 scale)."""
    m = np.asarray(mean, dtype=np.float32)
    inv = (1.0 / np.asarray(std, dtype=np.float32).astype(np.float64)).astype(np.float32)
    return (image.astype(np.float32) - m) * inv


def pad(image: np.ndarray, label: np.ndarray | None, size: tuple[int, int], pad_val: float = 0,
        seg_pad_val: int = 255) -> tuple[np.ndarray, np.ndarray | None]:
    """mmseg's ``Pad(size)``: the image padded at the bottom and right to ``size = (h, w)`` with ``pad_val``, the label
    likewise with ``seg_pad_val``. An image larger than ``size`` is an error (mmcv's ``impad`` cannot shrink)."""
    H, W = image.shape[:2]
    h, w = int(size[0]), int(size[1])
    if H > h or W > w:
        raise ValueError(f"cannot pad a {W}x{H} image to {w}x{h}")
    if (H, W) == (h, w):
        return image, label
    out = np.full((h, w) + image.shape[2:], pad_val, dtype=image.dtype)
    out[:H, :W] = image
    if label is None:
        return out, None
    lab = np.full((h, w), seg_pad_val, dtype=label.dtype)
    lab[:H, :W] = label
    return out, lab


def _to_tensors(image: np.ndarray, label: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``(3, H, W)`` float32 and ``(H, W)`` int64 tensors (mmseg's ``DefaultFormatBundle``)."""
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    return x, torch.from_numpy(label.astype(np.int64))


def _pair(value, what: str) -> tuple[int, int]:
    if isinstance(value, int):
        value = (value, value)
    try:
        a, b = (int(v) for v in value)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be an int or a pair of ints, got {value!r}") from None
    if a < 1 or b < 1:
        raise UsageError(f"{what} must be positive, got {value!r}")
    return a, b


def _check_image_and_label(image: np.ndarray, label: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise UsageError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    if label.dtype != np.uint8 or label.shape != image.shape[:2]:
        raise UsageError(f"expected an (H, W) uint8 label map of the image's size {image.shape[:2]}, got "
                         f"{label.shape} {label.dtype}")


# --------------------------------------------------------------------------------------------------------- pipelines
class SegTrainPipeline:
    """mmseg's ADE20K train pipeline of the UniFormer configs (UperNet and Semantic FPN alike; see the module notes):
    ``pipeline(image, label, rng) -> (image (3, h, w) float32, label (h, w) int64)``.

    Args:
        crop_size: ``(h, w)`` of ``RandomCrop`` and ``Pad``.
        img_scale: ``Resize``'s base scale ``(long, short)``; None: the image's own size.
        ratio_range: ``Resize``'s ratio range; None: resize to ``img_scale`` itself.
        cat_max_ratio: ``RandomCrop``'s limit on the share of one class (1.0: no check).
        flip_prob: ``RandomFlip``'s probability.
        photometric: apply ``PhotoMetricDistortion`` (brightness 32, contrast and saturation 0.5-1.5, hue 18).
        mean: ``Normalize``'s mean (RGB, 0..255).
        std: ``Normalize``'s std.
        ignore_index: the ignored label (``RandomCrop``'s and the loss's; ``Pad`` fills the label with 255).
        reduce_zero_label: ``LoadAnnotations``' 0 -> 255, k -> k - 1.

    Call with an ``(H, W, 3)`` uint8 RGB image (:func:`tubelet.data.images.read_image`), its ``(H, W)`` uint8 label
    map as stored (:func:`read_label_map`) and a ``numpy.random.Generator``; the result is deterministic given the
    generator's state. The output is ``crop_size`` (smaller images padded).
    """

    def __init__(self, crop_size: int | tuple[int, int] = (512, 512),
                 img_scale: tuple[int, int] | None = (2048, 512), ratio_range: tuple[float, float] | None = (0.5, 2.0),
                 cat_max_ratio: float = 0.75, flip_prob: float = 0.5, photometric: bool = True,
                 mean: Sequence[float] = ADE20K_MEAN, std: Sequence[float] = ADE20K_STD, ignore_index: int = 255,
                 reduce_zero_label: bool = True):
        self.crop_size = _pair(crop_size, "crop_size")
        self.img_scale = None if img_scale is None else _pair(img_scale, "img_scale")
        if ratio_range is None and img_scale is None:
            raise UsageError("SegTrainPipeline needs img_scale or ratio_range")
        self.ratio_range = None if ratio_range is None else (float(ratio_range[0]), float(ratio_range[1]))
        if self.ratio_range is not None and not 0 < self.ratio_range[0] <= self.ratio_range[1]:
            raise UsageError(f"ratio_range must be (min, max) with 0 < min <= max, got {ratio_range}")
        if not 0 <= flip_prob <= 1:
            raise UsageError(f"flip_prob must be in [0, 1], got {flip_prob}")
        self.cat_max_ratio, self.flip_prob, self.photometric = float(cat_max_ratio), float(flip_prob), photometric
        self.mean, self.std = tuple(mean), tuple(std)
        self.ignore_index, self.reduce_zero_label = int(ignore_index), bool(reduce_zero_label)
        self._lut = _label_lut(self.reduce_zero_label)

    def __repr__(self) -> str:
        return (f"SegTrainPipeline(crop_size={self.crop_size}, img_scale={self.img_scale}, "
                f"ratio_range={self.ratio_range}, cat_max_ratio={self.cat_max_ratio}, flip_prob={self.flip_prob}, "
                f"photometric={self.photometric}, reduce_zero_label={self.reduce_zero_label})")

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = np.asarray(image), np.asarray(label)
        _check_image_and_label(image, label)
        label = self._lut[label]
        scale = sample_scale(rng, self.img_scale, self.ratio_range, image.shape[:2])
        image, label = rescale(image, label, scale)
        image, label = random_crop(image, label, rng, self.crop_size, self.cat_max_ratio, self.ignore_index)
        image, label, _ = random_flip(image, label, rng, self.flip_prob)
        if self.photometric:
            image = photometric_distortion(image, rng)
        image, label = pad(normalize(image, self.mean, self.std), label, self.crop_size, 0, 255)
        return _to_tensors(image, label)


class SegEvalPipeline:
    """The official test resize and normalisation: ``pipeline(image, label, rng=None) -> (image (3, h, w) float32,
    label (H, W) int64)``.

    The image is rescaled keeping its ratio to fit ``img_scale`` (mmseg's test ``Resize``, bilinear, OpenCV-exact);
    with ``align`` (Semantic FPN's ``AlignResize``: 32) resized again to the next multiples of ``align``; then
    normalised. The label keeps the original size (evaluate by resizing the logits to it, as
    :func:`tubelet.tasks.segmentation.segment` does) and, with ``reduce_zero_label``, is mapped as in training (0 ->
    255, k -> k - 1), so that it compares with predictions directly (``reduce_zero_label=False`` in the metrics).

    Args:
        img_scale: ``(long, short)`` test scale.
        align: size divisor of ``AlignResize`` (Semantic FPN configs: 32), or None (UperNet configs).
        mean: ``Normalize``'s mean (RGB, 0..255).
        std: ``Normalize``'s std.
        reduce_zero_label: map the label as ``LoadAnnotations(reduce_zero_label=True)`` does.
        ignore_index: the ignored label (kept for the dataset's checks).
    """

    def __init__(self, img_scale: tuple[int, int] = (2048, 512), align: int | None = None,
                 mean: Sequence[float] = ADE20K_MEAN, std: Sequence[float] = ADE20K_STD,
                 reduce_zero_label: bool = True, ignore_index: int = 255):
        self.img_scale = _pair(img_scale, "img_scale")
        if align is not None and int(align) < 1:
            raise UsageError(f"align must be a positive size divisor or None, got {align}")
        self.align = None if align is None else int(align)
        self.mean, self.std = tuple(mean), tuple(std)
        self.reduce_zero_label, self.ignore_index = bool(reduce_zero_label), int(ignore_index)
        self._lut = _label_lut(self.reduce_zero_label)

    def __repr__(self) -> str:
        return (f"SegEvalPipeline(img_scale={self.img_scale}, align={self.align}, "
                f"reduce_zero_label={self.reduce_zero_label})")

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """``(h, w)`` of the network input for an image of ``height x width``."""
        h, w = rescale_size(height, width, self.img_scale)
        if self.align:
            h, w = math.ceil(h / self.align) * self.align, math.ceil(w / self.align) * self.align
        return h, w

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = np.asarray(image), np.asarray(label)
        _check_image_and_label(image, label)
        x = torch.from_numpy(np.ascontiguousarray(image))
        size = rescale_size(*image.shape[:2], self.img_scale)
        x = resize_uint8(x, size) if size != image.shape[:2] else x
        aligned = self.network_size(*image.shape[:2])
        if aligned != size:
            x = resize_uint8(x, aligned)
        return _to_tensors(normalize(x.numpy(), self.mean, self.std), self._lut[label])


# ----------------------------------------------------------------------------------------------------------- dataset
def _list_files(folder: Path, suffixes: Sequence[str]) -> dict[str, str]:
    """relative path without suffix -> relative path, for the files below ``folder`` (recursively, hidden skipped)."""
    out: dict[str, str] = {}
    dupes = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or p.suffix.lower() not in suffixes or not p.is_file():
            continue
        stem = str(rel.with_suffix(""))
        if stem in out:
            dupes.append(f"{out[stem]} / {rel}")
        out[stem] = str(rel)
    if dupes:
        raise AnnotationError(f"{folder}: images that share a name and differ only in extension, so one annotation "
                              f"would serve both: {', '.join(dupes[:5])}")
    return out


def _some(names: Sequence[str], limit: int = 5) -> str:
    more = f" (and {len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


class SegmentationFolder(torch.utils.data.Dataset):
    """An ADE20K-style folder: ``root/images/<split>/**/<name>.jpg|png`` with ``root/annotations/<split>/**/<name>.png``
    (mmseg's ``ADE20KDataset`` layout, e.g. ``ADEChallengeData2016``, split ``training`` or ``validation``).

    Args:
        root: the dataset folder.
        split: the sub-folder of ``images`` and ``annotations``.
        pipeline: :class:`SegTrainPipeline`, :class:`SegEvalPipeline` or any ``pipeline(image, label, rng) ->
            (image, label)``; it applies ``reduce_zero_label`` (mmseg's ``LoadAnnotations`` is its first step).
        reduce_zero_label: how the stored ids map to classes (ADE20K: True, 0 = "other"); used to check the label
            values, and must agree with the pipeline's ``reduce_zero_label`` attribute when it has one.
        num_classes: the number of classes (after ``reduce_zero_label``).
        ignore_index: the ignored label (after ``reduce_zero_label``).
        class_names: one name per class; by default read from ``root/class_names.txt`` when there is one.
        skip_bad: on an unreadable image or annotation, sizes that differ or labels out of range, log the sample once,
            count it in ``num_skipped`` and serve the next one instead of raising.
        seed: base seed; item ``i`` of epoch ``e`` gets ``numpy.random.default_rng((seed, e, i))`` (:meth:`set_epoch`,
            or ``dataset[(epoch, i)]`` as :class:`tubelet.data.loader.EpochSampler` passes it).

    ``dataset[i]`` is the pipeline's ``(image (3, h, w) float32, label (h, w) int64)``. ``samples``: the ``(image
    path, annotation path)`` pairs, sorted.

    Raises:
        AnnotationError: a missing folder, no images, images without their annotation or annotations without their
            image (listing up to 5 names); at load time (unless ``skip_bad``) an unreadable file, an annotation whose
            size differs from its image's, or label values that are neither a class nor ``ignore_index``; the message
            names the file. UsageError: ``class_names`` of the wrong length, a pipeline that disagrees on
            ``reduce_zero_label``.
    """

    def __init__(self, root: str | os.PathLike, split: str = "training", *, pipeline, reduce_zero_label: bool = True,
                 num_classes: int, ignore_index: int = 255, class_names: Sequence[str] | None = None,
                 skip_bad: bool = False, seed: int = 0):
        if int(num_classes) < 1:
            raise UsageError(f"num_classes must be >= 1, got {num_classes}")
        pipe_rzl = getattr(pipeline, "reduce_zero_label", None)
        if pipe_rzl is not None and bool(pipe_rzl) != bool(reduce_zero_label):
            raise UsageError(f"the pipeline has reduce_zero_label={pipe_rzl} but the dataset reduce_zero_label="
                             f"{reduce_zero_label}: give both the same")
        self.root, self.split = Path(root), split
        self.pipeline, self.reduce_zero_label = pipeline, bool(reduce_zero_label)
        self.num_classes, self.ignore_index = int(num_classes), int(ignore_index)
        self.skip_bad, self.seed, self.epoch = skip_bad, seed, 0
        self.num_skipped, self._bad = 0, set()
        self.class_names = self._class_names(class_names)
        self.samples = self._pairs()
        lut = _label_lut(self.reduce_zero_label).astype(np.int64)
        self._invalid = (lut >= self.num_classes) & (lut != self.ignore_index)  # stored id -> out of range

    def _class_names(self, names: Sequence[str] | None) -> list[str] | None:
        if names is None:
            path = self.root / "class_names.txt"
            if not path.is_file():
                return None
            try:
                names = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
            except (OSError, UnicodeDecodeError) as e:
                raise AnnotationError(f"{path}: cannot read the class names ({e})") from None
            if len(names) != self.num_classes:
                raise AnnotationError(f"{path}: {len(names)} class names for num_classes={self.num_classes}")
            return names
        names = [str(n) for n in names]
        if len(names) != self.num_classes:
            raise UsageError(f"{len(names)} class names for num_classes={self.num_classes}")
        return names

    def _pairs(self) -> list[tuple[str, str]]:
        img_dir, ann_dir = self.root / "images" / self.split, self.root / "annotations" / self.split
        for what, folder in (("images", img_dir), ("annotations", ann_dir)):
            if not folder.is_dir():
                raise AnnotationError(f"{folder}: no such folder (the {what} of split {self.split!r}; expected "
                                      f"root/images/<split>/*.jpg with root/annotations/<split>/*.png)")
        images = _list_files(img_dir, IMAGE_EXTENSIONS)
        masks = _list_files(ann_dir, (".png",))
        if not images:
            raise AnnotationError(f"{img_dir}: no images ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
        lonely = sorted(images[k] for k in images.keys() - masks.keys())
        if lonely:
            raise AnnotationError(f"{img_dir}: {len(lonely)} image(s) without an annotation <name>.png in {ann_dir}: "
                                  f"{_some(lonely)}")
        orphans = sorted(masks[k] for k in masks.keys() - images.keys())
        if orphans:
            raise AnnotationError(f"{ann_dir}: {len(orphans)} annotation(s) without an image in {img_dir}: "
                                  f"{_some(orphans)}")
        return [(str(img_dir / images[k]), str(ann_dir / masks[k])) for k in sorted(images)]

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose random draws ``dataset[i]`` makes (``(seed, epoch, i)``)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``index`` as stored, checked: ``(image (H, W, 3) uint8 RGB, label (H, W) uint8)``, the label before
        ``reduce_zero_label``.

        Raises:
            AnnotationError / ImageReadError: an unreadable file, sizes that differ, label values out of range.
        """
        img_path, ann_path = self.samples[index]
        image = read_image(img_path)
        label = read_label_map(ann_path)
        if image.shape[:2] != label.shape:
            raise AnnotationError(f"{ann_path}: {label.shape[1]}x{label.shape[0]} pixels, but its image {img_path} is "
                                  f"{image.shape[1]}x{image.shape[0]}")
        present = np.flatnonzero(np.bincount(label.ravel(), minlength=256))
        bad = present[self._invalid[present]]
        if len(bad):
            rule = ("0 ('other', ignored) and 1.." + str(self.num_classes) if self.reduce_zero_label
                    else f"0..{self.num_classes - 1}")
            raise AnnotationError(f"{ann_path}: label values {', '.join(map(str, bad[:5].tolist()))} out of range "
                                  f"({self.num_classes} classes: stored ids {rule}, or the ignored "
                                  f"{self.ignore_index}; reduce_zero_label={self.reduce_zero_label})")
        return image, label

    def _get(self, index: int, epoch: int):
        image, label = self.load(index)
        return self.pipeline(image, label, np.random.default_rng((self.seed, epoch, index)))

    def __getitem__(self, item):
        """``item``: an index, or ``(epoch, index)`` from :class:`tubelet.data.loader.EpochSampler`."""
        epoch, index = item if isinstance(item, tuple) else (self.epoch, item)
        found = first_good_sample(self, index, lambda i: self._get(i, epoch), (AnnotationError, ImageReadError),
                                  "a bad segmentation sample", _log)
        if found is None:
            raise AnnotationError(f"{self.root}: every one of the {len(self.samples)} samples of split "
                                  f"{self.split!r} is bad")
        return found[1]


# -------------------------------------------------------------------------------------------------------------- loss
def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, *, aux_logits: torch.Tensor | None = None,
                      aux_weight: float = 0.4, ignore_index: int = 255, align_corners: bool = False
                      ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """mmseg 0.13's training loss of an ``EncoderDecoder`` (``decode_head.losses`` + ``auxiliary_head.losses``).

    For each head: its logits ``(B, K, h, w)`` are resized bilinearly (``align_corners=False`` in every UniFormer
    config) to the label's ``(H, W)``; ``F.cross_entropy(..., ignore_index, reduction='none')`` gives 0 at ignored
    pixels, and ``weight_reduce_loss`` (no weight, no ``avg_factor``) takes ``loss.mean()``: the sum over the valid
    pixels divided by **all** ``B x H x W`` pixels, ignored ones included (not PyTorch's default mean over the valid
    pixels only; a batch with no valid pixel gives 0, not NaN). The head's loss is that times its ``loss_weight``:
    1.0 for the decode head, ``aux_weight`` (0.4 in the UperNet configs) for the auxiliary FCN head.

    Args:
        logits: the decode head's output (``model.forward_head(model.forward_features(x))``, 1/4 of the input).
        target: ``(B, H, W)`` (or ``(B, 1, H, W)``) int64 labels, ``ignore_index`` where ignored.
        aux_logits: the auxiliary head's output (``model.forward_aux(features)``), or None (Semantic FPN).
        aux_weight: the auxiliary loss weight.
        ignore_index: the ignored label.
        align_corners: of the resize (False in the configs).
    Returns:
        ``(loss, parts)``: the sum of the weighted head losses (what is back-propagated), and detached
        ``{"decode.loss_seg", "decode.acc_seg", "aux.loss_seg", "aux.acc_seg"}`` (the aux entries only with
        ``aux_logits``; ``acc_seg``: mmseg's top-1 accuracy in %, correct pixels over all ``B x H x W`` pixels,
        ignored ones included).
    """
    if target.ndim == 4 and target.shape[1] == 1:
        target = target[:, 0]
    if target.ndim != 3:
        raise UsageError(f"segmentation_loss: expected (B, H, W) labels, got {tuple(target.shape)}")
    target = target.long()
    total, parts = None, {}
    for name, weight, out in (("decode", 1.0, logits), ("aux", aux_weight, aux_logits)):
        if out is None:
            continue
        if out.ndim != 4 or out.shape[0] != target.shape[0]:
            raise UsageError(f"segmentation_loss: {name} logits {tuple(out.shape)} do not fit labels "
                             f"{tuple(target.shape)}")
        out = F.interpolate(out, size=target.shape[-2:], mode="bilinear", align_corners=align_corners)
        loss = weight * F.cross_entropy(out, target, ignore_index=ignore_index, reduction="none").mean()
        total = loss if total is None else total + loss
        parts[f"{name}.loss_seg"] = loss.detach()
        parts[f"{name}.acc_seg"] = (out.detach().argmax(1) == target).sum().float() * (100.0 / target.numel())
    return total, parts


# --------------------------------------------------------------------------------------------------------- synthetic
#: the shapes of :func:`make_synthetic_segmentation`, in class order after ``background``
SYNTHETIC_SHAPES = ("circle", "square", "triangle", "cross", "ring")


def _signed_distance(shape: str, dy: np.ndarray, dx: np.ndarray, r: float) -> np.ndarray:
    """Approximate signed distance (pixels; negative inside) to a shape of size ``r`` centred at the origin."""
    if shape == "circle":
        return np.sqrt(dx * dx + dy * dy) - r
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) - 0.85 * r
    if shape == "triangle":  # pointing up, inradius 0.6 r (edges' outward normals at 90, 210 and 330 degrees), its
        c = math.sqrt(3) / 2  # box (1.2 r high, 2.08 r wide) centred on the origin
        dy = dy - 0.3 * r
        return np.maximum(np.maximum(dy, -c * dx - 0.5 * dy), c * dx - 0.5 * dy) - 0.6 * r
    if shape == "cross":
        arm = r / 3
        return np.minimum(np.maximum(np.abs(dx) - r, np.abs(dy) - arm), np.maximum(np.abs(dx) - arm, np.abs(dy) - r))
    if shape == "ring":
        return np.abs(np.sqrt(dx * dx + dy * dy) - 0.68 * r) - 0.32 * r
    raise ValueError(shape)


#: the farthest point of each shape from its centre, in units of its size ``r`` (:func:`_signed_distance`)
_REACH = {"circle": 1.0, "square": 0.85 * math.sqrt(2), "triangle": math.hypot(1.04, 0.9), "cross": math.hypot(1, 1 / 3),
          "ring": 1.0}


def _render_segmentation(rng: np.random.Generator, height: int, width: int, shapes: Sequence[str], first: int,
                         n_shapes: int, noise: tuple[float, float] = (16.0, 4.0)) -> tuple[np.ndarray, np.ndarray]:
    """One image and its stored label map (0 = unlabelled edge, 1 = background, 2 + k = ``shapes[k]``); ``noise``:
    the std of the pixel noise on the background and on the shapes."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    # background: a random colour, a gradient and a few soft blobs (texture without hard edges)
    base = rng.uniform(30, 225, 3).astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    t = math.cos(angle) * (xx / width - 0.5) + math.sin(angle) * (yy / height - 0.5)
    img = base + t[..., None] * rng.uniform(-60, 60, 3).astype(np.float32)
    for _ in range(int(rng.integers(3, 7))):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        sigma = rng.uniform(0.12, 0.25) * min(height, width)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma * sigma))
        img = img + blob[..., None] * rng.uniform(-45, 45, 3).astype(np.float32)
    label = np.ones((height, width), np.uint8)
    shape_cover = np.zeros((height, width), np.float32)
    side = min(height, width)
    placed: list[tuple[float, float, float]] = []
    for k in range(n_shapes):
        cls = first if k == 0 else int(rng.integers(len(shapes)))
        r = rng.uniform(0.16, 0.25) * side
        reach = _REACH[shapes[cls]] * r  # the shape lies within this distance of its centre
        box = 1.05 * r  # ... and within the square of this half-side around it
        for _ in range(30):  # a place inside the image, apart from the earlier shapes (corners may touch)
            cy, cx = rng.uniform(box + 1, height - box - 1), rng.uniform(box + 1, width - box - 1)
            if all(math.hypot(cy - py, cx - px) > 0.85 * (reach + pr) + 1 for py, px, pr in placed):
                break
        else:
            continue
        placed.append((cy, cx, reach))
        cover = np.clip(0.5 - _signed_distance(shapes[cls], yy - cy, xx - cx, r), 0.0, 1.0)
        local = img[max(int(cy - r), 0):int(cy + r) + 1, max(int(cx - r), 0):int(cx + r) + 1].reshape(-1, 3).mean(0)
        for _ in range(10):  # a colour that stands out from the background around it
            colour = rng.uniform(0, 255, 3).astype(np.float32)
            if np.abs(colour - local).max() > 70:
                break
        img = img * (1 - cover[..., None]) + colour * cover[..., None]
        shape_cover = np.maximum(shape_cover, cover)
        label[cover >= 0.75] = cls + 2
        label[(cover > 0.25) & (cover < 0.75)] = 0
    std = noise[0] + (noise[1] - noise[0]) * shape_cover  # a grainy background, smoother shapes
    img = img + rng.normal(0, 1, img.shape).astype(np.float32) * std[..., None]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), label


def make_synthetic_segmentation(root: str | os.PathLike, *, n_train: int = 200, n_val: int = 50,
                                size: tuple[int, int] = (64, 64), num_classes: int = 4, seed: int = 0) -> list[str]:
    """Write a small segmentation dataset in the ADE20K layout; returns its class names.

    ``root/images/{training,validation}/NNNNNN.jpg`` (JPEG quality 95, 4:4:4) with
    ``root/annotations/{training,validation}/NNNNNN.png`` (8-bit grey) and ``root/class_names.txt``. Classes:
    ``background`` then the first ``num_classes - 1`` of :data:`SYNTHETIC_SHAPES` (circle, square, triangle, cross,
    ring). Each image holds 2 to 4 shapes (half-widths 1/6 to 1/4 of the short side), kept apart (a later
    one may cover a corner of an earlier one; fewer when they do not fit); the first one's class cycles with the image
    index, so every class is frequent. Background: a random colour, a gradient, soft blobs and grainy noise (std 16);
    shapes: a flat random colour with light noise (std 4). About 75% of the pixels are background.

    Colours are drawn independently of the class (shapes from the whole RGB cube, backgrounds from its middle), so no
    pixel's colour tells its class: the model has to see texture and outline (a ring's hole is background; a circle,
    a square and a triangle of the same colour differ only in shape). Annotations follow ADE20K's
    ``reduce_zero_label`` convention: stored id 0 = unlabelled (the anti-aliased one-pixel edge of every shape,
    ignored), id k + 1 = class k. Train with ``reduce_zero_label=True`` and ``num_classes``
    (:func:`synthetic_pipelines` gives pipelines sized for it); predicting "background" everywhere scores mIoU about
    0.2 with 4 classes. Deterministic for a given ``seed``; each file is written whole or not at all
    (:func:`tubelet.atomic.write_atomically`).

    Raises:
        UsageError: ``num_classes`` outside 2..6, sizes under 32 pixels, negative counts.
    """
    from io import BytesIO

    from PIL import Image

    from ..atomic import write_atomically, write_text

    if not 2 <= num_classes <= len(SYNTHETIC_SHAPES) + 1:
        raise UsageError(f"num_classes must be 2..{len(SYNTHETIC_SHAPES) + 1} (background and up to "
                         f"{len(SYNTHETIC_SHAPES)} shapes), got {num_classes}")
    height, width = _pair(size, "size")
    if min(height, width) < 32:
        raise UsageError(f"size must be at least 32x32, got {size}")
    if n_train < 0 or n_val < 0:
        raise UsageError(f"n_train and n_val must be >= 0, got {n_train}, {n_val}")
    names = ["background", *SYNTHETIC_SHAPES[:num_classes - 1]]
    root = Path(root)
    for split, count, split_seed in (("training", n_train, 0), ("validation", n_val, 1)):
        img_dir, ann_dir = root / "images" / split, root / "annotations" / split
        img_dir.mkdir(parents=True, exist_ok=True)
        ann_dir.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            rng = np.random.default_rng((seed, split_seed, i))
            image, label = _render_segmentation(rng, height, width, names[1:], i % (num_classes - 1),
                                                int(rng.integers(2, 5)))
            for path, arr, fmt, kw in ((img_dir / f"{i:06d}.jpg", image, "JPEG", dict(quality=95, subsampling=0)),
                                       (ann_dir / f"{i:06d}.png", label, "PNG", {})):
                buf = BytesIO()
                Image.fromarray(arr).save(buf, format=fmt, **kw)
                write_atomically(path, lambda f, data=buf.getvalue(): f.write(data))
    write_text(root / "class_names.txt", "\n".join(names) + "\n")
    return names


def synthetic_pipelines(size: tuple[int, int] = (64, 64)) -> tuple[SegTrainPipeline, SegEvalPipeline]:
    """Train and eval pipelines for :func:`make_synthetic_segmentation` images of ``size = (h, w)``: the official
    steps, scaled to the small images: ``img_scale = (4 s, s)`` with ``s`` the short side (the images keep their size
    at ratio 1), the ratio range narrowed to 0.75-1.5 (at 0.5 the shapes would be a few pixels wide), crop ``size``,
    cat_max_ratio 0.75, flip and photometric distortion as in the configs; test at ``(4 s, s)`` (the original size)."""
    h, w = _pair(size, "size")
    s = min(h, w)
    return (SegTrainPipeline(crop_size=(h, w), img_scale=(4 * s, s), ratio_range=(0.75, 1.5)),
            SegEvalPipeline(img_scale=(4 * s, s)))
