"""The errors tubelet raises for problems a user can fix: a bad file, a bad value, an unknown name.

Every one derives from :class:`TubeletError`, so a program (and the ``tubelet`` command) can tell them from bugs:
``except tubelet.TubeletError`` catches exactly the problems the message explains, and anything else is a defect
that keeps its traceback. Each class also derives from the built-in exception it specialises (``ValueError``,
``TypeError``, ``RuntimeError``), so code written against those keeps working.
"""
from __future__ import annotations

__all__ = ["TubeletError", "UsageError", "OptionError", "DependencyError", "CheckpointError", "ConfigError",
           "AnnotationError", "VideoDecodeError", "ImageReadError"]


class TubeletError(Exception):
    """Base class of every error that describes a problem with the caller's input, not a bug in tubelet."""


class UsageError(TubeletError, ValueError):
    """A wrong argument: an unknown model name, an impossible option value, a malformed command-line value."""


class OptionError(UsageError, TypeError):
    """An option that a model's constructor does not take (a ``TypeError``, as Python's own unknown keyword)."""


class DependencyError(UsageError, ImportError):
    """An optional package that a feature needs is not installed; the message says which ``pip install`` adds it
    (an ``ImportError``, as the failed import itself)."""


class CheckpointError(TubeletError, ValueError):
    """A checkpoint file cannot be read, or its weights do not fit the requested model.

    The message always names the file and, for a mismatch, the missing, unexpected and mis-shaped keys.
    """


class ConfigError(TubeletError, ValueError):
    """A recipe or override is invalid; the message names the file and the key."""


class AnnotationError(TubeletError, ValueError):
    """An annotation file cannot be parsed; the message names the file and the line."""


class VideoDecodeError(TubeletError, RuntimeError):
    """A video file cannot be opened or decoded; the message names the file and the problem."""


class ImageReadError(TubeletError, ValueError):
    """An image file that cannot be read: missing, not an image (a video, a text file), damaged or too large. The
    message names the file."""
