"""The box operations of the two-stage detectors, in plain PyTorch (nothing compiled), exact to the code the released
UniFormer detectors were tested with: mmcv 1.3's CPU kernels (NMS, RoIAlign) and mmcv's Python ``batched_nms``, and
mmdet 2.11's anchor generator and delta box coder (as forked by Sense-X/UniFormer @ 52a0415 under
``object_detection/mmdet``).

Written from the facts (../reference/DENSE.md §3, the parity README's "Detection cases"), not copied. Every operation
follows the reference's float32 arithmetic step by step (the same operations in the same order), so its results are
the reference's to the last bit wherever the reference is a plain sequence of float32 operations:

* :func:`nms`: greedy non-maximum suppression in descending score order; a later box is dropped when its IoU with a
  kept one is **>=** the threshold (mmcv 1.3.0-1.3.10's CPU kernel and the fixtures' stand-in; mmcv 1.3.11+ switched
  its CPU kernel to ``>``, like its CUDA kernel: the two differ only at an IoU exactly equal to the threshold).
  Vectorised: the boxes are taken in blocks, each block resolved against itself on a precomputed IoU matrix and
  its kept boxes applied to all later boxes at once, so the work is (kept boxes) x (boxes), not a Python loop over
  pairs; ``max_num`` stops as soon as that many are kept.
* :func:`batched_nms`: mmcv's per-class NMS by the coordinate-offset trick (and its ``split_thr`` path).
* :func:`roi_align`: mmcv's ``RoIAlign`` (average pooling, ``aligned``, adaptive ``sampling_ratio=0``), vectorised
  over RoIs, bins and samples: RoIs with the same sample grid are processed together.
* :class:`AnchorGenerator`: mmdet's anchors (centre at offset 0 of each stride cell, ratios x scales, no rounding).
* :func:`delta2bbox` / :func:`bbox2delta`: mmdet's ``DeltaXYWHBBoxCoder`` (means/stds, ``wh_ratio_clip``, clamping to
  ``max_shape``).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

__all__ = ["nms", "batched_nms", "roi_align", "AnchorGenerator", "delta2bbox", "bbox2delta", "box_overlaps"]

#: boxes per block of the blocked greedy NMS (a block is resolved on its own IoU matrix with a Python loop over its
#: boxes; kept boxes are then applied to every later box in one tensor operation)
_NMS_BLOCK = 128


def _check_boxes(boxes: torch.Tensor, scores: torch.Tensor) -> None:
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be (n, 4) (x1, y1, x2, y2), got shape {tuple(boxes.shape)}")
    if scores.ndim != 1 or scores.shape[0] != boxes.shape[0]:
        raise ValueError(f"scores must be (n,) with n = {boxes.shape[0]} boxes, got shape {tuple(scores.shape)}")


def _areas(boxes: torch.Tensor, offset: int) -> torch.Tensor:
    """``(x2 - x1 + offset) * (y2 - y1 + offset)`` in float32, as the kernel computes the areas."""
    return (boxes[:, 2] - boxes[:, 0] + offset) * (boxes[:, 3] - boxes[:, 1] + offset)


def _overlaps(a: torch.Tensor, area_a: torch.Tensor, b: torch.Tensor, area_b: torch.Tensor,
              offset: int) -> torch.Tensor:
    """``(len(a), len(b))`` IoU in mmcv's float32 arithmetic: ``inter / (area_a + area_b - inter)`` with
    ``inter = max(0, min(x2) - max(x1) + offset) * max(0, min(y2) - max(y1) + offset)``. Symmetric to the bit (each
    step is)."""
    xx1 = torch.maximum(a[:, None, 0], b[None, :, 0])
    yy1 = torch.maximum(a[:, None, 1], b[None, :, 1])
    xx2 = torch.minimum(a[:, None, 2], b[None, :, 2])
    yy2 = torch.minimum(a[:, None, 3], b[None, :, 3])
    w = (xx2 - xx1 + offset).clamp_(min=0)
    h = (yy2 - yy1 + offset).clamp_(min=0)
    inter = w * h
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def box_overlaps(boxes1: torch.Tensor, boxes2: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """IoU matrix ``(n, m)`` of two sets of ``(x1, y1, x2, y2)`` boxes in float32, with the NMS kernel's arithmetic
    (``offset`` 1 counts a box's last pixel: width ``x2 - x1 + 1``)."""
    a, b = boxes1.float(), boxes2.float()
    return _overlaps(a, _areas(a, offset), b, _areas(b, offset), offset)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, offset: int = 0,
        max_num: int = -1) -> torch.Tensor:
    """Greedy non-maximum suppression (mmcv 1.3 ``nms`` on CPU): the indices of the kept boxes, by descending score.

    Boxes are visited in descending score order, the order of ``torch.sort(scores, descending=True)`` (the kernel's
    own ``scores.sort(0, true)``: not a stable sort, so equal scores come in the order that torch's sort gives them,
    which the reference shares); a box is kept unless a kept box before it overlaps it with IoU ``>=``
    ``iou_threshold`` (both in float32, the kernel's arithmetic: see :func:`box_overlaps`). A box whose IoU is NaN
    (two empty boxes) is never dropped.

    Args:
        boxes: ``(n, 4)`` ``(x1, y1, x2, y2)`` (computed in float32).
        scores: ``(n,)``.
        iou_threshold: the IoU at and above which a box is suppressed (rounded to float32, as the kernel takes it).
        offset: 0, or 1 for the legacy "+1" pixel convention of widths and heights.
        max_num: keep at most this many (the first ones; ``<= 0``: all); the work stops there.

    Returns:
        ``(k,)`` int64 indices into ``boxes``.
    """
    _check_boxes(boxes, scores)
    if offset not in (0, 1):
        raise ValueError(f"offset must be 0 or 1, got {offset}")
    n = boxes.shape[0]
    if n == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(scores, descending=True)[1]
    b = boxes.detach().float()[order]
    return order[_greedy(b, _areas(b, offset), iou_threshold, offset, max_num)]


def _greedy(b: torch.Tensor, areas: torch.Tensor, iou_threshold: float, offset: int, max_num: int) -> torch.Tensor:
    """The greedy pass over boxes already in visiting order: the kept mask. Blocks of ``_NMS_BLOCK`` boxes are
    resolved on their own IoU matrix (a Python loop over the block's boxes, on booleans), then the block's kept boxes
    suppress every later box in one tensor operation."""
    n = b.shape[0]
    threshold = torch.tensor(float(iou_threshold), dtype=torch.float32, device=b.device)
    limit = max_num if max_num > 0 else n
    keep = torch.ones(n, dtype=torch.bool, device=b.device)
    kept_total = 0
    for start in range(0, n, _NMS_BLOCK):
        end = min(start + _NMS_BLOCK, n)
        drop = (_overlaps(b[start:end], areas[start:end], b[start:end], areas[start:end], offset) >= threshold)
        drop = drop.cpu().numpy()
        alive = keep[start:end].cpu().numpy().copy()  # the block's boxes suppressed by earlier blocks are skipped
        for i in range(end - start):
            if alive[i]:
                kept_total += 1
                if kept_total == limit:  # the rest is dropped unvisited
                    alive[i + 1:] = False
                    break
                alive[i + 1:] &= ~drop[i, i + 1:]
        block_keep = torch.from_numpy(alive).to(b.device)
        keep[start:end] = block_keep
        if kept_total >= limit:
            keep[end:] = False
            break
        if end < n and bool(block_keep.any()):
            rows = block_keep.nonzero().view(-1) + start
            sup = (_overlaps(b[rows], areas[rows], b[end:], areas[end:], offset) >= threshold).any(0)
            keep[end:] &= ~sup
    return keep


def _classes_apart(boxes: torch.Tensor, idxs: torch.Tensor, iou_threshold: float, offset: int,
                   class_agnostic: bool) -> bool:
    """Whether the coordinate-offset trick provably separates the classes, so that one NMS over the shifted boxes
    equals NMS class by class in the same visiting order: coordinates in ``[0, M]`` shift class ``c`` into
    ``[c (M + 1), c (M + 1) + M]``, a gap of 1 that float32 rounding (below 2^22: steps <= 0.5) cannot close, so
    boxes of two classes have zero intersection with ``offset`` 0 and an IoU of 0 (or NaN), below any positive
    threshold."""
    if class_agnostic or offset != 0 or boxes.shape[0] < 2 or not float(iou_threshold) > 0:
        return False
    lo, hi = boxes.min(), boxes.max()
    if not bool(lo >= 0):  # negative (or NaN) coordinates: the shifted ranges may meet
        return False
    span = (float(idxs.abs().max()) + 1) * (float(hi) + 1)
    return span < 2 ** 22 and float(torch.tensor(float(iou_threshold), dtype=torch.float32)) > 0


def _nms_by_class(boxes_for_nms: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float,
                  max_num: int) -> torch.Tensor:
    """:func:`nms` of the shifted boxes when the classes cannot interact (:func:`_classes_apart`): the same visiting
    order (one sort of all scores), each class's greedy pass on its own boxes, the kept boxes in that order."""
    order = torch.sort(scores, descending=True)[1]
    b = boxes_for_nms.detach().float()[order]
    areas = _areas(b, 0)
    cls = idxs[order]
    keep = torch.zeros(len(order), dtype=torch.bool, device=order.device)
    for c in torch.unique(cls):
        pos = (cls == c).nonzero().view(-1)
        keep[pos] = _greedy(b[pos], areas[pos], iou_threshold, 0, max_num)
    kept = order[keep]
    return kept[:max_num] if max_num > 0 else kept


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float,
                class_agnostic: bool = False, split_thr: int = 10000, max_num: int = -1,
                offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """NMS within each class, as mmcv 1.3's ``batched_nms`` does it.

    Unless ``class_agnostic``, the boxes of class ``c`` are shifted by ``c * (max coordinate + 1)`` (float32) so
    that boxes of different classes cannot overlap, and :func:`nms` runs once on the shifted boxes (the IoUs are
    those of the shifted boxes, as in mmcv; when the shift provably keeps the classes apart, the greedy pass runs
    per class in the same visiting order, which gives the same result with (classes) times less work). With
    ``split_thr`` boxes or more, NMS runs class by class instead (on the shifted boxes) and the kept boxes are
    sorted by score (``sort(descending=True)``, as there).

    Args:
        boxes: ``(n, 4)``; scores: ``(n,)``; idxs: ``(n,)`` class (or level) of each box.
        iou_threshold, offset: as :func:`nms`.
        class_agnostic: one NMS over all boxes.
        split_thr: box count from which NMS runs per class.
        max_num: keep at most this many (``<= 0``: all).

    Returns:
        ``(dets, keep)``: ``dets`` ``(k, 5)`` = the kept original boxes and their scores, ``keep`` their indices, by
        descending score.
    """
    _check_boxes(boxes, scores)
    if idxs.shape != scores.shape:
        raise ValueError(f"idxs must be (n,) like scores, got shape {tuple(idxs.shape)}")
    if class_agnostic:
        boxes_for_nms = boxes
    else:
        if boxes.numel():
            max_coordinate = boxes.max()
            offsets = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
            boxes_for_nms = boxes + offsets[:, None]
        else:
            boxes_for_nms = boxes
    if boxes_for_nms.shape[0] < split_thr:
        if _classes_apart(boxes, idxs, iou_threshold, offset, class_agnostic):
            keep = _nms_by_class(boxes_for_nms, scores, idxs, iou_threshold, max_num)
        else:
            keep = nms(boxes_for_nms, scores, iou_threshold, offset, max_num)
        kept_scores = scores[keep]
    else:
        total_mask = torch.zeros_like(scores, dtype=torch.bool)
        scores_after_nms = torch.zeros_like(scores)
        for cls in torch.unique(idxs):
            mask = (idxs == cls).nonzero().view(-1)
            k = nms(boxes_for_nms[mask], scores[mask], iou_threshold, offset)
            total_mask[mask[k]] = True
            scores_after_nms[mask[k]] = scores[mask[k]]
        keep = total_mask.nonzero().view(-1)
        kept_scores, inds = scores_after_nms[keep].sort(descending=True)
        keep = keep[inds]
        if max_num > 0:
            keep, kept_scores = keep[:max_num], kept_scores[:max_num]
    return torch.cat([boxes[keep], kept_scores[:, None].to(boxes.dtype)], -1), keep


# -- RoIAlign --------------------------------------------------------------------------------------------------------

#: output elements (RoIs x bins x channels) per step of :func:`roi_align` (bounds its working memory)
_ROI_CHUNK = 1 << 18


def _axis_samples(start: torch.Tensor, bin_size: torch.Tensor, pooled: int, grid: int, size: int):
    """Sample positions along one axis and their bilinear taps, for RoIs sharing the grid ``grid``.

    ``start``, ``bin_size``: ``(r,)``. Returns ``(valid, low, high, l, h)`` of shape ``(r, pooled, grid)``: the
    kernel's ``start + p * bin + (i + 0.5) * bin / grid``, out of the map when ``< -1`` or ``> size`` (the sample
    contributes 0), else clamped at 0 and snapped to ``size - 1`` from the last row/column on; ``l`` is the weight of
    ``high``, ``h = 1 - l`` that of ``low``."""
    dev, dtype = start.device, start.dtype
    p = torch.arange(pooled, device=dev, dtype=dtype)
    sub = torch.arange(grid, device=dev, dtype=dtype) + 0.5
    bs = bin_size[:, None, None]
    pos = (start[:, None, None] + p[None, :, None] * bs) + (sub[None, None, :] * bs) / float(grid)
    valid = (pos >= -1.0) & (pos <= size)
    pos = torch.where(pos <= 0, torch.zeros((), dtype=dtype, device=dev), pos)
    low = pos.long()  # pos >= 0 here (out-of-map samples are masked): truncation = floor
    snap = low >= size - 1
    low = torch.where(snap, torch.full_like(low, size - 1), low)
    high = torch.where(snap, low, low + 1)
    pos = torch.where(snap, low.to(dtype), pos)
    lw = pos - low.to(dtype)
    hw = 1.0 - lw
    low = torch.where(valid, low, torch.zeros_like(low))
    high = torch.where(valid, high, torch.zeros_like(high))
    return valid, low, high, lw, hw


def roi_align(features: torch.Tensor, rois: torch.Tensor, output_size: int | Sequence[int], spatial_scale: float,
              sampling_ratio: int = 0, aligned: bool = True) -> torch.Tensor:
    """RoIAlign with average pooling, exact to mmcv 1.3's CPU kernel (``mmcv.ops.RoIAlign``, ``pool_mode='avg'``).

    Per RoI ``(batch, x1, y1, x2, y2)`` (input pixels): ``start = x1 * spatial_scale - 0.5`` (``- 0`` unless
    ``aligned``), likewise the end; size = end - start (at least 1 unless ``aligned``); bin = size / output size; each
    bin averages ``grid_h x grid_w`` bilinear samples at its sub-cell centres, ``grid = sampling_ratio`` or, when 0,
    ``ceil(roi size / output size)`` per axis (a RoI of zero size gives zeros). A sample with ``y < -1`` or
    ``y > H`` (or ``x`` likewise) contributes 0; ``y <= 0`` is taken as 0; from ``y_low >= H - 1`` on, ``y`` snaps to
    ``H - 1``. The bin value is the float32 sum of its samples in row-major order divided by their count, as in the
    kernel.

    Vectorised: RoIs with the same sample grid are processed together (chunks of at most ``_ROI_CHUNK`` output
    elements), every sample of every bin at once per grid position, with the feature map channels-last so that each
    bilinear tap is one row gather. Differentiable with respect to ``features`` (when they require a gradient the
    same arithmetic runs out of place, for autograd).

    Args:
        features: ``(N, C, H, W)`` (float32 in the reference; the arithmetic follows the input's dtype).
        rois: ``(R, 5)`` ``(batch index, x1, y1, x2, y2)``.
        output_size: ``out`` or ``(out_h, out_w)``.
        spatial_scale: feature-map pixels per input pixel (``1 / stride``).
        sampling_ratio: samples per bin and axis (0: adaptive).
        aligned: the half-pixel shift (``aligned=True`` in every mmdet 2.x config).

    Returns:
        ``(R, C, out_h, out_w)``.
    """
    if features.ndim != 4:
        raise ValueError(f"features must be (N, C, H, W), got shape {tuple(features.shape)}")
    if rois.ndim != 2 or rois.shape[1] != 5:
        raise ValueError(f"rois must be (R, 5) (batch index, x1, y1, x2, y2), got shape {tuple(rois.shape)}")
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else tuple(int(s) for s in output_size)
    n, c, height, width = features.shape
    r = rois.shape[0]
    dtype, dev = features.dtype, features.device
    out = features.new_zeros(r, oh, ow, c)
    if r == 0 or c == 0:
        return out.permute(0, 3, 1, 2).contiguous()
    rois = rois.to(dtype)
    batch = rois[:, 0].long()  # the kernel's int conversion (truncation)
    if bool(((batch < 0) | (batch >= n)).any()):
        raise ValueError(f"roi_align: RoI batch indices must be in [0, {n}), got {batch.min()}..{batch.max()}")
    scale = torch.tensor(spatial_scale, dtype=dtype, device=dev)
    shift = 0.5 if aligned else 0.0
    start_w = rois[:, 1] * scale - shift
    start_h = rois[:, 2] * scale - shift
    roi_w = (rois[:, 3] * scale - shift) - start_w
    roi_h = (rois[:, 4] * scale - shift) - start_h
    if aligned:
        if bool(((roi_w < 0) | (roi_h < 0)).any()):
            raise ValueError("roi_align: RoIs cannot have a negative size (x2 < x1 or y2 < y1)")
    else:
        roi_w = roi_w.clamp(min=1.0)
        roi_h = roi_h.clamp(min=1.0)
    bin_h, bin_w = roi_h / oh, roi_w / ow
    if sampling_ratio > 0:
        grid_h = torch.full((r,), sampling_ratio, dtype=torch.long, device=dev)
        grid_w = grid_h
    else:
        grid_h = torch.ceil(roi_h / oh).long()
        grid_w = torch.ceil(roi_w / ow).long()
    flat = features.permute(0, 2, 3, 1).reshape(n * height * width, c)
    differentiable = torch.is_grad_enabled() and features.requires_grad
    base = batch * (height * width)
    key = grid_h * (int(grid_w.max()) + 1) + grid_w
    step = max(1, _ROI_CHUNK // (oh * ow * c))
    rows = min(step, r) * oh * ow
    buf_a, buf_b = flat.new_empty(rows, c), flat.new_empty(rows, c)  # gathered taps, reused
    zero = torch.zeros((), dtype=dtype, device=dev)
    for k in torch.unique(key).cpu().tolist():
        members = (key == k).nonzero().view(-1)
        gh, gw = int(grid_h[members[0]]), int(grid_w[members[0]])
        if gh == 0 or gw == 0:  # empty grid: the kernel's count is 1 and its sum 0
            continue
        count = torch.tensor(float(gh * gw), dtype=dtype, device=dev)
        for s in range(0, len(members), step):
            idx = members[s:s + step]
            m = len(idx) * oh * ow
            # every sample of every bin: (roi, bin y, bin x, sample y, sample x), then sample-major
            vy, yl, yh, ly, hy = (t[:, :, None, :, None] for t in
                                  _axis_samples(start_h[idx], bin_h[idx], oh, gh, height))
            vx, xl, xh, lx, hx = (t[:, None, :, None, :] for t in
                                  _axis_samples(start_w[idx], bin_w[idx], ow, gw, width))
            ok = vy & vx  # a sample outside the map is the kernel's empty sample: weights 0 at position 0
            b = base[idx][:, None, None, None, None]

            def sample_major(t):
                return t.permute(3, 4, 0, 1, 2).reshape(gh * gw, m)
            # the 4 taps (y_low/x_low, y_low/x_high, y_high/x_low, y_high/x_high): (positions, weights)
            taps = [(sample_major(torch.where(ok, b + ry * width + cx, 0)),
                     sample_major(torch.where(ok, wy * wx, zero)))
                    for ry, wy in ((yl, hy), (yh, ly)) for cx, wx in ((xl, hx), (xh, lx))]
            if differentiable:  # the same arithmetic, out of place (autograd)
                acc = None
                for g in range(gh * gw):
                    val = flat.index_select(0, taps[0][0][g]) * taps[0][1][g][:, None]
                    for pos, weight in taps[1:]:
                        val = val + flat.index_select(0, pos[g]) * weight[g][:, None]
                    acc = val if acc is None else acc + val
                out = out.index_put((idx,), (acc / count).view(len(idx), oh, ow, c))
                continue
            acc = flat.new_empty(m, c)
            val, tap = buf_a[:m], buf_b[:m]
            for g in range(gh * gw):  # in the kernel's order: sample rows, then columns
                # ((w1 f1 + w2 f2) + w3 f3) + w4 f4, each product and sum rounded as in the kernel; the first sample
                # is the sum itself (the kernel's 0 + v is v, up to the sign of a zero)
                dest = acc if g == 0 else val
                torch.index_select(flat, 0, taps[0][0][g], out=dest).mul_(taps[0][1][g][:, None])
                for pos, weight in taps[1:]:
                    dest.add_(torch.index_select(flat, 0, pos[g], out=tap).mul_(weight[g][:, None]))
                if g:
                    acc.add_(val)
            out[idx] = acc.div_(count).view(len(idx), oh, ow, c)
    return out.permute(0, 3, 1, 2).contiguous()


# -- anchors and the delta box coder ---------------------------------------------------------------------------------

class AnchorGenerator:
    """mmdet 2.11's ``AnchorGenerator`` (the RPN's anchors).

    Base anchors of a level: for each ratio r (rows) and scale s (columns; ``scale_major``), ``w = base * (1/sqrt(r))
    * s``, ``h = base * sqrt(r) * s`` (float32, no rounding), centred at ``center_offset * base`` (0: the top-left
    corner of the stride cell). The anchors of a ``(h, w)`` map are the base anchors shifted by ``(x * stride,
    y * stride)``, ordered (y, x, base anchor): the order of a ``(B, A * k, H, W)`` head output permuted to
    ``(B, H, W, A * k)``.

    Args:
        strides: per level, ``s`` or ``(s_w, s_h)``.
        ratios: height / width ratios.
        scales: anchor scales (size = base size x scale).
        base_sizes: per level (default: the smaller stride).
        scale_major: order the base anchors ratio-major (mmdet's default, True) or scale-major.
        center_offset: anchor centre within the stride cell, in units of the base size (mmdet 2.x: 0).
    """

    def __init__(self, strides: Sequence = (4, 8, 16, 32, 64), ratios: Sequence[float] = (0.5, 1.0, 2.0),
                 scales: Sequence[float] = (8,), base_sizes: Sequence[float] | None = None, scale_major: bool = True,
                 center_offset: float = 0.0):
        if not 0 <= center_offset <= 1:
            raise ValueError(f"center_offset must be in [0, 1], got {center_offset}")
        self.strides = [(s, s) if isinstance(s, (int, float)) else tuple(s) for s in strides]
        self.base_sizes = list(base_sizes) if base_sizes is not None else [min(s) for s in self.strides]
        if len(self.base_sizes) != len(self.strides):
            raise ValueError(f"{len(self.strides)} strides but {len(self.base_sizes)} base sizes")
        self.ratios = torch.tensor([float(r) for r in ratios], dtype=torch.float32)
        self.scales = torch.tensor([float(s) for s in scales], dtype=torch.float32)
        self.scale_major = scale_major
        self.center_offset = center_offset
        self.base_anchors = [self._base_anchors(size) for size in self.base_sizes]

    @property
    def num_levels(self) -> int:
        return len(self.strides)

    @property
    def num_base_anchors(self) -> list[int]:
        """Anchors per position, per level."""
        return [len(a) for a in self.base_anchors]

    def _base_anchors(self, base_size: float) -> torch.Tensor:
        w = h = base_size
        cx, cy = self.center_offset * w, self.center_offset * h
        h_ratios = torch.sqrt(self.ratios)
        w_ratios = 1 / h_ratios
        if self.scale_major:
            ws = (w * w_ratios[:, None] * self.scales[None, :]).view(-1)
            hs = (h * h_ratios[:, None] * self.scales[None, :]).view(-1)
        else:
            ws = (w * self.scales[:, None] * w_ratios[None, :]).view(-1)
            hs = (h * self.scales[:, None] * h_ratios[None, :]).view(-1)
        return torch.stack([cx - 0.5 * ws, cy - 0.5 * hs, cx + 0.5 * ws, cy + 0.5 * hs], dim=-1)

    def single_level_grid_anchors(self, level: int, featmap_size: Sequence[int],
                                  device: torch.device | str = "cpu") -> torch.Tensor:
        """``(h * w * A, 4)`` anchors of level ``level`` for a ``(h, w)`` map."""
        feat_h, feat_w = int(featmap_size[0]), int(featmap_size[1])
        stride_w, stride_h = self.strides[level]
        base = self.base_anchors[level].to(device)
        shift_x = torch.arange(0, feat_w, device=device) * stride_w
        shift_y = torch.arange(0, feat_h, device=device) * stride_h
        xx = shift_x.repeat(feat_h)
        yy = shift_y.view(-1, 1).repeat(1, feat_w).view(-1)
        shifts = torch.stack([xx, yy, xx, yy], dim=-1).type_as(base)
        return (base[None, :, :] + shifts[:, None, :]).view(-1, 4)

    def grid_anchors(self, featmap_sizes: Sequence[Sequence[int]],
                     device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """The anchors of every level (one ``(h, w)`` per level)."""
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f"{self.num_levels} anchor levels but {len(featmap_sizes)} feature maps")
        return [self.single_level_grid_anchors(i, s, device) for i, s in enumerate(featmap_sizes)]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(strides={self.strides}, ratios={self.ratios.tolist()}, "
                f"scales={self.scales.tolist()}, base_sizes={self.base_sizes}, scale_major={self.scale_major}, "
                f"center_offset={self.center_offset})")


def bbox2delta(proposals: torch.Tensor, gt: torch.Tensor, means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
               stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """The regression target of ``gt`` w.r.t. ``proposals`` (mmdet's ``DeltaXYWHBBoxCoder.encode``):
    ``((gx - px) / pw, (gy - py) / ph, log(gw / pw), log(gh / ph))``, minus ``means``, divided by ``stds`` (float32;
    centres ``(x1 + x2) * 0.5``, sizes ``x2 - x1``)."""
    if proposals.shape != gt.shape or proposals.shape[-1] != 4:
        raise ValueError(f"proposals and gt must have the same (..., 4) shape, got {tuple(proposals.shape)} and "
                         f"{tuple(gt.shape)}")
    p, g = proposals.float(), gt.float()
    px, py = (p[..., 0] + p[..., 2]) * 0.5, (p[..., 1] + p[..., 3]) * 0.5
    pw, ph = p[..., 2] - p[..., 0], p[..., 3] - p[..., 1]
    gx, gy = (g[..., 0] + g[..., 2]) * 0.5, (g[..., 1] + g[..., 3]) * 0.5
    gw, gh = g[..., 2] - g[..., 0], g[..., 3] - g[..., 1]
    deltas = torch.stack([(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw), torch.log(gh / ph)], dim=-1)
    return (deltas - deltas.new_tensor(means)) / deltas.new_tensor(stds)


def delta2bbox(rois: torch.Tensor, deltas: torch.Tensor, means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
               stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0), max_shape=None, wh_ratio_clip: float = 16 / 1000,
               clip_border: bool = True) -> torch.Tensor:
    """Apply ``deltas`` to ``rois`` (mmdet 2.11's ``DeltaXYWHBBoxCoder.decode``).

    ``d = deltas * stds + means``; ``dw``, ``dh`` clamped to ``±|log(wh_ratio_clip)|``; centre ``p + p_size * d``,
    size ``p_size * exp(d_size)``; corners centre ``∓ size * 0.5``; then, with ``clip_border`` and ``max_shape``,
    every coordinate clamped to ``[0, W]`` (x) / ``[0, H]`` (y) (not ``W - 1``).

    Args:
        rois: ``(N, 4)`` or ``(B, N, 4)``.
        deltas: ``(N, 4 * k)`` or ``(B, N, 4 * k)`` (``k`` classes of class-specific regression).
        means, stds: the coder's target normalisation.
        max_shape: ``(H, W[, C])``, or one per batch item (``(B, 2+)`` sequence or tensor) for batched input.
        wh_ratio_clip: the largest allowed scaling, as a ratio.
        clip_border: clamp to ``max_shape``.

    Returns:
        boxes shaped like ``deltas``.
    """
    k = deltas.size(-1) // 4
    if deltas.size(-1) != 4 * k or k == 0:
        raise ValueError(f"deltas must have 4 * k values in the last dimension, got shape {tuple(deltas.shape)}")
    means_t = deltas.new_tensor(means).view(1, -1).repeat(1, k)
    stds_t = deltas.new_tensor(stds).view(1, -1).repeat(1, k)
    d = deltas * stds_t + means_t
    dx, dy, dw, dh = d[..., 0::4], d[..., 1::4], d[..., 2::4], d[..., 3::4]
    max_ratio = abs(math.log(wh_ratio_clip))
    dw = dw.clamp(min=-max_ratio, max=max_ratio)
    dh = dh.clamp(min=-max_ratio, max=max_ratio)
    x1, y1, x2, y2 = rois[..., 0], rois[..., 1], rois[..., 2], rois[..., 3]
    px = ((x1 + x2) * 0.5).unsqueeze(-1).expand_as(dx)
    py = ((y1 + y2) * 0.5).unsqueeze(-1).expand_as(dy)
    pw = (x2 - x1).unsqueeze(-1).expand_as(dw)
    ph = (y2 - y1).unsqueeze(-1).expand_as(dh)
    gw = pw * dw.exp()
    gh = ph * dh.exp()
    gx = px + pw * dx
    gy = py + ph * dy
    x1, y1 = gx - gw * 0.5, gy - gh * 0.5
    x2, y2 = gx + gw * 0.5, gy + gh * 0.5
    bboxes = torch.stack([x1, y1, x2, y2], dim=-1).view(deltas.size())
    if clip_border and max_shape is not None:
        if not isinstance(max_shape, torch.Tensor):
            max_shape = x1.new_tensor(max_shape)
        max_shape = max_shape[..., :2].type_as(x1)
        if max_shape.ndim == 2:
            if bboxes.ndim != 3 or max_shape.size(0) != bboxes.size(0):
                raise ValueError(f"one max_shape per batch item expected: boxes {tuple(bboxes.shape)}, max_shape "
                                 f"{tuple(max_shape.shape)}")
        min_xy = x1.new_tensor(0)
        max_xy = torch.cat([max_shape] * (deltas.size(-1) // 2), dim=-1).flip(-1).unsqueeze(-2)
        bboxes = torch.where(bboxes < min_xy, min_xy, bboxes)
        bboxes = torch.where(bboxes > max_xy, max_xy, bboxes)
    return bboxes
