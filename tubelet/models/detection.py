"""Two-stage detection with the UniFormer backbones (mmdet 2.11 as forked by Sense-X/UniFormer @ 52a0415 under
``object_detection/mmdet``): the FPN neck, the region proposal network and the RoI heads of Mask R-CNN and Cascade
Mask R-CNN, with mmdet's test path.

Written from the architecture and the configs (../reference/DENSE.md §1.1, §3; the configs
``object_detection/exp/mask_rcnn_1x_hybrid_small``, ``exp_light/mask_rcnn_1x_xxs``,
``exp/cascade_mask_rcnn_3x_ms_hybrid_small`` with their ``_base_``), not copied. The plain-PyTorch box operations
are in :mod:`tubelet.models.detection_ops`.

::

    x (B, 3, Hp, Wp) ─backbone─▶ 4 maps (strides 4..32)
      ─neck: FPN (256 ch; P6 = max_pool2d(P5, 1, stride 2))─▶ 5 maps (strides 4..64)
      ─rpn_head: per level 3x3 conv + ReLU, 1x1 rpn_cls (3 anchors, sigmoid), 1x1 rpn_reg (3 x 4 deltas)
      ─▶ per level the top ``nms_pre`` anchors by score, decoded and clamped to the image, NMS over all levels at
         once (levels kept apart) ─▶ proposals (``max_per_img``, 5): x1, y1, x2, y2, score in input pixels
      ─roi_head (maps of strides 4..32 only):
         RoIAlign 7x7 of each proposal on the level of its size (finest_scale 56) ─bbox head─▶ 81 class scores
         (softmax, background last) + 80 x 4 deltas ─▶ decoded, clamped, rescaled to the original image;
         per class: score > score_thr, NMS ─▶ the ``max_per_img`` best detections
         Cascade: three bbox heads in turn, each refining the boxes of the one before (the argmax class's deltas);
         the scores are the mean of the three stages' logits
         RoIAlign 14x14 of each detection ─mask head─▶ 28x28 logits of its class ─▶ pasted into the image
         (bilinear, threshold 0.5); Cascade: the mean of the three mask heads' probabilities

Module and parameter names are mmdet's, so the released detectors load without renaming:
``neck.lateral_convs.i.conv.*``, ``neck.fpn_convs.i.conv.*`` (:class:`~.dense_heads.FPN`), ``rpn_head.rpn_conv.*``,
``rpn_head.rpn_cls.*``, ``rpn_head.rpn_reg.*`` (:class:`RPNHead`), ``roi_head.bbox_head[.i].*``
(:class:`ConvFCBBoxHead`), ``roi_head.mask_head[.i].*`` (:class:`FCNMaskHead`).
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .dense_heads import FPN, ConvModule
from .detection_ops import AnchorGenerator, batched_nms, delta2bbox, roi_align

__all__ = ["FPN", "RPNTestConfig", "RPNHead", "detection_fpn", "RCNNTestConfig", "SingleRoIExtractor",
           "ConvFCBBoxHead", "FCNMaskHead", "StandardRoIHead", "CascadeRoIHead", "Detections", "multiclass_nms",
           "paste_masks"]


def detection_fpn(in_channels: Sequence[int], out_channels: int = 256, num_outs: int = 5) -> FPN:
    """mmdet's ``FPN`` with the UniFormer detection configs' settings: 1x1 laterals and 3x3 output convs (bias, no
    norm, no activation), nearest top-down resize to each lateral's size, ``add_extra_convs=False`` so the 5th
    output is ``max_pool2d(P5, 1, stride=2)``."""
    return FPN(in_channels, out_channels, num_outs=num_outs)


@dataclasses.dataclass
class RPNTestConfig:
    """The RPN's test settings (mmdet ``test_cfg.rpn``; the values of every UniFormer detection config).

    Attributes:
        nms_pre: anchors kept per level before NMS (by score).
        max_per_img: proposals kept after NMS.
        iou_threshold: of the NMS (``nms.iou_threshold``).
        min_bbox_size: proposals narrower or lower than this are removed before NMS (0: none).
    """

    nms_pre: int = 1000
    max_per_img: int = 1000
    iou_threshold: float = 0.7
    min_bbox_size: float = 0.0

    @classmethod
    def from_mmdet(cls, cfg: Mapping) -> "RPNTestConfig":
        """From an mmdet 2.11 ``test_cfg.rpn`` dict, read as mmdet 2.11's ``RPNHead`` reads it: ``nms_thr`` and
        ``max_num`` are the deprecated names of ``nms.iou_threshold`` and ``max_per_img`` (contradictions are
        errors); ``nms_post`` and ``nms_across_levels`` (in the Cascade configs) are ignored, as there."""
        nms = cfg.get("nms")
        if nms is None:
            if "nms_thr" not in cfg:
                raise ValueError("test_cfg.rpn has neither 'nms' nor 'nms_thr'")
            iou = float(cfg["nms_thr"])
        else:
            if nms.get("type", "nms") != "nms":
                raise ValueError(f"only plain NMS is supported in the RPN, got {nms.get('type')!r}")
            iou = float(nms["iou_threshold"])
            if "nms_thr" in cfg and float(cfg["nms_thr"]) != iou:
                raise ValueError(f"test_cfg.rpn: nms_thr {cfg['nms_thr']} contradicts nms.iou_threshold {iou}")
        max_per_img = cfg.get("max_per_img", cfg.get("max_num"))
        if max_per_img is None:
            raise ValueError("test_cfg.rpn has neither 'max_per_img' nor 'max_num'")
        if "max_num" in cfg and cfg["max_num"] != max_per_img:
            raise ValueError(f"test_cfg.rpn: max_num {cfg['max_num']} contradicts max_per_img {max_per_img}")
        return cls(nms_pre=int(cfg["nms_pre"]), max_per_img=int(max_per_img), iou_threshold=iou,
                   min_bbox_size=float(cfg.get("min_bbox_size", 0)))


def _image_shapes(img_shapes, batch: int, device) -> torch.Tensor:
    """``(B, 2)`` float32 (h, w) from one ``(h, w[, c])`` or one per image."""
    t = torch.as_tensor(img_shapes, dtype=torch.float32, device=device)
    if t.ndim == 1:
        t = t[None].expand(batch, -1)
    if t.ndim != 2 or t.shape[0] != batch or t.shape[1] < 2:
        raise ValueError(f"img_shapes: one (h, w) per image expected for a batch of {batch}, got "
                         f"{tuple(t.shape)}")
    return t[:, :2]


class RPNHead(nn.Module):
    """mmdet 2.11's ``RPNHead`` (sigmoid classification, one class) with its test path.

    Per FPN level: ``rpn_conv`` 3x3 (pad 1) + ReLU, then ``rpn_cls`` 1x1 (one logit per anchor) and ``rpn_reg`` 1x1
    (4 deltas per anchor), the same weights on every level. Anchors: :class:`~.detection_ops.AnchorGenerator`
    (strides 4..64, scale 8, ratios 0.5 / 1 / 2: 3 per position); deltas decoded by
    :func:`~.detection_ops.delta2bbox` with means 0 / stds 1.

    Args:
        in_channels: channels of the FPN maps.
        feat_channels: channels of ``rpn_conv``.
        anchor_generator: the anchors (default: the configs').
        target_means, target_stds: the delta coder's normalisation.
        test_cfg: the proposal settings.
    """

    def __init__(self, in_channels: int = 256, feat_channels: int = 256,
                 anchor_generator: AnchorGenerator | None = None,
                 target_means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
                 target_stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0), test_cfg: RPNTestConfig | None = None):
        super().__init__()
        self.anchor_generator = anchor_generator or AnchorGenerator()
        self.num_anchors = self.anchor_generator.num_base_anchors[0]
        if any(a != self.num_anchors for a in self.anchor_generator.num_base_anchors):
            raise ValueError("RPNHead: every level must have the same number of anchors per position")
        self.target_means, self.target_stds = tuple(target_means), tuple(target_stds)
        self.test_cfg = test_cfg or RPNTestConfig()
        self.rpn_conv = nn.Conv2d(in_channels, feat_channels, 3, padding=1)
        self.rpn_cls = nn.Conv2d(feat_channels, self.num_anchors, 1)
        self.rpn_reg = nn.Conv2d(feat_channels, self.num_anchors * 4, 1)
        for conv in (self.rpn_conv, self.rpn_cls, self.rpn_reg):  # mmdet's normal_init(std=0.01)
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)

    def forward_single(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(self.rpn_conv(x))
        return self.rpn_cls(x), self.rpn_reg(x)

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``(cls_scores, bbox_preds)``: per level ``(B, A, H, W)`` logits and ``(B, 4 A, H, W)`` deltas."""
        outs = [self.forward_single(x) for x in feats]
        return [o[0] for o in outs], [o[1] for o in outs]

    @torch.no_grad()
    def get_bboxes(self, cls_scores: Sequence[torch.Tensor], bbox_preds: Sequence[torch.Tensor], img_shapes,
                   cfg: RPNTestConfig | None = None) -> list[torch.Tensor]:
        """The proposals of each image (mmdet 2.11 ``RPNHead._get_bboxes``).

        Per level: scores = sigmoid of the logits in (y, x, anchor) order; if there are more than ``nms_pre``, the
        ``nms_pre`` best (``sort(descending=True)``, mmdet's call: equal scores in the order of torch's sort). All
        levels' kept anchors are decoded at once and clamped to the image (``img_shapes``: the unpadded ``(h, w)``
        of each image in input pixels); with ``min_bbox_size`` the small ones are removed (see below); then
        :func:`~.detection_ops.batched_nms` with the level as class and the first ``max_per_img`` kept.

        ``min_bbox_size > 0`` (no released config sets it) reproduces mmdet 2.11's test: the filter is applied only
        when the SUM of the valid boxes' indices differs from the number of boxes.

        Returns:
            per image ``(n, 5)``: ``x1, y1, x2, y2, score``, by descending score (``n <= max_per_img``).
        """
        cfg = cfg or self.test_cfg
        if len(cls_scores) != len(bbox_preds) or len(cls_scores) != self.anchor_generator.num_levels:
            raise ValueError(f"{self.anchor_generator.num_levels} levels expected, got {len(cls_scores)} score and "
                             f"{len(bbox_preds)} delta maps")
        batch, dev = cls_scores[0].shape[0], cls_scores[0].device
        anchors = self.anchor_generator.grid_anchors([s.shape[-2:] for s in cls_scores], dev)
        shapes = _image_shapes(img_shapes, batch, dev)
        scores_l, deltas_l, anchors_l, ids_l = [], [], [], []
        for level, (cls, reg) in enumerate(zip(cls_scores, bbox_preds)):
            if cls.shape[-2:] != reg.shape[-2:]:
                raise ValueError(f"level {level}: score map {tuple(cls.shape)} and delta map {tuple(reg.shape)} "
                                 f"differ in size")
            scores = cls.permute(0, 2, 3, 1).reshape(batch, -1).sigmoid()
            deltas = reg.permute(0, 2, 3, 1).reshape(batch, -1, 4)
            level_anchors = anchors[level].to(deltas.dtype).expand_as(deltas)
            if 0 < cfg.nms_pre < scores.shape[-1]:
                ranked, order = scores.sort(descending=True)
                order, scores = order[:, :cfg.nms_pre], ranked[:, :cfg.nms_pre]
                rows = torch.arange(batch, device=dev).view(-1, 1).expand_as(order)
                deltas, level_anchors = deltas[rows, order, :], level_anchors[rows, order, :]
            scores_l.append(scores)
            deltas_l.append(deltas)
            anchors_l.append(level_anchors)
            ids_l.append(torch.full(scores.shape, level, dtype=torch.long, device=dev))
        proposals = delta2bbox(torch.cat(anchors_l, 1), torch.cat(deltas_l, 1), self.target_means,
                               self.target_stds, max_shape=shapes)
        all_scores, all_ids = torch.cat(scores_l, 1), torch.cat(ids_l, 1)
        results = []
        for boxes, scores, ids in zip(proposals, all_scores, all_ids):
            if cfg.min_bbox_size > 0:
                w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
                valid = ((w >= cfg.min_bbox_size) & (h >= cfg.min_bbox_size)).nonzero().view(-1)
                if int(valid.sum()) != len(boxes):  # mmdet 2.11's test (a sum of indices), kept as it is
                    boxes, scores, ids = boxes[valid], scores[valid], ids[valid]
            dets, _ = batched_nms(boxes, scores, ids, cfg.iou_threshold, max_num=cfg.max_per_img)
            results.append(dets[:cfg.max_per_img])
        return results

    def simple_test_rpn(self, feats: Sequence[torch.Tensor], img_shapes,
                        cfg: RPNTestConfig | None = None) -> list[torch.Tensor]:
        """The proposals of each image from the FPN maps (mmdet's ``simple_test_rpn``)."""
        return self.get_bboxes(*self(feats), img_shapes, cfg)


# -- RoI heads -----------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class RCNNTestConfig:
    """The RoI heads' test settings (mmdet ``test_cfg.rcnn``; the values of every UniFormer detection config).

    Attributes:
        score_thr: a class's detection is kept when its score is above this.
        iou_threshold: of the per-class NMS.
        max_per_img: detections kept per image (the best, over all classes).
        mask_thr_binary: a pasted mask pixel is foreground at and above this probability.
    """

    score_thr: float = 0.05
    iou_threshold: float = 0.5
    max_per_img: int = 100
    mask_thr_binary: float = 0.5

    @classmethod
    def from_mmdet(cls, cfg: Mapping) -> "RCNNTestConfig":
        """From an mmdet 2.11 ``test_cfg.rcnn`` dict (only plain NMS)."""
        nms = cfg.get("nms") or {}
        if nms.get("type", "nms") != "nms":
            raise ValueError(f"only plain NMS is supported in the RoI heads, got {nms.get('type')!r}")
        return cls(score_thr=float(cfg.get("score_thr", 0.05)), iou_threshold=float(nms.get("iou_threshold", 0.5)),
                   max_per_img=int(cfg.get("max_per_img", 100)), mask_thr_binary=float(cfg.get("mask_thr_binary", 0.5)))


def _shapes_only(t: torch.Tensor) -> bool:
    """A plain tensor on the ``meta`` device has a shape and no values (the FLOP counter builds models there): RoIAlign
    then gives zeros of the right shape (its sample grids depend on the RoIs' values). Tensor subclasses that carry
    values under another device name (the tests' device-safety wrapper) run for real."""
    return t.device.type == "meta" and type(t) is torch.Tensor


def _rois(boxes: torch.Tensor) -> torch.Tensor:
    """``(n, 5)`` RoIs of one image: batch index 0, then ``x1, y1, x2, y2`` (mmdet's ``bbox2roi``)."""
    return torch.cat([boxes.new_zeros(boxes.shape[0], 1), boxes[:, :4]], dim=1)


class SingleRoIExtractor(nn.Module):
    """mmdet's ``SingleRoIExtractor``: each RoI is pooled from one FPN level chosen by its size (``scale =
    sqrt(w h)``, level ``floor(log2(scale / finest_scale + 1e-6))`` clamped to the levels), with
    :func:`~.detection_ops.roi_align` (``aligned``, ``sampling_ratio`` 0: adaptive) at ``1 / stride``. No
    parameters.

    Args:
        output_size: pooled size (7 for the box heads, 14 for the mask heads).
        featmap_strides: the strides of the maps it takes (the first ``len(featmap_strides)`` FPN outputs).
        finest_scale: RoIs smaller than ``2 * finest_scale`` go to the first level.
    """

    def __init__(self, output_size: int, featmap_strides: Sequence[int] = (4, 8, 16, 32), finest_scale: int = 56,
                 sampling_ratio: int = 0, aligned: bool = True):
        super().__init__()
        self.output_size = int(output_size)
        self.featmap_strides = tuple(int(s) for s in featmap_strides)
        self.finest_scale = finest_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    @property
    def num_inputs(self) -> int:
        return len(self.featmap_strides)

    def map_roi_levels(self, rois: torch.Tensor, num_levels: int) -> torch.Tensor:
        scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
        levels = torch.floor(torch.log2(scale / self.finest_scale + 1e-6))
        return levels.clamp(min=0, max=num_levels - 1).long()

    def forward(self, feats: Sequence[torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
        """``(R, C, out, out)`` features of ``rois`` ``(R, 5)`` (batch index, x1, y1, x2, y2 in input pixels)."""
        feats = list(feats)[:self.num_inputs]
        if len(feats) != self.num_inputs:
            raise ValueError(f"the RoI extractor takes {self.num_inputs} maps, got {len(feats)}")
        out = feats[0].new_zeros(rois.shape[0], feats[0].shape[1], self.output_size, self.output_size)
        if rois.shape[0] == 0 or _shapes_only(out):
            return out
        if len(feats) == 1:
            return roi_align(feats[0], rois, self.output_size, 1.0 / self.featmap_strides[0], self.sampling_ratio,
                             self.aligned)
        levels = self.map_roi_levels(rois, len(feats))
        for i, f in enumerate(feats):
            idx = (levels == i).nonzero().view(-1)
            if idx.numel():
                out[idx] = roi_align(f, rois[idx], self.output_size, 1.0 / self.featmap_strides[i],
                                     self.sampling_ratio, self.aligned)
        return out


class ConvFCBBoxHead(nn.Module):
    """mmdet's ``ConvFCBBoxHead`` with shared layers only: ``num_shared_convs`` x ConvModule 3x3 (with BN when
    ``norm``), flatten, ``num_shared_fcs`` x (Linear + ReLU), then ``fc_cls`` (``num_classes + 1`` scores, background
    last) and ``fc_reg`` (4 deltas per class, or 4 with ``reg_class_agnostic``).

    Mask R-CNN's ``Shared2FCBBoxHead``: ``ConvFCBBoxHead(0, 2)``; the UniFormer Cascade heads:
    ``ConvFCBBoxHead(4, 1, norm=True)`` (4 convs with SyncBN (BN at test), 1 FC, class-specific regression: the
    configs override the base file's class-agnostic setting).

    Args:
        num_shared_convs, num_shared_fcs: the shared layers.
        in_channels: channels of the RoI features.
        conv_out_channels, fc_out_channels: widths of the shared convs and FCs.
        roi_feat_size: side of the RoI features.
        num_classes: object classes (without background).
        reg_class_agnostic: one set of deltas for all classes.
        target_means, target_stds: the delta coder's normalisation (the Cascade stages: 0.1/0.2, 0.05/0.1,
            0.033/0.067).
        norm: BatchNorm in the shared convs (their conv then has no bias).
    """

    def __init__(self, num_shared_convs: int = 0, num_shared_fcs: int = 2, in_channels: int = 256,
                 conv_out_channels: int = 256, fc_out_channels: int = 1024, roi_feat_size: int = 7,
                 num_classes: int = 80, reg_class_agnostic: bool = False,
                 target_means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
                 target_stds: Sequence[float] = (0.1, 0.1, 0.2, 0.2), norm: bool = False):
        super().__init__()
        if num_shared_fcs < 1:
            raise ValueError("ConvFCBBoxHead: at least one shared FC layer is needed")
        self.num_classes = num_classes
        self.reg_class_agnostic = reg_class_agnostic
        self.target_means, self.target_stds = tuple(target_means), tuple(target_stds)
        self.roi_feat_size = roi_feat_size
        # mmdet's attribute order (the state-dict order): fc_cls, fc_reg (made by the base class), then the branches
        self.fc_cls = nn.Linear(fc_out_channels, num_classes + 1)
        self.fc_reg = nn.Linear(fc_out_channels, 4 if reg_class_agnostic else 4 * num_classes)
        self.shared_convs = nn.ModuleList(
            ConvModule(in_channels if i == 0 else conv_out_channels, conv_out_channels, 3, padding=1, norm=norm)
            for i in range(num_shared_convs))
        last = (conv_out_channels if num_shared_convs else in_channels) * roi_feat_size * roi_feat_size
        self.shared_fcs = nn.ModuleList(nn.Linear(last if i == 0 else fc_out_channels, fc_out_channels)
                                        for i in range(num_shared_fcs))
        # mmdet's initialisation: fc_cls normal(0.01), fc_reg normal(0.001), shared FCs Xavier-uniform, zero biases
        nn.init.normal_(self.fc_cls.weight, std=0.01)
        nn.init.normal_(self.fc_reg.weight, std=0.001)
        for fc in (self.fc_cls, self.fc_reg, *self.shared_fcs):
            nn.init.zeros_(fc.bias)
        for fc in self.shared_fcs:
            nn.init.xavier_uniform_(fc.weight)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(R, C, 7, 7)`` RoI features -> ``(cls_score (R, num_classes + 1), bbox_pred (R, 4 [x num_classes]))``."""
        for conv in self.shared_convs:
            x = conv(x)
        x = x.flatten(1)
        for fc in self.shared_fcs:
            x = F.relu(fc(x))
        return self.fc_cls(x), self.fc_reg(x)

    def regress_by_class(self, rois: torch.Tensor, labels: torch.Tensor, bbox_pred: torch.Tensor,
                         img_shape) -> torch.Tensor:
        """The refined RoIs of the next Cascade stage (mmdet's ``regress_by_class``): each RoI moved by the deltas of
        ``labels`` (its argmax class), clamped to ``img_shape`` ``(h, w)``."""
        if not self.reg_class_agnostic:
            cols = labels[:, None] * 4 + torch.arange(4, device=labels.device)
            bbox_pred = torch.gather(bbox_pred, 1, cols)
        boxes = delta2bbox(rois[:, 1:], bbox_pred, self.target_means, self.target_stds, max_shape=img_shape)
        return torch.cat([rois[:, :1], boxes], dim=1)


class FCNMaskHead(nn.Module):
    """mmdet's ``FCNMaskHead``: ``num_convs`` x ConvModule 3x3 (bias, ReLU, no norm), ``upsample`` ConvTranspose2d
    2x2 stride 2 + ReLU, ``conv_logits`` 1x1 -> one 28x28 logit map per class (14x14 RoI features in)."""

    def __init__(self, num_convs: int = 4, in_channels: int = 256, conv_out_channels: int = 256,
                 num_classes: int = 80):
        super().__init__()
        self.num_classes = num_classes
        self.convs = nn.ModuleList(ConvModule(in_channels if i == 0 else conv_out_channels, conv_out_channels, 3,
                                              padding=1, norm=False) for i in range(num_convs))
        width = conv_out_channels if num_convs else in_channels
        self.upsample = nn.ConvTranspose2d(width, conv_out_channels, 2, stride=2)
        self.conv_logits = nn.Conv2d(conv_out_channels, num_classes, 1)
        for m in (self.upsample, self.conv_logits):  # mmdet: Kaiming-normal (fan_out, ReLU), zero bias
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = conv(x)
        return self.conv_logits(F.relu(self.upsample(x)))


def multiclass_nms(multi_bboxes: torch.Tensor, multi_scores: torch.Tensor, score_thr: float, iou_threshold: float,
                   max_num: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """mmdet 2.11's ``multiclass_nms``: every (box, class) pair whose score is above ``score_thr`` (background, the
    last column, excluded), :func:`~.detection_ops.batched_nms` per class, the first ``max_num``.

    Args:
        multi_bboxes: ``(n, 4 * num_classes)`` class-specific boxes, or ``(n, 4)``.
        multi_scores: ``(n, num_classes + 1)``.

    Returns:
        ``(dets (k, 5), labels (k,))``, by descending score.
    """
    num_classes = multi_scores.shape[1] - 1
    n = multi_scores.shape[0]
    if multi_bboxes.shape[1] > 4:
        bboxes = multi_bboxes.view(n, -1, 4)
    else:
        bboxes = multi_bboxes[:, None].expand(n, num_classes, 4)
    scores = multi_scores[:, :-1]
    labels = torch.arange(num_classes, dtype=torch.long, device=scores.device).view(1, -1).expand_as(scores)
    bboxes, scores, labels = bboxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
    inds = (scores > score_thr).nonzero().view(-1)
    bboxes, scores, labels = bboxes[inds], scores[inds], labels[inds]
    if bboxes.numel() == 0:
        return bboxes.new_zeros(0, 5), labels
    dets, keep = batched_nms(bboxes, scores, labels, iou_threshold, max_num=max_num)
    if max_num > 0:
        dets, keep = dets[:max_num], keep[:max_num]
    return dets, labels[keep]


def paste_masks(probs: torch.Tensor, boxes: torch.Tensor, height: int, width: int,
                threshold: float = 0.5) -> torch.Tensor:
    """mmdet 2.11's CPU mask pasting (``FCNMaskHead.get_seg_masks`` / ``_do_paste_mask`` with ``skip_empty``): each
    ``(28, 28)`` probability map is resampled (bilinear ``grid_sample``, zeros outside, ``align_corners=False``) at
    the pixel centres of its box's region ``[floor(x1) - 1, ceil(x2) + 1) x [floor(y1) - 1, ceil(y2) + 1)`` (clamped
    to the image) and thresholded (``>= threshold``); pixels outside that region are background.

    Args:
        probs: ``(n, h, w)`` mask probabilities.
        boxes: ``(n, 4)`` boxes in the output image's pixels.
        height, width: of the output image.

    Returns:
        ``(n, height, width)`` bool.
    """
    n = probs.shape[0]
    out = torch.zeros(n, height, width, dtype=torch.bool, device=probs.device)
    for i in range(n):  # one box at a time, as mmdet does on the CPU (its region only)
        box = boxes[i]
        x0 = int(torch.clamp(box[0].floor() - 1, min=0))
        y0 = int(torch.clamp(box[1].floor() - 1, min=0))
        x1 = int(torch.clamp(box[2].ceil() + 1, max=width))
        y1 = int(torch.clamp(box[3].ceil() + 1, max=height))
        if x1 <= x0 or y1 <= y0:
            continue
        ys = torch.arange(y0, y1, device=probs.device, dtype=torch.float32) + 0.5
        xs = torch.arange(x0, x1, device=probs.device, dtype=torch.float32) + 0.5
        ys = (ys - box[1]) / (box[3] - box[1]) * 2 - 1
        xs = (xs - box[0]) / (box[2] - box[0]) * 2 - 1
        ys = torch.where(torch.isinf(ys), torch.zeros_like(ys), ys)
        xs = torch.where(torch.isinf(xs), torch.zeros_like(xs), xs)
        grid = torch.stack([xs[None, :].expand(len(ys), len(xs)), ys[:, None].expand(len(ys), len(xs))], dim=2)
        pasted = F.grid_sample(probs[i][None, None].float(), grid[None], align_corners=False)
        out[i, y0:y1, x0:x1] = pasted[0, 0] >= threshold
    return out


@dataclasses.dataclass
class Detections:
    """The detections of one image, in mmdet's result order (by class, then by descending score), as
    :meth:`StandardRoIHead.simple_test` / :meth:`CascadeRoIHead.simple_test` give them.

    Attributes:
        boxes: ``(n, 4)`` ``x1, y1, x2, y2``, in original-image pixels with ``rescale`` (else input pixels).
        scores: ``(n,)``.
        labels: ``(n,)`` 0-based class indices.
        masks: ``(n, h0, w0)`` bool at the original image size, or None (no mask head).
        score_order: ``(n,)``: for each detection in score order (the mask head's input order), its index here.
        mask_logits: ``(n, 28, 28)``: the last mask head's logits of each detection's class, in score order.
    """

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor | None = None
    score_order: torch.Tensor | None = None
    mask_logits: torch.Tensor | None = None


def _result_order(labels: torch.Tensor) -> torch.Tensor:
    """mmdet's ``bbox2result`` order of detections given in score order: by class, the score order within each."""
    return torch.sort(labels, stable=True)[1]


def _scale_tensor(scale_factor, like: torch.Tensor) -> torch.Tensor:
    """mmdet's ``scale_factor`` ``(w, h, w, h)`` as a float32 tensor (a single number for all four)."""
    if isinstance(scale_factor, torch.Tensor):
        t = scale_factor.detach().to(like.device, torch.float32).reshape(-1)
    else:
        t = torch.as_tensor(scale_factor, dtype=torch.float32, device=like.device).reshape(-1)
    if t.numel() == 1:
        t = t.expand(4)
    if t.numel() != 4:
        raise ValueError(f"scale_factor must be one number or (w, h, w, h), got {scale_factor!r}")
    return t


class _RoIHeadBase(nn.Module):
    """What the Mask R-CNN and Cascade heads share: the test settings and the mask post-processing."""

    test_cfg: RCNNTestConfig
    mask_head: nn.Module | None

    def _detections(self, rois: torch.Tensor, scores: torch.Tensor, bbox_pred: torch.Tensor, head: "ConvFCBBoxHead",
                    img_shape, scale_factor, ori_shape, rescale: bool):
        """mmdet's ``BBoxHead.get_bboxes``: ``head``'s deltas decoded on ``rois`` and clamped to ``img_shape``, divided
        by the scale factor (``rescale``), per-class NMS. Returns ``(dets, labels, boxes in input pixels (the mask
        heads' RoIs: the rescaled boxes times the factor, as mmdet), the scale factor tensor)``."""
        cfg = self.test_cfg
        h, w = (int(v) for v in tuple(img_shape)[:2])
        boxes = delta2bbox(rois[:, 1:], bbox_pred, head.target_means, head.target_stds, max_shape=(h, w))
        scale = _scale_tensor(scale_factor, boxes)
        if rescale and boxes.shape[0] > 0:
            boxes = boxes / scale.repeat(boxes.shape[-1] // 4)
        dets, labels = multiclass_nms(boxes, scores, cfg.score_thr, cfg.iou_threshold, cfg.max_per_img)
        if self.mask_head is not None and ori_shape is None:
            raise ValueError("ori_shape is needed to paste the masks")
        return dets, labels, (dets[:, :4] * scale if rescale else dets[:, :4]), scale

    def _finish(self, dets: torch.Tensor, labels: torch.Tensor, mask_probs, mask_logits, boxes_in: torch.Tensor,
                scale: torch.Tensor | None, ori_shape, rescale: bool) -> Detections:
        """Detections in mmdet's result order, with the masks pasted at the original size."""
        order = _result_order(labels)
        masks = None
        if mask_probs is not None:
            h0, w0 = (int(v) for v in ori_shape[:2])
            if not rescale and scale is not None:  # mmdet: masks at the network input's size (ori x scale)
                h0, w0 = round(h0 * float(scale[1])), round(w0 * float(scale[0]))
            paste_boxes = boxes_in / scale if (rescale and scale is not None) else boxes_in
            pasted = paste_masks(mask_probs, paste_boxes, h0, w0, self.test_cfg.mask_thr_binary)
            # mmdet drops the masks of boxes whose y2 (network input) is exactly 0 (its padding test): empty here
            pasted[boxes_in[:, 3] == 0] = False
            masks = pasted[order]
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(len(order), device=order.device)
        return Detections(dets[order, :4], dets[order, 4], labels[order], masks, inverse, mask_logits)


class StandardRoIHead(_RoIHeadBase):
    """Mask R-CNN's RoI head (mmdet's ``StandardRoIHead`` at test): the box head on the proposals, per-class NMS,
    the mask head on the detections.

    Args:
        bbox_head: :class:`ConvFCBBoxHead` (``Shared2FCBBoxHead``: ``ConvFCBBoxHead(0, 2)``).
        mask_head: :class:`FCNMaskHead`, or None (Faster R-CNN).
        test_cfg: :class:`RCNNTestConfig`.
    """

    def __init__(self, bbox_head: ConvFCBBoxHead | None = None, mask_head: FCNMaskHead | None = None,
                 test_cfg: RCNNTestConfig | None = None, featmap_strides: Sequence[int] = (4, 8, 16, 32)):
        super().__init__()
        self.bbox_roi_extractor = SingleRoIExtractor(7, featmap_strides)
        self.bbox_head = bbox_head or ConvFCBBoxHead(0, 2)
        self.mask_roi_extractor = SingleRoIExtractor(14, featmap_strides) if mask_head is not None else None
        self.mask_head = mask_head
        self.test_cfg = test_cfg or RCNNTestConfig()

    @property
    def num_classes(self) -> int:
        return self.bbox_head.num_classes

    def forward(self, feats: Sequence[torch.Tensor], rois: torch.Tensor):
        """The heads on ``rois`` (mmdet's ``forward_dummy``): ``(cls_score, bbox_pred, mask_pred of the first 100)``."""
        cls_score, bbox_pred = self.bbox_head(self.bbox_roi_extractor(feats, rois))
        out = (cls_score, bbox_pred)
        if self.mask_head is not None:
            out += (self.mask_head(self.mask_roi_extractor(feats, rois[:100])),)
        return out

    @torch.no_grad()
    def simple_test(self, feats: Sequence[torch.Tensor], proposals: torch.Tensor, img_shape, scale_factor=1.0,
                    ori_shape=None, rescale: bool = True) -> Detections:
        """The detections of one image from its FPN maps and proposals ``(n, 5)`` (mmdet's ``simple_test``).

        Args:
            img_shape: ``(h, w)`` of the resized image inside the padded input.
            scale_factor: ``(w, h, w, h)`` of the resize (``resized / original``).
            ori_shape: ``(h0, w0)`` of the original image (the masks' size with ``rescale``).
            rescale: boxes and masks in original-image pixels.
        """
        rois = _rois(proposals)
        cls_score, bbox_pred = self.bbox_head(self.bbox_roi_extractor(feats, rois))
        padding = rois[:, -1] == 0  # mmdet's batch-padding test (a proposal with y2 == 0 counts as padding)
        cls_score[padding] = 0
        bbox_pred[padding] = 0
        scores = F.softmax(cls_score, dim=-1)
        dets, labels, boxes_in, scale = self._detections(rois, scores, bbox_pred, self.bbox_head, img_shape,
                                                         scale_factor, ori_shape, rescale)
        probs = logits = None
        if self.mask_head is not None:
            logits = self.mask_head(self.mask_roi_extractor(feats, _rois(boxes_in)))
            logits = logits[torch.arange(len(labels)), labels]
            probs = logits.sigmoid()
        return self._finish(dets, labels, probs, logits, boxes_in, scale, ori_shape, rescale)


class CascadeRoIHead(_RoIHeadBase):
    """Cascade Mask R-CNN's RoI head (mmdet's ``CascadeRoIHead`` at test).

    Stage ``i`` runs ``bbox_head[i]`` on the current RoIs; before the next stage each RoI is regressed by the
    deltas of its argmax class (:meth:`ConvFCBBoxHead.regress_by_class`). The final scores are the softmax of the
    mean of the three stages' logits, the boxes the last stage's decoding of the last RoIs; per-class NMS as Mask
    R-CNN. Every stage's ``mask_head[i]`` runs on the detections; the mask is the mean of their sigmoid
    probabilities.

    Args:
        bbox_heads, mask_heads: one per stage.
        test_cfg: :class:`RCNNTestConfig`.
    """

    def __init__(self, bbox_heads: Sequence[ConvFCBBoxHead], mask_heads: Sequence[FCNMaskHead] | None = None,
                 test_cfg: RCNNTestConfig | None = None, featmap_strides: Sequence[int] = (4, 8, 16, 32)):
        super().__init__()
        self.num_stages = len(bbox_heads)
        if mask_heads is not None and len(mask_heads) != self.num_stages:
            raise ValueError(f"{self.num_stages} bbox heads but {len(mask_heads)} mask heads")
        self.bbox_roi_extractor = SingleRoIExtractor(7, featmap_strides)
        self.bbox_head = nn.ModuleList(bbox_heads)
        self.mask_roi_extractor = SingleRoIExtractor(14, featmap_strides) if mask_heads is not None else None
        self.mask_head = nn.ModuleList(mask_heads) if mask_heads is not None else None
        self.test_cfg = test_cfg or RCNNTestConfig()

    @property
    def num_classes(self) -> int:
        return self.bbox_head[-1].num_classes

    def forward(self, feats: Sequence[torch.Tensor], rois: torch.Tensor):
        """Every stage's heads on the same ``rois`` (mmdet's ``forward_dummy``)."""
        out = ()
        for i in range(self.num_stages):
            out += self.bbox_head[i](self.bbox_roi_extractor(feats, rois))
            if self.mask_head is not None:
                out += (self.mask_head[i](self.mask_roi_extractor(feats, rois[:100])),)
        return out

    @torch.no_grad()
    def simple_test(self, feats: Sequence[torch.Tensor], proposals: torch.Tensor, img_shape, scale_factor=1.0,
                    ori_shape=None, rescale: bool = True) -> Detections:
        """As :meth:`StandardRoIHead.simple_test`."""
        h, w = (int(v) for v in tuple(img_shape)[:2])
        rois = _rois(proposals)
        stage_scores = []
        for i, head in enumerate(self.bbox_head):
            cls_score, bbox_pred = head(self.bbox_roi_extractor(feats, rois))
            stage_scores.append(cls_score)
            if i < self.num_stages - 1:
                rois = head.regress_by_class(rois, cls_score[:, :-1].argmax(dim=1), bbox_pred, (h, w))
        cls_score = stage_scores[0]
        for s in stage_scores[1:]:
            cls_score = cls_score + s
        scores = F.softmax(cls_score / float(self.num_stages), dim=-1)
        dets, labels, boxes_in, scale = self._detections(rois, scores, bbox_pred, self.bbox_head[-1], (h, w),
                                                         scale_factor, ori_shape, rescale)
        probs = logits = None
        if self.mask_head is not None:
            mask_feats = self.mask_roi_extractor(feats, _rois(boxes_in))
            rows = torch.arange(len(labels))
            for i, head in enumerate(self.mask_head):
                logits = head(mask_feats)[rows, labels]
                probs = logits.sigmoid() if i == 0 else probs + logits.sigmoid()
            if probs is not None:
                probs = probs / float(self.num_stages)
        return self._finish(dets, labels, probs, logits, boxes_in, scale, ori_shape, rescale)
