"""UniFormerV2: Spatiotemporal Learning by Arming Image ViTs with Video UniFormer.

Paper: Li et al., ICCV 2023, arXiv:2211.09552.
Original code: https://github.com/OpenGVLab/UniFormerV2 @ 722a434 (Apache-2.0), ``slowfast/models/uniformerv2_model.py``.

An image-pretrained CLIP ViT (``conv1``, ``class_embedding``, ``positional_embedding``, ``ln_pre``,
``transformer.resblocks``) armed with local temporal MHRA before the attention/MLP of each block (``lmhra1``/``lmhra2``),
global UniBlocks on the last ``n_layers`` layers (dynamic position encoding ``dpe`` + cross-attention ``dec`` from a
learnable query), and a sigmoid-balanced fusion of the global video token with the mean of the per-frame class tokens.
State-dict keys are the original ones without the ``backbone.`` prefix of the SlowFast wrapper, so official files,
MMAction2 files and CLIP files all load by a short rename.

Differences from the original code, none of which changes a weight or an output:

* the number of frames comes from the input (no ``t_size`` at construction);
* attention runs through ``F.scaled_dot_product_attention`` on batch-first tokens (the original uses
  ``nn.MultiheadAttention`` on sequence-first tokens; same parameters, same maths);
* ``fusion=`` offers the paper's three other multi-stage fusion strategies besides the official sequential one.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import CheckpointError, UsageError
from ._convert import count_blocks, shape_of, strip_prefix
from ._family import ModelFamily
from ._registry import PretrainedCfg, attach_cfg, register_model, resolve_args
from .layers import DropPath, channels_first_for_cpu_half, drop_path_rates

__all__ = ["UniFormerV2", "FUSIONS"]

#: multi-stage fusion strategies of the global UniBlocks (paper, Table "multi-stage fusion"); "sequential" is the
#: official one and the only one used by released checkpoints.
FUSIONS = ("sequential", "parallel", "hierarchical_kv", "hierarchical_q")


# --------------------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------------------

class LayerNorm(nn.LayerNorm):
    """CLIP's LayerNorm: computed in float32, cast back (matters under fp16/bf16 autocast only)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).type(x.dtype)


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class Attention(nn.Module):
    """``nn.MultiheadAttention``'s parameters (fused ``in_proj_weight`` rows q, k, v; ``out_proj``) applied to
    batch-first tokens with SDPA. ``forward(x)`` is self-attention, ``forward(x, y)`` cross-attention from ``x`` to
    ``y``; no attention dropout (as the original)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)  # nn.MultiheadAttention's init
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        B, N, C = x.shape
        h = self.num_heads
        if y is None:
            q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        else:
            w_q, w_kv = self.in_proj_weight.split([C, 2 * C])
            b_q, b_kv = self.in_proj_bias.split([C, 2 * C])
            q = F.linear(x, w_q, b_q)
            k, v = F.linear(y, w_kv, b_kv).chunk(2, dim=-1)
        q, k, v = (t.reshape(B, -1, h, C // h).transpose(1, 2) for t in (q, k, v))  # B, h, N, d
        out = F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(out.transpose(1, 2).reshape(B, N, C))


class LocalMHRA(nn.Module):
    """Local temporal MHRA on ``(B, C, T, H, W)``: BN, 1x1x1 down to ``int(C // reduction)``, depthwise temporal
    conv (3,1,1), 1x1x1 up. The last conv is zero-initialised, so the block starts as an identity residual."""

    def __init__(self, dim: int, dw_reduction: float = 1.5):
        super().__init__()
        r = int(dim // dw_reduction)
        self.pos_embed = nn.Sequential(
            nn.BatchNorm3d(dim), nn.Conv3d(dim, r, 1), nn.Conv3d(r, r, (3, 1, 1), padding=(1, 0, 0), groups=r),
            nn.Conv3d(r, dim, 1))
        nn.init.zeros_(self.pos_embed[3].weight)
        nn.init.zeros_(self.pos_embed[3].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pos_embed(channels_first_for_cpu_half(x))


class ResidualAttentionBlock(nn.Module):
    """A CLIP block armed with local MHRA: ``[x += DP(lmhra1)]; x += DP(attn(ln_1 x)); [x += DP(lmhra2)];
    x += DP(mlp(ln_2 x))``; the local MHRA sees the patch tokens only (class tokens pass through)."""

    def __init__(self, dim: int, num_heads: int, drop_path: float = 0.0, dw_reduction: float = 1.5,
                 no_lmhra: bool = False, double_lmhra: bool = True):
        super().__init__()
        self.no_lmhra, self.double_lmhra = no_lmhra, double_lmhra
        if not no_lmhra:
            self.lmhra1 = LocalMHRA(dim, dw_reduction)
            if double_lmhra:
                self.lmhra2 = LocalMHRA(dim, dw_reduction)
        self.attn = Attention(dim, num_heads)
        self.ln_1 = LayerNorm(dim)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(dim, dim * 4)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(dim * 4, dim))]))
        self.ln_2 = LayerNorm(dim)
        self.drop_path = DropPath(drop_path)

    def _local(self, lmhra: LocalMHRA, x: torch.Tensor, T: int) -> torch.Tensor:
        BT, L, C = x.shape
        hw = int(math.isqrt(L - 1))
        patch = x[:, 1:].reshape(BT // T, T, hw, hw, C).permute(0, 4, 1, 2, 3)  # B, C, T, h, w
        patch = patch + self.drop_path(lmhra(patch))
        patch = patch.permute(0, 2, 3, 4, 1).reshape(BT, L - 1, C)  # B*T, h*w, C
        return torch.cat([x[:, :1], patch], dim=1)

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:
        """x: ``(B*T, 1 + h*w, C)`` frame tokens, batch-major (index = b*T + t)."""
        if not self.no_lmhra:
            x = self._local(self.lmhra1, x, T)
        x = x + self.drop_path(self.attn(self.ln_1(x)))
        if not self.no_lmhra and self.double_lmhra:
            x = self._local(self.lmhra2, x, T)
        return x + self.drop_path(self.mlp(self.ln_2(x)))


class Extractor(nn.Module):
    """Global UniBlock query update: ``q += DP(cross_attn(ln_1 q, ln_3 kv)); q += DP(mlp(ln_2 q))``.

    Initialised as the original (xavier in_proj and c_fc, zero out_proj and c_proj), so it starts as an identity."""

    def __init__(self, dim: int, num_heads: int, mlp_factor: float = 4.0, dropout: float = 0.0,
                 drop_path: float = 0.0):
        super().__init__()
        hidden = round(mlp_factor * dim)
        self.attn = Attention(dim, num_heads)
        self.ln_1 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(dim, hidden)), ("gelu", QuickGELU()),
                                              ("dropout", nn.Dropout(dropout)), ("c_proj", nn.Linear(hidden, dim))]))
        self.ln_2 = nn.LayerNorm(dim)
        self.ln_3 = nn.LayerNorm(dim)
        self.drop_path = DropPath(drop_path)
        nn.init.xavier_uniform_(self.attn.in_proj_weight)
        nn.init.zeros_(self.attn.out_proj.weight)
        nn.init.zeros_(self.attn.out_proj.bias)
        nn.init.xavier_uniform_(self.mlp.c_fc.weight)
        nn.init.zeros_(self.mlp.c_proj.weight)
        nn.init.zeros_(self.mlp.c_proj.bias)

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        q = q + self.drop_path(self.attn(self.ln_1(q), self.ln_3(kv)))
        return q + self.drop_path(self.mlp(self.ln_2(q)))


class Transformer(nn.Module):
    """The CLIP blocks plus the global branch (key names as the original ``transformer.*``).

    ::

        frame tokens ─resblocks[0..L-1]─────────────────────────────▶ last class tokens ─mean_T─┐
                          │ at each i in return_list (j-th)                                     │ w=sigmoid(balance)
                          └─copy─dpe[j] on patches─▶ kv_j ─dec[j]◀─ query (fusion-dependent)    ▼
                                                              └────────────▶ video token ─(1-w)·tok + w·res─▶ proj
    """

    def __init__(self, *, width: int, layers: int, heads: int, backbone_drop_path_rate: float, dw_reduction: float,
                 no_lmhra: bool, double_lmhra: bool, return_list: Sequence[int], n_layers: int, n_dim: int,
                 n_head: int, mlp_factor: float, drop_path_rate: float, mlp_dropout: Sequence[float],
                 cls_dropout: float, num_classes: int, frozen: bool, fusion: str):
        super().__init__()
        self.return_list = list(return_list)
        self.frozen, self.fusion = frozen, fusion
        b_dpr = drop_path_rates(backbone_drop_path_rate, layers)
        self.resblocks = nn.ModuleList(
            ResidualAttentionBlock(width, heads, b_dpr[i], dw_reduction, no_lmhra, double_lmhra) for i in range(layers))
        dpr = drop_path_rates(drop_path_rate, n_layers)
        self.temporal_cls_token = nn.Parameter(torch.zeros(1, 1, n_dim))
        self.dpe = nn.ModuleList(nn.Conv3d(n_dim, n_dim, 3, padding=1, groups=n_dim) for _ in range(n_layers))
        for conv in self.dpe:
            nn.init.zeros_(conv.bias)
        self.dec = nn.ModuleList(Extractor(n_dim, n_head, mlp_factor, mlp_dropout[j], dpr[j]) for j in range(n_layers))
        if fusion == "parallel":
            self.fusion_proj = nn.Linear(n_layers * n_dim, n_dim)
        self.proj = nn.Sequential(nn.LayerNorm(n_dim), nn.Dropout(cls_dropout),
                                  nn.Linear(n_dim, num_classes) if num_classes > 0 else nn.Identity())
        if not frozen:
            self.balance = nn.Parameter(torch.zeros(n_dim))
        self.use_checkpoint = False
        self.checkpoint_num = layers

    def _kv(self, j: int, x: torch.Tensor, B: int, T: int) -> torch.Tensor:
        """Tokens the j-th global block attends to: a copy of the stream with dpe added to its patch tokens,
        time-major ``(B, T*L, C)``; the stream itself is not modified."""
        BT, L, C = x.shape
        hw = int(math.isqrt(L - 1))
        tokens = x.reshape(B, T, L, C)
        patch = tokens[:, :, 1:].reshape(B, T, hw, hw, C).permute(0, 4, 1, 2, 3)  # B, C, T, h, w
        patch = channels_first_for_cpu_half(patch)
        patch = patch + self.dpe[j](patch)
        patch = patch.permute(0, 2, 3, 4, 1).reshape(B, T, L - 1, C)
        return torch.cat([tokens[:, :, :1], patch], dim=2).reshape(B, T * L, C)

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:
        """x: ``(B*T, L, C)`` -> fused video feature ``(B, n_dim)`` (the input of ``proj``)."""
        B = x.shape[0] // T
        query = self.temporal_cls_token.expand(B, -1, -1)  # B, 1, C: the learnable query
        token, outs, j = query, [], 0
        for i, blk in enumerate(self.resblocks):
            if self.use_checkpoint and i < self.checkpoint_num and torch.is_grad_enabled():
                x = checkpoint(blk, x, T, use_reentrant=False)
            else:
                x = blk(x, T)
            if i in self.return_list:
                kv = self._kv(j, x, B, T)
                if self.fusion == "sequential":
                    token = self.dec[j](token, kv)
                else:  # every block starts again from the learnable query
                    if self.fusion == "parallel":
                        outs.append(self.dec[j](query, kv))
                    elif self.fusion == "hierarchical_kv":  # previous video token joins the keys/values
                        kv = kv if j == 0 else torch.cat([kv, token], dim=1)
                        token = self.dec[j](query, kv)
                    else:  # hierarchical_q: previous video token joins the queries; the two updates are averaged
                        q = query if j == 0 else torch.cat([query, token], dim=1)
                        token = self.dec[j](q, kv).mean(1, keepdim=True)
                j += 1
        if self.fusion == "parallel":
            token = self.fusion_proj(torch.cat(outs, dim=-1))
        token = token[:, 0]  # B, C
        if self.frozen:
            return token
        residual = x[:, 0].reshape(B, T, -1).mean(1)  # mean of the last layer's class tokens (no ln_post)
        w = torch.sigmoid(self.balance)
        return (1 - w) * token + w * residual


# --------------------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------------------

class UniFormerV2(nn.Module):
    """UniFormerV2 on a CLIP ViT. Input ``(B, 3, T, H, W)`` with H = W = ``input_resolution``; any T.

    Args:
        input_resolution, patch_size, width, layers, heads: the CLIP ViT (B/16: 224/16/768/12/12; L/14: 224 or
            336/14/1024/24/16).
        temporal_downsample: ``conv1`` with kernel 3 and stride 2 in time (T' = ceil(T/2)).
        no_lmhra: no local MHRA; double_lmhra: a second local MHRA between attention and MLP.
        dw_reduction: local MHRA width = int(width // dw_reduction).
        backbone_drop_path_rate: stochastic depth of the CLIP blocks (linear ramp).
        return_list: indices of the blocks feeding the global UniBlocks; default: the last ``n_layers``.
        n_layers, n_dim, n_head, mlp_factor: the global UniBlocks (n_dim must equal width).
        drop_path_rate: stochastic depth of the global UniBlocks; mlp_dropout: their MLP dropouts (list or float).
        cls_dropout: dropout before the classifier.
        num_classes: classifier rows (0: ``forward`` returns the fused feature).
        frozen: the original FROZEN mode: no ``balance`` (the query token alone is classified) and the CLIP
            parameters (names containing conv1, class_embedding, positional_embedding, ln_pre,
            transformer.resblocks) do not require gradients.
        fusion: multi-stage fusion of the global blocks: ``sequential`` (official: each block's output token is the
            next block's query), ``parallel`` (every block queries with the learnable token; the outputs are
            concatenated and projected by ``fusion_proj``, a new Linear), ``hierarchical_kv`` (every block queries
            with the learnable token; the previous block's video token is appended to its keys/values),
            ``hierarchical_q`` (the previous video token is appended to the learnable query; the two updated queries
            are averaged). Only ``sequential`` has released weights.
        use_checkpoint, checkpoint_num: gradient checkpointing of the first ``checkpoint_num`` CLIP blocks.
    """

    def __init__(self, input_resolution: int = 224, patch_size: int = 16, width: int = 768, layers: int = 12,
                 heads: int = 12, temporal_downsample: bool = False, no_lmhra: bool = True,
                 double_lmhra: bool = True, dw_reduction: float = 1.5, backbone_drop_path_rate: float = 0.0,
                 return_list: Sequence[int] | None = None, n_layers: int | None = None, n_dim: int | None = None,
                 n_head: int | None = None, mlp_factor: float = 4.0, drop_path_rate: float = 0.0,
                 mlp_dropout: float | Sequence[float] = 0.5, cls_dropout: float = 0.5, num_classes: int = 400,
                 frozen: bool = False, fusion: str = "sequential", use_checkpoint: bool = False,
                 checkpoint_num: int | None = None):
        super().__init__()
        n_dim, n_head = n_dim or width, n_head or heads
        if return_list is None:
            n_layers = 4 if n_layers is None else n_layers
            return_list = list(range(layers - n_layers, layers))
        return_list = list(return_list)
        n_layers = len(return_list) if n_layers is None else n_layers
        if len(return_list) != n_layers:
            raise UsageError(f"return_list {return_list} must have n_layers={n_layers} entries")
        if any(not 0 <= i < layers for i in return_list) or sorted(set(return_list)) != return_list:
            raise UsageError(f"return_list {return_list} must be increasing block indices in [0, {layers})")
        if n_dim != width:
            raise UsageError(f"n_dim={n_dim} must equal the ViT width {width} (the global blocks read its tokens)")
        if width % heads or n_dim % n_head:
            raise UsageError(f"width {width} / n_dim {n_dim} must be multiples of heads {heads} / n_head {n_head}")
        if input_resolution % patch_size:
            raise UsageError(f"input_resolution {input_resolution} is not a multiple of patch_size {patch_size}")
        if fusion not in FUSIONS:
            raise UsageError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if isinstance(mlp_dropout, (int, float)):
            mlp_dropout = [float(mlp_dropout)] * n_layers
        if len(mlp_dropout) != n_layers:
            raise UsageError(f"mlp_dropout has {len(mlp_dropout)} entries for n_layers={n_layers}")
        self.input_resolution, self.patch_size = input_resolution, patch_size
        self.num_classes, self.num_features = num_classes, n_dim
        self.frozen = frozen
        kt = 3 if temporal_downsample else 1
        self.conv1 = nn.Conv3d(3, width, (kt, patch_size, patch_size), (2 if temporal_downsample else 1,
                                                                            patch_size, patch_size),
                               (1 if temporal_downsample else 0, 0, 0), bias=False)
        scale = width ** -0.5  # CLIP's init of the embeddings (replaced by the CLIP weights in practice)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((input_resolution // patch_size) ** 2 + 1,
                                                                     width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(
            width=width, layers=layers, heads=heads, backbone_drop_path_rate=backbone_drop_path_rate,
            dw_reduction=dw_reduction, no_lmhra=no_lmhra, double_lmhra=double_lmhra, return_list=return_list,
            n_layers=n_layers, n_dim=n_dim, n_head=n_head, mlp_factor=mlp_factor, drop_path_rate=drop_path_rate,
            mlp_dropout=mlp_dropout, cls_dropout=cls_dropout, num_classes=num_classes, frozen=frozen, fusion=fusion)
        if use_checkpoint:
            self.set_grad_checkpointing(True, checkpoint_num)
        if frozen:
            for name, p in self.named_parameters():
                if any(s in name for s in _FROZEN_SUBSTRINGS):
                    p.requires_grad_(False)

    # -- interface shared by every tubelet model ------------------------------------------------------------------

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """None beyond the 1-D rule (the original decays positional_embedding and temporal_cls_token)."""
        return set()

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        """Parameter groups for layer-wise lr decay and FSDP wrapping (timm's convention): the CLIP embeddings are
        layer 0, each CLIP block one layer; the global UniBlocks, the fusion and the head (matching neither) are the
        top layer. The CLIP blocks are the groups at either granularity."""
        return dict(stem=r"^(?:conv1|class_embedding|positional_embedding|ln_pre)(?:\.|$)",
                    blocks=r"^transformer\.resblocks\.(\d+)\.")

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True, checkpoint_num: int | None = None) -> None:
        """Recompute the CLIP blocks (the first ``checkpoint_num``, default all) in the backward pass."""
        self.transformer.use_checkpoint = enable
        self.transformer.checkpoint_num = len(self.transformer.resblocks) if checkpoint_num is None \
            else checkpoint_num

    def get_classifier(self) -> nn.Module:
        return self.transformer.proj[2]

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        layer = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.transformer.proj[2] = layer.to(self.transformer.proj[0].weight.device)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W)`` -> the fused video feature ``(B, n_dim)`` that enters ``proj``."""
        if x.ndim != 5 or x.shape[1] != 3:
            raise UsageError(f"UniFormerV2 expects (B, 3, T, H, W), got shape {tuple(x.shape)}")
        if x.shape[-2:] != (self.input_resolution,) * 2:
            raise UsageError(f"UniFormerV2 with input_resolution={self.input_resolution} expects "
                             f"{self.input_resolution}x{self.input_resolution} frames (its positional embedding is "
                             f"fixed), got {tuple(x.shape[-2:])}")
        x = self.conv1(x)  # B, C, T', h, w
        B, C, T = x.shape[:3]
        x = x.permute(0, 2, 3, 4, 1).reshape(B * T, -1, C)  # B*T', h*w, C
        cls = self.class_embedding.to(x.dtype).expand(B * T, 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        return self.transformer(self.ln_pre(x), T)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``proj`` = LayerNorm, Dropout, Linear; ``pre_logits=True`` returns its input unchanged."""
        return x if pre_logits else self.transformer.proj(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


_FROZEN_SUBSTRINGS = ("conv1", "class_embedding", "positional_embedding", "ln_pre", "transformer.resblocks")


# --------------------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------------------

#: options that change no weight's name or shape.
RUNTIME_ARGS = frozenset({"backbone_drop_path_rate", "drop_path_rate", "mlp_dropout", "cls_dropout",
                          "use_checkpoint", "checkpoint_num", "num_frames"})
#: switches read from the weights unless the caller sets them.
CHECKPOINT_SWITCHES = ("temporal_downsample", "no_lmhra", "double_lmhra", "dw_reduction", "n_layers", "frozen",
                       "mlp_factor")
CLASSIFIER_PREFIXES = ("transformer.proj.2.",)
#: CLIP keys that the video model does not use (CLIP's output norm and projection to the text space).
_CLIP_UNUSED = ("proj", "ln_post.weight", "ln_post.bias")


def convert_state_dict(state_dict: dict[str, torch.Tensor], path: str) -> tuple[dict[str, torch.Tensor], str]:
    """Rename UniFormerV2 (official ``backbone.*``, MMAction2) or CLIP (OpenAI/open_clip full model with
    ``visual.*`` keys, or the visual tower alone) weights to tubelet's names."""
    sd = state_dict
    if any(k.startswith("visual.") for k in sd):
        # A whole CLIP model: keep the image tower only. (Its text tower has keys such as positional_embedding and
        # transformer.resblocks.* too, so the prefix must select, not just be stripped.)
        sd = {k[len("visual."):]: v for k, v in sd.items() if k.startswith("visual.")}
        producer = "CLIP model (visual.* keys; text tower ignored)"
    elif any(k.startswith(("backbone.", "cls_head.")) for k in sd):
        mma = "cls_head.fc_cls.weight" in sd or "backbone.transformer.norm.weight" in sd
        out = {}
        for k, v in sd.items():
            if k.startswith("data_preprocessor."):
                continue
            k = strip_prefix(k, "backbone.")
            if mma:  # MMAction2 split the official proj Sequential into transformer.norm and cls_head.fc_cls
                k = k.replace("transformer.norm.", "transformer.proj.0.").replace("cls_head.fc_cls.",
                                                                                    "transformer.proj.2.")
            out[k] = v
        return out, ("MMAction2 (backbone./cls_head. keys)" if mma else "official UniFormerV2 (backbone. keys)")
    else:
        producer = "UniFormerV2 keys" if "transformer.temporal_cls_token" in sd else "CLIP visual tower"
    if "transformer.temporal_cls_token" not in sd:
        sd = {k: v for k, v in sd.items() if k not in _CLIP_UNUSED}
    return sd, producer


def checkpoint_arch(state_dict: dict[str, torch.Tensor], path: str) -> dict:
    """What the weights determine: the ViT (width, patch, resolution, layers), ``temporal_downsample``, local MHRA
    presence/doubling/width, the global blocks (``n_layers``, ``mlp_factor``), ``frozen`` and ``num_classes``;
    ``clip`` is True for a bare CLIP image tower. A key of an unknown form (``transformer.resblocks.final.*``, a block
    index after a gap) or a tensor of an unexpected rank determines nothing: the strict load names it."""
    sd = state_dict
    for k in ("conv1.weight", "class_embedding", "positional_embedding"):
        if k not in sd:
            raise CheckpointError(f"{path}: not a UniFormerV2 or CLIP ViT checkpoint: no {k!r} "
                                  f"(first keys: {', '.join(list(sd)[:5])})")
    conv1 = shape_of(sd, "conv1.weight", (4, 5))  # CLIP's 2-D patch kernel, or UniFormerV2's 3-D one
    arch = {} if conv1 is None else dict(width=conv1[0], patch_size=conv1[-1])  # the widths first: the clearest
    layers = count_blocks(sd, "transformer.resblocks.")
    if layers is not None:  # block numbers with a gap: the strict load names the missing / unexpected blocks
        arch["layers"] = layers
    if conv1 is not None:
        pos = shape_of(sd, "positional_embedding", 2)  # (1 + tokens, width)
        if pos is not None and pos[0] >= 1:
            arch["input_resolution"] = math.isqrt(pos[0] - 1) * conv1[-1]
    arch["clip"] = "transformer.temporal_cls_token" not in sd
    if arch["clip"]:
        return arch
    n_layers = count_blocks(sd, "transformer.dec.")
    lmhra = shape_of(sd, "transformer.resblocks.0.lmhra1.pos_embed.1.weight", 5)
    head = shape_of(sd, "transformer.proj.2.weight", 2)
    arch.update(temporal_downsample=conv1 is not None and len(conv1) == 5 and conv1[2] == 3,
                no_lmhra="transformer.resblocks.0.lmhra1.pos_embed.1.weight" not in sd,
                frozen="transformer.balance" not in sd, num_classes=None if head is None else head[0])
    if n_layers is not None:
        arch["n_layers"] = n_layers
    if not arch["no_lmhra"]:
        arch["double_lmhra"] = "transformer.resblocks.0.lmhra2.pos_embed.1.weight" in sd
        if lmhra is not None and conv1 is not None and lmhra[0]:
            r, width = lmhra[0], conv1[0]
            arch["dw_reduction"] = 1.5 if int(width // 1.5) == r else width / r
    c_fc = shape_of(sd, "transformer.dec.0.mlp.c_fc.weight", 2)
    if c_fc is not None and c_fc[1]:
        arch["mlp_factor"] = c_fc[0] / c_fc[1]
    return arch


def fit_state_dict(state_dict: dict[str, torch.Tensor], arch: dict, model: UniFormerV2,
                   path: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """CLIP -> UniFormerV2 with the official init: ``conv1`` centre-inflated (the 2-D kernel at temporal index
    kt//2, zeros elsewhere), every new module (local MHRA, dpe, global blocks, query, balance) kept at its official
    initialisation, so at init the pre-``proj`` feature depends on the CLIP weights only."""
    if not arch["clip"]:
        return state_dict, []
    target = model.state_dict()
    sd = dict(state_dict)
    w = sd["conv1.weight"]
    t = target["conv1.weight"]
    if w.ndim == 4 and w.shape == t.shape[:2] + t.shape[3:]:  # (width, 3, p, p) -> (width, 3, kt, p, p)
        inflated = w.new_zeros(t.shape)
        inflated[:, :, t.shape[2] // 2] = w
        sd["conv1.weight"] = inflated
    new = [k for k in target if k not in sd and not k.startswith(CLASSIFIER_PREFIXES)]
    sd.update({k: target[k] for k in new})
    groups = sorted({".".join(k.split(".")[:2]) if ".resblocks." not in k else "transformer.resblocks.*.lmhra"
                     for k in new})
    return sd, [f"CLIP -> UniFormerV2: conv1 centre-inflated to {tuple(t.shape)} (official rule); {len(new)} new "
                f"tensors at their official initialisation ({', '.join(groups)})"]


def cfg_for_producer(cfg: PretrainedCfg, producer: str) -> PretrainedCfg:
    """MMAction2 re-ordered the official Kinetics heads to its alphabetical label lists (its UniFormerV2 README, note
    4), so its K400 files follow ``kinetics400``; the official K400 files follow the UniFormer order."""
    if producer.startswith("MMAction2") and cfg.label_names == "kinetics400_uniformer":
        return cfg.replace(label_names="kinetics400")
    return cfg


def is_init_source(arch: dict, cfg: PretrainedCfg) -> bool:
    """A CLIP image tower only initialises a video model (it has no video classifier)."""
    return arch["clip"]


FAMILY = ModelFamily(
    name="uniformerv2", convert_state_dict=convert_state_dict, checkpoint_arch=checkpoint_arch,
    classifier_prefixes=CLASSIFIER_PREFIXES, checkpoint_switches=CHECKPOINT_SWITCHES, runtime_args=RUNTIME_ARGS,
    fit_state_dict=fit_state_dict, is_init_source=is_init_source, cfg_for_producer=cfg_for_producer)


# --------------------------------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------------------------------

_SOURCE = "https://github.com/OpenGVLab/UniFormerV2 @ 722a434"
_PAPER = "UniFormerV2: Spatiotemporal Learning by Arming Image ViTs with Video UniFormer (arXiv:2211.09552)"


def _cfg(name: str, size: int) -> PretrainedCfg:
    return PretrainedCfg(
        architecture=name, num_classes=400, input_size=(3, 8, size, size), mean=(0.45,) * 3, std=(0.225,) * 3,
        num_frames=8, sampler="segment", test_views=(4, 3), resize_size=size, label_names="kinetics400_uniformer",
        source=_SOURCE, license="Apache-2.0", paper=_PAPER,
        notes="Kinetics recipe (global UniBlocks only, no local MHRA, no temporal downsampling); "
              "Something-Something: no_lmhra=False, temporal_downsample=True, n_layers=8 (B) / 16 (L), 16 frames. "
              "Normalisation 0.45/0.225 (SlowFast), not CLIP's; segment sampling; softmax per view, then summed. "
              "Class order of the official K400 weights: kinetics400_uniformer (the author's demo class index); "
              "MMAction2's ports use the alphabetical kinetics400.")


def _create_uniformerv2(variant: str, model_args: dict, **kwargs) -> UniFormerV2:
    """Build ``variant``: the CLIP ViT of ``model_args`` (fixed) with the caller's options; ``num_frames`` changes
    the data contract only (the model takes any T)."""
    num_frames = kwargs.pop("num_frames", None)
    resolved = resolve_args(variant, UniFormerV2, model_args, {"num_classes": 400, **model_args, **kwargs},
                            fixed=("input_resolution", "patch_size", "width", "layers"), extra={"num_frames"})
    model = UniFormerV2(**resolved)
    tr = model.transformer
    resolved.update(return_list=tr.return_list, n_layers=len(tr.dec), n_dim=model.num_features,
                    n_head=tr.dec[0].attn.num_heads if len(tr.dec) else resolved["n_head"] or resolved["heads"],
                    mlp_dropout=[blk.mlp.dropout.p for blk in tr.dec])
    attach_cfg(model, variant, resolved, num_frames=num_frames)
    resolved["num_frames"] = model.pretrained_cfg.num_frames
    return model


_B16 = dict(input_resolution=224, patch_size=16, width=768, layers=12, heads=12)
_L14 = dict(input_resolution=224, patch_size=14, width=1024, layers=24, heads=16)


@register_model(FAMILY, _cfg("uniformerv2_b16", 224))
def uniformerv2_b16(**kwargs) -> UniFormerV2:
    """UniFormerV2-B/16 on CLIP ViT-B/16 (115M params, K400 config)."""
    return _create_uniformerv2("uniformerv2_b16", _B16, **kwargs)


@register_model(FAMILY, _cfg("uniformerv2_l14", 224))
def uniformerv2_l14(**kwargs) -> UniFormerV2:
    """UniFormerV2-L/14 on CLIP ViT-L/14 (354M params, K400 config)."""
    return _create_uniformerv2("uniformerv2_l14", _L14, **kwargs)


@register_model(FAMILY, _cfg("uniformerv2_l14_336", 336))
def uniformerv2_l14_336(**kwargs) -> UniFormerV2:
    """UniFormerV2-L/14@336 on CLIP ViT-L/14@336px (354M params, K400 config)."""
    return _create_uniformerv2("uniformerv2_l14_336", {**_L14, "input_resolution": 336}, **kwargs)
