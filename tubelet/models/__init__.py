"""Model families and the registry API. Each family module is imported explicitly (no star imports)."""
from . import uniformer, uniformerv2, video_swin  # noqa: F401  (register the variants)
from ._builder import LoadReport, count_params, create_model, read_checkpoint, save_model
from ._convert import CheckpointError
from ._registry import PretrainedCfg, list_models, register_model

__all__ = ["CheckpointError", "LoadReport", "PretrainedCfg", "count_params", "create_model", "list_models",
           "read_checkpoint", "register_model", "save_model"]
