"""Two-stage detection with the UniFormer backbones (mmdet 2.11 as forked by Sense-X/UniFormer @ 52a0415 under
``object_detection/mmdet``): the FPN neck and the region proposal network. The RoI heads (Mask R-CNN, Cascade Mask
R-CNN) come next.

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

Module and parameter names are mmdet's, so the ``neck.*`` and ``rpn_head.*`` entries of a released detector load
without renaming: ``neck.lateral_convs.i.conv.*``, ``neck.fpn_convs.i.conv.*`` (:class:`~.dense_heads.FPN`),
``rpn_head.rpn_conv.*``, ``rpn_head.rpn_cls.*``, ``rpn_head.rpn_reg.*`` (:class:`RPNHead`).
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .dense_heads import FPN
from .detection_ops import AnchorGenerator, batched_nms, delta2bbox

__all__ = ["FPN", "RPNTestConfig", "RPNHead", "detection_fpn"]


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
