"""Video Swin Transformer.

Paper: Liu et al., "Video Swin Transformer", CVPR 2022, arXiv:2106.13230.
Original code: https://github.com/SwinTransformer/Video-Swin-Transformer @ db018fb (Apache-2.0),
``mmaction/models/backbones/swin_transformer.py`` + ``mmaction/models/heads/i3d_head.py``.

3-D shifted-window attention with a 3-D relative position bias, patch merging in space only, and the I3D head
(global average pool, dropout, linear). State-dict keys are the original backbone keys without the ``backbone.``
prefix, and ``head.*`` for the head's ``cls_head.fc_cls.*``. Differences from the original code, none of which
changes a weight or an output:

* ``relative_position_index`` is a derived, non-persistent buffer (the original stores it in every checkpoint);
  the loader drops the stored copies, so window sizes can change;
* attention runs through ``F.scaled_dot_product_attention`` with the bias and the shift mask as one additive mask
  (the original scales q before ``q @ k^T``; the same maths up to float rounding);
* ImageNet 2-D Swin checkpoints (Microsoft layout) initialise a video model by the official inflation rule.
"""
from __future__ import annotations

import inspect
import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import CheckpointError, UsageError
from ._convert import count_blocks, shape_of, strip_prefix
from ._family import ModelFamily
from ._registry import PretrainedCfg, attach_cfg, register_model, resolve_args
from .layers import DropPath, Mlp, drop_path_rates, init_linear_and_norm

__all__ = ["SwinTransformer3D", "relative_position_index", "compute_mask", "mask_groups"]


# --------------------------------------------------------------------------------------------------------------
# Window helpers
# --------------------------------------------------------------------------------------------------------------

def window_partition(x: torch.Tensor, window: Sequence[int]) -> torch.Tensor:
    """``(B, D, H, W, C)`` -> ``(B * nW, Wd*Wh*Ww, C)``; windows d-major, then h, then w; tokens likewise."""
    B, D, H, W, C = x.shape
    wd, wh, ww = window
    x = x.view(B, D // wd, wd, H // wh, wh, W // ww, ww, C)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, wd * wh * ww, C)


def window_reverse(windows: torch.Tensor, window: Sequence[int], B: int, D: int, H: int, W: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``(B * nW, N, C)`` -> ``(B, D, H, W, C)``."""
    wd, wh, ww = window
    x = windows.view(B, D // wd, H // wh, W // ww, wd, wh, ww, -1)
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(B, D, H, W, -1)


def effective_window(size: Sequence[int], window: Sequence[int], shift: Sequence[int]):
    """The original ``get_window_size``: an axis no longer than the window uses its size as window and no shift."""
    w, s = list(window), list(shift)
    for i in range(3):
        if size[i] <= window[i]:
            w[i], s[i] = size[i], 0
    return tuple(w), tuple(s)


def relative_position_index(window: Sequence[int]) -> torch.Tensor:
    """``(N, N)`` index into the ``(2Wd-1)(2Wh-1)(2Ww-1)``-row bias table for tokens enumerated d-major."""
    wd, wh, ww = window
    coords = torch.stack(torch.meshgrid(torch.arange(wd), torch.arange(wh), torch.arange(ww), indexing="ij"))
    coords = coords.flatten(1)  # 3, N
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # N, N, 3
    rel = rel + torch.tensor([wd - 1, wh - 1, ww - 1])
    return rel[..., 0] * (2 * wh - 1) * (2 * ww - 1) + rel[..., 1] * (2 * ww - 1) + rel[..., 2]


def compute_mask(padded: Sequence[int], window: Sequence[int], shift: Sequence[int],
                 device: torch.device | None = None) -> torch.Tensor:
    """Shifted-window mask ``(nW, N, N)``: 0 within a region, -100 across regions (the original's value).

    Each axis of the padded grid is split into ``[0, P-W)``, ``[P-W, P-S)``, ``[P-S, P)`` (with S = 0 the last slice is
    the whole axis, as Python's ``-0`` slice in the original), and the 27 combinations are labelled.
    """
    img = torch.zeros(1, *padded, 1, device=device)
    cnt = 0
    slices = [(slice(-w), slice(-w, -s), slice(-s, None)) for w, s in zip(window, shift)]
    for d in slices[0]:
        for h in slices[1]:
            for w in slices[2]:
                img[:, d, h, w, :] = cnt
                cnt += 1
    labels = window_partition(img, window).squeeze(-1)  # nW, N
    mask = labels[:, None, :] - labels[:, :, None]
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


def mask_groups(padded: Sequence[int], window: Sequence[int], shift: Sequence[int],
                device: torch.device | None = None) -> list[tuple[tuple[tuple[int, int], ...], torch.Tensor | None]]:
    """The windows of a shifted grid grouped by their shift mask: ``[(box, mask)]``.

    Along an axis with a shift, windows ``0 .. n-2`` lie inside one region of :func:`compute_mask` and only the last
    window straddles two, so there are at most 8 distinct window masks. ``box`` gives each group's window range per
    axis (``(first, end)``, in windows) and ``mask`` its ``(N, N)`` mask, None for the windows that straddle nothing
    (all zeros). Attention then runs once per group with one mask broadcast over its windows, instead of with a
    ``(windows, heads, N, N)`` tensor of mostly repeated masks (which SDPA's CPU kernel copies in full).
    """
    n = [p // w for p, w in zip(padded, window)]
    ranges = [((0, k - 1), (k - 1, k)) if s else ((0, k),) for k, s in zip(n, shift)]
    full = None
    groups = []
    for rd in ranges[0]:
        for rh in ranges[1]:
            for rw in ranges[2]:
                box = (rd, rh, rw)
                straddles = any(s and r[0] == k - 1 for r, k, s in zip(box, n, shift))
                if straddles and full is None:
                    full = compute_mask(padded, window, shift, device).view(*n, *([math.prod(window)] * 2))
                groups.append((box, full[rd[0], rh[0], rw[0]] if straddles else None))
    return groups


# --------------------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------------------

class WindowAttention3D(nn.Module):
    """Multi-head self-attention inside 3-D windows, with the relative position bias table (trunc-normal init)."""

    def __init__(self, dim: int, window: Sequence[int], num_heads: int, qkv_bias: bool = True,
                 qk_scale: float | None = None, attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window[0] - 1) * (2 * window[1] - 1) * (2 * window[2] - 1), num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window), persistent=False)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def position_bias(self, N: int) -> torch.Tensor:
        """The ``(heads, N, N)`` relative position bias of an ``N``-token window (the original takes the top-left
        ``N x N`` block when the effective window is smaller than the configured one)."""
        bias = self.relative_position_bias_table[self.relative_position_index[:N, :N].reshape(-1)]
        return bias.view(N, N, self.num_heads).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, B: int, mask: torch.Tensor | None = None,
                bias: torch.Tensor | None = None) -> torch.Tensor:
        """x: ``(B * nW, N, C)`` windows of ``B`` clips; mask: ``(N, N)`` shared by all windows, None, or under
        ``torch.export`` only ``(nW, N, N)``, one per window; bias: :meth:`position_bias` if already computed."""
        BW, N, C = x.shape
        h = self.num_heads
        qkv = self.qkv(x).reshape(BW, N, 3, h, C // h).permute(2, 0, 3, 1, 4)  # 3, B*nW, h, N, d
        q, k, v = qkv.unbind(0)
        bias = (self.position_bias(N) if bias is None else bias).to(q.dtype)  # h, N, N
        dropout = self.attn_drop if self.training else 0.0
        if torch.compiler.is_exporting():
            # torch.export's SDPA decomposition gives its output other strides than the eager kernel it traced, and
            # the reshape below then fails ("Cannot view a tensor ..."): spell the attention out for export.
            attn = (q * self.scale) @ k.transpose(-2, -1) + bias
            if mask is not None:
                attn = (attn.view(B, -1, h, N, N) + mask.unsqueeze(1).to(q.dtype)).view(BW, h, N, N)
            return self.proj_drop(self.proj((attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(BW, N, C)))
        # A mask of shape (1, h, N, N) is broadcast over the windows by SDPA's CPU flash kernel without copying it;
        # an expanded (stride-0) one is copied, and a 3-D or 5-D one takes a much slower path. Per-window
        # shift masks are therefore never passed here outside export: the block groups windows by mask instead.
        if mask is not None and mask.ndim != 2:
            raise ValueError(f"expected a (N, N) mask shared by all windows, got shape {tuple(mask.shape)}")
        if mask is not None:
            bias = bias + mask.to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.unsqueeze(0), scale=self.scale,
                                             dropout_p=dropout)  # B*nW, h, N, d
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(BW, N, C)))


class SwinTransformerBlock3D(nn.Module):
    """``x += DP(W-MSA/SW-MSA(norm1 x))`` with padding after the norm (padded tokens are not masked, as the original),
    then ``x += DP(mlp(norm2 x))``; channels-last ``(B, D, H, W, C)``."""

    def __init__(self, dim: int, num_heads: int, window: Sequence[int], shift: Sequence[int], mlp_ratio: float,
                 qkv_bias: bool, qk_scale: float | None, drop: float, attn_drop: float, drop_path: float):
        super().__init__()
        self.window, self.shift = tuple(window), tuple(shift)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention3D(dim, window, num_heads, qkv_bias, qk_scale, attn_drop, drop)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)

    def _attention(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        B, D, H, W, C = x.shape
        window, shift = effective_window((D, H, W), self.window, self.shift)
        x = self.norm1(x)
        pd, ph, pw = ((-s) % w for s, w in zip((D, H, W), window))
        x = F.pad(x, (0, 0, 0, pw, 0, ph, 0, pd))
        Dp, Hp, Wp = x.shape[1:4]
        if any(shift):
            x = torch.roll(x, shifts=tuple(-s for s in shift), dims=(1, 2, 3))
        else:
            mask = None
        if isinstance(mask, list):  # mask_groups: attention per group of windows sharing one mask
            out = torch.empty_like(x)
            bias = self.attn.position_bias(math.prod(window))
            wd, wh, ww = window
            for box, group_mask in mask:
                region = (slice(None),) + tuple(slice(a * w, b * w) for (a, b), w in zip(box, window))
                counts = [b - a for a, b in box]
                y = self.attn(window_partition(x[region], window), B, group_mask, bias)  # B * windows, N, C
                out[region].view(B, counts[0], wd, counts[1], wh, counts[2], ww, C).permute(0, 1, 3, 5, 2, 4, 6, 7) \
                    .copy_(y.view(B, *counts, wd, wh, ww, C))
            x = out
        else:
            x = window_reverse(self.attn(window_partition(x, window), B, mask), window, B, Dp, Hp, Wp)
        if any(shift):
            x = torch.roll(x, shifts=shift, dims=(1, 2, 3))
        return x[:, :D, :H, :W].contiguous()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.drop_path(self._attention(x, mask))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """Space-only 2x2 merge: pad odd H/W, concat (even,even), (odd,even), (even,odd), (odd,odd), LN, Linear (no bias)."""

    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[2:4]
        x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
        x = torch.cat([x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))


class BasicLayer(nn.Module):
    """One stage: blocks alternating W-MSA / SW-MSA (shift = window // 2), then optional patch merging."""

    def __init__(self, dim: int, depth: int, num_heads: int, window: Sequence[int], mlp_ratio: float, qkv_bias: bool,
                 qk_scale: float | None, drop: float, attn_drop: float, drop_path: Sequence[float],
                 downsample: bool):
        super().__init__()
        self.window = tuple(window)
        self.shift = tuple(w // 2 for w in window)
        self.blocks = nn.ModuleList(
            SwinTransformerBlock3D(dim, num_heads, window, (0, 0, 0) if i % 2 == 0 else self.shift, mlp_ratio,
                                   qkv_bias, qk_scale, drop, attn_drop, drop_path[i]) for i in range(depth))
        self.downsample = PatchMerging(dim) if downsample else None
        self.use_checkpoint = False

    def _mask(self, padded, window, shift, device) -> torch.Tensor | list:
        """The shift masks for this geometry as :func:`mask_groups` (as the full ``(nW, N, N)`` :func:`compute_mask`
        under ``torch.export``, whose graph runs the windows in one batch). Kept between calls (they depend on shapes
        only); one geometry is kept; traced graphs compute them inline."""
        if torch.compiler.is_exporting():
            return compute_mask(padded, window, shift, device)
        if torch.compiler.is_compiling():
            return mask_groups(padded, window, shift, device)
        key = (tuple(padded), window, shift, str(device))
        cached = getattr(self, "_mask_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, mask_groups(padded, window, shift, device))
            self._mask_cache = cached
        return cached[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, D, H, W)`` -> ``(B, C', D, H', W')``."""
        B, C, D, H, W = x.shape
        window, shift = effective_window((D, H, W), self.window, self.shift)
        padded = [math.ceil(s / w) * w for s, w in zip((D, H, W), window)]
        mask = self._mask(padded, window, shift, x.device) if any(shift) else None
        x = x.permute(0, 2, 3, 4, 1)  # B, D, H, W, C
        for blk in self.blocks:
            if self.use_checkpoint and torch.is_grad_enabled():
                x = checkpoint(blk, x, mask, use_reentrant=False)
            else:
                x = blk(x, mask)
        if self.downsample is not None:
            x = self.downsample(x)
        return x.permute(0, 4, 1, 2, 3)  # B, C, D, H, W


class PatchEmbed3D(nn.Module):
    """Zero-pad D, H, W at the end to multiples of the patch, Conv3d(kernel = stride = patch), optional LN."""

    def __init__(self, patch_size: Sequence[int], in_chans: int, embed_dim: int, patch_norm: bool):
        super().__init__()
        self.patch_size = tuple(patch_size)
        self.proj = nn.Conv3d(in_chans, embed_dim, self.patch_size, self.patch_size)
        self.norm = nn.LayerNorm(embed_dim) if patch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        D, H, W = x.shape[2:]
        pd, ph, pw = ((-s) % p for s, p in zip((D, H, W), self.patch_size))
        x = self.proj(F.pad(x, (0, pw, 0, ph, 0, pd)))
        if self.norm is None:
            return x
        shape = x.shape
        x = self.norm(x.flatten(2).transpose(1, 2))  # B, N, C
        return x.transpose(1, 2).reshape(shape)


# --------------------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------------------

class SwinTransformer3D(nn.Module):
    """Video Swin backbone + I3D head. Input ``(B, 3, T, H, W)``, any T, H, W (padded as the original).

    ::

        x ─patch_embed (2x4x4)─ layers[0] ─merge─ layers[1] ─merge─ layers[2] ─merge─ layers[3] ─norm─
          ─mean over (T', H', W')─ head_drop ─head─▶ logits

    Args:
        patch_size, in_chans, embed_dim, depths, num_heads, window_size, mlp_ratio, qkv_bias, qk_scale: as the
            original ``SwinTransformer3D``.
        drop_rate, attn_drop_rate, drop_path_rate, patch_norm, frozen_stages: as the original ``SwinTransformer3D``
            (``frozen_stages`` = k >= 0 freezes the patch embedding and the first k stages: no gradients, eval mode).
        num_classes: classifier rows (0: no classifier).
        dropout_ratio: the I3D head's dropout.
        use_checkpoint: gradient checkpointing of every block.
    """

    def __init__(self, patch_size: Sequence[int] = (2, 4, 4), in_chans: int = 3, embed_dim: int = 96,
                 depths: Sequence[int] = (2, 2, 6, 2), num_heads: Sequence[int] = (3, 6, 12, 24),
                 window_size: Sequence[int] = (8, 7, 7), mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 qk_scale: float | None = None, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.2, patch_norm: bool = True, frozen_stages: int = -1,
                 num_classes: int = 400, dropout_ratio: float = 0.5, use_checkpoint: bool = False):
        super().__init__()
        if len(depths) != len(num_heads):
            raise UsageError(f"depths {list(depths)} and num_heads {list(num_heads)} need one entry per stage")
        if len(window_size) != 3 or len(patch_size) != 3:
            raise UsageError(f"window_size and patch_size are (T, H, W) triples, got {window_size}, {patch_size}")
        for i, h in enumerate(num_heads):
            if (embed_dim * 2 ** i) % h:
                raise UsageError(f"stage {i} width {embed_dim * 2 ** i} is not a multiple of num_heads {h}")
        self.num_classes, self.frozen_stages = num_classes, frozen_stages
        self.num_features = int(embed_dim * 2 ** (len(depths) - 1))
        self.patch_embed = PatchEmbed3D(patch_size, in_chans, embed_dim, patch_norm)
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = drop_path_rates(drop_path_rate, sum(depths))
        self.layers = nn.ModuleList(
            BasicLayer(embed_dim * 2 ** i, depths[i], num_heads[i], window_size, mlp_ratio, qkv_bias, qk_scale,
                       drop_rate, attn_drop_rate, dpr[sum(depths[:i]):sum(depths[:i + 1])], i < len(depths) - 1)
            for i in range(len(depths)))
        self.norm = nn.LayerNorm(self.num_features)
        self.head_drop = nn.Dropout(dropout_ratio)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(init_linear_and_norm)
        self.set_grad_checkpointing(use_checkpoint)
        if num_classes > 0:  # I3DHead init
            nn.init.normal_(self.head.weight, std=0.01)
            nn.init.zeros_(self.head.bias)
        self._freeze_stages()

    def _freeze_stages(self) -> None:
        frozen = ([self.patch_embed] if self.frozen_stages >= 0 else []) + \
            ([self.pos_drop] + list(self.layers[:self.frozen_stages]) if self.frozen_stages >= 1 else [])
        for m in frozen:
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> "SwinTransformer3D":
        super().train(mode)
        self._freeze_stages()  # frozen stages stay in eval mode, as the original
        return self

    # -- interface shared by every tubelet model ------------------------------------------------------------------

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """The recipe's decay_mult 0 list: every relative position bias table and every norm parameter."""
        return {n for n, _ in self.named_parameters() if "relative_position_bias_table" in n or "norm" in n}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        """Parameter groups for layer-wise lr decay and FSDP wrapping (timm's convention): the patch embedding is
        layer 0, each block one layer (stage, block), a stage's patch merging one layer after its blocks; the final
        norm and the head (matching neither) are the top layer. ``coarse``: one group per stage."""
        if coarse:
            return dict(stem=r"^patch_embed\.", blocks=r"^layers\.(\d+)\.")
        return dict(stem=r"^patch_embed\.", blocks=[(r"^layers\.(\d+)\.blocks\.(\d+)\.", None),
                                                    (r"^layers\.(\d+)\.downsample\.", (99999,))])

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        for layer in self.layers:
            layer.use_checkpoint = enable

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        if num_classes > 0:
            nn.init.normal_(self.head.weight, std=0.01)
            nn.init.zeros_(self.head.bias)
        self.head.to(self.norm.weight.device)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W)`` -> normalised last-stage map ``(B, 8C, T/2, H/32, W/32)`` (rounded up)."""
        if x.ndim != 5 or x.shape[1] != self.patch_embed.proj.in_channels:
            raise UsageError(f"Video Swin expects (B, {self.patch_embed.proj.in_channels}, T, H, W), "
                             f"got shape {tuple(x.shape)}")
        x = self.pos_drop(self.patch_embed(x))
        for layer in self.layers:
            x = layer(x)
        return self.norm(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """I3D head: global average pool, dropout, linear; ``pre_logits`` gives the pooled ``(B, 8C)`` feature."""
        x = x.mean((2, 3, 4))
        return x if pre_logits else self.head(self.head_drop(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# --------------------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------------------

RUNTIME_ARGS = frozenset({"drop_rate", "attn_drop_rate", "drop_path_rate", "frozen_stages", "dropout_ratio",
                          "use_checkpoint", "qk_scale", "num_frames"})
CHECKPOINT_SWITCHES = ("window_size", "patch_size", "patch_norm", "qkv_bias", "mlp_ratio")
CLASSIFIER_PREFIXES = ("head.",)
_DERIVED = ("relative_position_index", "attn_mask")


def convert_state_dict(state_dict: dict[str, torch.Tensor], path: str) -> tuple[dict[str, torch.Tensor], str]:
    """Original Video Swin / MMAction2 (``backbone.``, ``cls_head.fc_cls.``; MMAction2's ``norm3``) and Microsoft
    2-D Swin keys -> tubelet's. Stored derived buffers are kept here (the index tells the window) and dropped by
    :func:`fit_state_dict`."""
    sd, producer = {}, "Microsoft 2-D Swin keys" if "patch_embed.proj.weight" in state_dict and \
        state_dict["patch_embed.proj.weight"].ndim == 4 else "tubelet / original keys"
    mma = "backbone.norm3.weight" in state_dict
    for k, v in state_dict.items():
        if k.startswith("data_preprocessor."):
            continue
        if k.startswith("backbone.") or k.startswith("cls_head."):
            producer = "MMAction2 (backbone./cls_head. keys, norm3)" if mma else \
                "original Video Swin (backbone./cls_head. keys)"
            k = strip_prefix(k, "backbone.").replace("cls_head.fc_cls.", "head.")
            if mma and k.startswith("norm3."):
                k = "norm." + k[len("norm3."):]
        sd[k] = v
    return sd, producer


def _window_from_table(rows: int, index_n: int | None) -> list[tuple[int, int, int]]:
    """Windows (Wd, Wh, Wh) with square spatial extent > 1 whose table has ``rows`` rows (and N tokens if known)."""
    found = []
    for wh in range(2, 64):
        spatial = (2 * wh - 1) ** 2
        if rows % spatial == 0 and (rows // spatial) % 2 == 1:
            wd = (rows // spatial + 1) // 2
            if index_n is None or wd * wh * wh == index_n:
                found.append((wd, wh, wh))
    return found


def checkpoint_arch(state_dict: dict[str, torch.Tensor], path: str) -> dict:
    """What the weights determine: patch size, widths, depths, heads (table columns), MLP ratio, qkv bias, patch
    norm, classes, and for 3-D weights the window when the table size leaves one square-window candidate.

    Only keys of the known form are read: a key it does not understand (``layers.final.scale``, a block index after a
    gap) or a tensor of an unexpected rank determines nothing (the switch it would give is left out), so that the
    strict load names it."""
    sd = state_dict
    if "patch_embed.proj.weight" not in sd or "layers.0.blocks.0.attn.relative_position_bias_table" not in sd:
        raise CheckpointError(f"{path}: not a Swin checkpoint: no 'patch_embed.proj.weight' / relative position "
                              f"tables (first keys: {', '.join(list(sd)[:5])})")
    proj = shape_of(sd, "patch_embed.proj.weight", (4, 5))  # 2-D (Microsoft Swin) or 3-D kernels
    n_layers = 0  # stages counted while they have blocks: layers.N.blocks.M.*
    while count_blocks(sd, f"layers.{n_layers}.blocks.") != 0:  # None: blocks with a gap, still a stage
        n_layers += 1
    tables = [shape_of(sd, f"layers.{i}.blocks.0.attn.relative_position_bias_table", 2) for i in range(n_layers)]
    head = shape_of(sd, "head.weight", 2)
    arch = dict(video=proj is None or len(proj) == 5, patch_norm="patch_embed.norm.weight" in sd,
                qkv_bias="layers.0.blocks.0.attn.qkv.bias" in sd, num_classes=None if head is None else head[0],
                table_rows=None if tables[0] is None else tables[0][0])
    depths = [count_blocks(sd, f"layers.{i}.blocks.") for i in range(n_layers)]
    if None not in depths:  # block numbers with a gap: the strict load names the missing / unexpected blocks
        arch["depths"] = depths
    if all(t is not None for t in tables):
        arch["num_heads"] = [t[1] for t in tables]
    if proj is not None:
        arch["embed_dim"] = proj[0]
        fc1 = shape_of(sd, "layers.0.blocks.0.mlp.fc1.weight", 2)
        if fc1 is not None and proj[0]:
            arch["mlp_ratio"] = fc1[0] / proj[0]
        if arch["video"]:
            arch["patch_size"] = list(proj[2:])
    if arch["video"]:
        index = shape_of(sd, "layers.0.blocks.0.attn.relative_position_index", 2)  # stored by the original code: N x N
        arch["window_candidates"] = [] if arch["table_rows"] is None else \
            _window_from_table(arch["table_rows"], None if index is None else index[0])
    return arch


def fit_state_dict(state_dict: dict[str, torch.Tensor], arch: dict, model: SwinTransformer3D,
                   path: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """2-D ImageNet Swin -> video (the original ``inflate_weights``): the patch-embedding kernel repeated over its
    temporal extent and divided by it; each bias table bicubic-resized to the spatial window when its size differs,
    then tiled ``2*Wd - 1`` times along the rows (every temporal offset gets the 2-D bias)."""
    sd = {k: v for k, v in state_dict.items() if not k.endswith(_DERIVED)}  # derived, recomputed by the model
    if arch["video"]:
        return sd, []
    target = model.state_dict()
    t = target["patch_embed.proj.weight"]
    sd["patch_embed.proj.weight"] = sd["patch_embed.proj.weight"].unsqueeze(2).repeat(1, 1, t.shape[2], 1, 1) \
        / t.shape[2]
    wd, wh, ww = model.layers[0].window
    resized = 0
    for k in [k for k in sd if k.endswith("relative_position_bias_table")]:
        table = sd[k]
        if k not in target or table.ndim != 2 or table.shape[1] != target[k].shape[1]:
            continue  # a head-count mismatch (or a tensor that is no table) is reported by the strict load
        if table.shape[0] != (2 * wh - 1) * (2 * ww - 1):
            s1 = math.isqrt(table.shape[0])
            if s1 * s1 != table.shape[0]:
                continue  # not a square 2-D window: reported by the strict load
            table = F.interpolate(table.permute(1, 0).reshape(1, -1, s1, s1).float(),
                                  size=(2 * wh - 1, 2 * ww - 1), mode="bicubic")
            table = table.reshape(-1, (2 * wh - 1) * (2 * ww - 1)).permute(1, 0).to(sd[k].dtype)
            resized += 1
        sd[k] = table.repeat(2 * wd - 1, 1)
    notes = [f"ImageNet 2-D Swin -> video: patch embedding averaged over {t.shape[2]} frames, bias tables "
             f"{'bicubic-resized and ' if resized else ''}tiled {2 * wd - 1}x over time (official rule)"]
    return sd, notes


def is_init_source(arch: dict, cfg: PretrainedCfg) -> bool:
    """A 2-D ImageNet Swin only initialises a video model (its classifier is ImageNet's)."""
    return not arch["video"]


def resolve_switches(arch: dict, overrides: dict, path: str, name: str) -> dict:
    """The window size: an explicit ``window_size`` must fit the table; otherwise the single square-window candidate,
    or the variant's when it is among several; otherwise a clear error asking for ``window_size=``."""
    if not arch["video"]:
        return {}
    rows, cands = arch["table_rows"], arch["window_candidates"]
    variant_window = inspect.signature(SwinTransformer3D).parameters["window_size"].default
    if rows is None:  # no usable table: the window is the caller's or the variant's (the strict load names the table)
        return {"window_size": list(overrides["window_size"])} if "window_size" in overrides else {}
    if "window_size" in overrides:
        w = tuple(overrides["window_size"])
        if (2 * w[0] - 1) * (2 * w[1] - 1) * (2 * w[2] - 1) != rows:
            raise CheckpointError(f"{path}: window_size={list(w)} needs {(2 * w[0] - 1) * (2 * w[1] - 1) * (2 * w[2] - 1)}"
                                  f"-row bias tables, the checkpoint's have {rows}")
        return {"window_size": list(w)}
    if tuple(variant_window) in cands or len(cands) == 1:
        return {"window_size": list(variant_window) if tuple(variant_window) in cands else list(cands[0])}
    raise CheckpointError(f"{path}: the {rows}-row bias tables fit several windows "
                          f"({', '.join(str(list(c)) for c in cands) or 'none with a square spatial window'}); "
                          f"pass window_size=(T, H, W)")


FAMILY = ModelFamily(
    name="video_swin", convert_state_dict=convert_state_dict, checkpoint_arch=checkpoint_arch,
    classifier_prefixes=CLASSIFIER_PREFIXES, checkpoint_switches=CHECKPOINT_SWITCHES, runtime_args=RUNTIME_ARGS,
    resolve_switches=resolve_switches, fit_state_dict=fit_state_dict, is_init_source=is_init_source)


# --------------------------------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------------------------------

_SOURCE = "https://github.com/SwinTransformer/Video-Swin-Transformer @ db018fb"
_PAPER = "Video Swin Transformer (arXiv:2106.13230)"


def _cfg(name: str) -> PretrainedCfg:
    return PretrainedCfg(
        architecture=name, num_classes=400, input_size=(3, 32, 224, 224), mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225), num_frames=32, sampler="sample_frames", frame_interval=2, test_views=(4, 3),
        resize_size=224, label_names="kinetics400", source=_SOURCE, license="Apache-2.0", paper=_PAPER,
        notes="Kinetics recipe: 32x2 dense clips, 4 clips x 3 crops (short side 224), softmax averaged; SSv2: "
              "window (16,7,7), segment sampling, 1 clip x 3 crops. ImageNet mean/std.")


def _create_video_swin(variant: str, model_args: dict, **kwargs) -> SwinTransformer3D:
    """Build ``variant``: ``model_args`` with the caller's options on top; ``num_frames`` changes the data contract
    only (the model takes any T, H, W)."""
    num_frames = kwargs.pop("num_frames", None)
    resolved = resolve_args(variant, SwinTransformer3D, model_args, {"num_classes": 400, **model_args, **kwargs},
                            extra={"num_frames"})
    model = SwinTransformer3D(**resolved)
    attach_cfg(model, variant, resolved, num_frames=num_frames)
    resolved["num_frames"] = model.pretrained_cfg.num_frames
    return model


@register_model(FAMILY, _cfg("swin3d_tiny"))
def swin3d_tiny(**kwargs) -> SwinTransformer3D:
    """Swin-T, window (8,7,7): 28.2M params with 400 classes (K400 78.8)."""
    return _create_video_swin("swin3d_tiny", dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24),
                                                  drop_path_rate=0.1), **kwargs)


@register_model(FAMILY, _cfg("swin3d_small"))
def swin3d_small(**kwargs) -> SwinTransformer3D:
    """Swin-S, window (8,7,7): 49.8M params (K400 80.6)."""
    return _create_video_swin("swin3d_small", dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24),
                                                   drop_path_rate=0.1), **kwargs)


@register_model(FAMILY, _cfg("swin3d_base"))
def swin3d_base(**kwargs) -> SwinTransformer3D:
    """Swin-B, window (8,7,7) (SSv2: window_size=(16,7,7)): 88.0M params (K400 80.6 / 82.7 from IN-22K)."""
    return _create_video_swin("swin3d_base", dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32),
                                                  drop_path_rate=0.3), **kwargs)


@register_model(FAMILY, _cfg("swin3d_large"))
def swin3d_large(**kwargs) -> SwinTransformer3D:
    """Swin-L, window (8,7,7): 197M params (MMAction2 K400 83.5 from IN-22K)."""
    return _create_video_swin("swin3d_large", dict(embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48),
                                                   drop_path_rate=0.2), **kwargs)
