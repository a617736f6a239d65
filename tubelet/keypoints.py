"""Top-down human pose estimation: COCO keypoint metadata, person boxes -> crops, heatmaps -> image keypoints.

The geometry and decoding are those of mmpose 0.16 as the official UniFormer pose models use it (Sense-X/UniFormer
@ 52a0415, ``pose_estimation/``; reference/DENSE.md §3.4). A top-down model sees one person per input: the person box
``(x, y, w, h)`` becomes a ``center`` and a ``scale`` (:func:`box_to_center_scale`: the box widened to the input's
aspect ratio, padded by 1.25, in units of 200 px), the crop around it is warped to the input size
(:func:`crop_person`), the model predicts one heatmap per keypoint at a quarter of the input size, and
:func:`decode_heatmaps` maps each heatmap's maximum back to image coordinates::

    image, boxes ─box_to_center_scale─▶ center, scale ─crop_person─▶ (N, 3, H, W)
      ─model─▶ heatmaps (N, 17, H/4, W/4) ─(flip test: averaged with the mirrored crops' heatmaps, flip_back)
      ─decode_heatmaps─▶ keypoints (N, 17, 2), scores (N, 17, 1)

:func:`estimate_poses` runs all of it for one image. Coordinates are in pixels with pixel centres at integers (as
mmpose and OpenCV): pixel ``(i, j)`` covers ``[i - 0.5, i + 0.5]``.

Differences from mmpose, none of which changes a decoded keypoint beyond float rounding:

* decoding is vectorised in torch float32 (mmpose loops in NumPy float32 over people and keypoints; the operations
  and their order are the same, so the results are identical to the last bit on the fixtures);
* the crop is warped with ``torch.nn.functional.grid_sample`` instead of ``cv2.warpAffine`` (no OpenCV): both
  sample the source at the inverse affine image of every output pixel centre (the matrix is built by the same
  three-point rule as mmpose's ``get_affine_transform``), bilinearly, with source pixels outside the image read as
  0 (``cv2.BORDER_CONSTANT``), and a uint8 image gives a uint8-rounded crop as OpenCV returns one. OpenCV computes
  in fixed point (every source coordinate rounded to 1/32 px, 15-bit interpolation weights), so single output
  values may differ by a grey level or so; grid_sample interpolates in float32 at the exact coordinate. Rounding
  to uint8 is half-to-even here, half-up in OpenCV.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .errors import UsageError

__all__ = ["COCO_KEYPOINT_NAMES", "COCO_SKELETON", "COCO_FLIP_PAIRS", "COCO_SIGMAS", "PIXEL_STD",
           "box_to_center_scale", "get_affine_transform", "warp_affine", "crop_person", "flip_back",
           "transform_preds", "decode_heatmaps", "PersonPose", "estimate_poses"]

# --------------------------------------------------------------------------------------------------------------
# COCO keypoints
# --------------------------------------------------------------------------------------------------------------

#: the 17 COCO person keypoints, in the order of the heatmap channels
COCO_KEYPOINT_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                       "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
                       "left_knee", "right_knee", "left_ankle", "right_ankle")

#: limbs to draw, as 0-based keypoint index pairs (the COCO annotation file's ``skeleton``, which is 1-based)
COCO_SKELETON = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9),
                 (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))

#: left/right keypoints that swap when the image is mirrored (0-based; mmpose's ``flip_pairs`` for COCO)
COCO_FLIP_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))

#: per-keypoint OKS standard deviations of the COCO keypoint evaluation (``pycocotools`` ``kpt_oks_sigmas``)
COCO_SIGMAS = (0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087,
               0.087, 0.089, 0.089)

#: mmpose's unit of ``scale``: a scale of 1 is 200 pixels
PIXEL_STD = 200.0


# --------------------------------------------------------------------------------------------------------------
# Boxes and crops
# --------------------------------------------------------------------------------------------------------------

def _pair(size, what: str) -> tuple[int, int]:
    """``(H, W)`` from an int or a 2-sequence."""
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise UsageError(f"{what} must be (H, W) with positive sides, got {size}")
    return size


def box_to_center_scale(boxes, input_size: Sequence[int] = (256, 192),
                        padding: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes to mmpose's ``center`` / ``scale`` (``TopDownCocoDataset._xywh2cs`` at test time).

    The centre is the box centre; the box is widened (or heightened) to the aspect ratio of the network input, then
    ``scale = (w, h) / 200 * padding``. Computed as mmpose does: the centre and the widened box in float64, cast to
    float32, then multiplied by ``padding`` in float32.

    Args:
        boxes: ``(N, 4)`` or ``(4,)`` boxes ``(x, y, w, h)`` in pixels.
        input_size: the network input ``(H, W)`` (``model.pretrained_cfg.input_size[-2:]``; mmpose's
            ``image_size`` is ``(W, H)``).
        padding: context around the box (1.25 in every mmpose top-down config).
    Returns:
        ``(center, scale)``, float32 arrays of shape ``(N, 2)`` (``(2,)`` for one box): ``(x, y)`` and ``(w, h)`` in
        units of 200 px.
    """
    b = np.asarray(boxes, dtype=np.float64)
    if b.shape[-1:] != (4,) or b.ndim not in (1, 2):
        raise UsageError(f"boxes must be (N, 4) or (4,) as (x, y, w, h), got shape {b.shape}")
    H, W = _pair(input_size, "input_size")
    aspect = W / H
    x, y, w, h = (b[..., i] for i in range(4))
    center = np.stack([x + w * 0.5, y + h * 0.5], -1).astype(np.float32)
    w, h = np.where(w > aspect * h, w, h * aspect), np.where(w > aspect * h, w * 1.0 / aspect, h)
    scale = np.stack([w / PIXEL_STD, h / PIXEL_STD], -1).astype(np.float32) * np.float32(padding)
    return center, scale


def _rotate(pt, angle_rad: float) -> np.ndarray:
    sn, cs = math.sin(angle_rad), math.cos(angle_rad)
    return np.array([pt[0] * cs - pt[1] * sn, pt[0] * sn + pt[1] * cs])


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``b`` plus ``a - b`` turned by 90 degrees: the third point that makes the affine map a similarity."""
    d = a - b
    return b + np.array([-d[1], d[0]], dtype=np.float32)


def _solve_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 matrix mapping three ``src`` points to ``dst`` (``cv2.getAffineTransform``: solved in float64)."""
    a = np.concatenate([src.astype(np.float64), np.ones((3, 1))], 1)  # 3 x 3
    return np.linalg.solve(a, dst.astype(np.float64)).T  # 2 x 3


def get_affine_transform(center, scale, output_size: Sequence[int], rotation: float = 0.0,
                         inv: bool = False) -> np.ndarray:
    """The affine map of a person crop (mmpose's ``get_affine_transform``, no shift).

    The map is a similarity: it sends ``center`` to the middle of the output and scales by
    ``output_width / (scale_x * 200)`` on both axes (the box is already at the output's aspect ratio), after
    turning by ``rotation`` degrees. Built from the same three point pairs as mmpose (float32 points) and solved in
    float64, as ``cv2.getAffineTransform``.

    Args:
        center: ``(2,)`` box centre ``(x, y)``.
        scale: ``(2,)`` box size ``(w, h)`` / 200.
        output_size: the crop's ``(H, W)``.
        rotation: degrees.
        inv: the inverse map (output -> image) instead.
    Returns:
        ``(2, 3)`` float64 matrix ``M``: ``M @ (x, y, 1)`` is the output position of image point ``(x, y)``.
    """
    center = np.asarray(center, dtype=np.float32).reshape(2)
    scale_px = np.asarray(scale, dtype=np.float32).reshape(2) * np.float32(PIXEL_STD)
    H, W = _pair(output_size, "output_size")
    rot = math.pi * rotation / 180
    src_dir = _rotate([0.0, scale_px[0] * -0.5], rot)
    src = np.zeros((3, 2), dtype=np.float32)
    src[0] = center
    src[1] = center + src_dir
    src[2] = _third_point(src[0], src[1])
    dst = np.zeros((3, 2), dtype=np.float32)
    dst[0] = [W * 0.5, H * 0.5]
    dst[1] = np.array([W * 0.5, H * 0.5]) + np.array([0.0, W * -0.5])
    dst[2] = _third_point(dst[0], dst[1])
    return _solve_affine(dst, src) if inv else _solve_affine(src, dst)


def _as_image_tensor(image) -> torch.Tensor:
    """An ``H x W x 3`` uint8 RGB array, a PIL image or a ``(3, H, W)`` tensor -> ``(3, H, W)`` tensor (its dtype
    kept)."""
    if hasattr(image, "convert") and hasattr(image, "size") and not isinstance(image, (np.ndarray, torch.Tensor)):
        image = np.array(image.convert("RGB"))  # PIL (a writable copy)
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise UsageError(f"expected an H x W x 3 RGB image array, got shape {image.shape}")
        return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3:
            raise UsageError(f"expected a (3, H, W) image tensor, got shape {tuple(image.shape)}")
        return image
    raise UsageError(f"expected an image array, a PIL image or a tensor, got {type(image).__name__}")


def _sampling_grid(matrix, output_size: Sequence[int], source_hw: Sequence[int]) -> torch.Tensor:
    """``(H, W, 2)`` float32 ``grid_sample`` grid (``align_corners=False``) of the source positions
    ``matrix^-1 @ (u, v, 1)`` of every output pixel ``(u, v)``; computed in float64."""
    H, W = output_size
    src_h, src_w = source_hw
    m = np.concatenate([np.asarray(matrix, dtype=np.float64).reshape(2, 3), [[0.0, 0.0, 1.0]]], 0)
    inv = np.linalg.inv(m)[:2]  # output -> image
    u = np.arange(W, dtype=np.float64)[None, :]
    v = np.arange(H, dtype=np.float64)[:, None]
    sx = inv[0, 0] * u + inv[0, 1] * v + inv[0, 2]
    sy = inv[1, 0] * u + inv[1, 1] * v + inv[1, 2]
    # grid_sample with align_corners=False puts pixel i's centre at (2 i + 1) / size - 1
    return torch.from_numpy(np.stack([(2 * sx + 1) / src_w - 1, (2 * sy + 1) / src_h - 1], -1)).float()


def _warp(image: torch.Tensor, grids: torch.Tensor, out_dtype: torch.dtype) -> torch.Tensor:
    """Bilinear samples of one ``(1, C, h, w)`` float image at ``(N, H, W, 2)`` grids -> ``(N, C, H, W)``, zeros
    outside; an integer ``out_dtype`` is rounded to the nearest level (as OpenCV returns uint8)."""
    out = F.grid_sample(image.expand(len(grids), -1, -1, -1), grids.to(image.device), mode="bilinear",
                        padding_mode="zeros", align_corners=False)
    if not out_dtype.is_floating_point:
        return out.round().clamp(0, 255).to(out_dtype)
    return out.to(out_dtype)


def warp_affine(image: torch.Tensor, matrix, output_size: Sequence[int]) -> torch.Tensor:
    """``cv2.warpAffine(image, matrix, (W, H), INTER_LINEAR, BORDER_CONSTANT 0)`` with torch.

    Output pixel ``(u, v)`` takes the bilinear interpolation of the image at ``matrix^-1 @ (u, v, 1)`` (pixel
    centres at integers); source pixels outside the image count as 0. See the module docstring for how this differs
    from OpenCV's fixed-point arithmetic.

    Args:
        image: ``(C, H, W)`` or ``(B, C, H, W)`` tensor, uint8 or float.
        matrix: ``(2, 3)`` image -> output map (e.g. :func:`get_affine_transform`).
        output_size: ``(H, W)`` of the output.
    Returns:
        the warped image, same layout and dtype (uint8 is rounded to the nearest level, as OpenCV returns it).
    """
    H, W = _pair(output_size, "output_size")
    x = image[None] if image.ndim == 3 else image
    grid = _sampling_grid(matrix, (H, W), x.shape[-2:])
    out = torch.cat([_warp(x[i:i + 1].float(), grid[None], image.dtype) for i in range(len(x))])
    return out[0] if image.ndim == 3 else out


def crop_person(image, center, scale, output_size: Sequence[int], rotation: float = 0.0) -> torch.Tensor:
    """The network input of one person (mmpose's ``TopDownAffine``): the image warped so that the box given by
    ``center`` / ``scale`` fills an ``output_size`` crop.

    Args:
        image: ``H x W x 3`` uint8 RGB array, a PIL image, or a ``(3, H, W)`` tensor.
        center, scale: one person's ``(2,)`` centre and scale (:func:`box_to_center_scale`).
        output_size: ``(H, W)`` of the network input.
        rotation: degrees (0 at test time).
    Returns:
        ``(3, H, W)`` crop, in the image's dtype (uint8 stays uint8; normalise it as the model's ``pretrained_cfg``
        says).
    """
    return warp_affine(_as_image_tensor(image), get_affine_transform(center, scale, output_size, rotation),
                       output_size)


# --------------------------------------------------------------------------------------------------------------
# Heatmaps
# --------------------------------------------------------------------------------------------------------------

def flip_back(heatmaps: torch.Tensor, flip_pairs: Sequence[Sequence[int]] = COCO_FLIP_PAIRS) -> torch.Tensor:
    """Heatmaps of a horizontally mirrored image back to the original's: swap the left/right channels of every
    pair, then mirror along W (mmpose's ``flip_back`` for Gaussian heatmaps). Its own inverse.

    Args:
        heatmaps: ``(N, K, H, W)`` tensor (or NumPy array: the result is then one too).
        flip_pairs: 0-based channel pairs (default: COCO).
    """
    if isinstance(heatmaps, np.ndarray):
        return flip_back(torch.from_numpy(heatmaps), flip_pairs).numpy()
    if heatmaps.ndim != 4:
        raise UsageError(f"heatmaps must be (N, K, H, W), got shape {tuple(heatmaps.shape)}")
    order = list(range(heatmaps.shape[1]))
    for left, right in flip_pairs:
        order[left], order[right] = right, left
    return heatmaps[:, order].flip(-1)


def _per_sample(value, n: int, what: str, device) -> torch.Tensor:
    """``center`` / ``scale`` as a float32 ``(n, 2)`` tensor (mmpose copies them into float32 arrays)."""
    t = torch.as_tensor(np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value,
                                   dtype=np.float32))
    if t.ndim == 1:
        t = t[None]
    if t.shape != (n, 2):
        raise UsageError(f"{what} must be ({n}, 2) (one (x, y) pair per heatmap sample), got shape {tuple(t.shape)}")
    return t.to(device)


def transform_preds(coords: torch.Tensor, center, scale, heatmap_size: Sequence[int]) -> torch.Tensor:
    """Heatmap coordinates to image coordinates (mmpose's ``transform_preds`` without UDP), in float32:
    ``x * (scale_x * 200 / W) + center_x - scale_x * 200 * 0.5``, likewise for y with H.

    Args:
        coords: ``(N, K, 2)`` heatmap ``(x, y)``.
        center, scale: ``(N, 2)`` tensors or arrays.
        heatmap_size: ``(H, W)`` of the heatmaps.
    """
    N = coords.shape[0]
    c = _per_sample(center, N, "center", coords.device)
    s = _per_sample(scale, N, "scale", coords.device) * PIXEL_STD  # float32, as mmpose
    H, W = heatmap_size
    step = s / torch.tensor([W, H], dtype=torch.float32, device=coords.device)
    return coords.float() * step[:, None] + c[:, None] - (s * 0.5)[:, None]


def decode_heatmaps(heatmaps: torch.Tensor, center, scale,
                    post_process: str | None = "default") -> tuple[torch.Tensor, torch.Tensor]:
    """Keypoints from heatmaps, exactly as mmpose's ``keypoints_from_heatmaps`` (Gaussian heatmaps, no UDP).

    Per keypoint: the maximum of the flattened map (the first one in row-major order) and its value; where that
    value is <= 0 the coordinates become -1; with ``post_process="default"`` the position moves 0.25 towards the
    higher of its two neighbours in x and in y (by the sign of their difference: not at all when equal), only when
    ``1 < x < W-1`` and ``1 < y < H-1`` (so never at x = 1 or y = 1); ``None`` skips that step. Then
    :func:`transform_preds` to the image. Computed in float32 as mmpose does.

    Args:
        heatmaps: ``(N, K, H, W)``.
        center, scale: ``(N, 2)`` per-sample box centres and scales (tensors or arrays).
        post_process: ``"default"`` or None (mmpose's ``'unbiased'`` and ``'megvii'`` are not implemented).
    Returns:
        ``(keypoints, maxvals)``: ``(N, K, 2)`` image ``(x, y)`` and ``(N, K, 1)`` heatmap maxima, float32 tensors on
        the heatmaps' device.
    """
    if post_process not in ("default", None):
        raise UsageError(f"post_process must be 'default' or None, got {post_process!r} (mmpose's 'unbiased' and "
                         f"'megvii' decodings are not implemented)")
    if isinstance(heatmaps, np.ndarray):
        heatmaps = torch.from_numpy(heatmaps)
    if heatmaps.ndim != 4:
        raise UsageError(f"heatmaps must be (N, K, H, W), got shape {tuple(heatmaps.shape)}")
    hm = heatmaps.detach().float()
    N, K, H, W = hm.shape
    flat = hm.reshape(N, K, H * W)
    idx = flat.argmax(-1)  # the first maximum
    maxvals = flat.gather(-1, idx[..., None])  # N, K, 1
    px, py = idx % W, torch.div(idx, W, rounding_mode="floor")
    found = maxvals[..., 0] > 0
    preds = torch.where(found[..., None], torch.stack([px, py], -1).float(), torch.full_like(maxvals, -1.0))
    if post_process is not None and H > 3 and W > 3:
        inner = found & (px > 1) & (px < W - 1) & (py > 1) & (py < H - 1)
        x0, y0 = px.clamp(1, W - 2), py.clamp(1, H - 2)  # valid neighbour indices everywhere; used where inner

        def at(y, x):
            return flat.gather(-1, (y * W + x)[..., None])[..., 0]
        diff = torch.stack([at(py.clamp(0, H - 1), x0 + 1) - at(py.clamp(0, H - 1), x0 - 1),
                            at(y0 + 1, px.clamp(0, W - 1)) - at(y0 - 1, px.clamp(0, W - 1))], -1)
        preds = preds + torch.where(inner[..., None], torch.sign(diff) * 0.25, torch.zeros_like(diff))
    return transform_preds(preds, center, scale, (H, W)), maxvals


# --------------------------------------------------------------------------------------------------------------
# One image, many people
# --------------------------------------------------------------------------------------------------------------

@dataclass
class PersonPose:
    """One person's keypoints in image coordinates.

    Attributes:
        keypoints: ``(K, 2)`` float32 ``(x, y)`` in pixels.
        scores: ``(K,)`` float32 heatmap maxima (mmpose's keypoint scores; not probabilities).
        box: ``(4,)`` float32 ``(x, y, w, h)`` the person was cropped with.
        center, scale: ``(2,)`` float32: the crop (:func:`box_to_center_scale`).
    """

    keypoints: np.ndarray
    scores: np.ndarray
    box: np.ndarray
    center: np.ndarray
    scale: np.ndarray

    def to_dict(self) -> dict:
        """Plain lists (for JSON)."""
        return {k: getattr(self, k).tolist() for k in ("keypoints", "scores", "box", "center", "scale")}


def estimate_poses(model, image, boxes, flip_test: bool = True, batch_size: int = 16,
                   flip_pairs: Sequence[Sequence[int]] | None = None) -> list[PersonPose]:
    """Keypoints of every person box in one image with a top-down pose model (e.g. ``uniformer_small_pose``).

    Each box is cropped to the model's input size (``model.pretrained_cfg.input_size``) as mmpose's test pipeline
    does (:func:`box_to_center_scale`, :func:`crop_person`), scaled to 0-1 and normalised with the model's
    ``pretrained_cfg.mean`` / ``std``; the crops run in batches through ``model.predict_keypoints`` (flip test as
    the official configs) and come back in image coordinates. The model runs in eval mode, under ``no_grad``, on the
    device of its parameters; its train/eval mode is restored afterwards.

    Args:
        model: a pose model with ``predict_keypoints`` and ``pretrained_cfg``.
        image: ``H x W x 3`` uint8 RGB array, or a PIL image.
        boxes: ``(N, 4)`` person boxes ``(x, y, w, h)`` in pixels (e.g. from a person detector).
        flip_test: average with the mirrored crop's heatmaps (as the published results).
        batch_size: crops per forward.
        flip_pairs: left/right keypoint pairs for the flip test (default: the model's ``flip_pairs``, else COCO's).
    Returns:
        one :class:`PersonPose` per box, in the boxes' order.
    """
    img = _as_image_tensor(image)
    if img.is_floating_point():
        raise UsageError("estimate_poses expects a uint8 RGB image (H x W x 3, values 0-255)")
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if not len(boxes):
        return []
    if not np.isfinite(boxes).all() or (boxes[:, 2:] <= 0).any():
        raise UsageError("person boxes must be finite (x, y, w, h) with w > 0 and h > 0")
    cfg = model.pretrained_cfg
    size = tuple(cfg.input_size[-2:])
    pairs = flip_pairs if flip_pairs is not None or hasattr(model, "flip_pairs") else COCO_FLIP_PAIRS
    center, scale = box_to_center_scale(boxes, size)
    param = next(model.parameters())
    mean = torch.tensor(cfg.mean, dtype=torch.float32, device=param.device).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, dtype=torch.float32, device=param.device).view(1, 3, 1, 1)
    img = img.to(param.device).float()[None]  # 1, 3, h, w
    grids = [_sampling_grid(get_affine_transform(c, s, size), size, img.shape[-2:]) for c, s in zip(center, scale)]
    was_training = model.training
    model.eval()
    keypoints, scores = [], []
    try:
        with torch.no_grad():
            for start in range(0, len(boxes), batch_size):
                stop = min(start + batch_size, len(boxes))
                crops = _warp(img, torch.stack(grids[start:stop]), torch.uint8)  # as crop_person, batched
                x = ((crops.float() / 255.0 - mean) / std).to(param.dtype)
                kp, mv = model.predict_keypoints(x, center=center[start:stop], scale=scale[start:stop],
                                                 flip_test=flip_test, flip_pairs=pairs)
                keypoints.append(kp.float().cpu().numpy())
                scores.append(mv[..., 0].float().cpu().numpy())
    finally:
        model.train(was_training)
    keypoints, scores = np.concatenate(keypoints), np.concatenate(scores)
    return [PersonPose(keypoints[i], scores[i], boxes[i].copy(), center[i], scale[i]) for i in range(len(boxes))]
