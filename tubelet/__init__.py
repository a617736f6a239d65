"""tubelet: video recognition with UniFormer, UniFormerV2 and Video Swin Transformer, in plain PyTorch (and the
UniFormer light, segmentation and pose models: :mod:`tubelet.segmentation`, :mod:`tubelet.keypoints`,
:mod:`tubelet.pose`).

``tubelet.explain`` is the saliency function (:func:`tubelet.explain.explain`), not its module: import the module's
other names with ``from tubelet.explain import explain_video, overlay``."""
from .data import read_video
from .errors import (AnnotationError, CheckpointError, ConfigError, DependencyError, ImageReadError, OptionError,
                     TubeletError, UsageError, VideoDecodeError)
from .models import (LoadReport, PretrainedCfg, count_params, create_model, list_models, list_pretrained,
                     save_model)
from .explain import explain, explain_video  # noqa: E402  (after .models: it builds on them)
from .features import extract_features  # noqa: E402

__version__ = "0.1.0"

__all__ = ["AnnotationError", "CheckpointError", "ConfigError", "DependencyError", "ImageReadError", "LoadReport",
           "OptionError", "TubeletError",
           "UsageError", "VideoDecodeError", "PretrainedCfg", "__version__", "count_params", "create_model",
           "list_models", "list_pretrained", "read_video", "save_model", "explain", "explain_video", "extract_features"]
