"""Necks and decode heads of the UniFormer semantic-segmentation models (mmsegmentation 0.13, as forked by
Sense-X/UniFormer @ 52a0415 under ``semantic_segmentation/mmseg``).

Written from the architecture (../reference/DENSE.md §3), not copied. Module and parameter names are mmseg's, so an
``EncoderDecoder`` state dict loads without renaming:

* :class:`ConvModule`: mmcv's conv -> norm -> activation unit (``conv``, ``bn``; the conv has a bias only when no
  norm follows);
* :class:`FPN`: the feature pyramid neck (``lateral_convs.i``, ``fpn_convs.i``; no norm, no activation);
* :class:`FPNHead`: the Semantic FPN decode head (``scale_heads.i``);
* :class:`UPerHead` with its pyramid pooling module :class:`PPM`: the UperNet decode head;
* :class:`FCNHead`: the auxiliary head of the UperNet models (deep supervision in training; unused at test).

Every head takes the list of feature maps and returns per-pixel logits ``(B, num_classes, h, w)`` at the resolution
of its first input (1/4 of the image for the UniFormer models); ``pre_logits=True`` returns the feature that enters
``conv_seg``. BatchNorm stands for mmseg's SyncBN (identical in eval mode; convert with
``nn.SyncBatchNorm.convert_sync_batchnorm`` for multi-GPU training).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ConvModule", "FPN", "FPNHead", "PPM", "UPerHead", "FCNHead"]


class ConvModule(nn.Module):
    """``conv -> BatchNorm -> ReLU`` (mmcv's ``ConvModule`` with ``norm_cfg=BN``); without ``norm`` the conv has a bias
    and no norm follows, without ``act`` no ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0, norm: bool = True,
                 act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=not norm)
        self.bn = nn.BatchNorm2d(out_channels) if norm else None
        self.act = nn.ReLU(inplace=True) if act else None
        # mmcv's init: Kaiming-normal (fan_out, ReLU) conv weights, zero bias, norm weight 1 / bias 0
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        if self.conv.bias is not None:
            nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.act is not None:
            x = self.act(x)
        return x


def _resize(x: torch.Tensor, size, align_corners: bool) -> torch.Tensor:
    """mmseg's ``resize``: bilinear interpolation to ``size``."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=align_corners)


class FPN(nn.Module):
    """Feature pyramid neck (mmseg/mmdet ``FPN`` with the configs' settings: no norm, no activation, no extra convs).

    ``lateral_i = lateral_convs.i(x_i)`` (1x1); top-down ``lateral_{i-1} += nearest-resize(lateral_i)`` to
    ``lateral_{i-1}``'s size; ``out_i = fpn_convs.i(lateral_i)`` (3x3). With ``num_outs`` above the number of inputs
    (the detection configs: 5) each extra level is ``max_pool2d(previous, 1, stride=2)``.

    Args:
        in_channels: channels of each input map.
        out_channels: channels of every output.
        num_outs: output levels (default: one per input).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int = 256, num_outs: int | None = None):
        super().__init__()
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_outs = num_outs or len(self.in_channels)
        if self.num_outs < len(self.in_channels):
            raise ValueError(f"FPN: num_outs={self.num_outs} is below the {len(self.in_channels)} inputs")
        self.lateral_convs = nn.ModuleList(ConvModule(c, out_channels, 1, norm=False, act=False)
                                           for c in self.in_channels)
        self.fpn_convs = nn.ModuleList(ConvModule(out_channels, out_channels, 3, padding=1, norm=False, act=False)
                                       for _ in self.in_channels)
        for m in self.modules():  # mmseg FPN.init_weights: Xavier-uniform convs
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"FPN expects {len(self.in_channels)} maps, got {len(inputs)}")
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(laterals[i], size=laterals[i - 1].shape[2:],
                                                              mode="nearest")
        outs = [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return outs


class _DecodeHead(nn.Module):
    """What every mmseg decode head has (``BaseDecodeHead``): ``conv_seg`` (1x1 classifier, created first, hence first
    in the state dict) after ``Dropout2d``."""

    def __init__(self, channels: int, num_classes: int, dropout_ratio: float, align_corners: bool):
        super().__init__()
        self.channels = channels
        self.num_classes = num_classes
        self.align_corners = align_corners
        self.conv_seg = self._classifier(num_classes)
        self.dropout = nn.Dropout2d(dropout_ratio) if dropout_ratio > 0 else None

    def _classifier(self, num_classes: int) -> nn.Conv2d:
        conv = nn.Conv2d(self.channels, num_classes, 1)
        nn.init.normal_(conv.weight, std=0.01)  # mmseg BaseDecodeHead.init_weights
        nn.init.zeros_(conv.bias)
        return conv

    def reset_classifier(self, num_classes: int) -> None:
        """A freshly initialised ``conv_seg`` with ``num_classes`` rows."""
        self.num_classes = num_classes
        self.conv_seg = self._classifier(num_classes).to(self.conv_seg.weight.device)

    def cls_seg(self, feat: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if pre_logits:
            return feat
        if self.dropout is not None:
            feat = self.dropout(feat)
        return self.conv_seg(feat)


class FPNHead(_DecodeHead):
    """Semantic FPN decode head (mmseg ``FPNHead``).

    ``scale_heads.i`` = ``max(1, log2(stride_i / stride_0))`` x [ConvModule 3x3 (BN, ReLU), then, for i > 0, a x2
    bilinear upsampling]; the outputs are summed (each bilinearly resized to the first one's size), then
    ``conv_seg``. The upsampling modules hold state-dict indices (``scale_heads.3.{0,2,4}`` are the convs).
    """

    def __init__(self, in_channels: Sequence[int] = (256, 256, 256, 256), channels: int = 128,
                 feature_strides: Sequence[int] = (4, 8, 16, 32), num_classes: int = 150, dropout_ratio: float = 0.1,
                 align_corners: bool = False):
        super().__init__(channels, num_classes, dropout_ratio, align_corners)
        if len(feature_strides) != len(in_channels) or min(feature_strides) != feature_strides[0]:
            raise ValueError(f"FPNHead: feature_strides {list(feature_strides)} must match in_channels and start "
                             f"with the smallest")
        self.feature_strides = list(feature_strides)
        self.scale_heads = nn.ModuleList()
        for i, stride in enumerate(feature_strides):
            length = max(1, int(math.log2(stride) - math.log2(feature_strides[0])))
            layers: list[nn.Module] = []
            for k in range(length):
                layers.append(ConvModule(in_channels[i] if k == 0 else channels, channels, 3, padding=1))
                if stride != feature_strides[0]:
                    layers.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=align_corners))
            self.scale_heads.append(nn.Sequential(*layers))

    def forward(self, inputs: Sequence[torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        out = self.scale_heads[0](inputs[0])
        for i in range(1, len(self.feature_strides)):
            out = out + _resize(self.scale_heads[i](inputs[i]), out.shape[2:], self.align_corners)
        return self.cls_seg(out, pre_logits)


class PPM(nn.ModuleList):
    """Pyramid pooling module (PSPNet): for each scale, adaptive average pooling to ``scale x scale`` bins, a 1x1
    ConvModule, and a bilinear resize back to the input's size. Returns the list of resized maps."""

    def __init__(self, pool_scales: Sequence[int], in_channels: int, channels: int, align_corners: bool):
        super().__init__(nn.Sequential(nn.AdaptiveAvgPool2d(s), ConvModule(in_channels, channels, 1))
                         for s in pool_scales)
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [_resize(ppm(x), x.shape[2:], self.align_corners) for ppm in self]


class UPerHead(_DecodeHead):
    """UperNet decode head (mmseg ``UPerHead``): PPM on the last map, an FPN over the others, all levels resized to
    the first one's size, concatenated and fused.

    ``psp = bottleneck(cat[x_3, PPM(x_3)])``; ``lateral_i = lateral_convs.i(x_i)`` (i < 3), ``lateral_3 = psp``;
    top-down ``lateral_{i-1} += bilinear-resize(lateral_i)``; ``outs = [fpn_convs.i(lateral_i)] + [lateral_3]``, each
    resized to level 0; ``conv_seg(fpn_bottleneck(cat(outs)))``.
    """

    def __init__(self, in_channels: Sequence[int] = (64, 128, 320, 512), channels: int = 512,
                 pool_scales: Sequence[int] = (1, 2, 3, 6), num_classes: int = 150, dropout_ratio: float = 0.1,
                 align_corners: bool = False):
        super().__init__(channels, num_classes, dropout_ratio, align_corners)
        in_channels = list(in_channels)
        self.psp_modules = PPM(pool_scales, in_channels[-1], channels, align_corners)
        self.bottleneck = ConvModule(in_channels[-1] + len(pool_scales) * channels, channels, 3, padding=1)
        self.lateral_convs = nn.ModuleList(ConvModule(c, channels, 1) for c in in_channels[:-1])
        self.fpn_convs = nn.ModuleList(ConvModule(channels, channels, 3, padding=1) for _ in in_channels[:-1])
        self.fpn_bottleneck = ConvModule(len(in_channels) * channels, channels, 3, padding=1)

    def forward(self, inputs: Sequence[torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        x = inputs[-1]
        laterals = [conv(inputs[i]) for i, conv in enumerate(self.lateral_convs)]
        laterals.append(self.bottleneck(torch.cat([x, *self.psp_modules(x)], dim=1)))
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + _resize(laterals[i], laterals[i - 1].shape[2:], self.align_corners)
        outs = [conv(lat) for conv, lat in zip(self.fpn_convs, laterals)] + [laterals[-1]]
        size = outs[0].shape[2:]
        outs = [outs[0]] + [_resize(o, size, self.align_corners) for o in outs[1:]]
        return self.cls_seg(self.fpn_bottleneck(torch.cat(outs, dim=1)), pre_logits)


class FCNHead(_DecodeHead):
    """FCN head (mmseg ``FCNHead``) on one input map (``in_index``): ``num_convs`` x ConvModule ``kernel_size``
    (``convs``), optionally ``conv_cat`` on ``cat[x, convs(x)]``, then ``conv_seg``. The UperNet configs use it as the
    auxiliary head on stage 3 (``in_index=2``, one 3x3 conv, 256 channels, no concat)."""

    def __init__(self, in_channels: int = 320, channels: int = 256, num_convs: int = 1, kernel_size: int = 3,
                 concat_input: bool = False, in_index: int = 2, num_classes: int = 150, dropout_ratio: float = 0.1,
                 align_corners: bool = False):
        super().__init__(channels, num_classes, dropout_ratio, align_corners)
        if num_convs < 1:
            raise ValueError("FCNHead: num_convs must be >= 1")
        self.in_index = in_index
        pad = kernel_size // 2
        self.convs = nn.Sequential(*(ConvModule(in_channels if i == 0 else channels, channels, kernel_size,
                                                padding=pad) for i in range(num_convs)))
        self.conv_cat = (ConvModule(in_channels + channels, channels, kernel_size, padding=pad)
                         if concat_input else None)

    def forward(self, inputs: Sequence[torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        x = inputs[self.in_index]
        out = self.convs(x)
        if self.conv_cat is not None:
            out = self.conv_cat(torch.cat([x, out], dim=1))
        return self.cls_seg(out, pre_logits)
