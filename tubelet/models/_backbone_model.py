"""What the task models built around a classification backbone (``self.backbone``: the segmentors, detectors and
pose models) answer for the interface every tubelet model has: weight decay, layer-wise lr decay groups and gradient
checkpointing, each the backbone's under ``backbone.``; the necks and heads form the top layer."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["BackboneTaskModel", "backbone_group_matcher"]


def backbone_group_matcher(backbone: nn.Module, coarse: bool = False) -> dict:
    """``backbone.group_matcher(coarse)`` with every pattern under ``backbone.`` (a task model whose backbone is an
    attribute: the neck and heads then form the top layer of layer-wise lr decay)."""
    inner = backbone.group_matcher(coarse)

    def prefix(p):
        return p.replace("^", r"^backbone\.", 1)
    blocks = inner["blocks"]
    blocks = prefix(blocks) if isinstance(blocks, str) else [(prefix(p), o) for p, o in blocks]
    return dict(stem=prefix(inner["stem"]), blocks=blocks)


class BackboneTaskModel:
    """Mixin of an ``nn.Module`` with a ``backbone`` attribute: the shared part of the tubelet model interface."""

    backbone: nn.Module

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {f"backbone.{n}" for n in getattr(self.backbone, "no_weight_decay", set)()}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        """The backbone's groups under ``backbone.``; the neck and heads form the top layer."""
        return backbone_group_matcher(self.backbone, coarse)

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.backbone.set_grad_checkpointing(enable)
