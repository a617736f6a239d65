"""UniFormer top-down pose estimation (COCO keypoints): the dense UniFormer backbone and mmpose's simple deconv head.

Paper: Li et al., "UniFormer: Unifying Convolution and Self-attention for Visual Recognition", arXiv:2201.09450
(COCO top-down pose).
Original code: https://github.com/Sense-X/UniFormer @ 52a0415 (Apache-2.0), ``pose_estimation/`` (an mmpose 0.16
fork): ``mmpose/models/backbones/uniformer.py``, ``keypoint_heads/top_down_simple_head.py``,
``detectors/top_down.py`` and the configs ``exp/top_down_{256x192,384x288,448x320}_global_{small,base}``.

::

    x (B, 3, H, W) ─backbone (UniFormerDense, global stage 3)─▶ norm4 map (B, 512, H/32, W/32)
      ─keypoint_head: 3 x [ConvTranspose2d 4/2 (no bias), BN, ReLU] (256 ch), final_layer 1x1
      ─▶ heatmaps (B, 17, H/4, W/4)

:meth:`UniFormerPose.predict_keypoints` is mmpose's ``TopDown`` test: the flip test (the mirrored input's heatmaps,
left/right channels swapped, mirrored back and shifted one column right, averaged in float32) and the 'default'
decoding to image coordinates (:mod:`tubelet.keypoints`). :func:`tubelet.keypoints.estimate_poses` goes from an image
and person boxes to keypoints.

State-dict keys are mmpose's: ``backbone.*`` (including the output norms ``norm1..norm3``, which mmpose computes and
drops: tubelet does the same) and ``keypoint_head.*``.
Checkpoints: the mmpose runner file ``{"meta", "state_dict", "optimizer"}`` (or its bare state dict) loads
strictly; parts of other task models (``neck.*``, ``decode_head.*``, ...) are left out and reported. A backbone
file (a dense backbone, a detection / segmentation checkpoint's ``backbone.*``, or the ImageNet image UniFormer the
official training starts from) initialises the backbone, with the keypoint head (and, for ImageNet weights, the
output norms) newly initialised, as the official training does. The official test runs in fp16 (the configs'
``fp16``); tubelet runs in the model's dtype.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..errors import OptionError, UsageError
from ..keypoints import COCO_FLIP_PAIRS, COCO_KEYPOINT_NAMES, decode_heatmaps, flip_back
from ._backbone_model import BackboneTaskModel
from ._family import ModelFamily
from ._registry import PretrainedCfg, register_model, resolve_args

__all__ = ["TopDownSimpleHead", "UniFormerPose"]


# --------------------------------------------------------------------------------------------------------------
# Head
# --------------------------------------------------------------------------------------------------------------

class TopDownSimpleHead(nn.Module):
    """mmpose's ``TopDownSimpleHead`` (SimpleBaseline): upsample x8 with transposed convolutions, one heatmap per
    keypoint.

    ``deconv_layers`` = n x [ConvTranspose2d(k 4, stride 2, pad 1, no bias), BatchNorm2d, ReLU] (keys
    ``deconv_layers.{0,3,6}`` for the convolutions, ``{1,4,7}`` for the norms), then ``final_layer`` Conv2d 1x1 with
    bias. The official config's ``norm_cfg`` (SyncBN) never reaches these layers: they always use BN.

    Args:
        in_channels: channels of the backbone map.
        num_keypoints: heatmaps (output channels).
        num_deconv_filters: channels of each transposed convolution (3 x 256 in every released model).
    """

    def __init__(self, in_channels: int = 512, num_keypoints: int = 17,
                 num_deconv_filters: Sequence[int] = (256, 256, 256)):
        super().__init__()
        layers: list[nn.Module] = []
        for planes in num_deconv_filters:
            layers += [nn.ConvTranspose2d(in_channels, planes, 4, stride=2, padding=1, output_padding=0, bias=False),
                       nn.BatchNorm2d(planes), nn.ReLU(inplace=True)]
            in_channels = planes
        self.deconv_layers = nn.Sequential(*layers)
        self.num_features = in_channels
        self.final_layer = nn.Conv2d(in_channels, num_keypoints, 1)
        self.init_weights()

    def init_weights(self) -> None:
        """mmpose's initialisation: convolutions normal(std 0.001) with zero bias, BN weight 1 and bias 0."""
        for m in self.modules():
            if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d)):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``(B, C, h, w)`` -> heatmaps ``(B, K, 8h, 8w)`` (``pre_logits``: the upsampled features before
        ``final_layer``)."""
        x = self.deconv_layers(x)
        return x if pre_logits else self.final_layer(x)


# --------------------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------------------

class UniFormerPose(BackboneTaskModel, nn.Module):
    """Top-down pose model: UniFormer dense backbone (global attention in stage 3) + :class:`TopDownSimpleHead`.

    Size-agnostic: any input ``(B, 3, H, W)`` with H, W multiples of 32 gives heatmaps ``(B, K, H/4, W/4)``; the
    released models were trained at 256x192, 384x288 and 448x320 (``pretrained_cfg.input_size`` says which).

    Args:
        depth: blocks per stage.
        embed_dim: channels per stage.
        head_dim: channels per attention head.
        mlp_ratio: MLP hidden size / dim.
        qkv_bias: bias in the fused qkv projection.
        qk_scale: attention scale; None means ``head_dim ** -0.5``.
        num_classes: keypoints (heatmap channels): 17 for COCO.
        in_chans: input channels.
        drop_rate, attn_drop_rate: dropout (0 in every config).
        drop_path_rate: stochastic depth of the last backbone block (configs: S 0.2, B 0.4 / 0.5 / 0.55 at
            256x192 / 384x288 / 448x320).
        num_deconv_filters: channels of the head's transposed convolutions.
        use_checkpoint: gradient checkpointing of the backbone blocks (memory only).
        checkpoint_num: blocks per stage to checkpoint when ``use_checkpoint`` (default: all).
    """

    def __init__(self, depth: Sequence[int] = (3, 4, 8, 3), embed_dim: Sequence[int] = (64, 128, 320, 512),
                 head_dim: int = 64, mlp_ratio: float = 4.0, qkv_bias: bool = True, qk_scale: float | None = None,
                 num_classes: int = 17, in_chans: int = 3, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, num_deconv_filters: Sequence[int] = (256, 256, 256),
                 use_checkpoint: bool = False, checkpoint_num: Sequence[int] | None = None):
        super().__init__()
        from .uniformer_dense import UniFormerDense  # the dense backbone (its own module)

        if num_classes < 1:
            raise UsageError(f"a pose model needs at least one keypoint, got num_classes={num_classes}")
        self.backbone = UniFormerDense(depth=depth, embed_dim=embed_dim, head_dim=head_dim, mlp_ratio=mlp_ratio,
                                       qkv_bias=qkv_bias, qk_scale=qk_scale, in_chans=in_chans, drop_rate=drop_rate,
                                       attn_drop_rate=attn_drop_rate, drop_path_rate=drop_path_rate,
                                       windows=False, hybrid=False, use_checkpoint=use_checkpoint,
                                       checkpoint_num=checkpoint_num)
        self.keypoint_head = TopDownSimpleHead(embed_dim[-1], num_classes, num_deconv_filters)
        self.num_classes = num_classes
        self.num_features = embed_dim[-1]
        self.flip_pairs = COCO_FLIP_PAIRS if num_classes == len(COCO_KEYPOINT_NAMES) else ()

    # -- interface shared by every tubelet model ------------------------------------------------------------------

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        """The backbone's groups (layer-wise lr decay); the keypoint head is the top layer."""
        if coarse:
            return dict(stem=r"^backbone\.patch_embed1\.", blocks=r"^backbone\.(?:blocks|patch_embed)(\d+)\.")
        return dict(stem=r"^backbone\.patch_embed1\.", blocks=[(r"^backbone\.blocks(\d+)\.(\d+)\.", None),
                                                               (r"^backbone\.patch_embed(\d+)\.", (0,))])

    def get_classifier(self) -> nn.Module:
        """The heatmap layer (``keypoint_head.final_layer``)."""
        return self.keypoint_head.final_layer

    def reset_classifier(self, num_classes: int) -> None:
        """A new ``num_classes``-keypoint heatmap layer at mmpose's initialisation (a new keypoint set: set
        ``flip_pairs`` for the flip test)."""
        if num_classes < 1:
            raise UsageError(f"a pose model needs at least one keypoint, got num_classes={num_classes}")
        old = self.keypoint_head.final_layer
        layer = nn.Conv2d(old.in_channels, num_classes, 1).to(old.weight.device, old.weight.dtype)
        nn.init.normal_(layer.weight, std=0.001)
        nn.init.zeros_(layer.bias)
        self.keypoint_head.final_layer = layer
        self.num_classes = num_classes
        self.flip_pairs = COCO_FLIP_PAIRS if num_classes == len(COCO_KEYPOINT_NAMES) else ()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone: ``(B, 3, H, W)`` -> its last normalised map ``(B, 512, H/32, W/32)`` (mmpose's backbone
        output)."""
        if x.ndim != 4:
            raise UsageError(f"the pose model expects an image batch (B, 3, H, W), got shape {tuple(x.shape)}")
        return self.backbone(x)[-1]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Keypoint head: the backbone map -> heatmaps ``(B, K, H/4, W/4)`` (``pre_logits``: the 256-channel
        features before ``final_layer``)."""
        return self.keypoint_head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` normalised crops -> heatmaps ``(B, K, H/4, W/4)`` (mmpose's ``forward_dummy``)."""
        return self.forward_head(self.forward_features(x))

    # -- pose inference -----------------------------------------------------------------------------------------

    @torch.no_grad()
    def flip_test_heatmaps(self, x: torch.Tensor, flip_pairs: Sequence[Sequence[int]] | None = None,
                           shift_heatmap: bool = True) -> torch.Tensor:
        """mmpose's flip test: ``(heatmaps(x) + shift(flip_back(heatmaps(x mirrored)))) * 0.5`` (float32), where
        ``shift`` moves the map one column right keeping column 0 (``shift_heatmap``)."""
        pairs = self._pairs(flip_pairs)
        heatmaps = self(x).float()
        flipped = flip_back(self(x.flip(3)).float(), pairs)
        if shift_heatmap:
            flipped = torch.cat([flipped[..., :1], flipped[..., :-1]], -1)
        return (heatmaps + flipped) * 0.5

    @torch.no_grad()
    def predict_keypoints(self, x: torch.Tensor, center, scale, flip_test: bool = True, shift_heatmap: bool = True,
                          post_process: str | None = "default",
                          flip_pairs: Sequence[Sequence[int]] | None = COCO_FLIP_PAIRS
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keypoints in image coordinates, exactly as mmpose's ``TopDown`` test (``test_cfg`` of the configs).

        Args:
            x: ``(B, 3, H, W)`` person crops (:func:`tubelet.keypoints.crop_person`, normalised).
            center, scale: ``(B, 2)`` tensors or arrays: each crop's box centre and scale
                (:func:`tubelet.keypoints.box_to_center_scale`).
            flip_test: average with the mirrored crops' heatmaps (see :meth:`flip_test_heatmaps`).
            shift_heatmap: shift the mirrored heatmaps one column right (the configs: True).
            post_process: ``"default"`` (quarter-pixel shift towards the higher neighbour) or None.
            flip_pairs: left/right keypoint pairs (0-based; default COCO). None: the model's ``flip_pairs``.
        Returns:
            ``(keypoints, maxvals)``: ``(B, K, 2)`` image ``(x, y)`` and ``(B, K, 1)`` heatmap maxima (the
            keypoint scores), float32.
        """
        heatmaps = self.flip_test_heatmaps(x, flip_pairs, shift_heatmap) if flip_test else self(x).float()
        return self.decode_heatmaps(heatmaps, center, scale, post_process)

    @staticmethod
    def decode_heatmaps(heatmaps: torch.Tensor, center, scale,
                        post_process: str | None = "default") -> tuple[torch.Tensor, torch.Tensor]:
        """mmpose's 'default' decoding of ``(B, K, h, w)`` heatmaps to ``(keypoints (B, K, 2), maxvals (B, K, 1))``
        in image coordinates (:func:`tubelet.keypoints.decode_heatmaps`)."""
        return decode_heatmaps(heatmaps, center, scale, post_process)

    def _pairs(self, flip_pairs) -> Sequence[Sequence[int]]:
        pairs = self.flip_pairs if flip_pairs is None else flip_pairs
        if any(not 0 <= i < self.num_classes for pair in pairs for i in pair):
            raise UsageError(f"flip_pairs {list(map(list, pairs))} name keypoints outside 0..{self.num_classes - 1}; "
                             f"pass this model's left/right pairs (flip_pairs=...), or flip_test=False")
        if flip_pairs is None and not pairs and self.num_classes != len(COCO_KEYPOINT_NAMES):
            raise UsageError(f"a {self.num_classes}-keypoint model has no known left/right pairs for the flip test; "
                             f"pass flip_pairs=... (or flip_test=False)")
        return pairs


# --------------------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------------------

#: constructor options that change no weight's name or shape
RUNTIME_ARGS = frozenset({"drop_rate", "attn_drop_rate", "drop_path_rate", "use_checkpoint", "checkpoint_num",
                          "qk_scale", "img_size"})
#: the heatmap layer: a new keypoint set (``drop_head=True, num_classes=N``) starts it afresh
CLASSIFIER_PREFIXES = ("keypoint_head.final_layer.",)
def convert_state_dict(state_dict: dict[str, torch.Tensor], path: str) -> tuple[dict[str, torch.Tensor], str]:
    """An mmpose ``TopDown`` file keeps ``backbone.*`` and ``keypoint_head.*``; any other file holding the dense
    backbone (mmdet / mmseg ``backbone.*``, a bare backbone, the ImageNet image UniFormer) gives the backbone only.
    Parts of the file that are not this model's are remembered for the load report (see
    :func:`fit_state_dict`)."""
    from .uniformer_dense import _backbone_part, _Converted

    head = {k: v for k, v in state_dict.items() if k.startswith("keypoint_head.")}
    backbone, kind, left_out = _backbone_part({k: v for k, v in state_dict.items() if k not in head}, path)
    sd = {**{f"backbone.{k}": v for k, v in backbone.items()}, **head}
    if head:
        producer = "mmpose TopDown (backbone.*, keypoint_head.*)"
    else:
        producer = {"task": "mmdet/mmseg/mmpose file without a keypoint head (backbone.* taken)",
                    "backbone": "original UniFormer backbone keys", "classifier": "ImageNet UniFormer classifier"}[kind]
    return _Converted(sd, kind=kind, left_out=left_out), producer


def checkpoint_arch(state_dict: dict[str, torch.Tensor], path: str) -> dict:
    """``depth``, ``embed_dim``, ``num_classes`` (None without a keypoint head), ``keypoint_head`` (the head's
    presence) and what :func:`convert_state_dict` found (``kind``, ``left_out``)."""
    from .uniformer_dense import _arch_of_backbone

    final = state_dict.get("keypoint_head.final_layer.weight")
    return dict(_arch_of_backbone(state_dict, "backbone."),
                keypoint_head=any(k.startswith("keypoint_head.") for k in state_dict),
                num_classes=None if final is None else int(final.shape[0]),
                kind=getattr(state_dict, "kind", "task"), left_out=getattr(state_dict, "left_out", {}))


def is_init_source(arch: dict, cfg: PretrainedCfg) -> bool:
    """A file without a keypoint head only initialises the backbone (the official training start)."""
    return not arch["keypoint_head"]


def fit_state_dict(state_dict: dict[str, torch.Tensor], arch: dict, model: UniFormerPose,
                   path: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Report the parts of the file left out. A file without a keypoint head initialises the backbone: the head's
    upsampling layers (and output norms the file lacks: ImageNet weights have none) start at their
    initialisation, as in the official fine-tuning (the builder reports the heatmap layer as the new
    classifier)."""
    from .uniformer_dense import _fill_output_norms, task_file_notes

    notes = task_file_notes(arch, "pose backbone", "the model")
    sd = dict(state_dict)
    if not arch["keypoint_head"]:
        model_sd = model.state_dict()
        new = [k for k in model_sd if k.startswith("keypoint_head.") and not k.startswith(CLASSIFIER_PREFIXES)]
        sd.update({k: model_sd[k] for k in new})
        notes.append("the file initialises the backbone only: keypoint_head.deconv_layers.* newly initialised")
    return _fill_output_norms(sd, model.state_dict(), "backbone.", notes), notes


FAMILY = ModelFamily(
    name="uniformer_pose", convert_state_dict=convert_state_dict, checkpoint_arch=checkpoint_arch,
    classifier_prefixes=CLASSIFIER_PREFIXES, runtime_args=RUNTIME_ARGS, fit_state_dict=fit_state_dict,
    is_init_source=is_init_source)


# --------------------------------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------------------------------

_SOURCE = "https://github.com/Sense-X/UniFormer @ 52a0415 (pose_estimation, mmpose 0.16)"
_PAPER = "UniFormer: Unifying Convolution and Self-attention for Visual Recognition (arXiv:2201.09450)"
_SIZES = ((256, 192), (384, 288), (448, 320))  # the released input sizes (H, W)
#: the configs' drop-path rate per input size (``exp/top_down_*_global_*/config.py``)
_DROP_PATH = {"uniformer_small_pose": {(256, 192): 0.2, (384, 288): 0.2, (448, 320): 0.2},
              "uniformer_base_pose": {(256, 192): 0.4, (384, 288): 0.5, (448, 320): 0.55}}


def _pose_cfg(name: str) -> PretrainedCfg:
    return PretrainedCfg(
        architecture=name, num_classes=17, input_size=(3, 256, 192), mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225), class_names=COCO_KEYPOINT_NAMES, source=_SOURCE, license="Apache-2.0",
        paper=_PAPER,
        notes="COCO top-down keypoints: each person box (x, y, w, h) widened to the input's aspect ratio, padded "
              "x1.25 and warped to the input size; heatmaps at 1/4 of it, flip test, 'default' decoding "
              "(tubelet.keypoints.estimate_poses). Released at 256x192, 384x288 and 448x320 (img_size=(H, W)).")


_CFGS = {name: _pose_cfg(name) for name in ("uniformer_small_pose", "uniformer_base_pose")}


def _img_size(variant: str, value) -> tuple[int, int]:
    if value is None:
        return tuple(_CFGS[variant].input_size[-2:])
    if isinstance(value, bool) or not (isinstance(value, int) or (
            isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value))):
        raise OptionError(f"{variant}: option img_size expects (H, W) as two ints (e.g. [384, 288]) or one int, "
                          f"got {value!r}")
    size = (value, value) if isinstance(value, int) else tuple(value)
    if min(size) < 32:
        raise UsageError(f"{variant}: img_size {size} must be at least 32 on each side (the backbone downsamples by "
                         f"32)")
    return size


def _create_pose(variant: str, model_args: dict, **kwargs) -> UniFormerPose:
    """Build ``variant``: its ``model_args`` with the caller's options on top. ``img_size=(H, W)`` names the input
    size of the data contract (``pretrained_cfg.input_size``) and picks the config's drop-path rate for it; the
    network itself takes any size."""
    kwargs = dict(kwargs)
    size = _img_size(variant, kwargs.pop("img_size", None))
    kwargs.setdefault("drop_path_rate", _DROP_PATH[variant].get(size, _DROP_PATH[variant][_SIZES[0]]))
    resolved = resolve_args(variant, UniFormerPose, model_args, {"num_classes": _CFGS[variant].num_classes,
                                                                 **model_args, **kwargs}, extra={"img_size"})
    model = UniFormerPose(**resolved)
    cfg = _CFGS[variant].replace(input_size=(resolved["in_chans"], *size))
    if model.num_classes != cfg.num_classes:
        cfg = cfg.replace(num_classes=model.num_classes, label_names=None, class_names=None)
    model.pretrained_cfg = cfg
    resolved["img_size"] = list(size)
    model.model_args = resolved
    return model


_S = dict(depth=(3, 4, 8, 3), embed_dim=(64, 128, 320, 512), head_dim=64)
_B = dict(depth=(5, 8, 20, 7), embed_dim=(64, 128, 320, 512), head_dim=64)


@register_model(FAMILY, _CFGS["uniformer_small_pose"])
def uniformer_small_pose(**kwargs) -> UniFormerPose:
    """UniFormer-S top-down pose, COCO (25.2M params; AP 74.0 / 75.9 / 76.2 at 256x192 / 384x288 / 448x320)."""
    return _create_pose("uniformer_small_pose", dict(_S), **kwargs)


@register_model(FAMILY, _CFGS["uniformer_base_pose"])
def uniformer_base_pose(**kwargs) -> UniFormerPose:
    """UniFormer-B top-down pose, COCO (53.5M params; AP 75.0 / 76.7 / 77.4 at 256x192 / 384x288 / 448x320)."""
    return _create_pose("uniformer_base_pose", dict(_B), **kwargs)
