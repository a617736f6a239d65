"""tubelet explain: saliency maps per family, the model left untouched, the synthetic boxes, the command, and a
measured localisation margin of a (cheaply) demo-trained UniFormer."""
import hashlib
import time

import numpy as np
import pytest
import torch

import tubelet
from tubelet import cli
from tubelet.data import synthetic
from tubelet.data.synthetic import dataset_clip, render_clip
from tubelet.errors import TubeletError, UsageError, VideoDecodeError
from tubelet.explain import (boxes_to_input, evaluate_synthetic, explain, explain_video, input_geometry,
                             mass_in_box, methods_for, overlay, pointing_game, saliency_to_frames, write_overlay)
from tubelet.models.uniformerv2 import UniFormerV2


def _uniformer():
    return tubelet.create_model("uniformer_small", depth=[1, 1, 2, 1], embed_dim=[16, 32, 64, 128], head_dim=16,
                                num_classes=5)


def _v2(fusion="sequential"):
    torch.manual_seed(0)
    m = UniFormerV2(input_resolution=32, patch_size=8, width=32, layers=2, heads=2, no_lmhra=False,
                    return_list=[0, 1], n_dim=32, n_head=2, num_classes=5, fusion=fusion)
    with torch.no_grad():  # a learnt query (the initial one is zero: uniform attention)
        m.transformer.temporal_cls_token.normal_(0, 1.0)
    return m


def _swin():
    return tubelet.create_model("swin3d_tiny", embed_dim=16, depths=[2, 2, 1, 1], num_heads=[1, 1, 2, 2],
                                window_size=[2, 4, 4], num_classes=5)


def _state(model):
    return ([m.training for m in model.modules()], [p.grad for p in model.parameters()],
            sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()))


# ---------------------------------------------------------------------------------------------------------------
# synthetic boxes


def test_render_clip_frames_unchanged_by_boxes():
    # digest of the frames as rendered before boxes existed (the dataset's files must stay byte-identical)
    h = hashlib.sha256()
    for label in range(10):
        frames, boxes = render_clip(label, 8, 24, 30, np.random.default_rng((0, 1, label)), return_boxes=True)
        again = render_clip(label, 8, 24, 30, np.random.default_rng((0, 1, label)))
        assert np.array_equal(frames, again)
        assert boxes.shape == (8, 4) and boxes.dtype == np.float32
        h.update(again.tobytes())
    assert h.hexdigest() == "99292ce3a0deb45a0489dafaff1efc889d380650d0358ba9052b895595df9605"


def test_boxes_hold_the_object(monkeypatch):
    masks = []
    real = synthetic._mask
    monkeypatch.setattr(synthetic, "_mask", lambda *a: masks.append(real(*a)) or masks[-1])
    yy, xx = np.mgrid[0:40, 0:50] + 0.5  # pixel centres in continuous coordinates
    for label in range(10):
        masks.clear()
        _, boxes = render_clip(label, 6, 40, 50, np.random.default_rng(label), return_boxes=True)
        visible = ~np.isnan(boxes).any(1)
        assert visible.sum() >= 4
        if synthetic.SYNTHETIC_CLASSES[label] in ("appearing", "disappearing"):
            assert not visible.all()  # opacity 0 at one end
        for m, box in zip(masks, boxes):
            if np.isnan(box).any():
                continue
            inside = (xx >= box[0]) & (xx <= box[2]) & (yy >= box[1]) & (yy <= box[3])
            assert m[~inside].max(initial=0) < 0.5  # nothing at half coverage outside
            assert m[inside].max() > 0.99  # and the object inside
            assert 0 <= box[0] < box[2] <= 50 and 0 <= box[1] < box[3] <= 40


def test_dataset_clip_is_the_dataset_clip():
    frames, boxes, label = dataset_clip("val", 3, 8, 24, 30, seed=0, return_boxes=True)
    assert label == 3 and frames.shape == (8, 24, 30, 3)
    assert np.array_equal(frames, render_clip(3, 8, 24, 30, np.random.default_rng((0, 1, 3))))
    with pytest.raises(UsageError, match="split"):
        dataset_clip("test", 0)


# ---------------------------------------------------------------------------------------------------------------
# maps per family


@pytest.mark.parametrize("make,size", [(_uniformer, 64), (_v2, 32), (_swin, 32)])
def test_explain_every_method_leaves_the_model_alone(make, size):
    torch.manual_seed(0)
    model = make().train()
    x = torch.randn(3, 8, size, size)
    before = _state(model)
    for method in methods_for(model):
        sal = explain(model, x, method=method)
        assert sal.shape == (8, size, size) and sal.dtype == torch.float32
        assert float(sal.min()) >= 0 and float(sal.max()) == pytest.approx(1.0)
        assert float(sal.std()) > 0, method  # a map, not a constant
        after = _state(model)
        assert after[0] == before[0] and after[2] == before[2]
        assert all(g is None for g in after[1])
    assert explain(model, x[None], target=2).shape == (8, size, size)
    with pytest.raises(UsageError, match="--target 7"):
        explain(model, x, target=7)


def test_methods_per_family_and_errors():
    assert methods_for(_uniformer()) == ("gradcam", "rollout")
    assert methods_for(_v2()) == ("rollout", "attention")
    assert methods_for(_swin()) == ("gradcam",)
    with pytest.raises(UsageError, match="--method rollout: not available for video_swin"):
        explain(_swin(), torch.randn(3, 4, 32, 32), method="rollout")
    with pytest.raises(UsageError, match="one clip"):
        explain(_uniformer(), torch.randn(2, 3, 4, 64, 64))


@pytest.mark.parametrize("fusion", ["parallel", "hierarchical_kv", "hierarchical_q"])
def test_uniformerv2_fusions(fusion):
    model = _v2(fusion).eval()
    for method in ("rollout", "attention"):
        sal = explain(model, torch.randn(3, 4, 32, 32), method=method)
        assert sal.shape == (4, 32, 32) and float(sal.max()) == pytest.approx(1.0)


def test_gradcam_stages_and_existing_grads():
    model = _uniformer().eval()
    x = torch.randn(3, 4, 64, 64)
    p = next(model.parameters())
    p.grad = torch.ones_like(p)
    maps = [explain(model, x, stage=s) for s in (1, 2, 3, 4)]
    assert all(m.shape == (4, 64, 64) for m in maps)
    assert torch.equal(p.grad, torch.ones_like(p))  # a gradient the caller had is kept as it was
    assert torch.allclose(maps[3], explain(model, x))  # the last stage is the default
    with pytest.raises(UsageError, match="--stage"):
        explain(model, x, method="rollout", stage=2)
    assert explain(_swin(), torch.randn(3, 4, 32, 32), stage=2).shape == (4, 32, 32)


def test_rollout_is_a_distribution_over_stage3_tokens():
    from tubelet.explain import _uniformer_rollout

    model = _uniformer().eval()
    r, logits, target = _uniformer_rollout(model, torch.randn(1, 3, 4, 64, 64), None)
    assert r.shape == (2, 4, 4)  # stage 3: T/2, H/16, W/16
    assert float(r.sum()) == pytest.approx(1.0, abs=1e-5) and float(r.min()) >= 0


# ---------------------------------------------------------------------------------------------------------------
# geometry, measures, pictures


def test_geometry_round_trip():
    cfg = _uniformer().pretrained_cfg.replace(input_size=(3, 8, 32, 32), resize_size=36)
    assert input_geometry(cfg, 32, 40) == (36, 45, 2, 6, 32)
    box = boxes_to_input(np.array([[10.0, 8.0, 20.0, 16.0]]), cfg, 32, 40)[0]
    np.testing.assert_allclose(box, [10 * 45 / 40 - 6, 8 * 36 / 32 - 2, 20 * 45 / 40 - 6, 16 * 36 / 32 - 2])
    sal = torch.zeros(1, 32, 32)
    sal[0, 10:14, 20:24] = 1
    back = saliency_to_frames(sal, cfg, 32, 40)
    y, x = np.unravel_index(int(back[0].argmax()), back[0].shape)
    assert abs((y + 0.5) * 36 / 32 - 2 - 12) < 2 and abs((x + 0.5) * 45 / 40 - 6 - 22) < 2


def test_measures():
    sal = np.zeros((3, 10, 10))
    sal[0, 2, 3] = 1
    sal[1, 8, 8] = 1
    boxes = np.array([[2, 1, 5, 4], [2, 1, 5, 4], [np.nan] * 4])
    np.testing.assert_array_equal(pointing_game(sal, boxes), [1.0, 0.0, np.nan])
    mass, area = mass_in_box(np.ones((1, 10, 10)), [[2.5, 0, 5, 4]])
    assert mass[0] == pytest.approx(0.1) and area[0] == pytest.approx(0.1)  # uniform: mass = area


def test_overlay_and_files(tmp_path):
    frames = np.full((4, 24, 30, 3), 100, np.uint8)
    sal = np.zeros((4, 12, 15), np.float32)
    sal[:, 6, 7] = 1
    out = overlay(frames, sal)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert not np.array_equal(out[:, 12, 14], out[:, 0, 0])
    files = write_overlay(frames, sal, tmp_path / "x.explain")
    assert tubelet.read_video(files["video"]).shape[0] == 4
    from PIL import Image
    assert Image.open(files["grid"]).size[0] > 200


# ---------------------------------------------------------------------------------------------------------------
# the command


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    model = tubelet.create_model("uniformer_small", depth=[1, 1, 1, 1], embed_dim=[16, 32, 64, 128], head_dim=16,
                                 num_classes=10)
    model.pretrained_cfg = model.pretrained_cfg.replace(input_size=(3, 8, 64, 64), num_frames=8, resize_size=64)
    ckpt = root / "m.safetensors"
    tubelet.save_model(model, ckpt)
    video = root / "clip.mp4"
    synthetic.write_video(video, render_clip(1, 16, 64, 80, np.random.default_rng(0)))
    return root, ckpt, video


def test_cli_explain_writes_overlay(small_run, capsys):
    root, ckpt, video = small_run
    assert cli.main(["explain", str(video), "--checkpoint", str(ckpt), "--target", "3", "-o", str(root / "out")]) == 0
    text = capsys.readouterr().out
    assert "top class" in text and "clip.explain.mp4" in text
    frames = tubelet.read_video(root / "out" / "clip.explain.mp4")
    assert frames.shape[0] == 8 and min(frames.shape[1:3]) >= 224
    assert (root / "out" / "clip.explain.png").is_file()
    grid = (root / "out" / "clip.explain.png").read_bytes()  # a second run does not replace them unless asked
    assert cli.main(["explain", str(video), "--checkpoint", str(ckpt), "-o", str(root / "out")]) == 2
    assert "clip.explain.mp4 (and 1 more): exists (from an earlier run?)" in capsys.readouterr().err
    assert (root / "out" / "clip.explain.png").read_bytes() == grid
    assert cli.main(["explain", str(video), "--checkpoint", str(ckpt), "-o", str(root / "out"), "--overwrite"]) == 0
    capsys.readouterr()
    model = tubelet.create_model(checkpoint_path=ckpt)
    exp = explain_video(model, str(video), method="rollout")
    assert exp.saliency.shape == (8, 64, 80) and exp.frames.shape == (8, 64, 80, 3) and len(exp.indices) == 8
    frames = tubelet.read_video(video)  # a decoded video: sampled and transformed like the file
    sal = explain(model, frames, method="rollout")
    assert sal.shape == (8, 64, 80) and torch.allclose(sal, torch.from_numpy(exp.saliency), atol=1e-5)
    assert overlay(exp.frames, exp.saliency).shape == (8, 64, 80, 3)


def test_cli_explain_user_errors(small_run, tmp_path, capsys):
    root, ckpt, video = small_run
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    assert cli.main(["explain", str(text), "--checkpoint", str(ckpt), "-o", str(tmp_path)]) == 2
    assert "notes.txt" in capsys.readouterr().err
    assert cli.main(["explain", str(tmp_path / "missing.mp4"), "--checkpoint", str(ckpt)]) == 2
    assert "missing.mp4: no such file" in capsys.readouterr().err
    assert cli.main(["explain", str(video), "--checkpoint", str(ckpt), "--method", "attention"]) == 2
    err = capsys.readouterr().err
    assert "--method attention: not available for uniformer" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["explain", str(video), "--checkpoint", str(ckpt), "--target", "jumping"]) == 2
    assert "--target jumping" in capsys.readouterr().err
    with pytest.raises(VideoDecodeError):
        explain_video(tubelet.create_model(checkpoint_path=ckpt), str(text))
    assert issubclass(VideoDecodeError, TubeletError)


# ---------------------------------------------------------------------------------------------------------------
# measured: a cheaply trained demo model looks at the object


#: a tenth of the demo's training (600 clips x 4 epochs instead of 1000 x 12): about 80% top-1, and its stage-1
#: Grad-CAM puts ~45% of the saliency in the object's box (a uniform map: ~11%); ~25 s of training on 2 cores
CHEAP_DEMO = ["data.synthetic.num_train=600", "data.synthetic.num_val=20", "optim.epochs=4",
              "optim.warmup_epochs=0.5", "train.log_every=1000"]
CHEAP_SYNTHETIC = {"num_frames": 16, "height": 32, "width": 40}  # the demo's clips (32x32 model input)
CHEAP_STAGE = 1  # the last stage is 1x1 in space at this input size; stage 1 is 8x8


@pytest.mark.slow
def test_demo_model_localises_the_object(tmp_path, monkeypatch):
    from tubelet.engine.demo import run_demo

    monkeypatch.setenv("TUBELET_CACHE", str(tmp_path / "cache"))
    t0 = time.perf_counter()
    run_demo(tmp_path / "run", overrides=CHEAP_DEMO)
    model = tubelet.create_model(checkpoint_path=tmp_path / "run" / "best.safetensors").eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one clip at a time: a second thread only waits when the cores are busy
    try:
        r = evaluate_synthetic(model, 30, stage=CHEAP_STAGE, **CHEAP_SYNTHETIC)
    finally:
        torch.set_num_threads(threads)
    print(r, f"{time.perf_counter() - t0:.1f} s")
    assert r["frames"] > 200
    assert r["mass"] > 2 * r["uniform"], r  # measured: ~0.47 vs 0.11
    assert r["pointing"] > r["uniform"] + 0.25, r  # measured: ~0.57 vs 0.11
