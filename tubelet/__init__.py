"""tubelet: video recognition with UniFormer, UniFormerV2 and Video Swin Transformer, in plain PyTorch."""
from .data import read_video
from .models import (CheckpointError, LoadReport, PretrainedCfg, count_params, create_model, list_models,
                     save_model)

__version__ = "0.1.0"

__all__ = ["CheckpointError", "LoadReport", "PretrainedCfg", "__version__", "count_params", "create_model",
           "list_models", "read_video", "save_model"]
