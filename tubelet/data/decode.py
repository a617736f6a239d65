"""Video decoding with PyAV (FFmpeg inside the wheel): uint8 RGB frames ``(T, H, W, 3)`` at requested indices.

Frame index i is the i-th frame in presentation order, as sequential decoding with FFmpeg delivers them.
:class:`VideoReader` demuxes once to learn every frame's timestamp and the keyframes (container metadata such as
``stream.frames`` is not trusted), then decodes only the groups of pictures that hold requested frames: seek to the
group's keyframe, decode forward, keep the wanted frames. The result is bit-identical to decoding the whole file
sequentially and picking the same indices.

Streams without usable timestamps (raw ``.h264``/``.hevc``, repeated timestamps, a transport stream cut in the middle
of a group of pictures) are read in *scan* mode instead: the frames are counted by decoding once at open, and a request
decodes sequentially from the start (or from where the previous request stopped), keeping only the wanted frames.

Hostile and damaged input gives a :class:`VideoDecodeError` that names the file, never a hang or another exception:
only regular files are opened (a FIFO or device cannot block), always as local files (a ``:`` in the name is not a
protocol), with no access to other files or URLs (playlists); text and still images that FFmpeg would read as a
"video", absurd frame sizes (checked before anything is decoded) and more than :data:`MAX_PACKETS` packets are refused.
A file cut short (a recording that stopped mid-write) exposes the frames that are really there, with a warning.
A file damaged in the middle (a packet the decoder refuses) is read as the ``ffmpeg`` tool reads it, the refused packet
skipped and the damage concealed until the next keyframe, but never silently: frames served from a damaged stretch
come with a warning naming the file and the frames, and a requested frame that the decoder cannot deliver at all is a
:class:`VideoDecodeError`.
"""
from __future__ import annotations

import contextlib
import operator
import os
import stat
import warnings
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from ..errors import VideoDecodeError

__all__ = ["MAX_PACKETS", "VideoDecodeError", "VideoReader", "read_video"]

MAX_PACKETS = 10_000_000  # packets indexed per stream (4 days at 30 fps); a file with more is refused
MAX_SIDE, MAX_PIXELS = 16_384, 16_384 * 8_192  # larger frames are refused before anything is decoded
_TEXT_FORMATS = frozenset({"tty", "bintext", "xbin", "adf", "idf"})  # FFmpeg renders any text file as "ANSI art"
_TEXT_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})
# picture demuxers (besides every "*_pipe"): one picture is a still image, two or more an animation
_IMAGE_FORMATS = frozenset({"image2", "image2pipe", "gif", "apng", "webp", "jpegxl_anim", "alias_pix", "brender_pix",
                            "ico"})
# custom I/O and no protocol: FFmpeg cannot open another file or URL (a playlist's segments, an image pattern)
_CONTAINER_OPTIONS = {"protocol_whitelist": "none"}
_NONE = np.iinfo(np.int64).min  # an absent timestamp in the index
_KEEP, _DISCARD, _CORRUPT = 0, 1, 2


class _Overshoot(Exception):
    """A seek landed after the keyframe it aimed at."""


class _Damage:
    """What the decoder refused during one decode pass (filled by :meth:`VideoReader._decoded`).

    Attributes:
        refused: ``(pts, error)`` of each packet the decoder refused, in decode order (pts None if absent).
        after: True while the frames being delivered follow a refused packet and no intact keyframe has been presented
            since (the damaged stretch as seen in presentation order; used where there is no index).
        corrupt: timestamps of frames FFmpeg itself flagged as corrupt (concealed errors).
    """

    def __init__(self) -> None:
        self.refused: list[tuple[int | None, str]] = []
        self.after = False
        self.corrupt: set[int] = set()
        self.stretches: tuple[tuple[int, int], dict] = ((0, 0), {})  # (what they were computed from, stretches)

    def reason(self) -> str:
        errors = list(dict.fromkeys(e for _, e in self.refused))
        n = len(self.refused)
        return f"the decoder refused {n} packet{'s' * (n != 1)}: {'; '.join(errors[:2])}"


class VideoReader:
    """Random access to the frames of one video file.

    Use as a context manager (the file is closed on exit)::

        with VideoReader("clip.mp4") as r:
            frames = r.get_frames([0, 8, 16])  # uint8 (3, H, W, 3)
            last = r[-1]                       # uint8 (H, W, 3)
            every_other = r[::2]               # uint8 (ceil(len(r) / 2), H, W, 3)
            for frame in r:                    # sequential decoding, one frame at a time
                ...

    Attributes:
        num_frames: frames in the stream (also ``len(reader)``): counted by demuxing, or by decoding in scan mode.
        width, height: frame size in pixels.
        fps: average frame rate (from the timestamps when the container's is missing or absurd; 0.0 if unknown).
        duration: seconds spanned by the frames (``num_frames / fps`` in scan mode).
        scan: True when the stream has no usable timestamps and is read sequentially (see the module docstring).
    Raises:
        VideoDecodeError: missing, empty, unreadable, truncated beyond use or non-video file, or an undecodable frame.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._file = self._container = None
        self._scan_iter: Iterator | None = None
        self._file = _open_regular_file(self.path)
        try:
            self._open()
            self._check_stream()
            self._index()
        except BaseException:
            self.close()
            raise

    # ----------------------------------------------------------------------------------------------- open and index
    def _open(self) -> None:
        """(Re)open the container on the already open file; FFmpeg reads it from the start."""
        import av

        if self._container is not None:
            self._container.close()
            self._container = None
        self._scan_iter = None
        self._file.seek(0)
        try:  # FFmpeg probes the content (and the name's extension): raw .h264/.hevc streams need no hint
            self._container = av.open(self._file, "r", container_options=_CONTAINER_OPTIONS, metadata_errors="replace")
        except Exception as e:  # noqa: BLE001 - FFmpeg reports garbage in many ways
            raise VideoDecodeError(f"{self.path}: cannot be opened as a video ({_why_unopenable(self._file, e)})") \
                from None
        videos = [s for s in self._container.streams.video if not s.disposition & _attached_pic()]
        if not videos:
            art = " (only cover art)" if self._container.streams.video else ""
            raise VideoDecodeError(f"{self.path}: contains no video stream{art}")
        self._stream = videos[0]
        if self._stream.codec_context is None:
            raise VideoDecodeError(f"{self.path}: no decoder for its video codec ({self._stream.codec_tag or '?'})")
        self._stream.thread_type = "SLICE"  # frame threading was slower for seek-and-decode

    def _describe(self) -> str:
        return f"{self._container.format.name}/{self._stream.codec_context.name}"

    def _check_stream(self) -> None:
        """Refuse text and absurd frame sizes from the headers alone: nothing has been decoded yet."""
        fmt, ctx = self._container.format.name, self._stream.codec_context
        if fmt in _TEXT_FORMATS or ctx.name in _TEXT_CODECS:
            raise VideoDecodeError(f"{self.path}: not a video (FFmpeg reads it as {self._describe()}: text)")
        w, h = ctx.width, ctx.height
        if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE and w * h <= MAX_PIXELS):
            raise VideoDecodeError(f"{self.path}: not a video (FFmpeg reads it as {self._describe()} with an "
                                   f"implausible frame size {w}x{h})")
        self._size = (w, h)
        self._image = fmt.endswith("_pipe") or fmt in _IMAGE_FORMATS or bool(
            self._stream.disposition & _still_image())

    def _index(self) -> None:
        """One demux pass: the timestamps of all frames and the keyframes; picks seek or scan mode."""
        import av

        # compact (a long or hostile file has millions of packets): the pts of every packet in decode order (_NONE if
        # absent); decode position and dts of the keyframes; decode position of the packets that are _DISCARDed (before
        # the start of an edit list) or _CORRUPT
        pts, key_pos, key_dts, odd_pos, odd_kind = array("q"), array("q"), array("q"), array("q"), bytearray()
        add_pts = pts.append  # the hot loop
        total = empty = 0
        failure = None
        try:
            for packet in self._container.demux(self._stream):
                total += 1
                if total > MAX_PACKETS:
                    raise VideoDecodeError(f"{self.path}: more than {MAX_PACKETS:,} packets in its video stream; "
                                           "refused (hostile or corrupt file?)")
                if not packet.size:
                    empty += packet.dts is not None  # not the end-of-stream marker
                    continue
                if packet.is_keyframe:
                    key_pos.append(len(pts))
                    key_dts.append(_NONE if packet.dts is None else packet.dts)
                if packet.is_discard or packet.is_corrupt:
                    odd_pos.append(len(pts))
                    odd_kind.append(_CORRUPT if packet.is_corrupt else _DISCARD)
                p = packet.pts
                add_pts(_NONE if p is None else p)
        except av.FFmpegError as e:
            if not pts:
                raise VideoDecodeError(f"{self.path}: cannot be demuxed ({type(e).__name__}: {e})") from None
            failure = f"{type(e).__name__}: {e}"  # a damaged tail: keep what was read before it
        lost = 0
        while odd_pos and odd_pos[-1] == len(pts) - 1 and odd_kind[-1] == _CORRUPT:  # a recording cut mid-write
            odd_pos.pop(), odd_kind.pop(), pts.pop()  # ends in a partial packet
            if key_pos and key_pos[-1] == len(pts):
                key_pos.pop(), key_dts.pop()
            lost += 1
        if self._container.format.name.startswith("mov,"):  # an MP4 index that points past the end of the file
            lost = max(lost, self._stream.frames - len(pts) - empty)
        pts_ = np.frombuffer(pts, np.int64)
        order = np.argsort(pts_, kind="stable")
        by_pts = pts_[order]
        # a corrupt packet mid-stream stays (FFmpeg conceals the damage), a discarded one is not a frame
        discarded = [i for i, k in zip(odd_pos, odd_kind, strict=True) if k == _DISCARD]
        if discarded:
            keep = np.ones(len(pts_), bool)
            keep[discarded] = False
            frames = np.sort(pts_[keep])
        else:
            frames = by_pts
        if lost or failure:
            what = f"{lost} frame{'s' * (lost != 1)} lost" if lost else "frames lost"
            warnings.warn(f"{self.path}: truncated or damaged ({what}{f'; {failure}' if failure else ''}): reading "
                          f"the {len(frames)} complete frames", RuntimeWarning, stacklevel=3)
        self.scan = bool(not len(frames) or not key_pos or key_pos[0] != 0
                         or by_pts[0] == _NONE  # absent timestamps (they sort first)
                         or frames[0] < pts_[0]  # frames shown before the first keyframe may not decode
                         or (by_pts[1:] == by_pts[:-1]).any())  # repeated timestamps cannot name a frame
        if not self.scan:
            self._pts, self.num_frames = frames, len(frames)
            self._all_pts, self._decode_pos = by_pts, order  # every packet by pts, and its decode position
            self._key_pos = np.frombuffer(key_pos, np.int64)
            self._key_pts = pts_[self._key_pos]
            self._key_dts = np.frombuffer(key_dts, np.int64)
            self._key_dts = np.where(self._key_dts == _NONE, self._key_pts, self._key_dts)
            self._seek_by_dts = False  # see _decode_group
            self._frame_pos = None  # decode position of each frame (see _damaged_stretches)
            self._warned: set = set()  # damaged stretches already reported (see _warn_damage)
            self.scan = bool((self._key_pts[1:] <= self._key_pts[:-1]).any())  # keyframes out of order: no groups
        if self.scan:
            self._count_by_decoding()
        if not self.num_frames:
            raise VideoDecodeError(f"{self.path}: no video frames")
        if self._image and self.num_frames == 1:
            raise VideoDecodeError(f"{self.path}: not a video (FFmpeg reads it as {self._describe()}: a still image)")
        self._timing()

    def _count_by_decoding(self) -> None:
        """Scan mode: the frame count is what a sequential decode delivers."""
        self._open()
        n = 0
        damage, damaged = _Damage(), []
        try:
            for frame in self._decoded(damage=damage):
                if damage.after or frame.is_corrupt:
                    damaged.append(n)
                n += 1
        except Exception as e:  # noqa: BLE001
            raise VideoDecodeError(f"{self.path}: cannot be decoded ({type(e).__name__}: {e})") from None
        self.num_frames = n  # the container is at its end: the first request reopens it
        if n and (damage.refused or damaged):  # the whole stream was decoded: say now what is damaged, once
            refused = f"{damage.reason()}; their frames are lost" if damage.refused else \
                "FFmpeg flagged frames corrupt"
            stretch = f": frames {_ranges(damaged)} of those it delivers are damaged (concealed)" if damaged else ""
            warnings.warn(f"{self.path}: damaged ({refused}){stretch}; reading the {n} frames it delivers",
                          RuntimeWarning, stacklevel=4)

    def _timing(self) -> None:
        """fps and duration: the container's average rate if plausible, else from the timestamps."""
        tb = self._stream.time_base
        span = (int(self._pts[-1]) - int(self._pts[0])) * float(tb) if not self.scan and tb else 0.0
        rate = self._stream.average_rate
        fps = float(rate) if rate else 0.0
        if not 0.0 < fps <= 1000.0:
            fps = (self.num_frames - 1) / span if span > 0 else 0.0
            fps = fps if 0.0 < fps <= 1000.0 else 0.0
        self.fps = fps
        if span > 0:
            self.duration = span + (1 / fps if fps else 0.0)
        else:
            self.duration = self.num_frames / fps if fps else 0.0

    # ------------------------------------------------------------------------------------------------------ access
    def close(self) -> None:
        self._scan_iter = None
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()
            self._file = None

    def __del__(self) -> None:  # a reader dropped without close() must not keep its file open
        with contextlib.suppress(Exception):  # e.g. at interpreter shutdown
            self.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self.num_frames

    @property
    def width(self) -> int:
        """Frame width in pixels (every frame is delivered at this size)."""
        return self._size[0]

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        return self._size[1]

    def __getitem__(self, index: int | slice) -> torch.Tensor:
        """``reader[i]``: frame ``i`` as uint8 ``(H, W, 3)`` (negative ``i`` counts from the end);
        ``reader[a:b:s]``: those frames as uint8 ``(n, H, W, 3)``, as :meth:`get_frames` (``n`` may be 0).

        Raises:
            IndexError: ``i`` outside ``[-len, len)``.
            TypeError: an index that is neither an integer nor a slice (use :meth:`get_frames` for a list).
        """
        if isinstance(index, slice):
            indices = range(*index.indices(self.num_frames))
            if not indices:
                return torch.empty((0, self.height, self.width, 3), dtype=torch.uint8)
            return self.get_frames(indices)
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(f"VideoReader indices are integers or slices, not {type(index).__name__} "
                            f"(get_frames takes a list of indices)") from None
        if not -self.num_frames <= i < self.num_frames:
            raise IndexError(f"{self.path}: frame index {i} outside [-{self.num_frames}, {self.num_frames})")
        return self.get_frames([i % self.num_frames])[0]

    def __iter__(self) -> Iterator[torch.Tensor]:
        """Every frame in order, uint8 ``(H, W, 3)`` each, from one sequential decode: one frame in memory at a time,
        the same frames as :meth:`get_frames`.

        The iteration reads the file through its own handle, so :meth:`get_frames` and indexing may be used while it
        runs, and several iterations may run at once.

        Raises:
            VideoDecodeError: the reader is closed, the file changed since it was opened, or a frame cannot be
                decoded.
        """
        if self._container is None:
            raise VideoDecodeError(f"{self.path}: the reader is closed")
        return self._iterate(os.fstat(self._file.fileno()))

    def _iterate(self, opened: os.stat_result) -> Iterator[torch.Tensor]:
        import av

        file = _open_regular_file(self.path)
        container = None
        try:
            now = os.fstat(file.fileno())
            if (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns) != \
                    (opened.st_dev, opened.st_ino, opened.st_size, opened.st_mtime_ns):
                raise VideoDecodeError(f"{self.path}: the file changed since the reader opened it")
            try:
                container = av.open(file, "r", container_options=_CONTAINER_OPTIONS, metadata_errors="replace")
                stream = container.streams[self._stream.index]
                stream.thread_type = "SLICE"
            except Exception as e:  # noqa: BLE001
                raise VideoDecodeError(f"{self.path}: cannot be opened again ({type(e).__name__}: {e})") from None
            following = 0  # index of the next frame to deliver
            damage, warned = _Damage(), set()
            try:
                for frame in self._decoded(container=container, stream=stream, damage=damage):
                    if following >= self.num_frames:
                        break
                    if self.scan:
                        i = following
                    else:  # seek mode: frame i is the one with timestamp _pts[i]; others are not frames of the index
                        if frame.pts is None:
                            continue
                        i = int(np.searchsorted(self._pts, frame.pts))
                        if i >= self.num_frames or int(self._pts[i]) != frame.pts or i < following:
                            continue
                        if i > following:
                            break  # frames [following, i) did not turn up: reported below
                        if frame.is_corrupt:
                            damage.corrupt.add(frame.pts)
                        self._warn_damage([i], damage, warned)
                    yield torch.from_numpy(self._rgb(frame))
                    following = i + 1
            except VideoDecodeError:
                raise
            except Exception as e:  # noqa: BLE001
                raise VideoDecodeError(f"{self.path}: cannot be decoded ({type(e).__name__}: {e})") from None
            if following < self.num_frames:
                why = damage.reason() if damage.refused else "truncated or corrupt"
                raise VideoDecodeError(f"{self.path}: frames from {following} on could not be decoded ({why})")
        finally:
            if container is not None:
                container.close()
            file.close()

    def get_frames(self, indices: Iterable[int]) -> torch.Tensor:
        """Frames at ``indices`` (presentation order, repeats allowed) as uint8 ``(len(indices), H, W, 3)`` RGB."""
        indices = [int(i) for i in indices]
        if not indices:
            raise ValueError("get_frames needs at least one index")
        bad = [i for i in indices if not 0 <= i < self.num_frames]
        if bad:
            raise IndexError(f"{self.path}: frame indices {bad[:5]} outside [0, {self.num_frames})")
        if self._container is None:
            raise VideoDecodeError(f"{self.path}: the reader is closed")
        damage = _Damage()
        try:
            if self.scan:  # damage was found and reported when the frames were counted
                found = self._scan_frames(set(indices))
            else:
                by_pts = self._seek_frames({int(self._pts[i]) for i in indices}, damage)
                found = {i: by_pts[int(self._pts[i])] for i in set(indices) if int(self._pts[i]) in by_pts}
        except VideoDecodeError:
            raise
        except Exception as e:  # noqa: BLE001
            self._scan_iter = None
            raise VideoDecodeError(f"{self.path}: cannot be decoded ({type(e).__name__}: {e})") from None
        missing = sorted(set(indices) - found.keys())
        if missing:
            why = damage.reason() if damage.refused else "truncated or corrupt"
            raise VideoDecodeError(f"{self.path}: frames {missing[:5]} could not be decoded ({why})")
        if not self.scan:
            self._warn_damage(sorted(found), damage, self._warned)
        return torch.from_numpy(np.stack([found[i] for i in indices]))

    def _damaged_stretches(self, damage: _Damage) -> dict[int, tuple[np.ndarray, list[int], list[int], str]]:
        """Seek mode: the stretches of frames that the refused packets damage, keyed by where each ends in decode
        order (the next keyframe): the frames decoded from the first damaged packet (refused, or giving a frame FFmpeg
        flags corrupt) up to there, as indices in presentation order; the frames whose packets were refused; those
        flagged corrupt; the decoder's error."""
        def locate(pts: int) -> tuple[int, int, list[int]]:
            r = self._position(pts)
            j = int(np.searchsorted(self._key_pos, r, side="right"))
            end = int(self._key_pos[j]) if j < len(self._key_pos) else len(self._all_pts)
            i = int(np.searchsorted(self._pts, pts))
            return r, end, [i] if i < self.num_frames and int(self._pts[i]) == pts else []

        stretches: dict[int, list] = {}
        for pts, error in damage.refused:
            if pts is None or self._position(pts) >= len(self._all_pts):
                continue  # not a packet of the index
            r, end, own = locate(pts)
            entry = stretches.setdefault(end, [r, [], [], error])
            entry[0], entry[1] = min(entry[0], r), entry[1] + own
        for pts in damage.corrupt:  # a concealed frame in a stretch with a refused packet: the damage began there
            if self._position(pts) < len(self._all_pts):
                r, end, own = locate(pts)
                if end in stretches:
                    entry = stretches[end]
                    entry[0], entry[2] = min(entry[0], r), entry[2] + own
        if stretches and self._frame_pos is None:  # decode position of every frame of the index
            self._frame_pos = self._decode_pos[np.searchsorted(self._all_pts, self._pts)]
        return {end: (np.flatnonzero((self._frame_pos >= start) & (self._frame_pos < end)), sorted(refused),
                      sorted(corrupt), error) for end, (start, refused, corrupt, error) in stretches.items()}

    def _warn_damage(self, served: list[int], damage: _Damage, warned: set) -> None:
        """Seek mode: warn, once per damaged stretch (``warned`` holds those already reported), when ``served`` frames
        lie in a stretch damaged by a refused packet, or were flagged corrupt by FFmpeg."""
        stretches = {}
        if damage.refused:
            if damage.stretches[0] != (len(damage.refused), len(damage.corrupt)):  # once per change, not per frame
                damage.stretches = ((len(damage.refused), len(damage.corrupt)), {
                    end: (set(stretch.tolist()), stretch, *rest)
                    for end, (stretch, *rest) in self._damaged_stretches(damage).items()})
            stretches = damage.stretches[1]
            for end, (members, stretch, refused, corrupt, error) in stretches.items():
                hit = sorted(members.intersection(served))
                if not hit or ("stretch", end) in warned:
                    continue
                warned.add(("stretch", end))
                many = "s" * (len(refused) > 1)
                whose = f"the packet{many} of frame{many} {_ranges(refused)}" if refused else "a packet"
                flagged = f" and FFmpeg flagged frame{'s' * (len(corrupt) > 1)} {_ranges(corrupt)} corrupt" \
                    if corrupt else ""
                warnings.warn(f"{self.path}: damaged: the decoder refused {whose} ({error}){flagged}; frames "
                              f"{_ranges(stretch.tolist())} (up to the next keyframe) are concealed or lost; frames "
                              f"served from them: {_ranges(hit)}", RuntimeWarning, stacklevel=3)
        corrupt = sorted(i for i in served if int(self._pts[i]) in damage.corrupt and ("corrupt", i) not in warned
                         and not any(i in members for members, *_ in stretches.values()))
        if corrupt:
            warned.update(("corrupt", i) for i in corrupt)
            warnings.warn(f"{self.path}: damaged: FFmpeg flagged frame{'s' * (len(corrupt) > 1)} {_ranges(corrupt)} "
                          f"corrupt (errors it concealed); served as decoded", RuntimeWarning, stacklevel=3)

    def _decoded(self, first_ok: Callable | None = None, container=None, stream=None,
                 damage: _Damage | None = None) -> Iterator:
        """Frames from the current position to the end. A packet the decoder rejects is skipped (FFmpeg conceals
        the damage in the frames that follow, as the ``ffmpeg`` tool does) and recorded in ``damage``, so that the
        caller can say which frames it serves from a damaged stretch; an unreadable tail ends the stream.

        Args:
            first_ok: called with the first packet read; if it returns False, :class:`_Overshoot` is raised.
            container, stream: another container opened on the same file and its video stream (iteration);
                default: the reader's own.
            damage: where refused packets are recorded; ``damage.after`` is kept up to date for each frame delivered.
        """
        import av

        container, stream = (self._container, self._stream) if container is None else (container, stream)
        ctx = stream.codec_context
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError:
                packet = None  # drain the frames still waiting in the decoder
            if first_ok is not None and packet is not None and packet.size:
                if not first_ok(packet):
                    raise _Overshoot
                first_ok = None
            try:
                frames = ctx.decode(packet)
            except av.FFmpegError as e:
                frames = []
                if damage is not None and packet is not None:
                    refused = (packet.pts, f"{type(e).__name__}: {e}")
                    if refused not in damage.refused:  # not again when a request decodes a stretch twice
                        damage.refused.append(refused)
                    damage.after = True
            for frame in frames:
                if damage is not None and damage.after and frame.key_frame and not frame.is_corrupt:
                    damage.after = False  # an intact keyframe: the damaged stretch is over
                yield frame
            if packet is None:
                return

    def _rgb(self, frame) -> np.ndarray:
        """RGB of one frame; a frame whose size differs from the stream's (a mid-stream resolution switch) is
        scaled to it, so that every frame has the same shape."""
        w, h = self._size
        if frame.width == w and frame.height == h:
            return frame.to_ndarray(format="rgb24", threads=1)  # no auto-threaded swscale
        return frame.to_ndarray(format="rgb24", width=w, height=h, threads=1)

    def _scan_frames(self, wanted: set[int]) -> dict[int, np.ndarray]:
        """Scan mode: decode sequentially, from where the previous request stopped when that is not past a wanted
        frame, else from the start."""
        if self._scan_iter is None or min(wanted) < self._scan_next:
            self._open()
            self._scan_iter, self._scan_next = self._decoded(), 0
        found, last = {}, max(wanted)
        while self._scan_next <= last:
            frame = next(self._scan_iter, None)
            if frame is None:
                self._scan_iter = None
                break
            if self._scan_next in wanted:
                found[self._scan_next] = self._rgb(frame)
            self._scan_next += 1
        return found

    def _seek_frames(self, wanted: set[int], damage: _Damage) -> dict[int, np.ndarray]:
        """Seek mode: decode the group of pictures of each wanted timestamp from its keyframe; if the demuxer lands
        past a keyframe (imprecise seeking), or a frame does not turn up, decode from the start instead. Packets the
        decoder refuses and frames it flags corrupt are recorded in ``damage``."""
        groups: dict[int, set[int]] = {}
        for p in sorted(wanted):
            k = max(int(np.searchsorted(self._key_pts, p, side="right")) - 1, 0)
            groups.setdefault(k, set()).add(p)
        found: dict[int, np.ndarray] = {}
        for k, targets in groups.items():
            if not self._decode_group(k, targets, found, damage):
                break
        # the frame of a refused packet never turns up, however the decoding starts
        rest = wanted - found.keys() - {p for p, _ in damage.refused}
        if rest:  # the slow, sure way: everything from the start
            self._open()
            self._collect(self._decoded(damage=damage), rest, found, damage)
        return found

    def _decode_group(self, k: int, targets: set[int], found: dict[int, np.ndarray], damage: _Damage) -> bool:
        """Seek to keyframe ``k`` and decode forward until the targets are passed; False if no seek landed at or before
        the keyframe (in decode order), which would make the frames differ from sequential decoding.

        Most demuxers (MP4, Matroska) seek by presentation time; MPEG-TS seeks by decoding time: the keyframe's pts,
        then its dts, are tried (the order that worked last is tried first).
        """
        import av

        key_pos = int(self._key_pos[k])
        order = (self._key_dts, self._key_pts) if self._seek_by_dts else (self._key_pts, self._key_dts)
        for ts in dict.fromkeys(int(t[k]) for t in order):
            try:
                self._container.seek(ts, stream=self._stream, backward=True, any_frame=False)
                self._collect(self._decoded(lambda p: p.pts is not None and self._position(p.pts) <= key_pos,
                                            damage=damage), targets, found, damage)
            except (_Overshoot, av.FFmpegError):
                continue
            self._seek_by_dts = ts != self._key_pts[k]
            return True
        return False

    def _position(self, pts: int) -> int:
        """Decode-order position of the packet with timestamp ``pts`` (past the end if unknown)."""
        i = int(np.searchsorted(self._all_pts, pts))
        if i < len(self._all_pts) and self._all_pts[i] == pts:
            return int(self._decode_pos[i])
        return len(self._all_pts)

    def _collect(self, frames: Iterator, targets: set[int], found: dict[int, np.ndarray], damage: _Damage) -> None:
        """Convert the frames whose timestamps are targets; stop once the last target is passed. Frames FFmpeg flags
        corrupt are noted in ``damage``."""
        last = max(targets)
        for frame in frames:
            if frame.pts is None:
                continue
            if frame.is_corrupt:
                damage.corrupt.add(frame.pts)
            if frame.pts in targets and frame.pts not in found:
                found[frame.pts] = self._rgb(frame)
            if frame.pts >= last:
                break


def _ranges(indices: Sequence[int], most: int = 6) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"`` (at most ``most`` runs, then how many more frames)."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    text = ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs[:most])
    if len(runs) > most:
        text += f", ... ({sum(b - a + 1 for a, b in runs[most:])} more)"
    return text


def _open_regular_file(path: str):
    """Open ``path`` for reading as a plain local file, or raise VideoDecodeError saying why it cannot be a video.

    ``O_NONBLOCK`` makes opening a FIFO return at once; ``fstat`` on the open descriptor then refuses anything but a
    regular file (no race between a check and the open).
    """
    flags = getattr(os, "O_NONBLOCK", 0)
    try:
        f = open(path, "rb", opener=lambda p, mode: os.open(p, mode | flags))  # noqa: SIM115 - closed by the reader
    except FileNotFoundError:
        raise VideoDecodeError(f"{path}: no such video file") from None
    except IsADirectoryError:
        raise VideoDecodeError(f"{path}: is a directory, not a video file") from None
    except OSError as e:  # permission, symlink loop, name too long, ...
        raise VideoDecodeError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        st = os.fstat(f.fileno())
        if stat.S_ISDIR(st.st_mode):
            raise VideoDecodeError(f"{path}: is a directory, not a video file")
        if not stat.S_ISREG(st.st_mode):
            raise VideoDecodeError(f"{path}: not a regular file (a FIFO, device or socket cannot be read as a video)")
        if st.st_size == 0:
            raise VideoDecodeError(f"{path}: empty file")
        if flags:
            os.set_blocking(f.fileno(), True)
    except BaseException:
        f.close()
        raise
    return f


def _why_unopenable(file, error: Exception) -> str:
    """FFmpeg's error, with a hint for the common cases that it reports only as invalid data."""
    try:
        file.seek(0)
        head = file.read(64)
        if head.startswith(b"#EXTM3U"):
            return "an HLS playlist: read its media segments instead"
        if head[4:8] == b"ftyp" and not _has_top_level_box(file, b"moov"):
            return "an MP4 without its index (moov box): a recording that was never finished or a truncated copy"
    except OSError:
        pass
    return f"{type(error).__name__}: {error}"


def _has_top_level_box(file, name: bytes) -> bool:
    """Whether an ISO-BMFF (MP4) file has a top-level box ``name`` (walks the box headers only)."""
    file.seek(0, os.SEEK_END)
    size, pos = file.tell(), 0
    while pos + 8 <= size:
        file.seek(pos)
        head = file.read(16)
        length = int.from_bytes(head[:4], "big")
        if head[4:8] == name:
            return True
        if length == 1 and len(head) == 16:
            length = int.from_bytes(head[8:16], "big")
        elif length == 0:  # runs to the end of the file
            return False
        if length < 8:
            return False
        pos += length
    return False


def _attached_pic() -> int:
    import av

    return int(av.stream.Disposition.attached_pic)


def _still_image() -> int:
    import av

    return int(av.stream.Disposition.still_image)


def read_video(path: str | os.PathLike, indices: Sequence[int] | None = None, sampler=None) -> torch.Tensor:
    """Decode frames of ``path``: all of them, the given ``indices``, or ``sampler(num_frames) -> indices``.

    Returns:
        uint8 ``(T, H, W, 3)`` RGB frames.
    """
    with VideoReader(path) as reader:
        if indices is None:
            indices = range(reader.num_frames) if sampler is None else sampler(reader.num_frames)
        return reader.get_frames(indices)
