"""tubelet: video recognition with UniFormer, UniFormerV2 and Video Swin Transformer, in plain PyTorch (and the
UniFormer light, segmentation and pose models: :mod:`tubelet.segmentation`, :mod:`tubelet.keypoints`,
:mod:`tubelet.pose`)."""
from .data import read_video
from .errors import (AnnotationError, CheckpointError, ConfigError, DependencyError, ImageReadError, OptionError,
                     TubeletError, UsageError, VideoDecodeError)
from .models import (LoadReport, PretrainedCfg, count_params, create_model, list_models, list_pretrained,
                     save_model)

__version__ = "0.1.0"

__all__ = ["AnnotationError", "CheckpointError", "ConfigError", "DependencyError", "ImageReadError", "LoadReport",
           "OptionError", "TubeletError",
           "UsageError", "VideoDecodeError", "PretrainedCfg", "__version__", "count_params", "create_model",
           "list_models", "list_pretrained", "read_video", "save_model"]
