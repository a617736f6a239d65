"""Video decoding with PyAV (FFmpeg inside the wheel): uint8 RGB frames ``(T, H, W, 3)`` at requested indices."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

__all__ = ["VideoDecodeError", "read_video"]


class VideoDecodeError(RuntimeError):
    """A video file cannot be opened or decoded; the message names the file and the problem."""


def read_video(path: str | os.PathLike, sampler=None) -> np.ndarray:
    """Decode the frames of ``path`` that ``sampler`` picks.

    Args:
        path: a video file.
        sampler: ``sampler(num_frames) -> indices``; None keeps every frame.
    Returns:
        uint8 array ``(len(indices), H, W, 3)``, RGB, in the order of ``indices`` (repeats allowed).
    Raises:
        VideoDecodeError: missing file, no video stream, corrupt data, or no decodable frame.
    """
    import av

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise VideoDecodeError(f"{path}: no such video file")
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{path}: contains no video stream")
            stream = container.streams.video[0]
            # Decode once, keep frames as compact RGB arrays; count from decoding (stream.frames can be 0 or wrong).
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    except VideoDecodeError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise VideoDecodeError(f"{path}: cannot be decoded ({type(e).__name__}: {e})") from None
    if not frames:
        raise VideoDecodeError(f"{path}: no decodable video frame")
    indices: Sequence[int] = range(len(frames)) if sampler is None else sampler(len(frames))
    return np.stack([frames[i] for i in indices])
