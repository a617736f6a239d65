"""The minimal data path used by `tubelet predict`: decoding, sampling, transforms."""
import av
import numpy as np
import pytest
import torch

from tubelet.data import VideoDecodeError, eval_clip, read_video, synthetic_clip
from tubelet.data.sampling import dense_center_indices, segment_center_indices
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
    np.testing.assert_array_equal(read_video(path), clip)
    np.testing.assert_array_equal(read_video(path, sampler=lambda n: [n - 1, 0, 0]), clip[[19, 0, 0]])


def test_decode_recounts_when_the_header_over_counts(clip, tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, clip)
    seen = []

    def sampler(n):  # the first call gets the header's count; pretend it is too high by asking past the end
        seen.append(n)
        return [n + 5] if len(seen) == 1 else [n - 1]
    np.testing.assert_array_equal(read_video(path, sampler=sampler), clip[[19]])
    assert seen == [20, 20]


def test_decode_errors_name_the_file(tmp_path, clip):
    with pytest.raises(VideoDecodeError, match="missing.mp4: no such video file"):
        read_video(tmp_path / "missing.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(VideoDecodeError, match="bad.mp4"):
        read_video(bad)


def test_samplers():
    np.testing.assert_array_equal(dense_center_indices(100, 4, 4), [42, 47, 52, 57])
    np.testing.assert_array_equal(dense_center_indices(5, 4, 4), [0, 4, 4, 4])  # clamped for short videos
    np.testing.assert_array_equal(segment_center_indices(16, 4), [2, 6, 10, 14])


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
