"""Small fixes of issue 15 (11): ``list_models`` and its family boundary, ``VideoReader`` indexing / iteration / size,
the next command after ``tubelet data synthetic``, and the class-folders example recipe."""
from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np
import pytest
import torch

import tubelet
from tests.data.test_hostile_videos import clip, encode, remux, sequential
from tubelet.cli import main
from tubelet.data import VideoDecodeError
from tubelet.data.decode import VideoReader
from tubelet.models._registry import get_family, list_families

EXAMPLES = Path(__file__).resolve().parent.parent / "configs" / "examples"


# -- list_models: the glob, and the family filter ---------------------------------------------------------------------

def test_list_models_by_family():
    assert list_families() == ["uniformer", "uniformer_dense", "uniformer_det", "uniformer_light", "uniformer_pose",
                               "uniformer_seg", "uniformerv2", "video_swin"]
    v1 = tubelet.list_models(family="uniformer")
    assert "uniformer_small" in v1 and "uniformer_small_2d" in v1 and "uniformer_xxs" not in v1
    assert tubelet.list_models("uniformer*", family="uniformer") == v1
    assert tubelet.list_models("*_2d", family="uniformerv2") == []
    assert tubelet.list_models("uniformer*") == sorted(n for f in list_families() if f != "video_swin"
                                                       for n in tubelet.list_models(family=f))  # fnmatch
    assert all(get_family(n).name == "video_swin" for n in tubelet.list_models(family="video_swin"))
    with pytest.raises(tubelet.UsageError, match=r"unknown model family 'uniformer_v2' \(did you mean uniformerv2\?\)"):
        tubelet.list_models(family="uniformer_v2")


def test_models_command_says_when_a_prefix_spans_families(capsys):
    assert main(["models", "uniformer*"]) == 0
    out, err = capsys.readouterr()
    assert "uniformerv2_b16" in out  # the glob is a glob
    assert err.strip() == ("note: 'uniformer*' matches 7 families (uniformer, uniformer_dense, uniformer_det, "
                           "uniformer_light, uniformer_pose, uniformer_seg, uniformerv2); --family NAME lists one")
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert sorted(names) == sorted(fnmatch.filter(tubelet.list_models(), "uniformer*"))
    assert main(["models", "uniformerv2*"]) == 0  # one family: nothing to say
    out, err = capsys.readouterr()
    assert err == "" and "uniformer_small" not in out
    assert main(["models", "uniformer*", "--family", "uniformer_pose"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and [line.split()[0] for line in out.splitlines()[1:]] == ["uniformer_base_pose",
                                                                             "uniformer_small_pose"]
    assert "17 keypoint heatmaps" in out


# -- VideoReader: len, [i], [a:b], iteration, width / height ----------------------------------------------------------

@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    """Seek mode (B-frames; an edit list hiding decoded frames) and scan mode (no timestamps; a resolution switch)."""
    tmp = tmp_path_factory.mktemp("videos")
    frames = clip(30)
    mp4 = encode(tmp / "bframes.mp4", frames, options={"bf": "3", "g": "8"})
    with __import__("av").open(str(mp4)) as c:
        s = c.streams.video[0]
        step = int(1 / (s.average_rate * s.time_base))
        packets = [(p.pts, p.is_keyframe) for p in c.demux(s) if p.size]
    key = [i for i, (_, k) in enumerate(packets) if k][1]
    trimmed = remux(mp4, tmp / "edit_list.mp4", first_packet=key, shift=-(packets[key][0] + 3 * step))
    raw = encode(tmp / "stream.h264", frames[:20], fmt="h264", options={"g": "8"})
    small = remux(mp4, tmp / "a.ts", fmt="mpegts")
    big = encode(tmp / "b.ts", clip(10, seed=1, h=72, w=96), fmt="mpegts", options={"g": "8"})
    switch = tmp / "resolution_switch.ts"
    switch.write_bytes(small.read_bytes() + big.read_bytes())
    return {"bframes": mp4, "edit_list": trimmed, "raw": raw, "switch": switch}


@pytest.mark.parametrize("name", ["bframes", "edit_list", "raw", "switch"])
def test_reader_indexing_and_iteration_agree_with_get_frames(videos, name):
    path = videos[name]
    with VideoReader(path) as r:
        n = len(r)
        every = r.get_frames(range(n))
        assert (r.width, r.height) == (every.shape[2], every.shape[1]) == (64, 48)
        assert r.fps > 0
        assert torch.equal(torch.stack(list(r)), every)  # sequential decoding, the same frames
        if name != "switch":  # the switch's second half is scaled to the first size: sequential() does not scale
            np.testing.assert_array_equal(every.numpy(), np.stack(sequential(path)))
        for i in (0, 1, n // 2, n - 1, -1, -n):
            frame = r[i]
            assert frame.shape == (48, 64, 3) and frame.dtype == torch.uint8
            assert torch.equal(frame, every[i])
        assert r[np.int64(2)].shape == (48, 64, 3)
        for s in (slice(None), slice(2, 9), slice(None, None, 3), slice(-4, None), slice(None, None, -2),
                  slice(5, 2), slice(n, n + 5)):
            assert torch.equal(r[s], every[list(range(n)[s])]), s
        assert r[5:2].shape == (0, 48, 64, 3)
        for bad in (n, -n - 1):
            with pytest.raises(IndexError, match=rf"frame index {bad} outside \[-{n}, {n}\)"):
                r[bad]
        for bad in (1.5, "0", [0, 1]):
            with pytest.raises(TypeError, match="integers or slices"):
                r[bad]


def test_iteration_decodes_sequentially_in_its_own_handle(videos, monkeypatch):
    """One frame at a time (never get_frames over everything); random access and a second iteration may run in the
    middle of it."""
    path = videos["bframes"]
    with VideoReader(path) as r:
        every = r.get_frames(range(len(r)))
        outer, inner = iter(r), iter(r)
        got = [next(outer), next(outer)]
        assert torch.equal(r[20], every[20]) and torch.equal(r[-1], every[-1])  # seeks the reader's own container
        assert torch.equal(next(inner), every[0])
        with monkeypatch.context() as m:
            m.setattr(VideoReader, "get_frames", lambda *a: pytest.fail("iteration must not call get_frames"))
            got += list(outer)
        assert torch.equal(torch.stack(got), every)
        del inner  # an unfinished iteration closes its file when dropped
    with pytest.raises(VideoDecodeError, match="the reader is closed"):
        iter(r)


def test_iteration_refuses_a_file_replaced_since_opening(videos, tmp_path):
    path = tmp_path / "v.mp4"
    path.write_bytes(videos["bframes"].read_bytes())
    with VideoReader(path) as r:
        path.unlink()
        path.write_bytes(videos["raw"].read_bytes())
        with pytest.raises(VideoDecodeError, match="changed since the reader opened it"):
            next(iter(r))
        assert r[0].shape == (48, 64, 3)  # the reader itself still reads the file it opened


# -- tubelet data synthetic: what to run next -------------------------------------------------------------------------

def test_data_synthetic_prints_the_next_command_with_a_recipe_that_fits(tmp_path, capsys, monkeypatch):
    from tubelet.config import load_config
    from tubelet.engine.build import class_names_for, read_split

    monkeypatch.chdir(tmp_path)
    assert main(["data", "synthetic", "syn", "--train", "4", "--val", "2", "--frames", "6", "--height", "32",
                 "--width", "40"]) == 0
    out = capsys.readouterr().out
    assert "next: tubelet train syn/recipe.yaml --out runs/synthetic" in out
    cfg = load_config("syn/recipe.yaml")
    assert cfg.data.format == "list" and cfg.data.num_frames == 6 and cfg.data.batch_size == 4
    assert len(read_split(cfg, "train")) == 4 and len(read_split(cfg, "val")) == 2
    assert class_names_for(cfg) == list(tubelet.data.synthetic.SYNTHETIC_CLASSES)
    monkeypatch.chdir(Path(__file__).parent)  # the recipe's paths are absolute: it runs from anywhere
    assert main(["train", str(tmp_path / "syn" / "recipe.yaml"), "--dry-run", "--out", str(tmp_path / "run")]) == 0
    assert "dry run OK" in capsys.readouterr().out


# -- the class-folders example ----------------------------------------------------------------------------------------

def test_class_folders_example_reads_folders_and_builds(tmp_path):
    from tubelet.config import load_config
    from tubelet.data.synthetic import render_clip, write_video
    from tubelet.engine.build import class_names_for, read_split

    path = EXAMPLES / "class_folders.yaml"
    assert path.parent.name == "examples" and path.read_text().startswith("#")  # not a configs/*.yaml recipe
    for split in ("train", "val"):
        for label, name in enumerate(("pour", "stir")):
            (tmp_path / split / name).mkdir(parents=True)
            write_video(tmp_path / split / name / "a.mp4", render_clip(label, 4, 32, 32, np.random.default_rng(0)))
    cfg = load_config(path, [f"data.train={tmp_path / 'train'}", f"data.val={tmp_path / 'val'}"])
    assert cfg.data.format == "folders" and cfg.model.drop_head and cfg.model.num_classes is None
    assert class_names_for(cfg) == ["pour", "stir"]
    assert sorted(label for _, label in read_split(cfg, "train")) == [0, 1]
    with torch.device("meta"):
        model = tubelet.create_model(cfg.model.name, num_classes=2, **cfg.model.options)
    assert model.num_classes == 2
    assert cfg.model.checkpoint == "checkpoints/uniformer_small_k400.safetensors"
    assert "--out checkpoints/uniformer_small_k400.safetensors" in path.read_text()  # the header says how to get it
