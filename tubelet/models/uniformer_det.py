"""UniFormer COCO detectors: Mask R-CNN and Cascade Mask R-CNN on the dense UniFormer backbones, exact to the
official test path.

Paper: Li et al., "UniFormer: Unifying Convolution and Self-attention for Visual Recognition", TPAMI 2023,
arXiv:2201.09450 (COCO object detection and instance segmentation). Original code: https://github.com/Sense-X/UniFormer
@ 52a0415 (Apache-2.0), ``object_detection/`` (an mmdet 2.11 fork: ``MaskRCNN`` / ``CascadeRCNN`` with the configs
``exp/mask_rcnn_*_hybrid_*``, ``exp/cascade_mask_rcnn_3x_ms_hybrid_*``, ``exp_light/mask_rcnn_1x_{xxs,xs}``).
Facts: ../reference/DENSE.md §1.1, §3; the layers are in :mod:`tubelet.models.detection`.

::

    x (1, 3, Hp, Wp) normalised, zero-padded to multiples of 32
      ─backbone (UniFormerDense: stage 3 hybrid, window 14; or the light XXS/XS backbone)─▶ 4 maps
      ─neck (FPN, 5 outputs)─ rpn_head ─▶ 1000 proposals ─ roi_head (Mask R-CNN / Cascade) ─▶ detections, masks

:meth:`UniFormerDetector.detect` is mmdet's ``simple_test`` with ``rescale=True``: ``out = model.detect(x,
img_shape=(h, w), ori_shape=(h0, w0))`` gives ``proposals`` (1000, 5) in input pixels, ``boxes`` (n, 4) in original
pixels, ``scores``, ``labels`` (0-based COCO class indices) and ``masks`` (n, h0, w0) bool, in mmdet's result order
(by class, then by descending score). The test pipeline (resize keeping the ratio into 1333x800, normalise, pad) is
:func:`tubelet.tasks.detection.preprocess`.

Checkpoints: the released mmcv runner files (``{"meta", "state_dict", "optimizer"(, "amp")}``, keys ``backbone.*``,
``neck.*``, ``rpn_head.*``, ``roi_head.*``) load strictly. The stage-3 attention (hybrid, window 14 in every released
standard detector) changes no weight: it comes from the registry entry (``windows``, ``hybrid``, ``window_size``
override it). A file of another layout is an error naming what it holds: a Cascade file for a Mask R-CNN variant, a
light backbone for a standard one (depth and widths are checked against the variant). A file holding only the
backbone (a dense backbone, the ImageNet UniFormer the official training starts from, a segmentation or pose file)
initialises the backbone; the neck and heads keep their (mmdet) initialisation.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import torch
from torch import nn

from ..errors import CheckpointError, OptionError, UsageError
from ._backbone_model import BackboneTaskModel
from ._convert import describe_parts, split_parts
from ._family import ModelFamily
from ._registry import PretrainedCfg, attach_cfg, get_entrypoint, register_model, resolve_args
from .detection import (CascadeRoIHead, ConvFCBBoxHead, FCNMaskHead, RCNNTestConfig, RPNHead, RPNTestConfig,
                        StandardRoIHead, detection_fpn)

__all__ = ["UniFormerDetector", "DetectorOptions"]

#: the stds of the delta coder of each Cascade stage (the configs' ``target_stds``)
CASCADE_STDS = ((0.1, 0.1, 0.2, 0.2), (0.05, 0.05, 0.1, 0.1), (0.033, 0.033, 0.067, 0.067))


class UniFormerDetector(BackboneTaskModel, nn.Module):
    """mmdet's two-stage detector at test time: ``backbone`` -> ``neck`` (FPN) -> ``rpn_head`` -> ``roi_head``
    (attributes in mmdet's order, so the state-dict keys are the released files').

    * ``forward_features(x)``: the 5 FPN maps;
    * ``forward(x)``: mmdet's ``forward_dummy`` (the dense outputs and the RoI heads on fixed RoIs: what FLOPs
      counters and tracers take);
    * :meth:`detect`: the detections of one image (mmdet's ``simple_test``, ``rescale=True``).

    Args:
        backbone: a module returning 4 maps (strides 4..32).
        neck: the FPN (:func:`~tubelet.models.detection.detection_fpn`).
        rpn_head: :class:`~tubelet.models.detection.RPNHead`.
        roi_head: :class:`~tubelet.models.detection.StandardRoIHead` or
            :class:`~tubelet.models.detection.CascadeRoIHead`.
    """

    size_divisor = 32
    #: the fixed RoIs of :meth:`forward` (mmdet's ``forward_dummy``: 1000, what the published FLOPs count)
    dummy_rois_count = 1000

    def __init__(self, backbone: nn.Module, neck: nn.Module, rpn_head: RPNHead, roi_head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.rpn_head = rpn_head
        self.roi_head = roi_head
        self.num_features = 256

    @property
    def num_classes(self) -> int:
        return self.roi_head.num_classes

    @property
    def cascade(self) -> bool:
        return isinstance(self.roi_head, CascadeRoIHead)

    # -- interface shared by every tubelet model (no_weight_decay, group_matcher, set_grad_checkpointing: the
    # backbone's, BackboneTaskModel) ------------------------------------------------------------------------------

    def get_classifier(self) -> nn.Module:
        """The (last) box head's class scores ``fc_cls``."""
        head = self.roi_head.bbox_head[-1] if self.cascade else self.roi_head.bbox_head
        return head.fc_cls

    def reset_classifier(self, num_classes: int) -> None:
        """Not supported: a detector's classes live in its box heads' ``fc_cls`` / ``fc_reg`` and the mask heads'
        ``conv_logits`` (build the variant with ``num_classes=N`` instead)."""
        raise UsageError(f"a detector's classes are fixed when it is built: create_model(..., num_classes="
                         f"{num_classes}) builds new box and mask classifiers")

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3:
            raise UsageError(f"the detector expects a normalised image batch (B, 3, H, W), got shape "
                             f"{tuple(x.shape)}")
        if x.shape[-2] % self.size_divisor or x.shape[-1] % self.size_divisor:
            raise UsageError(f"the detector's input must be padded to multiples of {self.size_divisor} (mmdet's "
                             f"test pipeline: tubelet.tasks.detection.preprocess), got {tuple(x.shape[-2:])}")

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, 3, H, W)`` -> the 5 FPN maps (strides 4..64, 256 channels): mmdet's ``extract_feat``."""
        self._check_input(x)
        return list(self.neck(self.backbone(x)))

    def forward_head(self, feats: Sequence[torch.Tensor], pre_logits: bool = False):
        """The RPN's score and delta maps of the FPN maps (``pre_logits`` is not defined for a detector)."""
        if pre_logits:
            raise UsageError("a detector has no pre-logits feature; use forward_features for the FPN maps")
        return self.rpn_head(feats)

    @staticmethod
    def dummy_rois(height: int, width: int, n: int = 1000, device=None) -> torch.Tensor:
        """``n`` fixed RoIs ``(batch 0, x1, y1, x2, y2)`` spread over an image (the stand-in for mmdet
        ``forward_dummy``'s 1000 random proposals): a deterministic grid of boxes of several sizes."""
        i = torch.arange(n, dtype=torch.float32, device=device)
        cx = (i * 0.6180339887) % 1.0 * width
        cy = (i * 0.7548776662) % 1.0 * height
        side = 16.0 * 2.0 ** (i % 5)
        x1, y1 = (cx - side / 2).clamp(0, width), (cy - side / 2).clamp(0, height)
        x2, y2 = (cx + side / 2).clamp(0, width), (cy + side / 2).clamp(0, height)
        return torch.stack([torch.zeros_like(i), x1, y1, x2, y2], 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """mmdet's ``forward_dummy``: the RPN maps of every level, then the RoI heads on ``dummy_rois_count`` (1000)
        fixed RoIs (the box heads on all of them, the mask heads on the first 100). For FLOPs counting and tracing; :meth:`detect`
        gives detections."""
        feats = self.forward_features(x)
        cls_scores, bbox_preds = self.rpn_head(feats)
        rois = self.dummy_rois(x.shape[-2], x.shape[-1], self.dummy_rois_count, device=x.device).to(feats[0].dtype)
        return (*cls_scores, *bbox_preds, *self.roi_head(feats, rois))

    # -- detection -------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def detect(self, x: torch.Tensor, img_shape: Sequence[int] | None = None, ori_shape: Sequence[int] | None = None,
               scale_factor=None, rescale: bool = True) -> dict:
        """The detections of one image (mmdet's ``simple_test``).

        Args:
            x: ``(1, 3, Hp, Wp)``: the normalised image, resized, at the top-left of zeros (multiples of 32).
            img_shape: ``(h, w)`` of the resized image inside ``x`` (default: all of ``x``).
            ori_shape: ``(h0, w0)`` of the original image (default: ``img_shape``).
            scale_factor: ``(w / w0, h / h0, w / w0, h / h0)`` (default: from the two shapes, as mmdet's resize
                computes it).
            rescale: boxes and masks in original-image pixels (mmdet's test: True); else in input pixels.

        Returns:
            a dict of float32 / int64 tensors, the detections in mmdet's result order (by class, then by descending
            score):

            * ``proposals`` ``(1000, 5)``: the RPN's ``x1, y1, x2, y2, score`` in input pixels;
            * ``boxes`` ``(n, 4)`` ``x1, y1, x2, y2``, ``scores`` ``(n,)``, ``labels`` ``(n,)`` (0-based classes);
            * ``masks`` ``(n, h0, w0)`` bool;
            * ``score_order`` ``(n,)``: the detections by descending score (the mask heads' input order), as indices
                into the above;
            * ``mask_logits`` ``(n, 28, 28)``: the last mask head's logits of each detection's class, in that score
                order.
        """
        self._check_input(x)
        if x.shape[0] != 1:
            raise UsageError(f"detect() takes one image (1, 3, H, W), got a batch of {x.shape[0]}")
        img_shape = tuple(int(v) for v in tuple(img_shape or x.shape[-2:])[:2])
        ori_shape = tuple(int(v) for v in tuple(ori_shape or img_shape)[:2])
        h, w = img_shape
        if not (0 < h <= x.shape[-2] and 0 < w <= x.shape[-1]):
            raise UsageError(f"img_shape {img_shape} does not fit in the input {tuple(x.shape[-2:])}")
        if min(ori_shape) <= 0:
            raise UsageError(f"ori_shape must be positive, got {ori_shape}")
        if scale_factor is None:
            sw, sh = w / ori_shape[1], h / ori_shape[0]
            scale_factor = torch.tensor([sw, sh, sw, sh], dtype=torch.float32)
        feats = self.forward_features(x)
        proposals = self.rpn_head.simple_test_rpn(feats, [img_shape])[0]
        det = self.roi_head.simple_test(feats, proposals, img_shape, scale_factor, ori_shape, rescale)
        return {"proposals": proposals, "boxes": det.boxes, "scores": det.scores, "labels": det.labels,
                "masks": det.masks, "score_order": det.score_order, "mask_logits": det.mask_logits}


# --------------------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------------------

_DET_PARTS = ("backbone", "neck", "rpn_head", "roi_head")
#: constructor options that change no weight's name or shape
RUNTIME_ARGS = frozenset({"drop_rate", "attn_drop_rate", "drop_path_rate", "use_checkpoint", "checkpoint_num",
                          "qk_scale", "windows", "hybrid", "window_size", "img_size", "prune_ratio", "trade_off",
                          "score_thr", "iou_threshold", "max_per_img", "mask_thr_binary", "rpn_nms_pre",
                          "rpn_max_per_img", "rpn_iou_threshold"})
#: the class-dependent layers: a new class set (``num_classes=N, drop_head=True``) starts them afresh
CLASSIFIER_PREFIXES = tuple(f"roi_head.{head}.{stage}{layer}." for head, layer in (
    ("bbox_head", "fc_cls"), ("bbox_head", "fc_reg"), ("mask_head", "conv_logits")) for stage in ("", "0.", "1.", "2."))


class _Converted(dict):
    kind: str = "detector"
    left_out: dict

    def __init__(self, *args, kind: str = "detector", left_out: dict | None = None):
        super().__init__(*args)
        self.kind = kind
        self.left_out = dict(left_out or {})


def convert_state_dict(state_dict: dict[str, torch.Tensor], path: str) -> tuple[dict[str, torch.Tensor], str]:
    """An mmdet detector file keeps ``backbone.*``, ``neck.*``, ``rpn_head.*``, ``roi_head.*``; any other file that
    holds the backbone (a dense backbone, an ImageNet UniFormer, a segmentation or pose file) gives ``backbone.*``
    only (the builder then initialises the rest)."""
    from .uniformer_dense import convert_seg_state_dict

    if any(k.startswith("roi_head.") for k in state_dict):
        sd, left_out = split_parts(state_dict, _DET_PARTS)
        return _Converted(sd, kind="detector", left_out=left_out), "mmdet two-stage detector (backbone./neck./" \
                                                                     "rpn_head./roi_head.)"
    backbone = {k: v for k, v in state_dict.items() if not k.startswith(("decode_head.", "auxiliary_head.",
                                                                         "keypoint_head.", "neck.", "rpn_head."))}
    others, _ = split_parts(state_dict, ("neck", "rpn_head", "decode_head", "auxiliary_head", "keypoint_head"))
    sd, producer = convert_seg_state_dict(backbone, path)
    left_out = dict(getattr(sd, "left_out", {}))
    for k in others:
        part = k.split(".", 1)[0]
        left_out[part] = left_out.get(part, 0) + 1
    kind = getattr(sd, "kind", "backbone")
    return _Converted(sd, kind=kind, left_out=left_out), producer.replace("heads new", "detector heads new")


def checkpoint_arch(state_dict: dict[str, torch.Tensor], path: str) -> dict:
    """``depth``, ``embed_dim`` of the backbone, ``light`` (the XXS/XS conv stem), ``cascade`` (three box heads),
    ``mask`` (mask heads), ``num_classes`` (None without RoI heads)."""
    from .uniformer_dense import _arch_of_backbone

    sd = state_dict
    light = "backbone.patch_embed1.proj.3.weight" in sd or "backbone.cls_upsample.weight" in sd
    arch = dict(_arch_of_backbone(sd, "backbone."), light=light, kind=getattr(sd, "kind", "detector"),
                left_out=getattr(sd, "left_out", {}))
    if light and "embed_dim" not in arch:
        w = sd.get("backbone.patch_embed1.proj.3.weight")
        if w is not None:
            arch["embed_dim"] = [int(w.shape[0])] + [int(sd[f"backbone.patch_embed{i}.proj.weight"].shape[0])
                                                     for i in range(2, 5)]
    has_roi = any(k.startswith("roi_head.") for k in sd)
    arch["cascade"] = any(k.startswith("roi_head.bbox_head.0.") for k in sd) if has_roi else None
    arch["mask"] = any(k.startswith("roi_head.mask_head.") for k in sd) if has_roi else None
    cls = sd.get("roi_head.bbox_head.0.fc_cls.weight", sd.get("roi_head.bbox_head.fc_cls.weight"))
    arch["num_classes"] = None if cls is None else int(cls.shape[0]) - 1
    return arch


def resolve_switches(arch: dict, options: dict, path: str, name: str) -> dict:
    """Refuse, before anything is built, a file whose backbone or RoI heads are of another kind than the
    variant's."""
    cascade = name.endswith("_cascade_maskrcnn")
    if arch["cascade"] is not None and arch["cascade"] != cascade:
        held = "a Cascade Mask R-CNN" if arch["cascade"] else "a Mask R-CNN"
        fix = name.replace("_maskrcnn", "_cascade_maskrcnn") if arch["cascade"] else name.replace("_cascade", "")
        raise CheckpointError(f"{path}: holds {held}; {name} is {'a Cascade' if cascade else 'a'} Mask R-CNN "
                              f"(use {fix})")
    light_variant = name.startswith(("uniformer_xxs_", "uniformer_xs_"))
    if arch["light"] != light_variant:
        what = "a light (XXS/XS) UniFormer backbone" if arch["light"] else "a standard (S/B) UniFormer backbone"
        raise CheckpointError(f"{path}: holds {what}, which {name} does not have (the detectors: "
                              f"uniformer_{{xxs,xs}}_maskrcnn are light, uniformer_{{small,base}}_* standard)")
    if arch["mask"] is False:
        raise CheckpointError(f"{path}: a detector without mask heads (Faster R-CNN); tubelet's detectors are "
                              f"Mask R-CNN / Cascade Mask R-CNN")
    return {}


def is_init_source(arch: dict, cfg: PretrainedCfg) -> bool:
    """A file without RoI heads only initialises the backbone (the official training start)."""
    return arch["num_classes"] is None


def fit_state_dict(state_dict: dict[str, torch.Tensor], arch: dict, model: UniFormerDetector,
                   path: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Report the parts of the file left out; a backbone-only file initialises the backbone (the neck and heads,
    and output norms the file lacks, keep their initialisation; the builder reports the class layers new)."""
    from .uniformer_dense import _fill_output_norms

    notes = []
    sd = dict(state_dict)
    if arch["num_classes"] is None:
        model_sd = model.state_dict()
        new = [k for k in model_sd if not k.startswith(("backbone.",) + CLASSIFIER_PREFIXES) and k not in sd]
        sd.update({k: model_sd[k] for k in new})
        notes.append(f"initialised from {'an ImageNet classifier' if arch['kind'] == 'classifier' else 'a backbone'}"
                     f": neck, rpn_head and roi_head start from their initialisation")
        if any(k.startswith("backbone.norm1.") for k in model_sd):
            sd = _fill_output_norms(sd, model_sd, "backbone.", notes)
    if arch.get("left_out"):
        notes.append(describe_parts(arch["left_out"]))
    return sd, notes


FAMILY = ModelFamily(
    name="uniformer_det", convert_state_dict=convert_state_dict, checkpoint_arch=checkpoint_arch,
    classifier_prefixes=CLASSIFIER_PREFIXES, runtime_args=RUNTIME_ARGS, resolve_switches=resolve_switches,
    fit_state_dict=fit_state_dict, is_init_source=is_init_source)


# --------------------------------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class DetectorOptions:
    """The detector options beyond the backbone's (mmdet config names in parentheses).

    Attributes:
        num_classes: object classes (``num_classes`` of the heads; COCO 80).
        score_thr, iou_threshold, max_per_img, mask_thr_binary: the RoI heads' test settings (``test_cfg.rcnn``).
        rpn_nms_pre, rpn_max_per_img, rpn_iou_threshold: the RPN's (``test_cfg.rpn``: ``nms_pre``,
            ``max_per_img``, ``nms.iou_threshold``).
    """

    num_classes: int = 80
    score_thr: float = 0.05
    iou_threshold: float = 0.5
    max_per_img: int = 100
    mask_thr_binary: float = 0.5
    rpn_nms_pre: int = 1000
    rpn_max_per_img: int = 1000
    rpn_iou_threshold: float = 0.7


_DET_OPTIONS = frozenset(f.name for f in dataclasses.fields(DetectorOptions))
_SOURCE = "https://github.com/Sense-X/UniFormer @ 52a0415 (object_detection, mmdet 2.11)"
_PAPER = "UniFormer: Unifying Convolution and Self-attention for Visual Recognition (arXiv:2201.09450)"


def _det_cfg(name: str, what: str) -> PretrainedCfg:
    return PretrainedCfg(
        architecture=name, num_classes=80, input_size=(3, 800, 1333), resize_size=800, mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225), label_names="coco", source=_SOURCE, license="Apache-2.0", paper=_PAPER,
        notes=f"{what}, COCO (80 classes). Test: resize keeping the ratio into 1333x800, normalise, pad to multiples "
              f"of 32 (tubelet.tasks.detection.preprocess); model.detect(x, img_shape=, ori_shape=) gives boxes, "
              f"scores, labels and masks at the original size (score > 0.05, at most 100).")


_CFGS = {
    "uniformer_xxs_maskrcnn": _det_cfg("uniformer_xxs_maskrcnn", "Mask R-CNN with the light UniFormer-XXS"),
    "uniformer_xs_maskrcnn": _det_cfg("uniformer_xs_maskrcnn", "Mask R-CNN with the light UniFormer-XS"),
    "uniformer_small_maskrcnn": _det_cfg("uniformer_small_maskrcnn", "Mask R-CNN with UniFormer-S (hybrid, window 14)"),
    "uniformer_base_maskrcnn": _det_cfg("uniformer_base_maskrcnn", "Mask R-CNN with UniFormer-B (hybrid, window 14)"),
    "uniformer_small_cascade_maskrcnn": _det_cfg("uniformer_small_cascade_maskrcnn",
                                                 "Cascade Mask R-CNN with UniFormer-S (hybrid, window 14)"),
    "uniformer_base_cascade_maskrcnn": _det_cfg("uniformer_base_cascade_maskrcnn",
                                                "Cascade Mask R-CNN with UniFormer-B (hybrid, window 14)"),
}
_S = dict(depth=(3, 4, 8, 3), embed_dim=(64, 128, 320, 512), head_dim=64, hybrid=True, window_size=14)
_B = dict(depth=(5, 8, 20, 7), embed_dim=(64, 128, 320, 512), head_dim=64, hybrid=True, window_size=14)


def _create_detector(variant: str, backbone_args: dict, light: str | None = None, **kwargs) -> UniFormerDetector:
    """Build the detection ``variant``: the caller's options are split between the backbone and the detector
    (:class:`DetectorOptions`); ``model_args`` records both, flat."""
    from .uniformer_dense import UniFormerDense

    img_size = kwargs.pop("img_size", None)
    det_kw = {k: kwargs.pop(k) for k in list(kwargs) if k in _DET_OPTIONS}
    det = resolve_args(variant, DetectorOptions, {}, det_kw)
    opts = DetectorOptions(**det)
    if opts.num_classes < 1:
        raise UsageError(f"{variant}: a detector needs at least one class, got num_classes={opts.num_classes}")
    if light is None:
        bb = resolve_args(variant, UniFormerDense, backbone_args, {**backbone_args, **kwargs},
                          extra=_DET_OPTIONS | {"img_size"})
        backbone = UniFormerDense(**bb)
        in_channels = list(bb["embed_dim"])
    else:
        try:
            backbone = get_entrypoint(light)(**{**backbone_args, **kwargs})
        except OptionError as e:
            raise OptionError(f"{variant}: {e} (the detector options: {', '.join(sorted(_DET_OPTIONS))})") from None
        bb = {k: v for k, v in backbone.model_args.items() if k not in ("img_size", "num_classes")}
        in_channels = list(bb["embed_dim"])
    rpn_cfg = RPNTestConfig(nms_pre=opts.rpn_nms_pre, max_per_img=opts.rpn_max_per_img,
                            iou_threshold=opts.rpn_iou_threshold)
    rcnn_cfg = RCNNTestConfig(score_thr=opts.score_thr, iou_threshold=opts.iou_threshold,
                              max_per_img=opts.max_per_img, mask_thr_binary=opts.mask_thr_binary)
    if variant.endswith("_cascade_maskrcnn"):
        roi_head = CascadeRoIHead(
            [ConvFCBBoxHead(4, 1, num_classes=opts.num_classes, target_stds=stds, norm=True) for stds in CASCADE_STDS],
            [FCNMaskHead(num_classes=opts.num_classes) for _ in CASCADE_STDS], rcnn_cfg)
    else:
        roi_head = StandardRoIHead(ConvFCBBoxHead(0, 2, num_classes=opts.num_classes),
                                   FCNMaskHead(num_classes=opts.num_classes), rcnn_cfg)
    model = UniFormerDetector(backbone, detection_fpn(in_channels), RPNHead(test_cfg=rpn_cfg), roi_head)
    resolved = {**bb, **det}
    attach_cfg(model, variant, resolved, img_size=img_size)
    if img_size is not None:
        resolved["img_size"] = img_size
    return model


@register_model(FAMILY, _CFGS["uniformer_xxs_maskrcnn"])
def uniformer_xxs_maskrcnn(**kwargs) -> UniFormerDetector:
    """Mask R-CNN 1x, light UniFormer-XXS, COCO (29.4M params; box AP 42.8, mask AP 39.2)."""
    return _create_detector("uniformer_xxs_maskrcnn", dict(drop_path_rate=0.0), light="uniformer_xxs_dense",
                            **kwargs)


@register_model(FAMILY, _CFGS["uniformer_xs_maskrcnn"])
def uniformer_xs_maskrcnn(**kwargs) -> UniFormerDetector:
    """Mask R-CNN 1x, light UniFormer-XS, COCO (35.6M params; box AP 44.6, mask AP 40.9)."""
    return _create_detector("uniformer_xs_maskrcnn", dict(drop_path_rate=0.15), light="uniformer_xs_dense",
                            **kwargs)


@register_model(FAMILY, _CFGS["uniformer_small_maskrcnn"])
def uniformer_small_maskrcnn(**kwargs) -> UniFormerDetector:
    """Mask R-CNN, UniFormer-S h14, COCO (41M params; 1x: box AP 45.6, mask 41.6; 3x+MS: 48.2 / 43.4)."""
    return _create_detector("uniformer_small_maskrcnn", dict(drop_path_rate=0.2, **_S), **kwargs)


@register_model(FAMILY, _CFGS["uniformer_base_maskrcnn"])
def uniformer_base_maskrcnn(**kwargs) -> UniFormerDetector:
    """Mask R-CNN, UniFormer-B h14, COCO (69M params; 1x: box AP 47.4, mask 43.1; 3x+MS: 50.3 / 44.8)."""
    return _create_detector("uniformer_base_maskrcnn", dict(drop_path_rate=0.3, **_B), **kwargs)


@register_model(FAMILY, _CFGS["uniformer_small_cascade_maskrcnn"])
def uniformer_small_cascade_maskrcnn(**kwargs) -> UniFormerDetector:
    """Cascade Mask R-CNN 3x+MS, UniFormer-S h14, COCO (79M params; box AP 52.1, mask AP 45.2)."""
    return _create_detector("uniformer_small_cascade_maskrcnn", dict(drop_path_rate=0.2, **_S), **kwargs)


@register_model(FAMILY, _CFGS["uniformer_base_cascade_maskrcnn"])
def uniformer_base_cascade_maskrcnn(**kwargs) -> UniFormerDetector:
    """Cascade Mask R-CNN 3x+MS, UniFormer-B h14, COCO (107M params; box AP 53.8, mask AP 46.4)."""
    return _create_detector("uniformer_base_cascade_maskrcnn", dict(drop_path_rate=0.4, **_B), **kwargs)
