"""Video decoding with PyAV (FFmpeg inside the wheel): uint8 RGB frames ``(T, H, W, 3)`` at requested indices.

Frame index i is the i-th frame in presentation order. :class:`VideoReader` demuxes once to learn every frame's
timestamp and the keyframes (container metadata such as ``stream.frames`` is not trusted), then decodes only the
groups of pictures that hold requested frames: seek to the group's keyframe, decode forward, keep the wanted frames.
The result is bit-identical to decoding the whole file sequentially and picking the same indices.
"""
from __future__ import annotations

import bisect
import os
from typing import Iterable, Sequence

import numpy as np
import torch

from ..errors import VideoDecodeError

__all__ = ["VideoDecodeError", "VideoReader", "read_video"]


class VideoReader:
    """Random access to the frames of one video file.

    Use as a context manager (the file is closed on exit)::

        with VideoReader("clip.mp4") as r:
            frames = r.get_frames([0, 8, 16])  # uint8 (3, H, W, 3)

    Attributes:
        num_frames: frames in the stream, counted by demuxing.
        fps: average frame rate (0.0 if unknown).
        duration: seconds (num_frames / fps when the container does not say).
    Raises:
        VideoDecodeError: missing, empty, truncated or non-video file, or an undecodable frame.
    """

    def __init__(self, path: str | os.PathLike):
        import av

        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise VideoDecodeError(f"{self.path}: no such video file")
        if os.path.getsize(self.path) == 0:
            raise VideoDecodeError(f"{self.path}: empty file")
        try:
            self._container = av.open(self.path)
        except Exception as e:  # noqa: BLE001 - FFmpeg reports garbage in many ways
            raise VideoDecodeError(f"{self.path}: cannot be opened as a video ({type(e).__name__}: {e})") from None
        try:
            if not self._container.streams.video:
                raise VideoDecodeError(f"{self.path}: contains no video stream")
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "SLICE"  # frame threading was slower for seek-and-decode
            self._index()
        except BaseException:
            self.close()
            raise

    def _index(self) -> None:
        """One demux pass: the presentation timestamps of all frames (sorted) and of the keyframes."""
        pts, keys = [], []
        try:
            for packet in self._container.demux(self._stream):
                if packet.pts is None or packet.size == 0:
                    continue
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keys.append(packet.pts)
        except Exception as e:  # noqa: BLE001
            raise VideoDecodeError(f"{self.path}: cannot be demuxed ({type(e).__name__}: {e})") from None
        if not pts:
            raise VideoDecodeError(f"{self.path}: no video frames")
        self._pts = sorted(pts)
        self._keys = sorted(keys) or [self._pts[0]]
        rate = self._stream.average_rate
        self.fps = float(rate) if rate else 0.0
        self.num_frames = len(self._pts)
        if self._container.duration:
            self.duration = self._container.duration / 1_000_000
        else:
            self.duration = self.num_frames / self.fps if self.fps else 0.0

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self.num_frames

    def get_frames(self, indices: Iterable[int]) -> torch.Tensor:
        """Frames at ``indices`` (presentation order, repeats allowed) as uint8 ``(len(indices), H, W, 3)`` RGB."""
        indices = [int(i) for i in indices]
        if not indices:
            raise ValueError("get_frames needs at least one index")
        bad = [i for i in indices if not 0 <= i < self.num_frames]
        if bad:
            raise IndexError(f"{self.path}: frame indices {bad[:5]} outside [0, {self.num_frames})")
        wanted = {self._pts[i] for i in indices}
        # group the wanted timestamps by the keyframe that starts their group of pictures
        groups: dict[int, set[int]] = {}
        for p in sorted(wanted):
            key = self._keys[max(bisect.bisect_right(self._keys, p) - 1, 0)]
            groups.setdefault(key, set()).add(p)
        found: dict[int, np.ndarray] = {}
        try:
            for key, targets in groups.items():
                self._container.seek(key, stream=self._stream, backward=True, any_frame=False)
                for frame in self._container.decode(self._stream):
                    if frame.pts in targets:
                        found[frame.pts] = frame.to_ndarray(format="rgb24", threads=1)  # no auto-threaded swscale
                        if targets <= found.keys():
                            break
        except Exception as e:  # noqa: BLE001
            raise VideoDecodeError(f"{self.path}: cannot be decoded ({type(e).__name__}: {e})") from None
        missing = wanted - found.keys()
        if missing:
            lost = sorted(self._pts.index(p) for p in missing)
            raise VideoDecodeError(f"{self.path}: frames {lost[:5]} could not be decoded (truncated or corrupt)")
        return torch.from_numpy(np.stack([found[self._pts[i]] for i in indices]))


def read_video(path: str | os.PathLike, indices: Sequence[int] | None = None, sampler=None) -> torch.Tensor:
    """Decode frames of ``path``: all of them, the given ``indices``, or ``sampler(num_frames) -> indices``.

    Returns:
        uint8 ``(T, H, W, 3)`` RGB frames.
    """
    with VideoReader(path) as reader:
        if indices is None:
            indices = range(reader.num_frames) if sampler is None else sampler(reader.num_frames)
        return reader.get_frames(indices)

