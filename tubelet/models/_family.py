"""The contract between a model family module and the builder: what it takes to read that family's checkpoints.

Each family module (``uniformer.py``, ``uniformerv2.py``, ``video_swin.py``) states once, as a :class:`ModelFamily`
named ``FAMILY``, what it provides, and registers its variants with it (``@register_model(FAMILY, cfg)``).
:func:`tubelet.create_model` loads a foreign checkpoint in these steps, each one a field here::

    convert_state_dict   producer's key names -> the family's            (required)
    checkpoint_arch      architecture switches the weights determine     (required)
    resolve_switches     switches that need more than a lookup           (default: none)
    fit_state_dict       e.g. 2-D -> 3-D inflation of an image checkpoint (default: unchanged)
    is_init_source       the file only initialises the model (an image / CLIP checkpoint): its classifier belongs to
                         another label space                             (default: never)
    cfg_for_producer     the producer's data contract differs from the variant's, e.g. another label order
                         (default: unchanged)

A model class, for its part, provides the interface every tubelet model has: ``forward_features``,
``forward_head(x, pre_logits)``, ``get_classifier``, ``reset_classifier``, ``no_weight_decay``,
``set_grad_checkpointing`` and ``group_matcher`` (timm's conventions), plus ``num_classes`` and ``num_features``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from ._registry import PretrainedCfg

__all__ = ["ModelFamily", "StateDict"]

StateDict = dict[str, torch.Tensor]


def _unchanged(state_dict: StateDict, arch: dict, model, path: str) -> tuple[StateDict, list[str]]:
    return state_dict, []


def _no_switches(arch: dict, overrides: dict, path: str, name: str) -> dict:
    return {}


def _never(arch: dict, cfg: PretrainedCfg) -> bool:
    return False


def _same_cfg(cfg: PretrainedCfg, producer: str) -> PretrainedCfg:
    return cfg


@dataclass(frozen=True)
class ModelFamily:
    """What a family module provides to :func:`tubelet.create_model` (see the module docstring for the steps).

    Attributes:
        name: the family's name (``"uniformer"``, ``"uniformerv2"``, ``"video_swin"``).
        convert_state_dict: ``(state_dict, path) -> (state_dict, producer)``: rename a checkpoint of any known
            producer to the family's key names; ``producer`` describes the layout found (for the load report).
        checkpoint_arch: ``(state_dict, path) -> arch``: what the weights determine (``num_classes`` included);
            raises :class:`~tubelet.CheckpointError` for weights of another family.
        checkpoint_switches: keys of ``arch`` that become constructor options unless the caller sets them.
        resolve_switches: ``(arch, options, path, variant) -> options``: switches that need more than a lookup
            (Video Swin's window size from the bias-table size); may refuse to guess (UniFormer token-labeling
            head_dim).
        fit_state_dict: ``(state_dict, arch, model, path) -> (state_dict, notes)``: fit converted weights to the
            built model (inflation, new modules at their official initialisation).
        is_init_source: ``(arch, variant_cfg) -> bool``: the checkpoint only initialises the model.
        cfg_for_producer: ``(cfg, producer) -> cfg``: the data contract of weights from that producer.
        runtime_args: constructor options that change no weight's name or shape (free to differ from the options a
            tubelet checkpoint was saved with).
        classifier_prefixes: state-dict prefixes of the classifier (dropped together for a new label space).
    """

    name: str
    convert_state_dict: Callable[[StateDict, str], tuple[StateDict, str]]
    checkpoint_arch: Callable[[StateDict, str], dict]
    classifier_prefixes: tuple[str, ...]
    checkpoint_switches: tuple[str, ...] = ()
    runtime_args: frozenset[str] = field(default_factory=frozenset)
    resolve_switches: Callable[[dict, dict, str, str], dict] = _no_switches
    fit_state_dict: Callable[..., tuple[StateDict, list[str]]] = _unchanged
    is_init_source: Callable[[dict, PretrainedCfg], bool] = _never
    cfg_for_producer: Callable[[PretrainedCfg, str], PretrainedCfg] = _same_cfg
