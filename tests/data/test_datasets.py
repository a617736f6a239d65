"""Annotation readers, VideoDataset (train/test, flip label map, skip_bad), presets and the synthetic dataset."""
import json

import numpy as np
import pytest
import torch

import tubelet
from tubelet.data import (SYNTHETIC_CLASSES, AnnotationError, EvalTransform, TrainTransform, VideoDataset,
                          VideoDecodeError, make_sampler, make_synthetic_dataset, read_class_folders,
                          read_kinetics_csv, read_list_file, read_ssv2, read_video)
from tubelet.data.synthetic import render_clip
from tubelet.data.transforms import random_resized_crop_params, three_crop


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn")
    files = make_synthetic_dataset(root, num_train=20, num_val=10, num_frames=16, height=64, width=80, seed=3)
    return root, files


def test_synthetic_dataset_files(synthetic):
    root, files = synthetic
    samples = read_list_file(files["train"], root)
    assert len(samples) == 20 and {label for _, label in samples} == set(range(len(SYNTHETIC_CLASSES)))
    frames = read_video(samples[0][0])
    assert frames.shape == (16, 64, 80, 3)
    assert files["classes"].read_text().splitlines() == list(SYNTHETIC_CLASSES)


def test_synthetic_dataset_is_deterministic(tmp_path):
    a = make_synthetic_dataset(tmp_path / "a", num_train=2, num_val=1, num_frames=4, height=32, width=32, seed=7)
    b = make_synthetic_dataset(tmp_path / "b", num_train=2, num_val=1, num_frames=4, height=32, width=32, seed=7)
    assert a["train"].read_text() == b["train"].read_text()
    # the same frames went into both files; x264 under heavy load has (rarely) produced different bytes for the same
    # input, so the decoded content is compared, not the bytes
    fa, fb = (read_video(tmp_path / d / "train/000001.mp4").float() for d in "ab")
    assert fa.shape == fb.shape and (fa - fb).abs().mean() < 1.0


def _centroid_x(frames):
    """Per-frame x centroid of what differs from the temporal median (the background)."""
    f = frames.astype(np.float32)
    diff = np.abs(f - np.median(f, axis=0)).sum(-1)
    diff = np.where(diff > 60, diff, 0)  # the shape, not the noise
    xs = np.arange(frames.shape[2])
    return (diff.sum(1) * xs).sum(-1) / np.maximum(diff.sum((1, 2)), 1)


def test_synthetic_classes_need_temporal_order():
    left = render_clip(SYNTHETIC_CLASSES.index("moving left"), 12, 64, 80, np.random.default_rng(5))
    right = render_clip(SYNTHETIC_CLASSES.index("moving right"), 12, 64, 80, np.random.default_rng(5))
    cl, cr = _centroid_x(left), _centroid_x(right)
    assert cl[-1] < cl[0] - 10 and cr[-1] > cr[0] + 10  # opposite motions ...
    np.testing.assert_allclose(cl, cr[::-1], atol=2)  # ... of the same content: one is the other played backwards


def test_list_file_errors_name_file_and_line(tmp_path):
    f = tmp_path / "train.csv"
    f.write_text("a.mp4,1\nb.mp4,2\n\nc.mp4,x\n")
    with pytest.raises(AnnotationError, match=r"train.csv:4: expected 'PATH,LABEL'"):
        read_list_file(f, sep=",")
    f.write_text("a.mp4 1\nb.mp4 7\n")
    with pytest.raises(AnnotationError, match=r"train.csv:2: label 7 outside \[0, 5\)"):
        read_list_file(f, num_classes=5)
    f.write_text("dir with space/a.mp4 3\n")
    assert read_list_file(f, "/data") == [("/data/dir with space/a.mp4", 3)]


def test_kinetics_csv(tmp_path):
    f = tmp_path / "val.csv"
    f.write_text("label,youtube_id,time_start,time_end,split\nabseiling,abc,12,22,val\nzumba,xyz,0,10,val\n")
    samples = read_kinetics_csv(f, "/k400/val", ["abseiling", "zumba"])
    assert samples == [("/k400/val/abseiling/abc_000012_000022.mp4", 0), ("/k400/val/zumba/xyz_000000_000010.mp4", 1)]
    f.write_text("label,youtube_id,time_start,time_end,split\nunknown,abc,1,2,val\n")
    with pytest.raises(AnnotationError, match=r"val.csv:2: unknown class 'unknown'"):
        read_kinetics_csv(f, "/k", ["abseiling"])


def test_ssv2_json(tmp_path):
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"Pushing something from left to right": "93", "Holding something": "16"}))
    split = tmp_path / "validation.json"
    split.write_text(json.dumps([{"id": "74225", "template": "Pushing [something] from left to right"},
                                 {"id": "116154", "template": "Holding [something]"}]))
    assert read_ssv2(labels, split, "/ssv2") == [("/ssv2/74225.webm", 93), ("/ssv2/116154.webm", 16)]
    split.write_text(json.dumps([{"id": "1", "template": "Not a class"}]))
    with pytest.raises(AnnotationError, match="entry 0"):
        read_ssv2(labels, split, "/ssv2")


def test_class_folders(synthetic, tmp_path):
    root, _ = synthetic
    (tmp_path / "b_cls").mkdir()
    (tmp_path / "a_cls").mkdir()
    (tmp_path / "a_cls" / "x.mp4").write_bytes((root / "train/000000.mp4").read_bytes())
    (tmp_path / "b_cls" / "y.avi").write_bytes(b"")
    (tmp_path / "b_cls" / "notes.txt").write_text("not a video")
    samples, classes = read_class_folders(tmp_path)
    assert classes == ["a_cls", "b_cls"] and [s[1] for s in samples] == [0, 1]


def _cfg(sampler="segment", frames=8):
    cfg = tubelet.create_model("uniformerv2_b16", n_layers=1).pretrained_cfg
    return cfg.replace(sampler=sampler, num_frames=frames, input_size=(3, frames, 48, 48), resize_size=56,
                       frame_interval=2)


def test_train_dataset_is_seeded_and_remaps_flipped_labels(synthetic):
    root, files = synthetic
    cfg = _cfg()
    samples = read_list_file(files["train"], root)
    ds = VideoDataset(samples, make_sampler(cfg), TrainTransform.from_cfg(cfg, short_side=None), train=True,
                      flip_label_map={0: 1, 1: 0}, seed=1)
    clip, label = ds[0]
    assert clip.shape == (3, 8, 48, 48) and clip.dtype == torch.float32
    again, _ = ds[0]
    assert torch.equal(clip, again)  # same (seed, epoch, index) -> same clip
    ds.set_epoch(1)
    assert not torch.equal(clip, ds[0][0])
    labels = {ds[0][1] for ds.epoch in range(12)}
    assert labels == {0, 1}  # sample 0 is class 0; flipped epochs serve the mapped label


def test_test_dataset_views(synthetic):
    root, files = synthetic
    cfg = _cfg()
    ds = VideoDataset(read_list_file(files["val"], root), make_sampler(cfg, num_clips=2),
                      EvalTransform.from_cfg(cfg, num_crops=3), train=False, num_clips=2)
    views, label = ds[3]
    assert views.shape == (6, 3, 8, 48, 48) and label == 3
    assert not torch.equal(views[0], views[3])  # clip 0 and clip 1 are different frames
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=0)
    batch, labels = next(iter(loader))
    assert batch.shape == (2, 6, 3, 8, 48, 48) and labels.tolist() == [0, 1]


def test_bad_videos_raise_or_are_skipped(synthetic, tmp_path, caplog):
    root, files = synthetic
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    samples = [(str(broken), 0)] + read_list_file(files["val"], root)[:2]
    cfg = _cfg()
    kw = dict(sampler=make_sampler(cfg), transform=TrainTransform.from_cfg(cfg, short_side=None), train=True)
    with pytest.raises(VideoDecodeError, match="broken.mp4"):
        VideoDataset(samples, **kw)[0]
    ds = VideoDataset(samples, **kw, skip_bad=True)
    clip, label = ds[0]
    assert label == samples[1][1] and ds.num_skipped == 1
    ds[0]
    assert ds.num_skipped == 1
    assert len([r for r in caplog.records if "broken.mp4" in r.getMessage()]) == 1  # logged once


def test_transforms_geometry():
    x = torch.arange(2 * 3 * 40 * 60, dtype=torch.float32).reshape(2, 3, 40, 60)
    crops = three_crop(x, 40)
    assert [c[0, 0, 0, 0].item() for c in crops] == [0, 10, 20]  # left, centre, right of a landscape frame
    rng = np.random.default_rng(0)
    for _ in range(50):
        top, left, h, w = random_resized_crop_params(240, 320, rng)
        assert 0 <= top and top + h <= 240 and 0 <= left and left + w <= 320 and h > 0 and w > 0


def test_eval_transform_three_crops_normalised():
    frames = torch.full((4, 64, 96, 3), 255, dtype=torch.uint8)
    views = EvalTransform(32, 32, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), num_crops=3)(frames)
    assert views.shape == (3, 3, 4, 32, 32) and torch.allclose(views, torch.ones(()))


def test_loader_workers_see_the_epoch(synthetic):
    from tubelet.data import make_loader
    root, files = synthetic
    cfg = _cfg(frames=4)
    ds = VideoDataset(read_list_file(files["train"], root)[:4], make_sampler(cfg),
                      TrainTransform.from_cfg(cfg, short_side=None), train=True, seed=2)
    loader = make_loader(ds, batch_size=2, train=True, num_workers=2, seed=2)
    epochs = []
    for epoch in range(2):
        loader.sampler.set_epoch(epoch)
        epochs.append(torch.cat([x for x, _ in loader]))
    assert epochs[0].shape == (4, 3, 4, 48, 48)
    assert not torch.equal(epochs[0], epochs[1])  # persistent workers still got the new epoch
    loader.sampler.set_epoch(0)
    again = torch.cat([x for x, _ in loader])
    assert torch.equal(again, epochs[0])  # (seed, epoch) reproduces the epoch exactly


def test_average_views():
    from tubelet.data import average_views
    logits = torch.randn(12, 5)
    avg = average_views(logits, 6)
    assert avg.shape == (2, 5) and torch.allclose(avg.sum(1), torch.ones(2))
    assert torch.allclose(average_views(logits, 6, "logits"), logits.view(2, 6, 5).mean(1))
