"""``tubelet explain``: where a video model looks, as a saliency map over the input clip.

One natural method per family (``method=None`` picks the first):

* **UniFormerV2**: ``rollout`` (default) -- the attention of the global query (the learnable query of the global
  UniBlocks' cross-attention) over the spatio-temporal patch tokens, rolled out through the global blocks;
  ``attention`` -- the last global block's query attention alone.
* **UniFormer** (video) and **Video Swin**: ``gradcam`` (default) -- Grad-CAM on the last stage's feature map (the
  output of ``forward_features``): channel weights = spatio-temporal mean of the gradient of the class score,
  map = ReLU of the weighted channel sum. UniFormer also has ``rollout``: attention rollout through the global
  SABlocks of stages 3-4. ``stage=N`` (``--stage N``) runs Grad-CAM on the output of stage N's last block instead:
  the last stage is 1/32 of the input in space (1x1 for the demo's 32x32 clips), stage 1 is 1/4.

Only Grad-CAM explains a class (``target``, default the predicted one). ``rollout`` and ``attention`` follow attention
weights, which no class score reaches: their map is the same for every class, so a target with them is refused
(:func:`check_target`) rather than ignored, and :attr:`Explanation.target` is None.

Attention rules (head-averaged attention ``A`` of each block):

* UniFormerV2 global blocks: the query update is residual, ``token_j = token_{j-1} + CA_j(token_{j-1}, kv_j) + MLP``,
  so, as in attention rollout (``0.5 A + 0.5 I``), the map after block ``j`` is ``M_j = 0.5 M_{j-1} + 0.5 a_j``, with
  ``a_j`` the query's attention over block ``j``'s patch tokens and ``M_1 = a_1`` (the learnable query itself holds
  no position). The other fusions follow the same rule: ``parallel`` averages the ``a_j``; ``hierarchical_kv``
  gives the previous video token's attention weight to ``M_{j-1}``; ``hierarchical_q`` averages the rows of the
  learnable query (``a_j``) and of the previous token (``0.5 M_{j-1} + 0.5 a_j``). The per-frame class tokens among
  the keys are left out (the map covers patch tokens, renormalised to sum 1).
* UniFormer SABlocks: attention rollout from the mean-pooled output: ``r = 1/N`` over the stage-4 tokens,
  ``r <- r (0.5 A + 0.5 I)`` (rows renormalised) through the stage-4 blocks from last to first, each stage-4
  token's relevance split equally among the stage-3 tokens under it (``patch_embed4``), then through the stage-3
  blocks.

Every map is upsampled to the input clip's ``(T, H, W)`` (trilinear: a model that halves T in its stem gives each
frame the interpolated value of its time step) and divided by its maximum, so it lies in [0, 1] and keeps the
ratios between positions (an all-zero Grad-CAM stays zero).

:func:`explain` never changes the model: train/eval flags, parameter gradients and hooks are as before.
"""
from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UsageError, VideoDecodeError

__all__ = ["explain", "explain_video", "Explanation", "overlay", "methods_for", "input_geometry", "boxes_to_input",
           "saliency_to_frames", "pointing_game", "mass_in_box", "evaluate_synthetic",
           "write_overlay", "check_method", "check_target", "CLASS_AGNOSTIC"]


# --------------------------------------------------------------------------------------------------------------
# Families and methods
# --------------------------------------------------------------------------------------------------------------

def _family(model) -> str:
    from ..models.uniformer import UniFormer
    from ..models.uniformerv2 import UniFormerV2
    from ..models.video_swin import SwinTransformer3D

    if isinstance(model, UniFormerV2):
        return "uniformerv2"
    if isinstance(model, UniFormer):
        return "uniformer"
    if isinstance(model, SwinTransformer3D):
        return "video_swin"
    return type(model).__name__


def methods_for(model) -> tuple[str, ...]:
    """The saliency methods of ``model``'s family, the default first."""
    family = _family(model)
    if family == "uniformerv2":
        return ("rollout", "attention")
    if family == "uniformer":
        return ("gradcam", "rollout") if any(len(getattr(model, f"blocks{i}")) for i in (3, 4)) else ("gradcam",)
    if hasattr(model, "forward_features") and hasattr(model, "forward_head"):
        return ("gradcam",)
    return ()


def check_method(model, method: str | None) -> str:
    available = methods_for(model)
    name = _family(model)
    if not available:
        raise UsageError(f"tubelet explain has no method for {name} models")
    if method is None:
        return available[0]
    if method not in available:
        raise UsageError(f"--method {method}: not available for {name} models (available: {', '.join(available)})")
    return method


#: methods whose map does not depend on the class: attention weights, taken before any class score exists
CLASS_AGNOSTIC = ("rollout", "attention")


def check_target(model, method: str | None, target, shown: str | None = None) -> str:
    """``method`` resolved (:func:`check_method`); a ``target`` given with a method of :data:`CLASS_AGNOSTIC` is a
    :class:`UsageError` naming the method and the class-specific one to use instead (``shown``: the target as the
    user wrote it, for the message)."""
    method = check_method(model, method)
    if target is None or method not in CLASS_AGNOSTIC:
        return method
    shown = target if shown is None else shown
    instead = (f"use --method gradcam to explain class {shown}" if "gradcam" in methods_for(model) else
               f"{_family(model)} models have no class-specific method (gradcam is for UniFormer and Video Swin)")
    raise UsageError(f"--target {shown}: --method {method} maps attention, the same for every class (no class is "
                     f"explained); {instead}")


# --------------------------------------------------------------------------------------------------------------
# The model left as it was
# --------------------------------------------------------------------------------------------------------------

@contextmanager
def _inspecting(model):
    """eval mode, then every module's training flag and every parameter's ``.grad`` restored, hooks removed."""
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.grad) for p in model.parameters()]
    handles = []
    model.eval()
    try:
        yield handles
    finally:
        for h in handles:
            h.remove()
        for m, training in modes:
            m.training = training
        for p, g in grads:
            p.grad = g


def _scores(logits: torch.Tensor, target: int | None) -> tuple[torch.Tensor, int]:
    if target is None:
        target = int(logits[0].argmax())
    elif not 0 <= int(target) < logits.shape[-1]:
        raise UsageError(f"--target {target}: the model has {logits.shape[-1]} classes (0 to {logits.shape[-1] - 1})")
    return logits[0, int(target)], int(target)


# --------------------------------------------------------------------------------------------------------------
# Methods: each returns (raw map (t, h, w) >= 0, logits (1, K), target)
# --------------------------------------------------------------------------------------------------------------

def _stage_block(model, stage: int):
    """The last block of ``stage`` (1-4) and whether its output is channels-last (Video Swin)."""
    family = _family(model)
    if family == "uniformer":
        blocks = getattr(model, f"blocks{stage}")
        return (blocks[-1] if len(blocks) else None), False
    if family == "video_swin":
        blocks = model.layers[stage - 1].blocks
        return (blocks[-1] if len(blocks) else None), True
    return None, False


def _num_stages(model) -> int:
    return len(model.layers) if _family(model) == "video_swin" else 4


def _gradcam(model, x: torch.Tensor, target: int | None, stage: int | None = None):
    last = _num_stages(model)
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)  # the graph reaches the features even with frozen parameters
        if stage is None or stage == last:
            feat = model.forward_features(x)
            logits = model.forward_head(feat)
            channels_last = False
        else:
            if _family(model) not in ("uniformer", "video_swin") or not 1 <= stage <= last:
                raise UsageError(f"--stage {stage}: {_family(model)} models have Grad-CAM on stages 1 to {last}"
                                 if _family(model) in ("uniformer", "video_swin") else
                                 f"--stage: {_family(model)} models have Grad-CAM on the last stage only")
            block, channels_last = _stage_block(model, stage)
            if block is None:
                raise UsageError(f"--stage {stage}: this model has no blocks in stage {stage}")
            kept = []
            handle = block.register_forward_hook(lambda _m, _a, out: kept.append(out))
            try:
                logits = model(x)
            finally:
                handle.remove()
            feat = kept[-1]
        if feat.ndim != 5:
            raise UsageError(f"Grad-CAM needs a video feature map (B, C, T, H, W), got {tuple(feat.shape)}")
        score, target = _scores(logits, target)
        (grad,) = torch.autograd.grad(score, feat)
    feat = feat.detach()
    if channels_last:
        feat, grad = feat.permute(0, 4, 1, 2, 3), grad.permute(0, 4, 1, 2, 3)
    weights = grad.mean(dim=(2, 3, 4), keepdim=True)
    cam = F.relu((weights * feat).sum(1))[0]  # t, h, w
    return cam.float(), logits.detach(), target


def _softmax_attention(q: torch.Tensor, k: torch.Tensor, scale: float) -> torch.Tensor:
    """Head-averaged attention ``(B, Nq, Nk)`` of ``q, k (B, h, N, d)``."""
    return ((q.float() @ k.float().transpose(-2, -1)) * scale).softmax(-1).mean(1)


def _v2_maps(model, x: torch.Tensor, target: int | None):
    """The query attention of each global block over the patch tokens: list of ``(a (t, h, w), a_prev)``, where
    ``a_prev`` is the weight on an appended previous video token (hierarchical_kv) or None, and the rows."""
    tr = model.transformer
    captured = []

    def hook(module, args, _out):
        qx, y = args[0], args[1]
        B, Nq, C = qx.shape
        h = module.num_heads
        w_q, w_kv = module.in_proj_weight.split([C, 2 * C])
        b_q, b_kv = module.in_proj_bias.split([C, 2 * C])
        q = F.linear(qx, w_q, b_q)
        k = F.linear(y, w_kv, b_kv).chunk(2, dim=-1)[0]
        q, k = (t.reshape(B, -1, h, C // h).transpose(1, 2) for t in (q, k))
        captured.append(_softmax_attention(q, k, (C // h) ** -0.5)[0].detach())  # Nq, Nk

    with _inspecting(model) as handles:
        for dec in tr.dec:
            handles.append(dec.attn.register_forward_hook(hook))
        with torch.no_grad():
            logits = model(x)
    _, target = _scores(logits, target)
    hw = model.input_resolution // model.patch_size
    L = hw * hw + 1
    maps = []
    for a in captured:
        Nk = a.shape[-1]
        frames = Nk // L
        spatial = a[:, :frames * L].reshape(-1, frames, L)[:, :, 1:]  # rows, t, hw (class tokens left out)
        prev = a[:, frames * L:].sum(-1) if Nk > frames * L else None
        maps.append((spatial.reshape(-1, frames, hw, hw), prev))
    return maps, logits, target


def _v2_rollout(model, x: torch.Tensor, target: int | None, last_only: bool):
    maps, logits, target = _v2_maps(model, x, target)
    fusion = model.transformer.fusion

    def norm(m):
        return m / m.sum().clamp_min(1e-12)

    if last_only:
        spatial, _ = maps[-1]
        return norm(spatial.mean(0)), logits, target
    M = None
    if fusion == "parallel":
        M = sum(norm(s.mean(0)) for s, _ in maps) / len(maps)
    for j, (spatial, prev) in enumerate(maps):
        if fusion == "parallel":
            break
        if fusion == "sequential":
            a = norm(spatial[0])
            M = a if M is None else 0.5 * M + 0.5 * a
        elif fusion == "hierarchical_kv":
            a = spatial[0]  # patch weights (class tokens left out), and `prev` on the previous video token
            M = norm(a if M is None or prev is None else a + prev[0] * M)
        else:  # hierarchical_q: rows = [learnable query, previous token]
            a0 = norm(spatial[0])
            M = a0 if M is None or spatial.shape[0] < 2 else 0.5 * (a0 + 0.5 * M + 0.5 * norm(spatial[1]))
    return M, logits, target


def _uniformer_rollout(model, x: torch.Tensor, target: int | None):
    per_stage: dict[int, list] = {3: [], 4: []}
    grids: dict[int, tuple] = {}

    def attn_hook(stage):
        def hook(module, args, _out):
            tokens = args[0]
            B, N, C = tokens.shape
            qkv = module.qkv(tokens).reshape(B, N, 3, module.num_heads, C // module.num_heads).permute(2, 0, 3, 1, 4)
            per_stage[stage].append(_softmax_attention(qkv[0], qkv[1], module.scale)[0].detach())
        return hook

    def grid_hook(stage):
        def hook(module, args):
            grids[stage] = tuple(args[0].shape[2:])  # the block's input map (B, C, t, h, w)
        return hook

    with _inspecting(model) as handles:
        for stage in (3, 4):
            for blk in getattr(model, f"blocks{stage}"):
                handles.append(blk.attn.register_forward_hook(attn_hook(stage)))
                handles.append(blk.register_forward_pre_hook(grid_hook(stage)))
        with torch.no_grad():
            logits = model(x)
    _, target = _scores(logits, target)

    device = logits.device  # the attention maps' (a CPU tensor mixed with them fails on a GPU)

    def through(r, attns):
        for A in reversed(attns):
            A = 0.5 * A + 0.5 * torch.eye(A.shape[0], device=device)
            r = r @ (A / A.sum(-1, keepdim=True))
        return r

    r, grid = None, None
    if per_stage[4]:
        grid = grids[4]
        r = through(torch.full((math.prod(grid),), 1.0 / math.prod(grid), device=device), per_stage[4]).reshape(grid)
    if per_stage[3]:
        g3 = grids[3]
        if r is None:
            r = torch.full(g3, 1.0 / math.prod(g3), device=device)
        else:  # each stage-4 token's relevance shared equally by the stage-3 tokens it was made from
            r = F.interpolate(r[None, None], size=g3, mode="nearest")[0, 0] * (math.prod(grid) / math.prod(g3))
        r = through(r.reshape(-1), per_stage[3]).reshape(g3)
        grid = g3
    return r.reshape(grid), logits, target


def _raw_map(model, x: torch.Tensor, target: int | None, method: str, stage: int | None = None):
    if stage is not None and method != "gradcam":
        raise UsageError(f"--stage applies to gradcam, not to {method}")
    if method == "gradcam":
        with _inspecting(model):
            return _gradcam(model, x, target, stage)
    if method in ("rollout", "attention") and _family(model) == "uniformerv2":
        return _v2_rollout(model, x, target, last_only=method == "attention")
    if method == "rollout":
        return _uniformer_rollout(model, x, target)
    raise UsageError(f"unknown method {method!r}")  # unreachable after _check_method


def _to_input(raw: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
    """Raw map ``(t, h, w)`` -> ``(T, H, W)`` in [0, 1]: trilinear upsampling, divided by the maximum."""
    m = F.interpolate(raw[None, None].float(), size=size, mode="trilinear", align_corners=False)[0, 0]
    m = m.clamp_min(0)
    top = m.max()
    return m / top if top > 0 else m


def _model_input(model, clip) -> torch.Tensor:
    if not isinstance(clip, torch.Tensor):
        raise TypeError(f"expected a tensor, got {type(clip).__name__}")
    x = clip.float() if not clip.is_floating_point() else clip
    if x.ndim == 4:
        x = x[None]
    if x.ndim != 5 or x.shape[0] != 1:
        raise UsageError(f"explain takes one clip: (C, T, H, W) or (1, C, T, H, W), got {tuple(clip.shape)}")
    return x.to(next(model.parameters()).device)


def _explain_input(model, x: torch.Tensor, target, method, stage=None):
    method = check_target(model, method, target)
    raw, logits, target = _raw_map(model, x, target, method, stage)
    target = None if method in CLASS_AGNOSTIC else target  # the map is no class's
    return _to_input(raw.cpu(), tuple(x.shape[2:])), logits[0].float().softmax(-1).cpu(), target, method


# --------------------------------------------------------------------------------------------------------------
# Geometry: rendered frame <-> model input (short-side resize, centre crop)
# --------------------------------------------------------------------------------------------------------------

def input_geometry(cfg, height: int, width: int) -> tuple[int, int, int, int, int]:
    """Where the model input lies in a ``height`` x ``width`` frame under the eval transform of ``cfg``:
    ``(resized_h, resized_w, top, left, crop)`` (short side resized to ``cfg.resize_size``, centre ``crop``)."""
    crop = cfg.input_size[-1]
    size = cfg.resize_size or crop
    if min(height, width) == size:
        rh, rw = height, width
    else:
        scale = size / min(height, width)
        rh, rw = (size, max(1, round(width * scale))) if height <= width else (max(1, round(height * scale)), size)
    return rh, rw, (rh - crop) // 2, (rw - crop) // 2, crop


def boxes_to_input(boxes, cfg, height: int, width: int) -> np.ndarray:
    """Boxes ``(..., 4)`` ``x0, y0, x1, y1`` in a frame's continuous pixel coordinates -> the model input's,
    clipped to the crop (a box outside it becomes empty: ``x1 <= x0``)."""
    rh, rw, top, left, crop = input_geometry(cfg, height, width)
    b = np.asarray(boxes, np.float64).copy()
    b[..., 0::2] = b[..., 0::2] * rw / width - left
    b[..., 1::2] = b[..., 1::2] * rh / height - top
    return np.clip(b, 0, crop).astype(np.float32)


def saliency_to_frames(saliency: torch.Tensor, cfg, height: int, width: int) -> torch.Tensor:
    """A map over the model input ``(T, S, S)`` -> over the frames ``(T, height, width)``: placed in the resized
    frame where the crop was taken (0 outside it: the model did not see that part) and resized back."""
    rh, rw, top, left, crop = input_geometry(cfg, height, width)
    canvas = saliency.new_zeros((saliency.shape[0], rh, rw))
    canvas[:, top:top + crop, left:left + crop] = saliency
    out = F.interpolate(canvas[None], size=(height, width), mode="bilinear", align_corners=False)[0]
    return out.clamp(0, 1)


# --------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------

@dataclass
class Explanation:
    """One clip's explanation. ``saliency``: float32 ``(T, H, W)`` in [0, 1] over ``frames`` (uint8
    ``(T, H, W, 3)``, the sampled frames, at their own size), ``indices``: the sampled frame numbers,
    ``input_saliency``: the map over the model input ``(T, S, S)``, ``target``: the explained class (None for the
    methods of :data:`CLASS_AGNOSTIC`, whose map is the same for every class), ``probs``: the class probabilities
    ``(K,)``, ``method``: the method used."""

    saliency: np.ndarray
    frames: np.ndarray
    indices: np.ndarray
    input_saliency: torch.Tensor
    target: int | None
    probs: torch.Tensor
    method: str


def explain(model, clip, target: int | None = None, method: str | None = None, *,
            stage: int | None = None) -> torch.Tensor:
    """Saliency map of ``model`` on ``clip``: float ``(T, H, W)`` in [0, 1].

    Args:
        model: a tubelet video classifier (UniFormer, UniFormerV2, Video Swin).
        clip: the normalised model input, ``(C, T, H, W)`` or ``(1, C, T, H, W)`` -> a map over that input; or a
            video (a file path, or uint8 frames ``(T, H, W, 3)``), which is sampled and transformed with the
            model's eval transform -> a map over the sampled frames at their own size (see :func:`explain_video`
            for the frames and their indices).
        target: the class to explain (gradcam); None: the predicted class. ``rollout`` and ``attention`` map the
            attention, the same for every class: a target with them is a UsageError.
        method: see :func:`methods_for`; None: the family's default.
        stage: Grad-CAM only: the stage (1-4) whose last block's output is explained; None: the last stage (the
            ``forward_features`` map). An earlier stage gives a finer map on small inputs (a 32x32 UniFormer input
            has a 1x1 last stage).
    Raises:
        UsageError: a method the family does not have, a target out of range or with a method of
            :data:`CLASS_AGNOSTIC`, a batch of several clips.
        VideoDecodeError: a path that is not a readable video.
    """
    if isinstance(clip, torch.Tensor) and clip.dtype != torch.uint8:
        return _explain_input(model, _model_input(model, clip), target, method, stage)[0]
    return torch.from_numpy(explain_video(model, clip, target, method, stage=stage).saliency)


def explain_video(model, video, target: int | None = None, method: str | None = None, *,
                  stage: int | None = None) -> Explanation:
    """:func:`explain` for a video (a path, or uint8 frames ``(N, H, W, 3)``): the model's test clip (its sampler,
    view 0 of 1; all ``N`` frames when ``N`` equals the model's ``num_frames``), through its eval transform."""
    from ..data import VideoReader, eval_clip
    from ..data.presets import eval_indices

    cfg = model.pretrained_cfg
    if not cfg.is_video:
        raise UsageError(f"tubelet explain needs a video model, {cfg.architecture} is an image model")
    method = check_target(model, method, target)
    if isinstance(video, (str, os.PathLike)):
        path = os.fspath(video)
        if not os.path.exists(path):
            raise VideoDecodeError(f"{path}: no such file")
        if os.path.isdir(path):
            raise VideoDecodeError(f"{path}: is a folder, not a video file")
        with VideoReader(path) as reader:
            indices = np.asarray(eval_indices(cfg, reader.num_frames))
            frames = reader.get_frames(indices)
    else:
        frames = np.asarray(video.numpy() if isinstance(video, torch.Tensor) else video)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise UsageError(f"expected uint8 video frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
        indices = np.arange(len(frames)) if len(frames) == cfg.num_frames else \
            np.asarray(eval_indices(cfg, len(frames)))
        frames = frames[indices]
    frames = np.asarray(frames)
    x = eval_clip(frames, cfg).to(next(model.parameters()).device)
    sal, probs, target, method = _explain_input(model, x, target, method, stage)
    full = saliency_to_frames(sal, cfg, frames.shape[1], frames.shape[2])
    return Explanation(full.numpy().astype(np.float32), frames, indices, sal, target, probs, method)


# --------------------------------------------------------------------------------------------------------------
# Measures (the synthetic set knows where the object is)
# --------------------------------------------------------------------------------------------------------------

def pointing_game(saliency, boxes) -> np.ndarray:
    """Per frame: 1.0 when the saliency maximum (the centre of the maximal pixels when several tie) lies in the box,
    0.0 when not or when the frame's map is all zero, NaN for a NaN or empty box. ``saliency (T, H, W)``,
    ``boxes (T, 4)`` in its pixel coordinates."""
    s = np.asarray(saliency, np.float64)
    out = np.full(len(s), np.nan)
    for t, (frame, box) in enumerate(zip(s, np.asarray(boxes, np.float64))):
        if np.isnan(box).any() or box[2] <= box[0] or box[3] <= box[1]:
            continue
        if frame.max() <= 0:
            out[t] = 0.0
            continue
        ys, xs = np.nonzero(frame >= frame.max() - 1e-6)
        y, x = ys.mean() + 0.5, xs.mean() + 0.5
        out[t] = float(box[0] <= x <= box[2] and box[1] <= y <= box[3])
    return out


def _box_weights(box, height: int, width: int) -> np.ndarray:
    """Fraction of each pixel covered by ``box`` (continuous coordinates)."""
    ys, xs = np.arange(height), np.arange(width)
    wy = np.clip(np.minimum(ys + 1, box[3]) - np.maximum(ys, box[1]), 0, 1)
    wx = np.clip(np.minimum(xs + 1, box[2]) - np.maximum(xs, box[0]), 0, 1)
    return wy[:, None] * wx[None, :]


def mass_in_box(saliency, boxes) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: ``(fraction of the saliency mass inside the box, box area / frame area)`` -- the second is what a
    uniform map scores, on both measures. NaN for a NaN or empty box, or an all-zero frame."""
    s = np.asarray(saliency, np.float64)
    T, H, W = s.shape
    mass, area = np.full(T, np.nan), np.full(T, np.nan)
    for t, box in enumerate(np.asarray(boxes, np.float64)):
        if np.isnan(box).any() or box[2] <= box[0] or box[3] <= box[1]:
            continue
        w = _box_weights(box, H, W)
        area[t] = w.sum() / (H * W)
        total = s[t].sum()
        if total > 0:
            mass[t] = (s[t] * w).sum() / total
    return mass, area


def evaluate_synthetic(model, num_clips: int = 50, *, num_frames: int = 16, height: int = 32, width: int = 40,
                       seed: int = 0, split: str = "val", method: str | None = None, target: str = "predicted",
                       stage: int | None = None) -> dict:
    """Pointing game and saliency mass in the object's box on clips of the synthetic dataset (rendered again with
    their boxes: the frames the dataset's H.264 files were made from), in the model input's coordinates (the boxes
    go through the same resize and centre crop as the frames; the map is not resized).

    Args:
        num_frames, height, width, seed: the dataset's parameters (``data.synthetic`` of the recipe).
        target: ``predicted`` (the predicted class, as ``tubelet explain``) or ``label`` (the true class; gradcam
            only, see :func:`check_target`).
    Returns:
        ``{"pointing", "mass", "uniform", "centre", "top1", "clips", "frames", "method"}``: means over the frames
        where the object is visible and inside the crop; ``uniform`` is what a uniform map scores on both measures
        (mean box area / crop area); ``centre`` is the pointing game of a map that always points at the crop's
        centre (the objects' paths are centred, so this is the stronger baseline).
    """
    from ..data import eval_clip
    from ..data.presets import eval_indices
    from ..data.synthetic import dataset_clip

    cfg = model.pretrained_cfg
    device = next(model.parameters()).device
    hits, masses, areas, centre, correct = [], [], [], [], 0
    for i in range(num_clips):
        frames, boxes, label = dataset_clip(split, i, num_frames, height, width, seed, return_boxes=True)
        idx = np.asarray(eval_indices(cfg, len(frames)))
        x = eval_clip(frames[idx], cfg).to(device)
        sal, probs, _, used = _explain_input(model, x, label if target == "label" else None, method, stage)
        correct += int(probs.argmax()) == label
        b = boxes_to_input(boxes[idx], cfg, height, width)
        b[np.isnan(boxes[idx]).any(-1)] = np.nan
        hits.append(pointing_game(sal.numpy(), b))
        S = sal.shape[-1]
        centre.append([float(bb[0] <= S / 2 <= bb[2] and bb[1] <= S / 2 <= bb[3]) for bb in b])
        m, a = mass_in_box(sal.numpy(), b)
        masses.append(m)
        areas.append(a)
    hits, masses, areas, centre = (np.concatenate(v) for v in (hits, masses, areas, centre))
    ok = ~np.isnan(hits) & ~np.isnan(areas)
    return {"pointing": float(np.mean(hits[ok])), "mass": float(np.nanmean(np.where(ok, masses, np.nan))),
            "uniform": float(np.mean(areas[ok])), "centre": float(np.mean(centre[ok])),
            "top1": 100.0 * correct / max(num_clips, 1), "clips": num_clips,
            "frames": int(ok.sum()), "method": used if num_clips else method}


# --------------------------------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------------------------------

def _resize_saliency(saliency: np.ndarray, height: int, width: int) -> np.ndarray:
    s = torch.as_tensor(np.asarray(saliency, np.float32))
    if tuple(s.shape[-2:]) != (height, width):
        s = F.interpolate(s[None], size=(height, width), mode="bilinear", align_corners=False)[0]
    return s.clamp(0, 1).numpy()


def overlay(frames, saliency, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a colour heat map into video frames: ``frames`` uint8 ``(T, H, W, 3)``, ``saliency`` ``(T, h, w)`` in
    [0, 1] (resized to ``H x W`` when it differs) -> uint8 ``(T, H, W, 3)``, ``(1 - alpha) frame + alpha heat``."""
    import matplotlib

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise UsageError(f"expected frames (T, H, W, 3), got shape {frames.shape}")
    s = _resize_saliency(np.asarray(saliency), frames.shape[1], frames.shape[2])
    if len(s) != len(frames):
        raise UsageError(f"{len(s)} saliency maps for {len(frames)} frames")
    heat = matplotlib.colormaps[cmap](s)[..., :3] * 255.0
    out = (1 - alpha) * frames.astype(np.float32) + alpha * heat
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _enlarge(frames: np.ndarray, saliency: np.ndarray, short: int = 224) -> tuple[np.ndarray, np.ndarray]:
    """Small frames scaled up by a whole factor (nearest; the map bilinear) so that the pictures can be seen."""
    T, H, W, _ = frames.shape
    k = max(1, math.ceil(short / min(H, W)))
    if k > 1:
        frames = frames.repeat(k, axis=1).repeat(k, axis=2)
    return frames, _resize_saliency(saliency, frames.shape[1], frames.shape[2])


def _write_mp4(f, frames: np.ndarray, fps) -> None:
    """Encode uint8 ``(T, H, W, 3)`` frames as H.264 (yuv420p, as :func:`tubelet.data.synthetic.write_video`) into
    the open, seekable binary file ``f`` (the temporary of :func:`tubelet.atomic.write_atomically`, whose name
    does not end in ``.mp4``: the container is named here)."""
    import av

    with av.open(f, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_overlay(frames, saliency, out_stem: str | os.PathLike, fps: float = 4.0, title: str = "",
                  indices=None) -> dict:
    """Write ``<out_stem>.mp4`` (the frames with the heat map blended in, H.264) and ``<out_stem>.png`` (a grid of
    the frames with the overlay, each titled with its frame number from ``indices``, default 0, 1, ...). Returns
    ``{"video": path, "grid": path}``. Each file is written whole or not at all (a temporary renamed into place,
    :func:`tubelet.atomic.write_atomically`), even when interrupted."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..atomic import write_atomically

    out_stem = Path(out_stem)
    if out_stem.suffix in (".mp4", ".png"):
        out_stem = out_stem.with_suffix("")
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    frames, sal = _enlarge(np.asarray(frames), np.asarray(saliency))
    blended = overlay(frames, sal)
    even = blended[:, :blended.shape[1] // 2 * 2, :blended.shape[2] // 2 * 2]  # H.264 needs even sizes
    video = out_stem.parent / f"{out_stem.name}.mp4"
    from fractions import Fraction  # a fractional fps is written exactly (PyAV takes a Fraction rate): 2.5 stays 5/2

    rate = Fraction(fps).limit_denominator(1001) if isinstance(fps, (int, float, Fraction)) and math.isfinite(fps) \
        else Fraction(0)
    if rate <= 0:
        raise UsageError(f"the overlay's frame rate must be a positive number of frames per second (at least "
                         f"1/1001), got {fps!r}")
    write_atomically(video, lambda f: _write_mp4(f, even, fps=rate))
    T = len(blended)
    cols = min(T, 8)
    rows = math.ceil(T / cols)
    aspect = blended.shape[1] / blended.shape[2]
    fig = Figure(figsize=(2.2 * cols, 2.2 * rows * aspect + (0.5 if title else 0.2)), dpi=100)
    FigureCanvasAgg(fig)
    for i in range(rows * cols):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.axis("off")
        if i < T:
            ax.imshow(blended[i])
            ax.set_title(f"frame {int(indices[i]) if indices is not None else i}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    grid = out_stem.parent / f"{out_stem.name}.png"
    write_atomically(grid, lambda f: fig.savefig(f, format="png"))
    return {"video": str(video), "grid": str(grid)}
