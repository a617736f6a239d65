"""tubelet: video recognition with UniFormer, UniFormerV2 and Video Swin Transformer, in plain PyTorch (and the
UniFormer light, segmentation and pose models).

Where things live: :mod:`tubelet.models` (the families, the registry, weights), :mod:`tubelet.data` (decoding,
sampling, transforms, datasets), :mod:`tubelet.engine` (training, evaluation, inference), :mod:`tubelet.tasks`
(segmentation, pose, saliency, features), :mod:`tubelet.cli` (the ``tubelet`` command, on top of all of them).

``tubelet.explain`` is the saliency function (:func:`tubelet.tasks.explain.explain`); the module is
:mod:`tubelet.tasks.explain`. The modules ``tubelet.segmentation``, ``tubelet.pose``, ``tubelet.explain`` (as a module)
and ``tubelet.features`` moved to :mod:`tubelet.tasks`; their old names still import, with a DeprecationWarning.
"""
from ._compat import install_moved_modules
from .data import read_video
from .errors import (AnnotationError, CheckpointError, ConfigError, DependencyError, ImageReadError, OptionError,
                     TubeletError, UsageError, VideoDecodeError)
from .models import (LoadReport, PretrainedCfg, count_params, create_model, create_task_model, list_models,
                     list_pretrained, save_model)
from .tasks.explain import explain, explain_video
from .tasks.features import extract_features

__version__ = "0.1.0"

__all__ = ["AnnotationError", "CheckpointError", "ConfigError", "DependencyError", "ImageReadError", "LoadReport",
           "OptionError", "TubeletError", "UsageError", "VideoDecodeError", "PretrainedCfg", "__version__",
           "count_params", "create_model", "create_task_model", "list_models", "list_pretrained", "read_video",
           "save_model", "explain", "explain_video", "extract_features"]

install_moved_modules(__name__)


def __getattr__(name: str):
    """``tubelet.segmentation`` & co. (moved to :mod:`tubelet.tasks`): the stand-ins of :mod:`tubelet._compat`."""
    from ._compat import MOVED

    if name in MOVED:
        import sys
        return sys.modules[f"{__name__}.{name}"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
