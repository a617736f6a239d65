"""UniFormer: Unifying Convolution and Self-attention for Visual Recognition (video and image models).

Paper: Li et al., "UniFormer: Unified Transformer for Efficient Spatiotemporal Representation Learning",
ICLR 2022, arXiv:2201.04676 (and the image extension arXiv:2201.09450).
Original code: https://github.com/Sense-X/UniFormer @ 52a0415 (Apache-2.0):
``video_classification/slowfast/models/uniformer.py`` (video), ``image_classification/models/uniformer.py`` and
``image_classification/token_labeling/tlt/models/uniformer.py`` (image).

One class, :class:`UniFormer`, serves the video (``Conv3d``/``BatchNorm3d``, input ``(B, 3, T, H, W)``) and the
image models (``Conv2d``/``BatchNorm2d``, input ``(B, 3, H, W)``); state-dict keys are the original ones, so official
checkpoints load without renaming. Differences from the original code, none of which changes a weight or an output:

* attention runs through ``F.scaled_dot_product_attention`` (same scale, ``head_dim ** -0.5``);
* the image patch embedding accepts any resolution (the original image code asserts the training size);
* the unused ``SplitSABlock`` (``UNIFORMER.SPLIT``, no released model) and the broken ``REPRESENTATION_SIZE`` path
  are not implemented; asking for them is an error rather than a silent no-op;
* token-labeling models (``uniformer_large_ls_2d``) return the inference combination
  ``head(mean) + 0.5 * max_tokens(aux_head)`` in train mode as well; MixToken training is not implemented.

Checkpoints: PySlowFast ``{"model_state": ...}``, DeiT ``{"model": ...}``, timm ``{"state_dict": ...}``, MMAction2
``{"meta", "state_dict"}`` with ``backbone.``/``cls_head.fc_cls.`` keys, and flat state dicts all load strictly. A video
model created from an *image* checkpoint is initialised by the official rule (average inflation of every 2-D kernel
over its temporal extent; the original's ``Uniformer.get_pretrained_model``).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import CheckpointError, UsageError
from ._convert import count_blocks, inflate_average, shape_of, strip_prefix
from ._family import ModelFamily
from ._registry import PretrainedCfg, attach_cfg, get_pretrained_cfg, register_model, resolve_args
from .layers import DropPath, Mlp, channels_first_for_cpu_half, drop_path_rates, init_linear_and_norm

__all__ = ["UniFormer"]


# --------------------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------------------

def channels_last(x: torch.Tensor) -> torch.Tensor:
    """The map ``(B, C, (T,) H, W)`` laid out channels-last in memory (a no-op when it already is).

    UniFormer runs every stage channels-last: the token <-> map reshapes of the patch embeddings and SABlocks are then
    free views, the 1x1 convolutions are one matrix product each (:func:`pointwise`), and oneDNN's depthwise
    convolutions are much faster on CPU than on channels-first maps.
    """
    return x.contiguous(memory_format=torch.channels_last_3d if x.ndim == 5 else torch.channels_last)


def tokens_to_map(x: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Tokens ``(B, N, C)`` back to the channels-last map of ``shape`` ``(B, C, (T,) H, W)``: a view.

    Written as ``view`` + ``permute`` rather than ``transpose(1, 2).reshape(shape)``: the latter gives size-1 axes
    (B = 1, T = 1) arbitrary strides, and oneDNN then fails to recognise the map as channels-last and returns
    channels-first outputs, on which its depthwise convolutions are much slower.
    """
    B, C, *grid = shape
    return x.view(B, *grid, C).permute(0, len(grid) + 1, *range(1, len(grid) + 1))


def pointwise(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` for a 1x1(x1) convolution, as one ``Linear`` over the positions of a channels-last map.

    PyTorch sends a 1x1 convolution of a small batch on one CPU thread to its unfold + GEMM fallback, which copies
    the input and pre-fills the output with the bias: slower than the bare product; a channels-last map is
    already a ``(positions, C)`` matrix. Same weights, same result up to summation order; a channels-first map
    goes through ``conv``.
    """
    perm, back = ((0, 2, 3, 4, 1), (0, 4, 1, 2, 3)) if x.ndim == 5 else ((0, 2, 3, 1), (0, 3, 1, 2))
    tokens = x.permute(perm)
    if not tokens.is_contiguous():
        return conv(x)
    return F.linear(tokens, conv.weight.flatten(1), conv.bias).permute(back)


class ConvMlp(nn.Module):
    """The CBlock MLP (``CMlp`` in the original): 1x1 convolutions instead of Linear layers (run by
    :func:`pointwise`)."""

    def __init__(self, dim: int, hidden: int, conv: type[nn.Module], drop: float = 0.0):
        super().__init__()
        self.fc1 = conv(dim, hidden, 1)
        self.act = nn.GELU()
        self.fc2 = conv(hidden, dim, 1)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(pointwise(self.fc2, self.drop(self.act(pointwise(self.fc1, x)))))


class Attention(nn.Module):
    """Multi-head self-attention over a token sequence ``(B, N, C)`` (global MHRA).

    The fused ``qkv`` projection is laid out as in the original: q rows first, then k, then v, each split into
    ``num_heads`` contiguous head slices.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, qk_scale: float | None = None,
                 attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)  # 3, B, h, N, d
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0,
                                           scale=self.scale)  # B, h, N, d
        x = x.transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(x))


def _layer_scales(shape: tuple[int, ...], init: float | None):
    """Residual-branch scales (gamma_1, gamma_2) of ``shape`` initialised to ``init``; (None, None) without."""
    if init is None:
        return None, None
    return nn.Parameter(init * torch.ones(shape)), nn.Parameter(init * torch.ones(shape))


def _scale(y: torch.Tensor, gamma: torch.Tensor | None) -> torch.Tensor:
    return y if gamma is None else gamma * y


class CBlock(nn.Module):
    """Local MHRA block (stages 1-2): depthwise-conv relation aggregator on maps ``(B, C, (T,) H, W)`` (channels-last
    in memory, see :func:`channels_last`).

    ``x += pos_embed(x); x += DP(conv2(attn(conv1(norm1(x))))); x += DP(mlp(norm2(x)))``
    """

    def __init__(self, dim: int, mlp_ratio: float, conv: type[nn.Module], bn: type[nn.Module], drop: float = 0.0,
                 drop_path: float = 0.0, layer_scale: float | None = None):
        super().__init__()
        self.pos_embed = conv(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = bn(dim)
        self.conv1 = conv(dim, dim, 1)
        self.conv2 = conv(dim, dim, 1)
        self.attn = conv(dim, dim, 5, padding=2, groups=dim)
        self.drop_path = DropPath(drop_path)
        self.norm2 = bn(dim)
        self.mlp = ConvMlp(dim, int(dim * mlp_ratio), conv, drop)
        # token-labeling large model only; shape (1, C, 1, 1) as in the original
        self.gamma_1, self.gamma_2 = _layer_scales((1, dim) + (1,) * (2 if conv is nn.Conv2d else 3), layer_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = channels_first_for_cpu_half(x)
        x = x + self.pos_embed(x)
        x = x + self.drop_path(_scale(pointwise(self.conv2, self.attn(pointwise(self.conv1, self.norm1(x)))),
                                      self.gamma_1))
        return x + self.drop_path(_scale(self.mlp(self.norm2(x)), self.gamma_2))


class SABlock(nn.Module):
    """Global MHRA block (stages 3-4): joint attention over all T*H*W positions.

    ``x += pos_embed(x)`` on the channels-first map, then on tokens ``(B, N, C)`` in (t, h, w) row-major order:
    ``x += DP(attn(norm1(x))); x += DP(mlp(norm2(x)))``.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, conv: type[nn.Module], qkv_bias: bool = True,
                 qk_scale: float | None = None, drop: float = 0.0, attn_drop: float = 0.0, drop_path: float = 0.0,
                 layer_scale: float | None = None, norm_eps: float = 1e-6):
        super().__init__()
        self.pos_embed = conv(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)  # the original uses 1e-6 here (1e-5 in patch embeddings)
        self.attn = Attention(dim, num_heads, qkv_bias, qk_scale, attn_drop, drop)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        self.gamma_1, self.gamma_2 = _layer_scales((dim,), layer_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = channels_first_for_cpu_half(x)
        x = x + self.pos_embed(x)
        shape = x.shape
        x = x.flatten(2).transpose(1, 2)  # B, N, C
        x = x + self.drop_path(_scale(self.attn(self.norm1(x)), self.gamma_1))
        x = x + self.drop_path(_scale(self.mlp(self.norm2(x)), self.gamma_2))
        return tokens_to_map(x, shape)


def check_stages(depth: Sequence[int], embed_dim: Sequence[int], head_dim: int) -> tuple[list[int], list[int]]:
    """``(depth, embed_dim)`` as lists, after checking what every UniFormer needs: 4 stages, and attention stages whose
    width is a multiple of ``head_dim``.

    Raises:
        UsageError: naming the values.
    """
    depth, embed_dim = list(depth), list(embed_dim)
    if len(depth) != 4 or len(embed_dim) != 4:
        raise UsageError(f"UniFormer has 4 stages: got depth={depth}, embed_dim={embed_dim}")
    if any(d % head_dim for d in embed_dim[2:]):
        raise UsageError(f"embed_dim {embed_dim[2:]} of the attention stages must be multiples of head_dim={head_dim}")
    return depth, embed_dim


class PatchEmbed(nn.Module):
    """Strided convolution ``proj`` then LayerNorm (eps 1e-5) over channels; a conv stem has BN inside ``proj``."""

    def __init__(self, proj: nn.Module, dim: int | None):
        super().__init__()
        self.proj = proj
        self.norm = nn.LayerNorm(dim) if dim is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        if self.norm is None:
            return x
        shape = x.shape
        x = self.norm(x.flatten(2).transpose(1, 2))  # B, N, C
        return tokens_to_map(x, shape)


def _patch_embeds(video: bool, std: bool, conv_stem: bool, in_chans: int, dims: Sequence[int]) -> list[PatchEmbed]:
    """The four downsampling embeddings: /4 stem (x2 in time for video), then /2 three times."""
    if video:
        # conv_3xnxn stem: kernel (3,4,4) stride (2,4,4): the only temporal downsampling of the network.
        embeds = [PatchEmbed(nn.Conv3d(in_chans, dims[0], (3, 4, 4), (2, 4, 4), (1, 0, 0)), dims[0])]
        for i in range(1, 4):
            # STD: a (3,2,2) kernel with temporal stride 1 and padding 1 (no extra temporal downsampling).
            k, p = ((3, 2, 2), (1, 0, 0)) if std else ((1, 2, 2), 0)
            embeds.append(PatchEmbed(nn.Conv3d(dims[i - 1], dims[i], k, (1, 2, 2), p), dims[i]))
        return embeds
    if conv_stem:
        # S+ models: two 3x3/2 convolutions with BN (no LayerNorm), then 3x3/2 conv + BN per stage.
        stem = nn.Sequential(nn.Conv2d(in_chans, dims[0] // 2, 3, 2, 1), nn.BatchNorm2d(dims[0] // 2), nn.GELU(),
                             nn.Conv2d(dims[0] // 2, dims[0], 3, 2, 1), nn.BatchNorm2d(dims[0]))
        embeds = [PatchEmbed(stem, None)]
        for i in range(1, 4):
            embeds.append(PatchEmbed(nn.Sequential(nn.Conv2d(dims[i - 1], dims[i], 3, 2, 1),
                                                   nn.BatchNorm2d(dims[i])), None))
        return embeds
    embeds = [PatchEmbed(nn.Conv2d(in_chans, dims[0], 4, 4), dims[0])]
    embeds += [PatchEmbed(nn.Conv2d(dims[i - 1], dims[i], 2, 2), dims[i]) for i in range(1, 4)]
    return embeds


# --------------------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------------------

class UniFormer(nn.Module):
    """UniFormer for video (``video=True``, input ``(B, C, T, H, W)``) or images (input ``(B, C, H, W)``).

    ::

        x ─patch_embed1 (/4 space, /2 time)─ blocks1 (CBlock × d1) ─patch_embed2 (/2)─ blocks2 (CBlock × d2)
          ─patch_embed3 (/2)─ blocks3 (SABlock × d3) ─patch_embed4 (/2)─ blocks4 (SABlock × d4)
          ─norm (BatchNorm)─ mean over positions ─head─▶ logits (B, num_classes)

    Args:
        depth: blocks per stage.
        embed_dim: channels per stage.
        head_dim: channels per attention head (heads = dim // head_dim).
        mlp_ratio: MLP hidden size / dim.
        qkv_bias: bias in the fused qkv projection.
        qk_scale: attention scale; None means ``head_dim ** -0.5``.
        num_classes: classifier rows; 0 gives no classifier (``forward`` returns the pooled feature).
        in_chans: input channels.
        drop_rate: dropout after the stem and inside the MLP/attention projections.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic-depth rate of the last block (linear ramp from 0 over all blocks).
        video: 3-D (video) or 2-D (image) model.
        std: video only: the (3,2,2) temporal-stride-1 kernel in patch_embed2-4 (``UNIFORMER.STD``).
        conv_stem: image only: the convolutional stem of the S+ models.
        layer_scale: per-channel residual scales (gamma_1, gamma_2) in the SABlocks (``*_ls`` models).
        cblock_layer_scale: layer scale in the CBlocks as well (token-labeling large model).
        layer_scale_init: initial value of the layer scales.
        aux_head: token-labeling auxiliary head; output = head(mean) + 0.5 * max over tokens of aux_head(tokens).
        use_checkpoint: gradient checkpointing of the first ``checkpoint_num[i]`` blocks of stage i.
        checkpoint_num: blocks per stage to checkpoint when ``use_checkpoint`` (default: all).
        split: the original's SplitSABlock (not implemented: no released model uses it).
        representation_size: the original's pre-logits layer (not implemented: broken in the original).
    """

    def __init__(self, depth: Sequence[int] = (3, 4, 8, 3), embed_dim: Sequence[int] = (64, 128, 320, 512),
                 head_dim: int = 64, mlp_ratio: float = 4.0, qkv_bias: bool = True, qk_scale: float | None = None,
                 num_classes: int = 400, in_chans: int = 3, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, video: bool = True, std: bool = False, conv_stem: bool = False,
                 layer_scale: bool = False, cblock_layer_scale: bool = False, layer_scale_init: float = 1e-6,
                 aux_head: bool = False, use_checkpoint: bool = False, checkpoint_num: Sequence[int] | None = None,
                 split: bool = False, representation_size: int | None = None):
        super().__init__()
        depth, embed_dim = check_stages(depth, embed_dim, head_dim)
        if split:
            raise UsageError("split=True (SplitSABlock) is not implemented: no released UniFormer uses it")
        if representation_size:
            raise UsageError("representation_size is not supported (the original code path is broken)")
        if video and conv_stem:
            raise UsageError("conv_stem exists only in the image UniFormer-S+ models, not in video models")
        if not video and std:
            raise UsageError("std=True (3x2x2 patch embeddings) applies to video models only")
        self.video = video
        self.num_classes = num_classes
        self.num_features = embed_dim[-1]
        self.use_checkpoint = use_checkpoint
        self.checkpoint_num = list(checkpoint_num) if checkpoint_num is not None else list(depth)
        conv, bn = (nn.Conv3d, nn.BatchNorm3d) if video else (nn.Conv2d, nn.BatchNorm2d)

        pe = _patch_embeds(video, std, conv_stem, in_chans, embed_dim)
        self.patch_embed1, self.patch_embed2, self.patch_embed3, self.patch_embed4 = pe
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = drop_path_rates(drop_path_rate, sum(depth))
        offsets = [sum(depth[:i]) for i in range(4)]
        ls = layer_scale_init if layer_scale else None
        cls = layer_scale_init if cblock_layer_scale else None
        for i in range(2):
            self.add_module(f"blocks{i + 1}", nn.ModuleList(
                CBlock(embed_dim[i], mlp_ratio, conv, bn, drop_rate, dpr[offsets[i] + j], cls)
                for j in range(depth[i])))
        for i in range(2, 4):
            self.add_module(f"blocks{i + 1}", nn.ModuleList(
                SABlock(embed_dim[i], embed_dim[i] // head_dim, mlp_ratio, conv, qkv_bias, qk_scale, drop_rate,
                        attn_drop_rate, dpr[offsets[i] + j], ls) for j in range(depth[i])))
        self.norm = bn(embed_dim[-1])
        self.head = nn.Linear(embed_dim[-1], num_classes) if num_classes > 0 else nn.Identity()
        self.aux_head = (nn.Linear(embed_dim[-1], num_classes) if num_classes > 0 else nn.Identity()) \
            if aux_head else None
        self.apply(init_linear_and_norm)

    # -- interface shared by every tubelet model ------------------------------------------------------------------

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """Parameter names excluded from weight decay beyond the usual 1-D rule: none (as the original, whose list
        names no existing parameter)."""
        return set()

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        """Parameter groups for layer-wise lr decay and FSDP wrapping (timm's convention): ``stem`` is layer 0;
        ``blocks`` patterns give each block an ordinal (stage, block); a stage's patch embedding joins its first
        block; names matching neither (final norm, heads) are the top layer. ``coarse``: one group per stage."""
        if coarse:
            return dict(stem=r"^patch_embed1\.", blocks=r"^(?:blocks|patch_embed)(\d+)\.")
        return dict(stem=r"^patch_embed1\.", blocks=[(r"^blocks(\d+)\.(\d+)\.", None), (r"^patch_embed(\d+)\.", (0,))])

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute every block in the backward pass (activation memory for compute); outputs are unchanged."""
        self.use_checkpoint = enable
        self.checkpoint_num = [len(getattr(self, f"blocks{i + 1}")) for i in range(4)]

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier (and the auxiliary head) by a freshly initialised one with ``num_classes`` rows."""
        self.num_classes = num_classes
        for name in ("head", "aux_head") if self.aux_head is not None else ("head",):
            layer = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
            layer.apply(init_linear_and_norm)
            setattr(self, name, layer.to(self.norm.weight.device))

    def _check_input(self, x: torch.Tensor) -> None:
        want = 5 if self.video else 4
        layout = "(B, C, T, H, W)" if self.video else "(B, C, H, W)"
        if x.ndim != want:
            raise UsageError(f"{'video' if self.video else 'image'} UniFormer expects a {want}-D tensor {layout}, "
                             f"got shape {tuple(x.shape)}")
        in_chans = self.patch_embed1.proj.weight.shape[1] if not isinstance(self.patch_embed1.proj, nn.Sequential) \
            else self.patch_embed1.proj[0].weight.shape[1]
        if x.shape[1] != in_chans:
            raise UsageError(f"expected {in_chans} input channels in {layout}, got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < 32:
            raise UsageError(f"H and W must be at least 32 (the network downsamples by 32), got {tuple(x.shape)}")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone: ``(B, C, T, H, W)`` -> normalised last-stage map ``(B, 512, T/2, H/32, W/32)`` (video), or
        ``(B, C, H, W)`` -> ``(B, 512, H/32, W/32)`` (image)."""
        self._check_input(x)
        x = self.pos_drop(self.patch_embed1(x))
        for i in range(4):
            if i:
                x = getattr(self, f"patch_embed{i + 1}")(x)
            x = channels_last(x)  # a no-op after a LayerNorm patch embedding (see channels_last)
            for j, blk in enumerate(getattr(self, f"blocks{i + 1}")):
                if self.use_checkpoint and j < self.checkpoint_num[i] and torch.is_grad_enabled():
                    x = checkpoint(blk, x, use_reentrant=False)
                else:
                    x = blk(x)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool the ``forward_features`` map over all positions and classify.

        Returns:
            ``(B, num_classes)`` logits, or with ``pre_logits=True`` the pooled feature ``(B, 512)`` that enters
            ``head``.
        """
        tokens = x.flatten(2)  # B, C, N
        feat = tokens.mean(-1)
        if pre_logits:
            return feat
        out = self.head(feat)
        if self.aux_head is not None:
            out = out + 0.5 * self.aux_head(tokens.transpose(1, 2)).max(1)[0]
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# --------------------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------------------

#: constructor arguments that do not change any weight's name or shape (free to differ from a checkpoint's).
RUNTIME_ARGS = frozenset({"drop_rate", "attn_drop_rate", "drop_path_rate", "use_checkpoint", "checkpoint_num",
                          "layer_scale_init", "qk_scale", "num_frames", "img_size"})
#: architecture switches that are read from the weights unless the caller sets them.
CHECKPOINT_SWITCHES = ("std",)
#: classifier parameters (dropped together when the number of classes changes).
CLASSIFIER_PREFIXES = ("head.", "aux_head.")


def convert_state_dict(state_dict: dict[str, torch.Tensor], path: str) -> tuple[dict[str, torch.Tensor], str]:
    """Rename a UniFormer state dict of any known producer to tubelet's (= the original) names.

    Returns:
        the renamed state dict and a description of the producer's layout.
    """
    if any(k.startswith("backbone.") for k in state_dict):
        # MMAction2: backbone.<original name>, cls_head.fc_cls.* = head.*; training files also carry the
        # data preprocessor's mean/std buffers, which are not model weights.
        sd = {}
        for k, v in state_dict.items():
            if k.startswith("data_preprocessor."):
                continue
            if k.startswith("cls_head.fc_cls."):
                k = "head." + k[len("cls_head.fc_cls."):]
            sd[strip_prefix(k, "backbone.")] = v
        return sd, "MMAction2 (backbone./cls_head. keys)"
    return dict(state_dict), "original UniFormer keys"


def checkpoint_arch(state_dict: dict[str, torch.Tensor], path: str) -> dict:
    """Architecture switches that the weights determine.

    Returns a dict with ``video`` (3-D kernels), ``depth``, ``embed_dim``, ``conv_stem``, ``layer_scale``,
    ``cblock_layer_scale``, ``aux_head``, ``num_classes`` (None without a classifier) and, for video weights, ``std``.
    A key of an unknown form (a block index after a gap, a name where the index should be) or a tensor of an
    unexpected rank determines nothing (``embed_dim`` / ``std`` are then left out): the strict load names it.
    """
    sd = state_dict
    if "patch_embed1.proj.weight" in sd:
        stem, conv_stem = sd["patch_embed1.proj.weight"], False
    elif "patch_embed1.proj.3.weight" in sd:
        stem, conv_stem = sd["patch_embed1.proj.3.weight"], True
    else:
        some = ", ".join(list(sd)[:5])
        raise CheckpointError(f"{path}: not a UniFormer checkpoint: no 'patch_embed1.proj.weight' "
                              f"(first keys: {some})")
    video = stem.ndim == 5
    kernels = (5,) if video else (4,)
    embed_dim = [stem.shape[0] if stem.ndim in (4, 5) else None]
    for i in range(2, 5):
        w = shape_of(sd, f"patch_embed{i}.proj.0.weight" if conv_stem else f"patch_embed{i}.proj.weight", kernels)
        embed_dim.append(None if w is None else w[0])
    head = shape_of(sd, "head.weight", 2)
    depth = [count_blocks(sd, f"blocks{i}.") for i in range(1, 5)]
    arch = dict(video=video, conv_stem=conv_stem,
                layer_scale=any(k.startswith("blocks3.") and k.endswith(".gamma_1") for k in sd),
                cblock_layer_scale=any(k.startswith("blocks1.") and k.endswith(".gamma_1") for k in sd),
                aux_head="aux_head.weight" in sd, num_classes=None if head is None else head[0])
    if None not in embed_dim:
        arch["embed_dim"] = embed_dim
    if None not in depth:  # numbers with a gap: the strict load names the missing / unexpected blocks
        arch["depth"] = depth
    embed2 = shape_of(sd, "patch_embed2.proj.weight", 5)
    if video and embed2 is not None:
        arch["std"] = embed2[2] == 3
    return arch


def fit_state_dict(state_dict: dict[str, torch.Tensor], arch: dict, model: UniFormer,
                   path: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Fit converted weights to ``model``: image weights into a video model are inflated by the official rule.

    Returns:
        the state dict and notes for the load report.
    """
    if arch["video"] and not model.video:
        raise CheckpointError(f"{path}: holds a VIDEO UniFormer (3-D kernels); it cannot initialise the image "
                              f"model (use uniformer_small / uniformer_base)")
    if model.video and not arch["video"]:
        # UF video get_pretrained_model: every 2-D kernel whose shape differs is repeated over the model kernel's
        # temporal extent and divided by it ("average" inflation, center=False).
        return inflate_average(state_dict, model.state_dict()), [
            "image UniFormer -> video: 2-D kernels inflated by averaging over time (official rule)"]
    return state_dict, []


#: token-labeling releases of these names exist with head_dim 32 and 64, with identical tensor shapes
_TL_AMBIGUOUS = {"uniformer_small_2d": ("uniformer_small_hd32_2d", "TL 'uniformer_small', 83.4"),
                 "uniformer_base_2d": ("uniformer_base_hd32_2d", "TL 'uniformer_base', 85.1"),
                 "uniformer_small_plus_2d": ("uniformer_small_plus_2d", "TL 'uniformer_small_plus', 83.9")}


def resolve_switches(arch: dict, options: dict, path: str, name: str) -> dict:
    """``aux_head`` (the token-labeling auxiliary head) from the weights, unless the caller sets it or the weights
    only initialise the model (image weights for a video model). Refuse to guess the head_dim of a token-labeling
    image checkpoint (it has ``aux_head``): the token-labeling code released S, S+ and B with head_dim 32 and 64, and
    the two load into each other without any error."""
    if arch.get("aux_head") and name in _TL_AMBIGUOUS and "head_dim" not in options:
        hd32, what32 = _TL_AMBIGUOUS[name]
        dim64 = "uniformer_small_plus_dim64_2d" if name == "uniformer_small_plus_2d" else name
        raise CheckpointError(
            f"{path}: a token-labeling checkpoint (it has aux_head) of the kind the token-labeling code released with "
            f"head_dim 32 and with head_dim 64; both have the same tensor shapes, so loading it into the wrong one "
            f"gives wrong outputs without any error. Say which: head_dim=32 ({what32}): "
            f"create_model({hd32!r}, checkpoint_path=...{', head_dim=32' if hd32 == name else ''}); head_dim=64 "
            f"(its '_dim64' release): create_model({dim64!r}, checkpoint_path=...{', head_dim=64' if dim64 == name else ''}); "
            f"or name the release by tag (pretrained='in1k_tl', 'in1k_tl_384'), which states it")
    if "aux_head" not in options and arch["video"] == get_pretrained_cfg(name).is_video:
        return {"aux_head": arch["aux_head"]}
    return {}


def cfg_for_producer(cfg: PretrainedCfg, producer: str) -> PretrainedCfg:
    """MMAction2 re-ordered the official K400 classifier rows to its alphabetical label list (its UniFormer README,
    note 4), so its K400 files follow ``kinetics400``, not the official ``kinetics400_uniformer`` order."""
    if producer.startswith("MMAction2") and cfg.label_names == "kinetics400_uniformer":
        return cfg.replace(label_names="kinetics400")
    return cfg


def is_init_source(arch: dict, cfg: PretrainedCfg) -> bool:
    """True when the checkpoint only initialises the model (image weights -> video model, ``cfg`` being the
    variant's): its classifier belongs to another label space and is dropped when the number of classes differs."""
    return cfg.is_video and not arch["video"]


FAMILY = ModelFamily(
    name="uniformer", convert_state_dict=convert_state_dict, checkpoint_arch=checkpoint_arch,
    classifier_prefixes=CLASSIFIER_PREFIXES, checkpoint_switches=CHECKPOINT_SWITCHES, runtime_args=RUNTIME_ARGS,
    resolve_switches=resolve_switches, fit_state_dict=fit_state_dict, is_init_source=is_init_source,
    cfg_for_producer=cfg_for_producer)


# --------------------------------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------------------------------

_SOURCE = "https://github.com/Sense-X/UniFormer @ 52a0415"
_PAPER = "UniFormer: Unified Transformer for Efficient Spatiotemporal Representation Learning (arXiv:2201.04676)"
_ALIASES = {  # official SlowFast config names (UNIFORMER.*, lower case) -> constructor names
    "drop_depth_rate": "drop_path_rate", "dropout_rate": "drop_rate", "attention_dropout_rate": "attn_drop_rate",
    "qkv_scale": "qk_scale", "in_channels": "in_chans"}


def _video_cfg(name: str, **kw) -> PretrainedCfg:
    return PretrainedCfg(
        architecture=name, num_classes=400, input_size=(3, 16, 224, 224), mean=(0.45,) * 3, std=(0.225,) * 3,
        num_frames=16, sampler="dense", frame_interval=4, test_views=(4, 1), resize_size=224,
        label_names="kinetics400_uniformer", source=_SOURCE, license="Apache-2.0", paper=_PAPER,
        notes="Kinetics recipe: dense 16x4, 4 clips x 1 centre crop (short side 224); Something-Something: "
              "segment sampling, 1 clip x 3 crops. Class order of the official K400 weights: kinetics400_uniformer "
              "(MMAction2's ports use the alphabetical kinetics400).", **kw)


def _image_cfg(name: str, **kw) -> PretrainedCfg:
    return PretrainedCfg(
        architecture=name, num_classes=1000, input_size=(3, 224, 224), mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225), resize_size=256, interpolation="bicubic", source=_SOURCE, license="Apache-2.0",
        paper="UniFormer: Unifying Convolution and Self-attention for Visual Recognition (arXiv:2201.09450)",
        notes="ImageNet-1K; used to initialise the video models by 2-D -> 3-D inflation.", **kw)


def create_variant(cls: type[nn.Module], cfg: PretrainedCfg, variant: str, model_args: dict,
                   fixed: tuple[str, ...], aliases: dict[str, str], kwargs: dict) -> nn.Module:
    """Build ``variant`` of a UniFormer class: its ``model_args`` with the caller's options (official config names in
    ``aliases`` accepted) on top, ``fixed`` ones refused; ``num_frames`` / ``img_size`` change the data contract only.
    Shared by the UniFormer, light and dense-prediction variants."""
    kwargs = {aliases.get(k, k): v for k, v in kwargs.items()}
    num_frames = kwargs.pop("num_frames", None)
    img_size = kwargs.pop("img_size", None)
    resolved = resolve_args(variant, cls, model_args, {"num_classes": cfg.num_classes, **model_args, **kwargs},
                            fixed=fixed, extra={"num_frames", "img_size", *aliases})
    model = cls(**resolved)
    attach_cfg(model, variant, resolved, num_frames=num_frames, img_size=img_size)
    resolved["img_size"] = model.pretrained_cfg.input_size[-1]
    if getattr(model, "video", False):
        resolved["num_frames"] = model.pretrained_cfg.num_frames
    return model


def _create_uniformer(variant: str, model_args: dict, fixed: tuple[str, ...] = ("video",), **kwargs) -> UniFormer:
    """Build ``variant``: its ``model_args`` with the caller's options (official SlowFast names accepted) on top."""
    return create_variant(UniFormer, _CFGS[variant], variant, model_args, fixed, _ALIASES, kwargs)


_S = dict(depth=(3, 4, 8, 3), embed_dim=(64, 128, 320, 512))
_SP = dict(depth=(3, 5, 9, 3), embed_dim=(64, 128, 320, 512))
_B = dict(depth=(5, 8, 20, 7), embed_dim=(64, 128, 320, 512))
_CFGS = {name: make(name) for make, names in (
    (_video_cfg, ("uniformer_small", "uniformer_base")),
    (_image_cfg, ("uniformer_small_2d", "uniformer_small_plus_2d", "uniformer_small_plus_dim64_2d",
                  "uniformer_base_2d", "uniformer_base_ls_2d", "uniformer_large_ls_2d", "uniformer_small_hd32_2d",
                  "uniformer_base_hd32_2d"))) for name in names}


@register_model(FAMILY, _CFGS["uniformer_small"])
def uniformer_small(**kwargs) -> UniFormer:
    """UniFormer-S video (21.4M params with 400 classes)."""
    return _create_uniformer("uniformer_small", dict(video=True, head_dim=64, **_S), **kwargs)


@register_model(FAMILY, _CFGS["uniformer_base"])
def uniformer_base(**kwargs) -> UniFormer:
    """UniFormer-B video (49.8M params with 400 classes)."""
    return _create_uniformer("uniformer_base", dict(video=True, head_dim=64, **_B), **kwargs)


@register_model(FAMILY, _CFGS["uniformer_small_2d"])
def uniformer_small_2d(**kwargs) -> UniFormer:
    """UniFormer-S image (IN-1K 82.9)."""
    return _create_uniformer("uniformer_small_2d", dict(video=False, head_dim=64, **_S), **kwargs)


@register_model(FAMILY, _CFGS["uniformer_small_plus_2d"])
def uniformer_small_plus_2d(**kwargs) -> UniFormer:
    """UniFormer-S+ image: conv stem, head_dim 32 (IN-1K 83.4)."""
    return _create_uniformer("uniformer_small_plus_2d", dict(video=False, head_dim=32, conv_stem=True, **_SP),
                             **kwargs)


@register_model(FAMILY, _CFGS["uniformer_small_plus_dim64_2d"])
def uniformer_small_plus_dim64_2d(**kwargs) -> UniFormer:
    """UniFormer-S+ image with head_dim 64 (IN-1K 83.4)."""
    return _create_uniformer("uniformer_small_plus_dim64_2d", dict(video=False, head_dim=64, conv_stem=True, **_SP),
                             fixed=("video", "head_dim"), **kwargs)


@register_model(FAMILY, _CFGS["uniformer_base_2d"])
def uniformer_base_2d(**kwargs) -> UniFormer:
    """UniFormer-B image (IN-1K 83.8)."""
    return _create_uniformer("uniformer_base_2d", dict(video=False, head_dim=64, **_B), **kwargs)


@register_model(FAMILY, _CFGS["uniformer_base_ls_2d"])
def uniformer_base_ls_2d(**kwargs) -> UniFormer:
    """UniFormer-B image with layer scale in the attention blocks (IN-1K 83.9)."""
    return _create_uniformer("uniformer_base_ls_2d", dict(video=False, head_dim=64, layer_scale=True, **_B), **kwargs)


@register_model(FAMILY, _CFGS["uniformer_small_hd32_2d"])
def uniformer_small_hd32_2d(**kwargs) -> UniFormer:
    """UniFormer-S image with head_dim 32 and the token-labeling auxiliary head: the token-labeling code's
    ``uniformer_small`` (IN-1K 83.4 TL). Its tensors have the shapes of the head_dim-64 model, hence its own name."""
    return _create_uniformer("uniformer_small_hd32_2d", dict(video=False, head_dim=32, aux_head=True, **_S),
                             fixed=("video", "head_dim"), **kwargs)


@register_model(FAMILY, _CFGS["uniformer_base_hd32_2d"])
def uniformer_base_hd32_2d(**kwargs) -> UniFormer:
    """UniFormer-B image with head_dim 32 and the token-labeling auxiliary head: the token-labeling code's
    ``uniformer_base`` (IN-1K 85.1 TL). Its tensors have the shapes of the head_dim-64 model, hence its own name."""
    return _create_uniformer("uniformer_base_hd32_2d", dict(video=False, head_dim=32, aux_head=True, **_B),
                             fixed=("video", "head_dim"), **kwargs)


@register_model(FAMILY, _CFGS["uniformer_large_ls_2d"])
def uniformer_large_ls_2d(**kwargs) -> UniFormer:
    """UniFormer-L image, token labeling: layer scale everywhere and an auxiliary token head (IN-1K 85.6)."""
    return _create_uniformer("uniformer_large_ls_2d", dict(video=False, head_dim=64, layer_scale=True,
                                                           cblock_layer_scale=True, aux_head=True,
                                                           depth=(5, 10, 24, 7), embed_dim=(128, 192, 448, 640)),
                             **kwargs)
