"""Light UniFormer (XXS / XS, "efficient UniFormer"): hourglass token pruning in the attention stages.

Paper: Li et al., "UniFormer: Unifying Convolution and Self-attention for Visual Recognition", TPAMI 2023,
arXiv:2201.09450 (the light models; token selection after Evo-ViT, Xu et al., AAAI 2022).
Original code: https://github.com/Sense-X/UniFormer @ 52a0415 (Apache-2.0):
``image_classification/models/uniformer_light.py`` (image), ``video_classification/slowfast/models/
uniformer_light{,_fp32,_ls_fp32}.py`` (video), ``object_detection/mmdet/models/backbones/uniformer_light.py`` (dense;
the segmentation copies are identical).

One class, :class:`UniFormerLight`, serves images (``Conv2d``, input ``(B, 3, H, W)``), video (``Conv3d``, input
``(B, 3, T, H, W)``) and the dense-prediction backbone (``dense=True``: four normalised maps, no classifier).
State-dict keys are the original ones, so official checkpoints load without renaming.

Token pruning, in words. Stages 1-2 are the convolutional CBlocks of :mod:`tubelet.models.uniformer`. Stage 3 starts a
class token; every attention block reads a per-token *score* (the class token's attention row, averaged over heads).
A block with ``prune_ratio < 1`` sorts the tokens by score (``torch.argsort(descending=True)``, as the original: the
kept set at a tie is whatever that op returns on the device), keeps the first ``floor(N * ratio)``, merges the rest
into one score-weighted *representative* token, runs attention and MLP on ``[class, kept..., representative]`` only,
adds the representative token's two residual updates to every dropped token (the "fast update"), mixes the new
scores of the kept tokens into the old ones with weight ``trade_off``, and puts the tokens back in their original
order. The last stage-3 block average-pools the score map 2x2 (spatially) and rescales it to keep its sum: it
becomes the stage-4 scores. The class token goes through ``cls_upsample`` between stages 3 and 4. Consequences for
users: the kept set is discontinuous in the scores, so the outputs of two almost equal inputs can differ by more than
their inputs do; each sample selects its own tokens (a sample's output does not depend on the rest of the batch).

Differences from the original code, none of which changes an eval output in float32:

* the token-selection state (scores) is passed from block to block as an argument; the original keeps it in module
  globals (``global_attn``, ``token_indices``), so two forwards interleaved in threads corrupt each other there;
* the order of the tokens is restored with the inverse permutation instead of an ``argsort`` of token indices
  carried as floats (same permutation; the original's float indices are inexact past 2048 tokens under fp16);
* attention runs through ``F.scaled_dot_product_attention``; the class-token row that drives the selection is computed
  on its own, in float32 (the original ``_fp32`` video classes compute the whole attention with autocast disabled);
* ``forward`` returns ``head(pooled)`` in training mode too (tubelet's trainer takes one tensor); the original's
  training pair ``(head(pooled), head_cls(norm_cls(class token)))`` is :meth:`UniFormerLight.forward_train`;
* layer scale (``layer_scale=True``) follows the video ``_ls_fp32`` class, the only released use: gamma_1/gamma_2 in
  every block, the fast update scaled by them; the image file's unused ``gamma_3`` variant is not implemented;
* the video classes build stage 3 with ``mlp_ratio[3]`` (the image and dense files with ``mlp_ratio[2]``): kept, so
  that a per-stage ``mlp_ratio`` builds the original's shapes.
"""
from __future__ import annotations

import contextlib
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import CheckpointError, UsageError
from ._convert import TASK_PARTS, count_blocks, describe_parts, inflate_average, split_parts, strip_prefix
from ._family import ModelFamily
from ._registry import PretrainedCfg, register_model
from .layers import DropPath, Mlp, channels_first_for_cpu_half, drop_path_rates, init_linear_and_norm
from .uniformer import (Attention, CBlock, PatchEmbed, channels_last, check_stages, create_variant,
                        tokens_to_map)

__all__ = ["UniFormerLight"]


# --------------------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------------------

def _no_autocast(device_type: str):
    """A context that turns autocast off on ``device_type`` (a no-op where autocast is off or does not exist, such
    as the meta device used to count FLOPs)."""
    if device_type in ("cpu", "cuda", "xpu", "mps", "hpu") and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


class EvoAttention(Attention):
    """Multi-head self-attention over ``(B, N, C)`` (the parameters of :class:`~tubelet.models.uniformer.Attention`)
    that also returns the class token's attention row.
    """

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(out (B, N, C), row (B, N))``: ``row`` is the softmax attention of token 0 (the class token)
        over all N tokens, averaged over heads, in float32 (before attention dropout, as the original)."""
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)  # 3, B, h, N, d
        q, k, v = qkv.unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0,
                                             scale=self.scale)  # B, h, N, d
        with _no_autocast(x.device.type):
            row = ((q[:, :, :1].float() @ k.float().transpose(-2, -1)) * self.scale).softmax(-1)  # B, h, 1, N
        out = out.transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(out)), row[:, :, 0].mean(1)


class EvoSABlock(nn.Module):
    """Global MHRA block with token selection (stages 3-4); see the module docstring for the rule.

    ``forward(cls_token (B, 1, C), x (B, C, (T,) H, W), scores (B, N) or None) -> (cls_token, x, scores)``.
    Without pruning (``prune_ratio == 1``) it is the plain SABlock on ``[class, tokens...]``.

    Args:
        dim: channels.
        num_heads: attention heads.
        mlp_ratio: MLP hidden size / dim.
        conv: ``nn.Conv2d`` or ``nn.Conv3d`` (the depthwise positional convolution).
        prune_ratio: fraction of the tokens that go through attention (``floor(N * ratio)`` of them).
        trade_off: weight of the new scores when mixed into the old ones.
        downsample: pool the scores 2x2 after the block (the last stage-3 block).
        layer_scale: initial value of gamma_1/gamma_2 (shape (C,)), or None for none.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, conv: type[nn.Module], qkv_bias: bool = True,
                 qk_scale: float | None = None, drop: float = 0.0, attn_drop: float = 0.0, drop_path: float = 0.0,
                 prune_ratio: float = 1.0, trade_off: float = 0.0, downsample: bool = False,
                 layer_scale: float | None = None):
        super().__init__()
        self.pos_embed = conv(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = EvoAttention(dim, num_heads, qkv_bias, qk_scale, attn_drop, drop)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        self.prune_ratio = prune_ratio
        self.trade_off = trade_off
        self.downsample = downsample
        if layer_scale is not None:
            self.gamma_1 = nn.Parameter(layer_scale * torch.ones(dim))
            self.gamma_2 = nn.Parameter(layer_scale * torch.ones(dim))
        else:
            self.gamma_1 = self.gamma_2 = None

    def _scale(self, y: torch.Tensor, gamma: torch.Tensor | None) -> torch.Tensor:
        return y if gamma is None else gamma * y

    def _mix(self, old: torch.Tensor | None, new: torch.Tensor) -> torch.Tensor:
        return new if old is None else (1 - self.trade_off) * old + self.trade_off * new

    def forward(self, cls_token: torch.Tensor, x: torch.Tensor,
                scores: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = channels_first_for_cpu_half(x)
        x = x + self.pos_embed(x)
        shape = x.shape
        t = x.flatten(2).transpose(1, 2)  # B, N, C in (t, h, w) row-major order
        B, N, C = t.shape
        if self.prune_ratio == 1:
            t = torch.cat([cls_token, t], dim=1)
            y, row = self.attn(self.norm1(t))
            scores = self._mix(scores, row[:, 1:])  # the first attention block starts the scores
            t = t + self.drop_path(self._scale(y, self.gamma_1))
            t = t + self.drop_path(self._scale(self.mlp(self.norm2(t)), self.gamma_2))
            return t[:, :1], tokens_to_map(t[:, 1:], shape), scores
        if scores is None:
            raise UsageError("a pruning block needs the token scores of an attention block before it")

        n = int(N * self.prune_ratio)  # tokens kept: static, so FLOPs can be counted on the meta device
        order = torch.argsort(scores, dim=1, descending=True)  # the original's op: its tie-break decides the set
        t = torch.gather(t, 1, order.unsqueeze(-1).expand(-1, -1, C))
        scores = torch.gather(scores, 1, order)
        kept, dropped = t[:, :n], t[:, n:]
        weight = scores[:, n:] / scores[:, n:].sum(1, keepdim=True)
        rep = (weight.to(dropped.dtype).unsqueeze(-1) * dropped).sum(1, keepdim=True)  # representative token
        z = torch.cat([cls_token, kept, rep], dim=1)  # B, 1 + n + 1, C

        y, row = self.attn(self.norm1(z))
        if N == n + 1:  # as the original: a score per attended token (kept + representative) -> mix them all
            scores = self._mix(scores, row[:, 1:])
        else:  # mix the kept tokens' scores, keep the dropped ones'
            scores = torch.cat([self._mix(scores[:, :n], row[:, 1:-1]), scores[:, n:]], dim=1)
        y = self._scale(y, self.gamma_1)
        fast = y[:, -1:]
        z = z + self.drop_path(y)
        y = self._scale(self.mlp(self.norm2(z)), self.gamma_2)
        fast = fast + y[:, -1:]
        z = z + self.drop_path(y)
        dropped = dropped + fast  # fast update: the representative token's residual updates, for every dropped token

        cls_token = z[:, :1]
        t = torch.cat([z[:, 1:-1], dropped], dim=1)
        total = scores.sum(1, keepdim=True)  # summed in sorted order, as the original
        inverse = torch.argsort(order, dim=1)  # back to the original token order
        t = torch.gather(t, 1, inverse.unsqueeze(-1).expand(-1, -1, C))
        scores = torch.gather(scores, 1, inverse)
        if self.downsample:  # scores of the next stage's (floored) 2x-downsampled grid, same sum
            grid = shape[2:]
            pooled = scores.reshape(B, 1, *grid)
            pooled = F.avg_pool3d(pooled, (1, 2, 2)) if len(grid) == 3 else F.avg_pool2d(pooled, 2)
            pooled = pooled.reshape(B, -1)
            scores = pooled * (total / pooled.sum(1, keepdim=True))
        return cls_token, tokens_to_map(t, shape), scores


def _patch_embeds(video: bool, in_chans: int, dims: Sequence[int]) -> list[PatchEmbed]:
    """The light models' embeddings: a conv stem (two 3x3(x3) stride-2 convolutions with BN and GELU; video: stride
    (1,2,2) then 2, the only temporal downsampling) then 2x2 (1x2x2) patch convolutions with LayerNorm (eps 1e-5)."""
    conv, bn = (nn.Conv3d, nn.BatchNorm3d) if video else (nn.Conv2d, nn.BatchNorm2d)
    first_stride = (1, 2, 2) if video else 2
    stem = nn.Sequential(conv(in_chans, dims[0] // 2, 3, first_stride, 1), bn(dims[0] // 2), nn.GELU(),
                         conv(dims[0] // 2, dims[0], 3, 2, 1), bn(dims[0]))
    k = (1, 2, 2) if video else 2
    return [PatchEmbed(stem, None)] + [PatchEmbed(conv(dims[i - 1], dims[i], k, k), dims[i]) for i in range(1, 4)]


# --------------------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------------------

def _per_block(value, depth: Sequence[int], what: str) -> list[list[float]]:
    """``prune_ratio`` / ``trade_off`` as two per-block lists (stages 3 and 4). Accepts the original 4-list layout
    (``[[], [], stage3, stage4]``) or the two attention stages; extra entries are ignored, as in the original (the
    video XXS config lists three stage-4 ratios for two blocks)."""
    if value is None:
        return [[1.0] + [0.5] * (depth[2] - 1), [0.5] * depth[3]]
    value = [list(v) for v in value]
    if len(value) == 4:
        value = value[2:]
    if len(value) != 2 or len(value[0]) < depth[2] or len(value[1]) < depth[3]:
        raise UsageError(f"{what} needs one value per attention block ({depth[2]} for stage 3, {depth[3]} for "
                         f"stage 4), as [stage3, stage4] or the original [[], [], stage3, stage4]; got {value}")
    return [value[0][:depth[2]], value[1][:depth[3]]]


class UniFormerLight(nn.Module):
    """Light UniFormer for images, video (``video=True``) or dense prediction (``dense=True``).

    ::

        x ─patch_embed1 (conv stem, /4; video /2 in time)─ blocks1 (CBlock) ─patch_embed2 (/2)─ blocks2 (CBlock)
          ─patch_embed3 (/2)─ [class token] blocks3 (EvoSABlock, token pruning) ─cls_upsample, patch_embed4─
          blocks4 (EvoSABlock) ─norm (BatchNorm)─ mean over positions ─head─▶ logits (B, num_classes)

    With ``dense=True`` there is no ``norm``/``head``/``head_cls``/``norm_cls``: after each stage a LayerNorm
    ``norm{i}`` (eps 1e-6, over channels) gives the i-th output map, and the stage continues with the un-normalised
    map; ``forward`` returns the four maps (strides 4, 8, 16, 32).

    Args:
        depth: blocks per stage.
        embed_dim: channels per stage.
        head_dim: channels per attention head (heads = dim // head_dim).
        mlp_ratio: MLP hidden size / dim, one value or one per stage (video: stage 3 uses the stage-4 value, as the
            original video code).
        qkv_bias: bias in the fused qkv projection.
        qk_scale: attention scale; None means ``head_dim ** -0.5``.
        num_classes: classifier rows (``head`` and ``head_cls``); 0 gives none. Must be 0 with ``dense``.
        in_chans: input channels.
        drop_rate: dropout after the stem and inside the MLP/attention projections.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic-depth rate of the last block (linear ramp from 0 over all blocks).
        video: 3-D (video) or 2-D (image / dense) model.
        dense: dense-prediction backbone (image only): four normalised maps, no classifier.
        prune_ratio: per attention block, the fraction of tokens kept: ``[stage3, stage4]`` or the original
            ``[[], [], stage3, stage4]``; default ``[1, 0.5, ...]`` / ``[0.5, ...]``. The first stage-3 block must
            keep every token (it starts the scores).
        trade_off: per attention block, the weight of the new token scores (same layout; default as prune_ratio).
        layer_scale: per-channel residual scales gamma_1/gamma_2 in every block (video ``_ls_fp32`` models).
        layer_scale_init: their initial value (``UNIFORMER.INIT_VALUE``, 0.1 in the released configs).
        use_checkpoint: gradient checkpointing of the first ``checkpoint_num[i]`` blocks of stage i.
        checkpoint_num: blocks per stage to checkpoint when ``use_checkpoint`` (default: all).
    """

    def __init__(self, depth: Sequence[int] = (3, 5, 9, 3), embed_dim: Sequence[int] = (64, 128, 256, 512),
                 head_dim: int = 32, mlp_ratio: float | Sequence[float] = 3.0, qkv_bias: bool = True,
                 qk_scale: float | None = None, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0, video: bool = False, dense: bool = False,
                 prune_ratio: Sequence[Sequence[float]] | None = None,
                 trade_off: Sequence[Sequence[float]] | None = None, layer_scale: bool = False,
                 layer_scale_init: float = 0.1, use_checkpoint: bool = False,
                 checkpoint_num: Sequence[int] | None = None):
        super().__init__()
        depth, embed_dim = check_stages(depth, embed_dim, head_dim)
        if depth[2] < 1:
            raise UsageError("the light UniFormer needs at least one stage-3 block (it starts the token scores)")
        if dense and video:
            raise UsageError("dense=True is the 2-D detection/segmentation backbone; video=True does not apply")
        if dense and num_classes:
            raise UsageError(f"a dense backbone has no classifier: num_classes must be 0, got {num_classes}")
        ratios = isinstance(mlp_ratio, (int, float))
        mlp = [float(mlp_ratio)] * 4 if ratios else [float(r) for r in mlp_ratio]
        if len(mlp) != 4:
            raise UsageError(f"mlp_ratio: one value or one per stage (4), got {mlp_ratio}")
        prune = _per_block(prune_ratio, depth, "prune_ratio")
        trade = _per_block(trade_off, depth, "trade_off")
        if prune[0][0] != 1:
            raise UsageError(f"prune_ratio: the first stage-3 block must keep every token (it starts the token "
                             f"scores), got {prune[0][0]}")
        if any(not 0 < r <= 1 for r in prune[0] + prune[1]):
            raise UsageError(f"prune_ratio values must be in (0, 1], got {prune}")
        self.video = video
        self.dense = dense
        self.num_classes = 0 if dense else num_classes
        self.num_features = embed_dim[-1]
        self.out_channels = list(embed_dim) if dense else None  # channels of the 4 dense maps
        self.use_checkpoint = use_checkpoint
        self.checkpoint_num = list(checkpoint_num) if checkpoint_num is not None else list(depth)
        conv, bn = (nn.Conv3d, nn.BatchNorm3d) if video else (nn.Conv2d, nn.BatchNorm2d)
        ls = layer_scale_init if layer_scale else None

        pe = _patch_embeds(video, in_chans, embed_dim)
        self.patch_embed1, self.patch_embed2, self.patch_embed3, self.patch_embed4 = pe
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim[2]))
        self.cls_upsample = nn.Linear(embed_dim[2], embed_dim[3])
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = drop_path_rates(drop_path_rate, sum(depth))
        offsets = [sum(depth[:i]) for i in range(4)]
        for i in range(2):
            self.add_module(f"blocks{i + 1}", nn.ModuleList(
                CBlock(embed_dim[i], mlp[i], conv, bn, drop_rate, dpr[offsets[i] + j], ls) for j in range(depth[i])))
            if dense:
                self.add_module(f"norm{i + 1}", nn.LayerNorm(embed_dim[i], eps=1e-6))
        for i in range(2, 4):
            ratio = mlp[3] if video else mlp[i]  # the original video classes build stage 3 with mlp_ratio[3]
            self.add_module(f"blocks{i + 1}", nn.ModuleList(
                EvoSABlock(embed_dim[i], embed_dim[i] // head_dim, ratio, conv, qkv_bias, qk_scale, drop_rate,
                           attn_drop_rate, dpr[offsets[i] + j], prune[i - 2][j], trade[i - 2][j],
                           downsample=i == 2 and j == depth[2] - 1, layer_scale=ls)
                for j in range(depth[i])))
            if dense:
                self.add_module(f"norm{i + 1}", nn.LayerNorm(embed_dim[i], eps=1e-6))
        if not dense:
            self.norm = bn(embed_dim[-1])
            self.norm_cls = nn.LayerNorm(embed_dim[-1])
            self.head = nn.Linear(embed_dim[-1], num_classes) if num_classes > 0 else nn.Identity()
            self.head_cls = nn.Linear(embed_dim[-1], num_classes) if num_classes > 0 else nn.Identity()
        self.apply(init_linear_and_norm)

    # -- interface shared by every tubelet model ------------------------------------------------------------------

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """The class token (as the original's list, whose other name matches nothing)."""
        return {"cls_token"}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        """Parameter groups for layer-wise lr decay and FSDP wrapping (timm's convention): the stem and the class
        token are layer 0; each block is its own group (``coarse``: each stage); a stage's patch embedding joins its
        first block; the rest (``cls_upsample``, norms, heads) is the top layer."""
        stem = r"^(?:patch_embed1\.|cls_token$)"
        if coarse:
            return dict(stem=stem, blocks=r"^(?:blocks|patch_embed)(\d+)\.")
        return dict(stem=stem, blocks=[(r"^blocks(\d+)\.(\d+)\.", None), (r"^patch_embed(\d+)\.", (0,))])

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute every block in the backward pass (activation memory for compute); outputs are unchanged."""
        self.use_checkpoint = enable
        self.checkpoint_num = [len(getattr(self, f"blocks{i + 1}")) for i in range(4)]

    def get_classifier(self) -> nn.Module:
        if self.dense:
            raise UsageError("a dense UniFormerLight backbone has no classifier")
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        """Replace ``head`` and ``head_cls`` by freshly initialised ones with ``num_classes`` rows."""
        if self.dense:
            raise UsageError("a dense UniFormerLight backbone has no classifier")
        self.num_classes = num_classes
        for name in ("head", "head_cls"):
            layer = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
            layer.apply(init_linear_and_norm)
            setattr(self, name, layer.to(self.cls_token.device))

    def _check_input(self, x: torch.Tensor) -> None:
        want = 5 if self.video else 4
        layout = "(B, C, T, H, W)" if self.video else "(B, C, H, W)"
        if x.ndim != want:
            raise UsageError(f"{'video' if self.video else 'image'} UniFormerLight expects a {want}-D tensor {layout}, "
                             f"got shape {tuple(x.shape)}")
        in_chans = self.patch_embed1.proj[0].weight.shape[1]
        if x.shape[1] != in_chans:
            raise UsageError(f"expected {in_chans} input channels in {layout}, got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < 32:
            raise UsageError(f"H and W must be at least 32 (the network downsamples by 32), got {tuple(x.shape)}")

    def _block(self, stage: int, j: int, blk: nn.Module, *args):
        if self.use_checkpoint and j < self.checkpoint_num[stage] and torch.is_grad_enabled():
            return checkpoint(blk, *args, use_reentrant=False)
        return blk(*args)

    def _out_norm(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Dense output ``i``: LayerNorm ``norm{i+1}`` over channels, as a contiguous channels-first map."""
        perm, back = ((0, 2, 3, 1), (0, 3, 1, 2))
        return getattr(self, f"norm{i + 1}")(x.permute(perm)).permute(back).contiguous()

    def _forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """``(class token (B, 1, C4), last map, dense outputs or [])``."""
        self._check_input(x)
        outs: list[torch.Tensor] = []
        x = self.pos_drop(self.patch_embed1(x))
        cls_token, scores = None, None
        for i in range(4):
            if i:
                x = getattr(self, f"patch_embed{i + 1}")(x)
            x = channels_last(x)  # a no-op after a LayerNorm patch embedding
            if i == 2:
                cls_token = self.cls_token.expand(x.shape[0], -1, -1)
            elif i == 3:
                cls_token = self.cls_upsample(cls_token)
            for j, blk in enumerate(getattr(self, f"blocks{i + 1}")):
                if i < 2:
                    x = self._block(i, j, blk, x)
                else:
                    cls_token, x, scores = self._block(i, j, blk, cls_token, x, scores)
            if self.dense:
                outs.append(self._out_norm(i, x))
        return cls_token, x, outs

    def forward_features(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """Classifier: ``(B, C, (T,) H, W)`` -> the normalised last-stage map ``(B, C4, (T/2,) H/32, W/32)``.
        Dense: ``(B, C, H, W)`` -> the list of the four normalised maps ``(B, C_i, H/2^(i+2), W/2^(i+2))``."""
        _, x, outs = self._forward_all(x)
        return outs if self.dense else self.norm(x)

    def forward_head(self, x, pre_logits: bool = False):
        """Pool the ``forward_features`` map over all positions and classify.

        Returns:
            ``(B, num_classes)`` logits, or with ``pre_logits=True`` the pooled feature ``(B, C4)`` that enters
            ``head``. A dense backbone returns its list of maps unchanged.
        """
        if self.dense:
            return x
        feat = x.flatten(2).mean(-1)
        return feat if pre_logits else self.head(feat)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        return self.forward_head(self.forward_features(x))

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The original's training output: ``(head(pooled), head_cls(norm_cls(class token)))``; its loss is
        ``0.5 * CE(first) + 0.5 * CE(second)`` (``engine_light.py``)."""
        if self.dense:
            raise UsageError("a dense UniFormerLight backbone has no classifier")
        cls_token, x, _ = self._forward_all(x)
        return self.forward_head(self.norm(x)), self.head_cls(self.norm_cls(cls_token).squeeze(1))


# --------------------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------------------

#: constructor arguments that do not change any weight's name or shape (free to differ from a checkpoint's).
RUNTIME_ARGS = frozenset({"drop_rate", "attn_drop_rate", "drop_path_rate", "use_checkpoint", "checkpoint_num",
                          "layer_scale_init", "qk_scale", "prune_ratio", "trade_off", "num_frames", "img_size"})
#: architecture switches that are read from the weights unless the caller sets them.
CHECKPOINT_SWITCHES = ("layer_scale",)
#: classifier parameters (dropped together when the number of classes changes).
CLASSIFIER_PREFIXES = ("head.", "head_cls.")
#: what a dense backbone does not have: the classifier's final norm, class-token norm and heads
_CLASSIFIER_ONLY = ("norm.", "norm_cls.", "head.", "head_cls.")
_OTHER_PARTS = tuple(p for p in TASK_PARTS if p != "backbone")


def convert_state_dict(state_dict: dict[str, torch.Tensor], path: str) -> tuple[dict[str, torch.Tensor], str]:
    """Original key names from any known producer: flat, PySlowFast ``model_state`` and DeiT ``model`` files are
    already unwrapped; an mmdet / mmseg / mmpose runner file keeps ``backbone.*`` without the prefix, and its other
    parts (``neck.*``, ``rpn_head.*``, ...) stay under their names until :func:`fit_state_dict` leaves them out (and
    says so in the load report)."""
    if any(k.startswith("backbone.") for k in state_dict):
        kept, _ = split_parts(state_dict, ("backbone",) + _OTHER_PARTS)
        unknown = [k for k in state_dict if k not in kept]
        if unknown:
            raise CheckpointError(f"{path}: a detection/segmentation file (backbone.* keys) with entries outside the "
                                  f"known parts ({', '.join(TASK_PARTS)}): {', '.join(unknown[:5])}")
        sd = {strip_prefix(k, "backbone."): v for k, v in kept.items()}
        return sd, "mmdet/mmseg/mmpose model (backbone.* taken)"
    return dict(state_dict), "original UniFormer keys"


def checkpoint_arch(state_dict: dict[str, torch.Tensor], path: str) -> dict:
    """Architecture switches that the weights determine.

    Returns a dict with ``video`` (3-D kernels), ``depth``, ``embed_dim``, ``dense_file`` (output norms
    ``norm1..norm4``, no classifier), ``layer_scale`` (video files, or files that have it), ``num_classes`` (None
    without ``head``) and ``left_out`` (``part -> tensors`` of a detection/segmentation file's other parts).
    """
    left_out: dict[str, int] = {}
    for k in state_dict:
        part = k.split(".", 1)[0]
        if part in _OTHER_PARTS:
            left_out[part] = left_out.get(part, 0) + 1
    sd = {k: v for k, v in state_dict.items() if k.split(".", 1)[0] not in _OTHER_PARTS}
    if "patch_embed1.proj.3.weight" not in sd or "cls_upsample.weight" not in sd:
        hint = (" (a standard UniFormer: use uniformer_small / uniformer_base / their _2d variants)"
                if "patch_embed1.proj.weight" in sd or "blocks1.0.pos_embed.weight" in sd else "")
        raise CheckpointError(f"{path}: not a light UniFormer (XXS/XS) checkpoint: no 'patch_embed1.proj.3.weight' "
                              f"and 'cls_upsample.weight'{hint} (first keys: {', '.join(list(sd)[:5])})")
    stem = sd["patch_embed1.proj.3.weight"]
    depth = [count_blocks(sd, f"blocks{i}.") for i in range(1, 5)]  # keys of other forms: named by the strict load
    embed_dim = [stem.shape[0]] + [sd[f"patch_embed{i}.proj.weight"].shape[0] for i in range(2, 5)]
    has_ls = any(k.startswith("blocks3.") and k.endswith(".gamma_1") for k in sd)
    arch = dict(video=stem.ndim == 5, embed_dim=embed_dim, dense_file="norm1.weight" in sd,
                num_classes=sd["head.weight"].shape[0] if "head.weight" in sd else None, left_out=left_out)
    if None not in depth:  # block numbers with a gap: the strict load names the missing / unexpected blocks
        arch["depth"] = depth
    if arch["video"] or has_ls:  # an image file without gammas can still initialise a layer-scale video model
        arch["layer_scale"] = has_ls
    return arch


def fit_state_dict(state_dict: dict[str, torch.Tensor], arch: dict, model: UniFormerLight,
                   path: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Fit converted weights to ``model``.

    * a detection/segmentation file's other parts are left out (named in the notes);
    * an ImageNet light classifier initialises a dense backbone (the official ``pretrained_path`` rule: ``norm``,
      ``norm_cls``, ``head``, ``head_cls`` left out, ``norm1..norm4`` keep their initialisation);
    * an ImageNet light classifier initialises a video model by the official rule (every 2-D kernel repeated over
      the temporal extent of its 3-D counterpart and divided by it; the original's ``get_pretrained_model``);
      layer scales it lacks keep their initialisation;
    * video weights into an image model, and dense weights into a classifier, are errors.

    Returns:
        the state dict and notes for the load report.
    """
    notes = []
    sd = {k: v for k, v in state_dict.items() if k.split(".", 1)[0] not in _OTHER_PARTS}
    if arch.get("left_out"):
        notes.append(describe_parts(arch["left_out"]))
    if arch["video"] and not model.video:
        raise CheckpointError(f"{path}: holds a VIDEO light UniFormer (3-D kernels); it cannot initialise the "
                              f"{'dense' if model.dense else 'image'} model (use uniformer_xxs / uniformer_xs)")
    if arch["dense_file"] and not model.dense:
        raise CheckpointError(f"{path}: holds a light UniFormer dense-prediction backbone (output norms norm1..norm4, "
                              f"no classifier); it cannot serve as a classifier: use uniformer_xxs_dense / "
                              f"uniformer_xs_dense")
    model_sd = model.state_dict()
    if model.dense and not arch["dense_file"]:
        left = [p for p in _CLASSIFIER_ONLY if any(k.startswith(p) for k in sd)]
        sd = {k: v for k, v in sd.items() if not k.startswith(_CLASSIFIER_ONLY)}
        fresh = [k for k in model_sd if k not in sd and k.split(".", 1)[0] in ("norm1", "norm2", "norm3", "norm4")]
        sd.update({k: model_sd[k] for k in fresh})
        notes.append(f"light ImageNet classifier -> dense backbone (official pretrained_path rule): "
                     f"{', '.join(p + '*' for p in left)} left out; norm1..norm4 keep their initialisation "
                     f"(weight 1, bias 0)")
    if model.video and not arch["video"]:
        sd = inflate_average(sd, model_sd)
        notes.append("light ImageNet -> video: 2-D kernels inflated by averaging over time (official rule)")
        fresh = [k for k in model_sd if k.endswith((".gamma_1", ".gamma_2")) and k not in sd]
        if fresh:
            sd.update({k: model_sd[k] for k in fresh})
            notes.append(f"layer scales (gamma_1/gamma_2, {len(fresh)} tensors) keep their initialisation "
                         f"{model.model_args.get('layer_scale_init')}")
    return sd, notes


_DENSE_VARIANTS = {"uniformer_xxs_dense", "uniformer_xs_dense"}


def resolve_switches(arch: dict, options: dict, path: str, name: str) -> dict:
    """Refuse, before anything is built, the files that cannot serve the variant: video weights for an image or
    dense model, dense-backbone weights for a classifier (:func:`fit_state_dict` checks the built model again)."""
    from ._registry import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    dense = options.get("dense", cfg.architecture in _DENSE_VARIANTS)
    if arch["video"] and not cfg.is_video:
        raise CheckpointError(f"{path}: holds a VIDEO light UniFormer (3-D kernels); it cannot initialise the "
                              f"{'dense' if dense else 'image'} model {name} (use uniformer_xxs / uniformer_xs)")
    if arch["dense_file"] and not dense:
        raise CheckpointError(f"{path}: holds a light UniFormer dense-prediction backbone (output norms norm1..norm4, "
                              f"no classifier); it cannot serve as the classifier {name}: use uniformer_xxs_dense / "
                              f"uniformer_xs_dense")
    return {}


def is_init_source(arch: dict, cfg: PretrainedCfg) -> bool:
    """True when the checkpoint only initialises the model: ImageNet light weights given to a video model or to a
    dense backbone (``cfg`` being the variant's)."""
    if arch["video"] or arch["dense_file"]:
        return False
    return cfg.is_video or cfg.architecture in _DENSE_VARIANTS


FAMILY = ModelFamily(
    name="uniformer_light", convert_state_dict=convert_state_dict, checkpoint_arch=checkpoint_arch,
    classifier_prefixes=CLASSIFIER_PREFIXES, checkpoint_switches=CHECKPOINT_SWITCHES, runtime_args=RUNTIME_ARGS,
    resolve_switches=resolve_switches, fit_state_dict=fit_state_dict, is_init_source=is_init_source)


# --------------------------------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------------------------------

_SOURCE = "https://github.com/Sense-X/UniFormer @ 52a0415"
_PAPER = "UniFormer: Unifying Convolution and Self-attention for Visual Recognition (arXiv:2201.09450)"
_ALIASES = {  # official SlowFast config names (UNIFORMER.*, lower case) -> constructor names
    "drop_depth_rate": "drop_path_rate", "dropout_rate": "drop_rate", "attention_dropout_rate": "attn_drop_rate",
    "qkv_scale": "qk_scale", "in_channels": "in_chans", "init_value": "layer_scale_init"}
_IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def _video_cfg(name: str, frames: int, size: int) -> PretrainedCfg:
    return PretrainedCfg(
        architecture=name, num_classes=400, input_size=(3, frames, size, size), mean=(0.45,) * 3, std=(0.225,) * 3,
        num_frames=frames, sampler="segment", test_views=(1, 1), resize_size=size,
        label_names="kinetics400_uniformer", source=_SOURCE, license="Apache-2.0", paper=_PAPER,
        notes="Kinetics-400, light recipe (video_classification/exp_light): sparse (segment) sampling "
              "(DATASET kinetics_sparse; SAMPLING_RATE unused), 1 clip x 1 centre crop, short side = crop size. "
              "Token pruning in stages 3-4. The XXS 4/8-frame 128 and 4-frame 160 releases use layer scale "
              "(layer_scale=True, read from the file).")


def _image_cfg(name: str, size: int) -> PretrainedCfg:
    return PretrainedCfg(
        architecture=name, num_classes=1000, input_size=(3, size, size), resize_size=int(256 / 224 * size),
        interpolation="bicubic", source=_SOURCE, license="Apache-2.0", paper=_PAPER,
        notes="ImageNet-1K (image_classification/exp_light): resize to 256/224 of the crop (bicubic), centre crop. "
              "Releases at 128/160/192/224 (XXS) and 192/224 (XS): pass img_size. Token pruning in stages 3-4; "
              "initialises the light video and dense models.", **_IMAGENET)


def _dense_cfg(name: str) -> PretrainedCfg:
    return PretrainedCfg(
        architecture=name, num_classes=0, input_size=(3, 800, 1280), source=_SOURCE, license="Apache-2.0",
        paper=_PAPER,
        notes="Backbone of the light Mask R-CNN / semantic FPN (object_detection/exp_light, semantic_segmentation/"
              "fpn_seg/exp_light): model(x) -> 4 maps, strides 4/8/16/32. COCO test: resize keeping the ratio into "
              "1333x800, pad to a multiple of 32 (800x1280: the FLOPs resolution of the README). Token pruning in "
              "stages 3-4. Initialised from the light ImageNet weights.", **_IMAGENET)


_CFGS = {cfg.architecture: cfg for cfg in (
    _video_cfg("uniformer_xxs", 16, 160), _video_cfg("uniformer_xs", 32, 192),
    _image_cfg("uniformer_xxs_2d", 160), _image_cfg("uniformer_xs_2d", 192),
    _dense_cfg("uniformer_xxs_dense"), _dense_cfg("uniformer_xs_dense"))}


def _create(variant: str, model_args: dict, fixed: tuple[str, ...] = ("video", "dense"), **kwargs) -> UniFormerLight:
    """Build ``variant``: its ``model_args`` with the caller's options (official SlowFast names accepted) on top."""
    return create_variant(UniFormerLight, _CFGS[variant], variant, model_args, fixed, _ALIASES, kwargs)


def _half(depth3: int, depth4: int) -> list[list[float]]:
    return [[1.0] + [0.5] * (depth3 - 1), [0.5] * depth4]


_XXS = dict(depth=(2, 5, 8, 2), embed_dim=(56, 112, 224, 448), head_dim=28, mlp_ratio=(3.0, 3.0, 3.0, 3.0),
            prune_ratio=_half(8, 2), trade_off=_half(8, 2))
_XS = dict(depth=(3, 5, 9, 3), embed_dim=(64, 128, 256, 512), head_dim=32, mlp_ratio=(3.0, 3.0, 3.0, 3.0),
           prune_ratio=_half(9, 3), trade_off=_half(9, 3))
# video XXS: the SlowFast defaults (three stage-4 values for two blocks; the third is never read)
_XXS_VIDEO = dict(_XXS, prune_ratio=_half(8, 3), trade_off=_half(8, 3))


@register_model(FAMILY, _CFGS["uniformer_xxs"])
def uniformer_xxs(**kwargs) -> UniFormerLight:
    """UniFormer-XXS video (9.8M params with 400 classes; K400 16x160 75.1)."""
    return _create("uniformer_xxs", dict(video=True, dense=False, drop_path_rate=0.05, **_XXS_VIDEO), **kwargs)


@register_model(FAMILY, _CFGS["uniformer_xs"])
def uniformer_xs(**kwargs) -> UniFormerLight:
    """UniFormer-XS video (16.1M params with 400 classes; K400 32x192 78.6)."""
    return _create("uniformer_xs", dict(video=True, dense=False, drop_path_rate=0.1, **_XS), **kwargs)


@register_model(FAMILY, _CFGS["uniformer_xxs_2d"])
def uniformer_xxs_2d(**kwargs) -> UniFormerLight:
    """UniFormer-XXS image (10.2M params; IN-1K 79.1 at 160)."""
    return _create("uniformer_xxs_2d", dict(video=False, dense=False, drop_path_rate=0.0, **_XXS), **kwargs)


@register_model(FAMILY, _CFGS["uniformer_xs_2d"])
def uniformer_xs_2d(**kwargs) -> UniFormerLight:
    """UniFormer-XS image (16.5M params; IN-1K 81.5 at 192)."""
    return _create("uniformer_xs_2d", dict(video=False, dense=False, drop_path_rate=0.1, **_XS), **kwargs)


@register_model(FAMILY, _CFGS["uniformer_xxs_dense"])
def uniformer_xxs_dense(**kwargs) -> UniFormerLight:
    """UniFormer-XXS dense-prediction backbone (9.3M params; Mask R-CNN 1x 42.8 box AP)."""
    return _create("uniformer_xxs_dense", dict(video=False, dense=True, drop_path_rate=0.0, **_XXS), **kwargs)


@register_model(FAMILY, _CFGS["uniformer_xs_dense"])
def uniformer_xs_dense(**kwargs) -> UniFormerLight:
    """UniFormer-XS dense-prediction backbone (15.5M params; Mask R-CNN 1x 44.6 box AP)."""
    return _create("uniformer_xs_dense", dict(video=False, dense=True, drop_path_rate=0.15, **_XS), **kwargs)
