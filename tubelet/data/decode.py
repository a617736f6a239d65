"""Video decoding with PyAV (FFmpeg inside the wheel): uint8 RGB frames ``(T, H, W, 3)`` at requested indices."""
from __future__ import annotations

import os
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
            claimed = stream.frames  # from the container header: often right, sometimes 0 or wrong
            if sampler is not None and claimed > 0:
                indices = [int(i) for i in sampler(claimed)]
                wanted, kept = set(indices), {}
                # Convert only the wanted frames to RGB and stop after the last one.
                for i, frame in enumerate(container.decode(stream)):
                    if i in wanted:
                        kept[i] = frame.to_ndarray(format="rgb24")
                        if len(kept) == len(wanted):
                            return np.stack([kept[i] for i in indices])
                container.seek(0)  # the header over-counted: fall back to counting by decoding
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    except VideoDecodeError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise VideoDecodeError(f"{path}: cannot be decoded ({type(e).__name__}: {e})") from None
    if not frames:
        raise VideoDecodeError(f"{path}: no decodable video frame")
    indices = range(len(frames)) if sampler is None else sampler(len(frames))
    return np.stack([frames[i] for i in indices])
