"""Data: decoding, frame sampling and transforms shared by every entry point (predict now; train/eval later)."""
from .decode import VideoDecodeError, read_video
from .presets import eval_clip
from .synthetic import synthetic_clip

__all__ = ["VideoDecodeError", "eval_clip", "read_video", "synthetic_clip"]
