"""Model families and the registry API. Each family module is imported explicitly (no star imports)."""
from . import uniformer, uniformerv2, video_swin  # noqa: F401  (register the variants)
from . import uniformer_dense, uniformer_light, uniformer_pose  # noqa: F401  (UniFormer light and dense prediction)
from . import uniformer_det  # noqa: F401  (COCO detectors)
from . import (uniformer_dense_weights, uniformer_light_weights, uniformer_weights,  # noqa: F401  (released weights)
               uniformerv2_weights, video_swin_weights)
from ._builder import LoadReport, count_params, create_model, create_task_model
from ._family import ModelFamily
from ._files import read_checkpoint, save_model
from ._pretrained import Weights, get_weights, list_pretrained
from ._registry import PretrainedCfg, get_pretrained_cfg, list_models, register_model
from ..errors import CheckpointError

__all__ = ["CheckpointError", "LoadReport", "ModelFamily", "PretrainedCfg", "count_params", "create_model", "create_task_model",
           "get_pretrained_cfg", "get_weights", "list_models", "list_pretrained", "Weights", "read_checkpoint",
           "register_model", "save_model"]
