"""UniFormer for dense prediction: the multi-scale backbone of the detection / segmentation / pose models, and the
ADE20K semantic-segmentation models (Semantic FPN and UperNet).

Paper: Li et al., "UniFormer: Unifying Convolution and Self-attention for Visual Recognition", TPAMI 2023,
arXiv:2201.09450. Original code: https://github.com/Sense-X/UniFormer @ 52a0415 (Apache-2.0):
``object_detection/mmdet/models/backbones/uniformer.py`` (the backbone; the mmseg and mmpose copies are the same) and
``semantic_segmentation`` (mmsegmentation 0.13 fork: ``EncoderDecoder``, ``FPN``, ``FPNHead``, ``UPerHead``,
``FCNHead``). Facts: ../reference/DENSE.md, MODELS.md §1.5.

* :class:`UniFormerDense` is the image UniFormer without its final BatchNorm and classifier, with a LayerNorm
  (``norm1..norm4``, eps 1e-6) on each stage's output: ``model(x)`` returns the four maps ``(B, C_i, H / 2^(i+2),
  W / 2^(i+2))``, C = (64, 128, 320, 512). Stage 3 attends globally, in non-overlapping windows (``windows=True``) or
  both (``hybrid=True``: every 4th block global, the others windowed), with ``window_size`` (14 in the detection
  configs, 32 in the segmentation ``w32`` / ``h32`` test configs). These three options change no weight, so any
  checkpoint loads under any of them; :meth:`UniFormerDense.set_attention_mode` switches a built model.
* :class:`UniFormerSegmentor` is mmseg's ``EncoderDecoder`` with the state-dict keys of the released files
  (``backbone.*``, ``neck.*``, ``decode_head.*``, ``auxiliary_head.*``). ``model(x)`` is mmseg's "whole" inference
  (``encode_decode``): the decode head's 1/4-resolution logits, bilinearly resized to the input's size;
  :meth:`UniFormerSegmentor.slide_inference` is mmseg's sliding-window inference; :meth:`UniFormerSegmentor.predict`
  gives the label map (or the class probabilities) either way.

Differences from the original code, none of which changes a weight or an output: attention runs through
``F.scaled_dot_product_attention``; the window block is the global block with a window option (same parameters);
there are no losses or training pipelines (``forward_aux`` gives the auxiliary head's logits for a deep-supervision
loss).

Checkpoints: the mmdet / mmseg / mmpose runner files (``{"meta", "state_dict", "optimizer"(, "amp")}``) load as
released; a backbone model takes ``backbone.*`` and reports what else the file held (``neck.*``, ``rpn_head.*``,
...). An ImageNet UniFormer classifier (``uniformer_small_in1k.pth``) initialises the backbone by the official
``pretrained_path`` rule (non-strict: its ``norm``/``head`` are left out and ``norm1..norm4`` keep their
initialisation), and a backbone or detector file initialises a segmentation model's backbone (heads new).
"""
from __future__ import annotations

import dataclasses
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import CheckpointError, OptionError, UsageError
from ._convert import count_blocks, describe_parts, split_parts
from ._backbone_model import BackboneTaskModel
from ._family import ModelFamily
from ._registry import PretrainedCfg, attach_cfg, get_entrypoint, register_model, resolve_args
from .dense_heads import FCNHead, FPN, FPNHead, UPerHead
from .layers import channels_first_for_cpu_half, drop_path_rates, init_linear_and_norm
from .uniformer import CBlock, SABlock, _patch_embeds, _scale, channels_last, check_stages

__all__ = ["UniFormerDense", "UniFormerSegmentor", "WindowSABlock"]


# --------------------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------------------

class WindowSABlock(SABlock):
    """Stage-3 block that attends globally (``window_size=None``: exactly :class:`~tubelet.models.uniformer.SABlock`)
    or inside non-overlapping windows (the original ``SABlock_Windows``). Same parameters, same names.

    Window mode, on the map ``(B, C, H, W)``: ``x += pos_embed(x)``; then channels-last ``(B, H, W, C)``:
    ``y = norm1(x)`` zero-padded on the bottom/right to multiples of the window **after** the norm, split into
    ``window_size x window_size`` windows, ``attn`` in each (no shift, no relative bias, **no mask**: the padded zeros
    become keys and values through the qkv bias, as in the original), merged and cropped; ``x += DP(y)``;
    ``x += DP(mlp(norm2(x)))``.
    """

    def __init__(self, *args, window_size: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.window_size = window_size

    def extra_repr(self) -> str:
        return f"window_size={self.window_size}" if self.window_size else "global"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ws = self.window_size
        if ws is None:
            return super().forward(x)
        x = channels_first_for_cpu_half(x)
        x = x + self.pos_embed(x)
        B, C, H, W = x.shape
        x = x.permute(0, 2, 3, 1)  # B, H, W, C (a view of the channels-last map)
        y = self.norm1(x)
        pad_b, pad_r = (-H) % ws, (-W) % ws
        if pad_b or pad_r:
            y = F.pad(y, (0, 0, 0, pad_r, 0, pad_b))
        Hp, Wp = H + pad_b, W + pad_r
        y = y.reshape(B, Hp // ws, ws, Wp // ws, ws, C).transpose(2, 3).reshape(-1, ws * ws, C)  # B*nW, ws*ws, C
        y = self.attn(y)
        y = y.view(B, Hp // ws, Wp // ws, ws, ws, C).transpose(2, 3).reshape(B, Hp, Wp, C)[:, :H, :W]
        x = x + self.drop_path(_scale(y, self.gamma_1))
        x = x + self.drop_path(_scale(self.mlp(self.norm2(x)), self.gamma_2))
        return x.permute(0, 3, 1, 2)  # B, C, H, W (channels-last in memory)


def stage3_windows(depth: int, windows: bool, hybrid: bool, window_size: int) -> list[int | None]:
    """The window of each stage-3 block (None: global), by the original rule: ``windows`` -> all windowed;
    ``hybrid`` -> block i global when (i + 1) % 4 == 0, else windowed; otherwise all global."""
    if windows:
        return [window_size] * depth
    if hybrid:
        return [None if (i + 1) % 4 == 0 else window_size for i in range(depth)]
    return [None] * depth


# --------------------------------------------------------------------------------------------------------------
# Backbone
# --------------------------------------------------------------------------------------------------------------

class UniFormerDense(nn.Module):
    """UniFormer backbone for dense prediction (2-D): four maps at strides 4, 8, 16, 32, each LayerNorm'ed.

    ::

        x ─patch_embed1 (/4)─ blocks1 (CBlock)─────────────── ─norm1─▶ out[0] (B,  64, H/4,  W/4)
          ─patch_embed2 (/2)─ blocks2 (CBlock)─────────────── ─norm2─▶ out[1] (B, 128, H/8,  W/8)
          ─patch_embed3 (/2)─ blocks3 (SA global/window/hybrid) ─norm3─▶ out[2] (B, 320, H/16, W/16)
          ─patch_embed4 (/2)─ blocks4 (SA global)──────────── ─norm4─▶ out[3] (B, 512, H/32, W/32)

    Each stage continues with its un-normalised output. The patch convolutions have no padding, so sizes floor.

    Args:
        depth: blocks per stage (S (3, 4, 8, 3), B (5, 8, 20, 7)).
        embed_dim: channels per stage.
        head_dim: channels per attention head.
        mlp_ratio: MLP hidden size / dim.
        qkv_bias: bias in the fused qkv projection.
        qk_scale: attention scale; None means ``head_dim ** -0.5``.
        in_chans: input channels.
        drop_rate: dropout after the stem and inside the MLP/attention projections.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth of the last block (linear ramp from 0 over all blocks).
        windows: every stage-3 block attends in windows.
        hybrid: (unless ``windows``) stage-3 block i attends globally when (i + 1) % 4 == 0, else in windows.
        window_size: window side in stage-3 tokens.
        use_checkpoint: gradient checkpointing of the first ``checkpoint_num[i]`` blocks of stage i.
        checkpoint_num: blocks per stage to checkpoint when ``use_checkpoint`` (default: all).
        num_classes: must be 0 (a backbone has no classifier; the argument exists for the common interface).
    """

    def __init__(self, depth: Sequence[int] = (3, 4, 8, 3), embed_dim: Sequence[int] = (64, 128, 320, 512),
                 head_dim: int = 64, mlp_ratio: float = 4.0, qkv_bias: bool = True, qk_scale: float | None = None,
                 in_chans: int = 3, drop_rate: float = 0.0, attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 windows: bool = False, hybrid: bool = False, window_size: int = 14, use_checkpoint: bool = False,
                 checkpoint_num: Sequence[int] | None = None, num_classes: int = 0):
        super().__init__()
        depth, embed_dim = check_stages(depth, embed_dim, head_dim)
        if num_classes:
            raise UsageError(f"a dense-prediction backbone has no classifier (num_classes={num_classes} asked for); "
                             f"its output is the 4 feature maps. For ADE20K segmentation use uniformer_small_fpn / "
                             f"uniformer_small_upernet")
        if window_size < 1:
            raise UsageError(f"window_size must be >= 1, got {window_size}")
        self.num_classes = 0
        self.num_features = embed_dim[-1]
        self.embed_dim = embed_dim
        self.out_channels = list(embed_dim)  # channels of the 4 output maps (for FPN necks of other libraries)
        self.use_checkpoint = use_checkpoint
        self.checkpoint_num = list(checkpoint_num) if checkpoint_num is not None else list(depth)

        pe = _patch_embeds(False, False, False, in_chans, embed_dim)
        self.patch_embed1, self.patch_embed2, self.patch_embed3, self.patch_embed4 = pe
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = drop_path_rates(drop_path_rate, sum(depth))
        offsets = [sum(depth[:i]) for i in range(4)]
        for i in range(4):
            if i < 2:
                blocks = (CBlock(embed_dim[i], mlp_ratio, nn.Conv2d, nn.BatchNorm2d, drop_rate, dpr[offsets[i] + j])
                          for j in range(depth[i]))
            else:
                blocks = (WindowSABlock(embed_dim[i], embed_dim[i] // head_dim, mlp_ratio, nn.Conv2d, qkv_bias,
                                        qk_scale, drop_rate, attn_drop_rate, dpr[offsets[i] + j])
                          for j in range(depth[i]))
            self.add_module(f"blocks{i + 1}", nn.ModuleList(blocks))
            self.add_module(f"norm{i + 1}", nn.LayerNorm(embed_dim[i], eps=1e-6))
        self.apply(init_linear_and_norm)
        self.set_attention_mode(windows, hybrid, window_size)

    def set_attention_mode(self, windows: bool = False, hybrid: bool = False, window_size: int = 14) -> None:
        """Switch stage 3 between global, window (``windows``) and hybrid attention with ``window_size`` (no weight
        changes; the original decides this at construction, tubelet at any time)."""
        if window_size < 1:
            raise UsageError(f"window_size must be >= 1, got {window_size}")
        self.windows, self.hybrid, self.window_size = bool(windows), bool(hybrid), int(window_size)
        for blk, ws in zip(self.blocks3, stage3_windows(len(self.blocks3), windows, hybrid, window_size)):
            blk.window_size = ws
        args = getattr(self, "model_args", None)
        if args is not None:
            args.update(windows=self.windows, hybrid=self.hybrid, window_size=self.window_size)

    # -- interface shared by every tubelet model ------------------------------------------------------------------

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """Parameter names excluded from weight decay beyond the usual 1-D rule: none."""
        return set()

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        """Parameter groups (timm's convention): ``stem`` = patch_embed1; each block an ordinal (stage, block); a
        stage's patch embedding joins its first block, its output norm its last."""
        if coarse:
            return dict(stem=r"^patch_embed1\.", blocks=r"^(?:blocks|patch_embed|norm)(\d+)\.")
        return dict(stem=r"^patch_embed1\.", blocks=[(r"^blocks(\d+)\.(\d+)\.", None), (r"^patch_embed(\d+)\.", (0,)),
                                                     (r"^norm(\d+)\.", (99999,))])

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute every block in the backward pass (activation memory for compute); outputs are unchanged."""
        self.use_checkpoint = enable
        self.checkpoint_num = [len(getattr(self, f"blocks{i + 1}")) for i in range(4)]

    def get_classifier(self) -> nn.Module:
        """A backbone has no classifier: ``nn.Identity``."""
        return nn.Identity()

    def reset_classifier(self, num_classes: int) -> None:
        if num_classes:
            raise UsageError("a dense-prediction backbone has no classifier to reset; put a head on its 4 maps")

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4:
            raise UsageError(f"the dense UniFormer backbone expects a 4-D image batch (B, C, H, W), got shape "
                             f"{tuple(x.shape)}")
        if x.shape[1] != self.patch_embed1.proj.weight.shape[1]:
            raise UsageError(f"expected {self.patch_embed1.proj.weight.shape[1]} input channels in (B, C, H, W), got "
                             f"shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < 32:
            raise UsageError(f"H and W must be at least 32 (the network downsamples by 32), got {tuple(x.shape)}")

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, C, H, W)`` -> the 4 normalised stage outputs ``(B, C_i, H / 2^(i+2), W / 2^(i+2))`` (floor),
        contiguous channels-first."""
        self._check_input(x)
        x = self.pos_drop(self.patch_embed1(x))
        outs = []
        for i in range(4):
            if i:
                x = getattr(self, f"patch_embed{i + 1}")(x)
            x = channels_last(x)
            for j, blk in enumerate(getattr(self, f"blocks{i + 1}")):
                if self.use_checkpoint and j < self.checkpoint_num[i] and torch.is_grad_enabled():
                    x = checkpoint(blk, x, use_reentrant=False)
                else:
                    x = blk(x)
            norm = getattr(self, f"norm{i + 1}")
            outs.append(norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).contiguous())
        return outs

    def forward_head(self, x: list[torch.Tensor], pre_logits: bool = False) -> list[torch.Tensor]:
        """The backbone has no head: the maps are returned as they are."""
        return x

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.forward_head(self.forward_features(x))


# --------------------------------------------------------------------------------------------------------------
# Segmentation
# --------------------------------------------------------------------------------------------------------------

class UniFormerSegmentor(BackboneTaskModel, nn.Module):
    """mmseg's ``EncoderDecoder`` at inference: ``backbone`` -> (``neck``) -> ``decode_head``; the
    ``auxiliary_head`` (deep supervision in training) is kept so the released files load strictly, and unused at test.

    * ``forward_features(x)``: the backbone's 4 maps;
    * ``forward_head(maps)``: ``seg_logits`` ``(B, num_classes, H/4, W/4)`` (neck + decode head);
      ``pre_logits=True``: the decode head's feature before ``conv_seg``;
    * ``forward(x)``: ``seg_logits`` bilinearly resized (``align_corners``) to x's size (mmseg ``encode_decode``);
    * :meth:`slide_inference`, :meth:`predict`: mmseg's sliding-window inference and the label map.

    Args:
        backbone: a module returning the list of 4 maps (:class:`UniFormerDense`, or the light backbone).
        decode_head: :class:`~tubelet.models.dense_heads.FPNHead` or :class:`~tubelet.models.dense_heads.UPerHead`.
        neck: :class:`~tubelet.models.dense_heads.FPN` (Semantic FPN), or None (UperNet).
        auxiliary_head: :class:`~tubelet.models.dense_heads.FCNHead`, or None.
    """

    def __init__(self, backbone: nn.Module, decode_head: nn.Module, neck: nn.Module | None = None,
                 auxiliary_head: nn.Module | None = None):
        super().__init__()
        self.backbone = backbone  # the order of the attributes is mmseg's state-dict order
        self.neck = neck
        self.decode_head = decode_head
        self.auxiliary_head = auxiliary_head
        self.decoder = "upernet" if isinstance(decode_head, UPerHead) else "fpn"
        self.align_corners = decode_head.align_corners
        self.num_features = decode_head.channels

    @property
    def num_classes(self) -> int:
        return self.decode_head.num_classes

    # -- interface shared by every tubelet model (no_weight_decay, group_matcher, set_grad_checkpointing: the
    # backbone's, BackboneTaskModel) ------------------------------------------------------------------------------

    def set_attention_mode(self, windows: bool = False, hybrid: bool = False, window_size: int = 14) -> None:
        """Switch the backbone's stage-3 attention (see :meth:`UniFormerDense.set_attention_mode`)."""
        self.backbone.set_attention_mode(windows, hybrid, window_size)
        args = getattr(self, "model_args", None)
        if args is not None:
            args.update(windows=bool(windows), hybrid=bool(hybrid), window_size=int(window_size))

    def get_classifier(self) -> nn.Module:
        return self.decode_head.conv_seg

    def reset_classifier(self, num_classes: int) -> None:
        """New ``conv_seg`` layers (decode and auxiliary head) with ``num_classes`` rows (a new label space)."""
        if num_classes < 1:
            raise UsageError(f"a segmentation model needs num_classes >= 1, got {num_classes}")
        self.decode_head.reset_classifier(num_classes)
        if self.auxiliary_head is not None:
            self.auxiliary_head.reset_classifier(num_classes)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The backbone's 4 maps (strides 4, 8, 16, 32)."""
        return list(self.backbone(x))

    def forward_head(self, x: list[torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        """Backbone maps -> ``seg_logits`` ``(B, num_classes, H/4, W/4)`` (mmseg: the decode head's test output)."""
        if self.neck is not None:
            x = self.neck(x)
        return self.decode_head(x, pre_logits=pre_logits)

    def forward_aux(self, x: list[torch.Tensor]) -> torch.Tensor:
        """The auxiliary head's logits on the backbone maps (at its input's resolution, 1/16), for a deep-supervision
        loss in training (mmseg weights it 0.4); not part of the test output."""
        if self.auxiliary_head is None:
            raise UsageError("this model has no auxiliary head (aux_head=False)")
        return self.auxiliary_head(x)

    def forward(self, x: torch.Tensor, heads: bool = False):
        """mmseg "whole" inference (``encode_decode``): logits ``(B, num_classes, H, W)`` at the input's size.

        ``heads=True`` (training): ``(seg_logits, aux_logits)`` at the heads' own resolutions (1/4; the auxiliary
        head's 1/16, or None without it), what mmseg's losses take, in one pass through ``forward`` (so that a
        ``DistributedDataParallel`` wrapper sees it)."""
        feats = self.forward_features(x)
        logits = self.forward_head(feats)
        if heads:
            return logits, (self.forward_aux(feats) if self.auxiliary_head is not None else None)
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=self.align_corners)

    def slide_inference(self, x: torch.Tensor, crop_size: int | Sequence[int] = 512,
                        stride: int | Sequence[int] = 341) -> torch.Tensor:
        """mmseg's sliding-window inference: logits ``(B, num_classes, H, W)``, the average of the whole-inference
        logits of every ``crop_size`` window (``(h, w)``, or one int) taken every ``stride``; the last window of each
        row/column is aligned to the image's edge, and a window larger than the image is clipped to it (no padding).

        With a crop that covers the image it equals ``model(x)``.
        """
        h_crop, w_crop = (crop_size, crop_size) if isinstance(crop_size, int) else tuple(crop_size)
        h_stride, w_stride = (stride, stride) if isinstance(stride, int) else tuple(stride)
        if min(h_crop, w_crop, h_stride, w_stride) < 1:
            raise UsageError(f"crop_size and stride must be positive, got {crop_size}, {stride}")
        B, _, H, W = x.shape
        h_grids = max(H - h_crop + h_stride - 1, 0) // h_stride + 1
        w_grids = max(W - w_crop + w_stride - 1, 0) // w_stride + 1
        preds = x.new_zeros((B, self.num_classes, H, W))
        count = x.new_zeros((1, 1, H, W))
        for i in range(h_grids):
            for j in range(w_grids):
                y2, x2 = min(i * h_stride + h_crop, H), min(j * w_stride + w_crop, W)
                y1, x1 = max(y2 - h_crop, 0), max(x2 - w_crop, 0)
                preds[:, :, y1:y2, x1:x2] += self(x[:, :, y1:y2, x1:x2])
                count[:, :, y1:y2, x1:x2] += 1
        return preds / count

    def predict(self, x: torch.Tensor, mode: Literal["whole", "slide"] = "whole",
                crop_size: int | Sequence[int] = 512, stride: int | Sequence[int] = 341,
                size: Sequence[int] | None = None, probabilities: bool = False) -> torch.Tensor:
        """The segmentation of ``x`` (mmseg ``simple_test``): labels ``(B, H, W)`` (int64), or with
        ``probabilities=True`` the softmax ``(B, num_classes, H, W)``.

        Args:
            x: normalised images ``(B, 3, H, W)`` (resized by the test rule of ``pretrained_cfg.notes``).
            mode: ``"whole"`` (the released configs) or ``"slide"`` (:meth:`slide_inference` with ``crop_size`` and
                ``stride``).
            size: the original image's ``(H, W)``: the logits are bilinearly resized to it first (mmseg
                ``rescale=True``).
        """
        if mode not in ("whole", "slide"):
            raise UsageError(f"mode must be 'whole' or 'slide', got {mode!r}")
        logits = self(x) if mode == "whole" else self.slide_inference(x, crop_size, stride)
        if size is not None and tuple(size) != tuple(logits.shape[-2:]):
            logits = F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=self.align_corners)
        probs = logits.softmax(dim=1)
        return probs if probabilities else probs.argmax(dim=1)


# --------------------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------------------

#: constructor options of the backbone that change no weight's name or shape
RUNTIME_ARGS = frozenset({"drop_rate", "attn_drop_rate", "drop_path_rate", "use_checkpoint", "checkpoint_num",
                          "qk_scale", "img_size", "windows", "hybrid", "window_size"})
#: the segmentation models' too (the light backbone's token pruning included)
SEG_RUNTIME_ARGS = RUNTIME_ARGS | {"dropout_ratio", "align_corners", "prune_ratio", "trade_off"}
#: classifier parameters of the segmentation models (replaced together for a new label space)
SEG_CLASSIFIER_PREFIXES = ("decode_head.conv_seg.", "auxiliary_head.conv_seg.")
#: the parts of an mmseg EncoderDecoder file
_SEG_PARTS = ("backbone", "neck", "decode_head", "auxiliary_head")
_CLASSIFIER_PARTS = ("norm", "head", "aux_head")  # of an ImageNet UniFormer classifier, not in a dense backbone


class _Converted(dict):
    """A converted state dict that remembers what kind of file it came from and what else the file held."""

    kind: str = "backbone"
    left_out: dict

    def __init__(self, *args, kind: str = "backbone", left_out: dict | None = None):
        super().__init__(*args)
        self.kind = kind
        self.left_out = dict(left_out or {})


def _backbone_part(state_dict: dict, path: str) -> tuple[dict, str, dict]:
    """The dense backbone's weights in a file of any producer, without prefix: ``(weights, kind, left_out)`` with
    kind ``"task"`` (an mmdet/mmseg/mmpose file: ``backbone.*``), ``"backbone"`` (a flat backbone) or
    ``"classifier"`` (an ImageNet UniFormer: its ``norm``/``head`` go to ``left_out``)."""
    if any(k.startswith("backbone.") for k in state_dict):
        kept, left_out = split_parts(state_dict, ("backbone",))
        sd = {k[len("backbone."):]: v for k, v in kept.items()}
        kind = "task"
    else:
        sd, left_out, kind = dict(state_dict), {}, "backbone"
    stem = sd.get("patch_embed1.proj.weight")
    if stem is None:
        if "patch_embed1.proj.0.weight" in sd or "cls_token" in sd:
            raise CheckpointError(f"{path}: holds a light UniFormer (XXS/XS: conv stem and class token); use "
                                  f"uniformer_xxs_dense / uniformer_xs_dense (or uniformer_xxs_fpn / uniformer_xs_fpn)")
        parts = sorted({k.split(".", 1)[0] for k in state_dict})[:8]
        raise CheckpointError(f"{path}: not a UniFormer backbone: no 'patch_embed1.proj.weight' (or "
                              f"'backbone.patch_embed1.proj.weight'); the file's parts: {', '.join(parts)}")
    if stem.ndim == 5:
        raise CheckpointError(f"{path}: holds a VIDEO UniFormer (3-D kernels); the dense-prediction models start from "
                              f"the ImageNet image UniFormer (uniformer_small_in1k.pth / uniformer_base_in1k.pth, "
                              f"create_model(..., pretrained='in1k')), not from a video model")
    if any(k.split(".", 1)[0] in _CLASSIFIER_PARTS for k in sd):
        sd, classifier = split_parts(sd, tuple({k.split(".", 1)[0] for k in sd} - set(_CLASSIFIER_PARTS)))
        left_out = {**classifier, **left_out}
        kind = "classifier"
    return sd, kind, left_out


def _arch_of_backbone(sd: dict, prefix: str = "") -> dict:
    depth = [count_blocks(sd, f"{prefix}blocks{i}.") for i in range(1, 5)]  # other keys: named by the strict load
    embed_dim = []
    for i in range(1, 5):
        w = sd.get(f"{prefix}norm{i}.weight")
        if w is None:
            w = sd.get(f"{prefix}patch_embed{i}.proj.weight", sd.get(f"{prefix}patch_embed{i}.proj.3.weight"))
        embed_dim.append(None if w is None else int(w.shape[0]))
    # a width the file does not give, or block numbers with a gap, determine nothing (the strict load names the keys)
    arch = {} if None in depth else dict(depth=depth)
    return arch if None in embed_dim else dict(arch, embed_dim=embed_dim)


def convert_backbone_state_dict(state_dict: dict, path: str) -> tuple[dict, str]:
    """A file holding the dense backbone -> the backbone's weights (original names, no prefix).

    Returns:
        the weights (remembering the parts of the file left out) and a description of the layout.
    """
    sd, kind, left_out = _backbone_part(state_dict, path)
    producer = {"task": "mmdet/mmseg/mmpose (backbone.* taken)", "backbone": "original UniFormer backbone keys",
                "classifier": "ImageNet UniFormer classifier (original keys)"}[kind]
    return _Converted(sd, kind=kind, left_out=left_out), producer


def backbone_checkpoint_arch(state_dict: dict, path: str) -> dict:
    """``depth`` and ``embed_dim`` of the backbone weights (no classifier: ``num_classes`` None)."""
    return dict(_arch_of_backbone(state_dict), num_classes=None, kind=getattr(state_dict, "kind", "backbone"),
                left_out=getattr(state_dict, "left_out", {}))


def _fill_output_norms(sd: dict, model_sd: dict, prefix: str, notes: list[str]) -> dict:
    """``norm1..norm4`` missing from the weights (an ImageNet classifier has none) keep the model's initialisation,
    as the official non-strict ``pretrained_path`` load leaves them."""
    missing = [k for k in model_sd if k.startswith(tuple(f"{prefix}norm{i}." for i in range(1, 5))) and k not in sd]
    if missing:
        norms = sorted({k[len(prefix):].split(".")[0] for k in missing})
        notes.append(f"{', '.join(norms)} (the output LayerNorms) are not in the file: they keep their "
                     f"initialisation (weight 1, bias 0), as the official non-strict pretrained_path load leaves them")
        sd = {**sd, **{k: model_sd[k] for k in missing}}
    return sd


def fit_backbone_state_dict(state_dict: dict, arch: dict, model: UniFormerDense,
                            path: str) -> tuple[dict, list[str]]:
    """Report the parts left out; an ImageNet classifier initialises the backbone by the official rule."""
    notes = task_file_notes(arch, "dense backbone", "the backbone")
    return _fill_output_norms(dict(state_dict), model.state_dict(), "", notes), notes


def task_file_notes(arch: dict, target: str, whole: str) -> list[str]:
    """The load-report notes on what of the file a model built on the dense backbone leaves out: an ImageNet
    classifier's final norm and head (the official ``pretrained_path`` rule), the other task parts."""
    notes = []
    if arch.get("kind") == "classifier":
        notes.append(f"ImageNet UniFormer classifier -> {target} (official pretrained_path rule): its final "
                     f"norm/head are not part of {whole}")
    if arch.get("left_out"):
        notes.append(describe_parts(arch["left_out"]))
    return notes


BACKBONE_FAMILY = ModelFamily(
    name="uniformer_dense", convert_state_dict=convert_backbone_state_dict, checkpoint_arch=backbone_checkpoint_arch,
    classifier_prefixes=(), runtime_args=RUNTIME_ARGS, fit_state_dict=fit_backbone_state_dict)


def convert_seg_state_dict(state_dict: dict, path: str) -> tuple[dict, str]:
    """A segmentation file keeps its ``backbone``/``neck``/``decode_head``/``auxiliary_head`` parts; any other file
    that holds the backbone (detector, pose model, backbone, ImageNet classifier) gives ``backbone.*`` only."""
    if any(k.startswith(("decode_head.", "auxiliary_head.")) for k in state_dict):
        sd, left_out = split_parts(state_dict, _SEG_PARTS)
        return (_Converted(sd, kind="segmentor", left_out=left_out),
                "mmseg EncoderDecoder (backbone./neck./decode_head.)")
    light = any(k.split(".", 1)[-1].startswith(("cls_token", "patch_embed1.proj.0.")) for k in state_dict)
    if light:  # the light backbone: taken as it is (its own family checks it)
        kept, left_out = split_parts(state_dict, ("backbone",))
        if kept:
            sd = {k[len("backbone."):]: v for k, v in kept.items()}
        else:
            sd, left_out = dict(state_dict), {}
        sd, classifier = split_parts(sd, tuple({k.split(".", 1)[0] for k in sd} - {"norm", "norm_cls", "head",
                                                                                    "head_cls"}))
        kind = "classifier" if classifier else "task" if kept else "backbone"
        left_out = {**classifier, **left_out}
    else:
        sd, kind, left_out = _backbone_part(state_dict, path)
    producer = {"task": "backbone.* of an mmdet/mmpose file (heads new)", "backbone": "backbone only (heads new)",
                "classifier": "ImageNet classifier: backbone only (heads new)"}[kind]
    return _Converted({f"backbone.{k}": v for k, v in sd.items()}, kind=kind, left_out=left_out), producer


def seg_checkpoint_arch(state_dict: dict, path: str) -> dict:
    """``depth``, ``embed_dim`` of the backbone; the decode head (``decoder``), its classes (``num_classes``, None
    without a decode head) and whether the file has the auxiliary head (``has_aux``)."""
    sd = state_dict
    decoder = ("fpn" if any(k.startswith("decode_head.scale_heads.") for k in sd) else
               "upernet" if any(k.startswith("decode_head.psp_modules.") for k in sd) else
               "unknown" if any(k.startswith("decode_head.") for k in sd) else None)
    w = sd.get("decode_head.conv_seg.weight")
    return dict(_arch_of_backbone(sd, "backbone."), decoder=decoder, num_classes=None if w is None else int(w.shape[0]),
                has_aux=any(k.startswith("auxiliary_head.") for k in sd), kind=getattr(sd, "kind", "segmentor"),
                left_out=getattr(sd, "left_out", {}))


def seg_resolve_switches(arch: dict, options: dict, path: str, name: str) -> dict:
    """A segmentation file without the auxiliary head builds the model without it (unless ``aux_head`` is given)."""
    if arch["decoder"] is not None and "aux_head" not in options:
        return {"aux_head": arch["has_aux"]}
    return {}


def seg_is_init_source(arch: dict, cfg: PretrainedCfg) -> bool:
    """A file without a decode head (backbone, detector, ImageNet classifier) only initialises the backbone."""
    return arch["num_classes"] is None


def fit_seg_state_dict(state_dict: dict, arch: dict, model: UniFormerSegmentor,
                       path: str) -> tuple[dict, list[str]]:
    """Check the decode head's kind; a file without heads initialises the backbone (the rest keeps its
    initialisation, the classifier is reported new by the builder); an auxiliary head the model lacks is left out."""
    sd, notes = dict(state_dict), []
    model_sd = model.state_dict()
    if arch["decoder"] is not None and arch["decoder"] != model.decoder:
        kinds = {"fpn": "Semantic FPN (neck + FPNHead)", "upernet": "UperNet (UPerHead)",
                 "unknown": "segmentation model with an unknown decode head"}
        raise CheckpointError(f"{path}: holds a {kinds[arch['decoder']]}; this is a {kinds[model.decoder]} model "
                              f"(use uniformer_{{small,base}}_{'upernet' if arch['decoder'] == 'upernet' else 'fpn'})")
    if arch["num_classes"] is None:
        what = {"task": "the backbone of a detection/pose model", "backbone": "a backbone",
                "classifier": "an ImageNet classifier (official pretrained_path rule: its norm/head left out)"}
        heads = [p for p in ("neck", "decode_head", "auxiliary_head") if getattr(model, p) is not None]
        notes.append(f"initialised from {what.get(arch['kind'], 'a backbone')}: {', '.join(heads)} start from their "
                     f"initialisation")
        new = [k for k in model_sd if not k.startswith(("backbone.",) + SEG_CLASSIFIER_PREFIXES) and k not in sd]
        sd.update({k: model_sd[k] for k in new})
        if any(k.startswith("backbone.norm1.") for k in model_sd):  # the standard backbone (not the light one)
            sd = _fill_output_norms(sd, model_sd, "backbone.", notes)
    elif arch["has_aux"] and model.auxiliary_head is None:
        dropped = [k for k in sd if k.startswith("auxiliary_head.")]
        sd = {k: v for k, v in sd.items() if k not in dropped}
        notes.append(f"auxiliary_head.* ({len(dropped)} tensors) not loaded: the model was built with aux_head=False "
                     f"(the auxiliary head is unused at test)")
    elif model.auxiliary_head is not None and not arch["has_aux"]:
        new = [k for k in model_sd if k.startswith("auxiliary_head.") and k not in sd]
        sd.update({k: model_sd[k] for k in new})
        notes.append("the file has no auxiliary head: auxiliary_head.* starts from its initialisation")
    if arch.get("left_out"):
        notes.append(describe_parts(arch["left_out"]))
    return sd, notes


SEG_FAMILY = ModelFamily(
    name="uniformer_seg", convert_state_dict=convert_seg_state_dict, checkpoint_arch=seg_checkpoint_arch,
    classifier_prefixes=SEG_CLASSIFIER_PREFIXES, runtime_args=SEG_RUNTIME_ARGS, resolve_switches=seg_resolve_switches,
    fit_state_dict=fit_seg_state_dict, is_init_source=seg_is_init_source)


# --------------------------------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------------------------------

_SOURCE = "https://github.com/Sense-X/UniFormer @ 52a0415"
_PAPER = "UniFormer: Unifying Convolution and Self-attention for Visual Recognition (arXiv:2201.09450)"
_IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def _dense_cfg(name: str) -> PretrainedCfg:
    return PretrainedCfg(
        architecture=name, num_classes=0, input_size=(3, 800, 1333), resize_size=800, source=_SOURCE,
        license="Apache-2.0", paper=_PAPER, **_IMAGENET,
        notes="Dense-prediction backbone: model(x) -> 4 maps (strides 4/8/16/32, channels 64/128/320/512). COCO "
              "detection test rule: keep-ratio resize to (1333, 800), pad to multiples of 32. Stage 3: hybrid, "
              "window 14 (the detection configs). Initialise for training with pretrained='in1k'.")


def _seg_cfg(name: str, fpn: bool) -> PretrainedCfg:
    rule = ("keep-ratio resize to (2048, 512) then align each side to a multiple of 32 (AlignResize)" if fpn else
            "keep-ratio resize to (2048, 512), no size divisor")
    return PretrainedCfg(
        architecture=name, num_classes=150, input_size=(3, 512, 512), resize_size=512, label_names="ade20k",
        source=_SOURCE, license="Apache-2.0", paper=_PAPER, **_IMAGENET,
        notes=f"ADE20K (150 classes, training crop 512x512). Test: {rule}; 'whole' inference (model(x) = logits at "
              f"the input size; model.predict(x, size=original_hw) = labels), no flip. Stage-3 attention: global by "
              f"default; the released files were tested global / hybrid / window (windows, hybrid, window_size).")


_CFGS = {n: _dense_cfg(n) for n in ("uniformer_small_dense", "uniformer_base_dense")}
_CFGS.update({n: _seg_cfg(n, n.endswith("_fpn")) for n in (
    "uniformer_small_fpn", "uniformer_base_fpn", "uniformer_small_upernet", "uniformer_base_upernet",
    "uniformer_xxs_fpn", "uniformer_xs_fpn")})
_S = dict(depth=(3, 4, 8, 3), embed_dim=(64, 128, 320, 512), head_dim=64)
_B = dict(depth=(5, 8, 20, 7), embed_dim=(64, 128, 320, 512), head_dim=64)


def _create_dense(variant: str, model_args: dict, **kwargs) -> UniFormerDense:
    """Build the backbone ``variant``: its ``model_args`` with the caller's options on top (``img_size`` changes the
    data contract only)."""
    img_size = kwargs.pop("img_size", None)
    resolved = resolve_args(variant, UniFormerDense, model_args, {**model_args, **kwargs}, extra={"img_size"})
    model = UniFormerDense(**resolved)
    attach_cfg(model, variant, resolved, img_size=img_size)
    if img_size is not None:
        resolved["img_size"] = img_size
    return model


@dataclasses.dataclass
class SegmentorOptions:
    """The options of the segmentation variants beyond the backbone's (mmseg config names in parentheses).

    Attributes:
        num_classes: classes of the decode (and auxiliary) head (``num_classes``).
        channels: decode-head channels (FPNHead 128, UPerHead 512).
        neck_channels: FPN neck channels (``neck.out_channels``; Semantic FPN only).
        pool_scales: PPM bins (UperNet only).
        aux_head: build the auxiliary FCN head on stage 3 (in the UperNet files; unused at test).
        aux_channels: its channels.
        dropout_ratio: ``Dropout2d`` before ``conv_seg`` (training only).
        align_corners: of every bilinear resize of the heads and of the output.
    """

    num_classes: int = 150
    channels: int = 128
    neck_channels: int = 256
    pool_scales: Sequence[int] = (1, 2, 3, 6)
    aux_head: bool = False
    aux_channels: int = 256
    dropout_ratio: float = 0.1
    align_corners: bool = False


_SEG_OPTIONS = frozenset(f.name for f in dataclasses.fields(SegmentorOptions))


def _create_segmentor(variant: str, decoder: str, backbone_args: dict, head_args: dict, light: str | None = None,
                      **kwargs) -> UniFormerSegmentor:
    """Build the segmentation ``variant``: the caller's options are split between the backbone and the heads
    (:class:`SegmentorOptions`); ``model_args`` records both, flat."""
    img_size = kwargs.pop("img_size", None)
    head_kw = {k: kwargs.pop(k) for k in list(kwargs) if k in _SEG_OPTIONS}
    head = resolve_args(variant, SegmentorOptions, head_args, {**head_args, **head_kw})
    if light is None:
        bb = resolve_args(variant, UniFormerDense, backbone_args, {**backbone_args, **kwargs},
                          extra=_SEG_OPTIONS | {"img_size"})
        backbone = UniFormerDense(**bb)
        in_channels = list(bb["embed_dim"])
    else:
        backbone = _light_backbone(variant, light, {**backbone_args, **kwargs})
        bb = {k: v for k, v in backbone.model_args.items() if k not in ("img_size", "num_classes")}
        in_channels = list(getattr(backbone, "out_channels", None) or bb["embed_dim"])
    opts = SegmentorOptions(**head)
    if decoder == "fpn":
        neck = FPN(in_channels, opts.neck_channels)
        decode_head = FPNHead([opts.neck_channels] * 4, opts.channels, (4, 8, 16, 32), opts.num_classes,
                              opts.dropout_ratio, opts.align_corners)
    else:
        neck = None
        decode_head = UPerHead(in_channels, opts.channels, opts.pool_scales, opts.num_classes, opts.dropout_ratio,
                               opts.align_corners)
    aux = (FCNHead(in_channels[2], opts.aux_channels, 1, 3, False, 2, opts.num_classes, opts.dropout_ratio,
                   opts.align_corners) if opts.aux_head else None)
    model = UniFormerSegmentor(backbone, decode_head, neck, aux)
    resolved = {**bb, **head}
    attach_cfg(model, variant, resolved, img_size=img_size)
    if img_size is not None:
        resolved["img_size"] = img_size
    return model


def _light_backbone(variant: str, light: str, kwargs: dict) -> nn.Module:
    """The light (XXS/XS) dense backbone, built by its own variant (``tubelet.models.uniformer_light``, registered
    by ``tubelet.models``)."""
    try:
        return get_entrypoint(light)(**kwargs)
    except OptionError as e:
        raise OptionError(f"{variant}: {e} (the segmentation options: {', '.join(sorted(_SEG_OPTIONS))})") from None


_FPN = dict(channels=128, aux_head=False)
_UPER = dict(channels=512, aux_head=True)


@register_model(BACKBONE_FAMILY, _CFGS["uniformer_small_dense"])
def uniformer_small_dense(**kwargs) -> UniFormerDense:
    """UniFormer-S dense backbone (21.0M params): 4 maps; stage 3 hybrid, window 14 (the Mask R-CNN configs)."""
    return _create_dense("uniformer_small_dense", dict(hybrid=True, window_size=14, drop_path_rate=0.2, **_S),
                         **kwargs)


@register_model(BACKBONE_FAMILY, _CFGS["uniformer_base_dense"])
def uniformer_base_dense(**kwargs) -> UniFormerDense:
    """UniFormer-B dense backbone (49.3M params): 4 maps; stage 3 hybrid, window 14 (the Mask R-CNN configs)."""
    return _create_dense("uniformer_base_dense", dict(hybrid=True, window_size=14, drop_path_rate=0.3, **_B),
                         **kwargs)


@register_model(SEG_FAMILY, _CFGS["uniformer_small_fpn"])
def uniformer_small_fpn(**kwargs) -> UniFormerSegmentor:
    """Semantic FPN UniFormer-S, ADE20K (25.3M params; mIoU 46.6 global / 46.2 h32 / 45.6 w32, 46.3 h14)."""
    return _create_segmentor("uniformer_small_fpn", "fpn", dict(drop_path_rate=0.1, **_S), _FPN, **kwargs)


@register_model(SEG_FAMILY, _CFGS["uniformer_base_fpn"])
def uniformer_base_fpn(**kwargs) -> UniFormerSegmentor:
    """Semantic FPN UniFormer-B, ADE20K (54M params; mIoU 48.0 global / 47.7 h32 / 47.0 w32, 47.0 h14)."""
    return _create_segmentor("uniformer_base_fpn", "fpn", dict(drop_path_rate=0.2, **_B), _FPN, **kwargs)


@register_model(SEG_FAMILY, _CFGS["uniformer_small_upernet"])
def uniformer_small_upernet(**kwargs) -> UniFormerSegmentor:
    """UperNet UniFormer-S, ADE20K (51.5M params with the auxiliary head; mIoU 47.6 global, 46.9 h14)."""
    return _create_segmentor("uniformer_small_upernet", "upernet", dict(drop_path_rate=0.25, **_S), _UPER, **kwargs)


@register_model(SEG_FAMILY, _CFGS["uniformer_base_upernet"])
def uniformer_base_upernet(**kwargs) -> UniFormerSegmentor:
    """UperNet UniFormer-B, ADE20K (80M params with the auxiliary head; mIoU 50.0 global, 48.9 h14)."""
    return _create_segmentor("uniformer_base_upernet", "upernet", dict(drop_path_rate=0.4, **_B), _UPER, **kwargs)


@register_model(SEG_FAMILY, _CFGS["uniformer_xxs_fpn"])
def uniformer_xxs_fpn(**kwargs) -> UniFormerSegmentor:
    """Semantic FPN with the light UniFormer-XXS backbone, ADE20K (13.5M params per the README; mIoU 42.3)."""
    return _create_segmentor("uniformer_xxs_fpn", "fpn", dict(drop_path_rate=0.0), _FPN,
                             light="uniformer_xxs_dense", **kwargs)


@register_model(SEG_FAMILY, _CFGS["uniformer_xs_fpn"])
def uniformer_xs_fpn(**kwargs) -> UniFormerSegmentor:
    """Semantic FPN with the light UniFormer-XS backbone, ADE20K (19.7M params per the README; mIoU 44.4)."""
    return _create_segmentor("uniformer_xs_fpn", "fpn", dict(drop_path_rate=0.1), _FPN,
                             light="uniformer_xs_dense", **kwargs)
