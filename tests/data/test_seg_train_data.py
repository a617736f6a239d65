"""Segmentation training data (``tubelet.data.segmentation``): each step of mmseg 0.13's ADE20K train pipeline against
its definition on hand-built cases (with scripted random draws, so the order of draws is checked too), the HSV
conversions against values recorded from OpenCV, the loss against an independent formula, the folder dataset's
errors and the synthetic dataset."""
import logging
import math

import numpy as np
import pytest
import torch
from PIL import Image

from tubelet.data import segmentation as S
from tubelet.data.images import rescale_size
from tubelet.errors import AnnotationError, UsageError


class Scripted:
    """A ``numpy.random.Generator`` stand-in: each call must be the next ``(method, value)`` of ``script``; the calls
    and their arguments are recorded in ``calls``."""

    def __init__(self, *script):
        self.script, self.calls = list(script), []

    def _next(self, method, *args):
        assert self.script, f"unexpected extra draw {method}{args}"
        expected, value = self.script.pop(0)
        assert method == expected, f"draw {len(self.calls)}: {method}{args}, expected {expected}"
        self.calls.append((method, *args))
        return value

    def random(self):
        return self._next("random")

    def integers(self, low, high=None):
        return self._next("integers", low, high)

    def uniform(self, low, high):
        return self._next("uniform", low, high)

    def done(self):
        return not self.script


def _image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------------------------------------ labels
def test_reduce_zero_label_maps_0_to_255_and_k_to_k_minus_1():
    label = np.array([[0, 1, 2], [150, 254, 255]], np.uint8)
    assert S.reduce_zero_label(label).tolist() == [[255, 0, 1], [149, 253, 255]]
    assert label.tolist() == [[0, 1, 2], [150, 254, 255]]  # the input is left alone


def test_read_label_map_grey_palette_and_errors(tmp_path):
    grey = np.array([[0, 3], [150, 255]], np.uint8)
    Image.fromarray(grey, mode="L").save(tmp_path / "grey.png")
    pal = Image.fromarray(np.array([[1, 2], [2, 7]], np.uint8), mode="P")
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] * 2)
    pal.save(tmp_path / "pal.png")
    Image.fromarray(np.array([[5, 200]], np.uint16)).save(tmp_path / "16bit.png")
    Image.fromarray(np.array([[5, 300]], np.uint16)).save(tmp_path / "big.png")
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "rgb.png")
    out = S.read_label_map(tmp_path / "grey.png")
    assert out.dtype == np.uint8 and out.tolist() == grey.tolist()
    assert S.read_label_map(tmp_path / "pal.png").tolist() == [[1, 2], [2, 7]]  # indices, not colours
    assert S.read_label_map(tmp_path / "16bit.png").tolist() == [[5, 200]]
    for name, match in (("rgb.png", "RGB image .* not a label map"), ("big.png", "5..300 do not fit 8 bits"),
                        ("missing.png", "no such file")):
        with pytest.raises(AnnotationError, match=f"{name}: .*{match}"):
            S.read_label_map(tmp_path / name)


# -------------------------------------------------------------------------------------------------------- resize
def test_resize_scale_is_drawn_from_the_ratio_range_and_truncated():
    rng = Scripted(("random", 0.3))
    assert S.sample_scale(rng, (2048, 512), (0.5, 2.0)) == (int(2048 * 0.95), int(512 * 0.95)) == (1945, 486)
    assert S.sample_scale(Scripted(), (2048, 512), None) == (2048, 512)  # no ratio range: no draw
    # img_scale None: the ratio applies to the image's own (w, h)
    assert S.sample_scale(Scripted(("random", 0.0)), None, (0.5, 2.0), image_size=(100, 300)) == (150, 50)


@pytest.mark.parametrize("hw,scale,expected", [
    ((100, 300), (400, 100), (100, 300)),   # factor min(400/300, 100/100) = 1
    ((60, 90), (120, 40), (40, 60)),        # min(120/90, 40/60) = 2/3
    ((512, 683), (1945, 486), (486, 648)),  # the short side binds: 683 * 486/512 = 648.3
    ((300, 2000), (1024, 256), (154, 1024)),  # the long side binds: 300 * 1024/2000 + 0.5 = 154.1
])
def test_keep_ratio_size_rule(hw, scale, expected):
    assert rescale_size(*hw, scale) == expected
    image, label = S.rescale(_image(*hw), np.zeros(hw, np.uint8), scale)
    assert image.shape == expected + (3,) and label.shape == expected and label.dtype == np.uint8


def test_label_resize_is_opencv_nearest():
    lab = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert S.resize_nearest(lab, (6, 8)).tolist() == np.repeat(np.repeat(lab, 2, 0), 2, 1).tolist()
    # source index floor(x * W / w): 4 -> 3 columns takes 0, 1, 2; 3 -> 2 rows takes 0, 1 (not the centre 0, 2)
    assert S.resize_nearest(lab, (2, 3)).tolist() == [[0, 1, 2], [4, 5, 6]]
    # recorded from cv2.resize(..., interpolation=INTER_NEAREST), opencv-python 5.1: 7 -> 3 and 5 -> 8
    assert S.resize_nearest(np.arange(7, dtype=np.uint8)[None], (1, 3)).tolist() == [[0, 2, 4]]
    assert S.resize_nearest(np.arange(5, dtype=np.uint8)[None], (1, 8)).tolist() == [[0, 0, 1, 1, 2, 3, 3, 4]]


# ---------------------------------------------------------------------------------------------------------- crop
def _halves():
    label = np.zeros((8, 16), np.uint8)
    label[:, 8:] = 1
    return _image(8, 16), label


def test_crop_rejected_by_cat_max_ratio_is_drawn_again():
    image, label = _halves()
    # first box (0, 0): all class 0 -> rejected; second (0, 4): half and half -> kept
    rng = Scripted(("integers", 0), ("integers", 0), ("integers", 0), ("integers", 4))
    img, lab = S.random_crop(image, label, rng, (8, 8), cat_max_ratio=0.75)
    assert rng.done() and rng.calls == [("integers", 0, 1), ("integers", 0, 9)] * 2
    assert np.array_equal(img, image[:, 4:12]) and lab.tolist() == [[0] * 4 + [1] * 4] * 8


def test_crop_is_kept_when_no_class_dominates():
    image, label = _halves()
    rng = Scripted(("integers", 0), ("integers", 3))  # 5 of class 0, 3 of class 1: 5/8 < 0.75
    img, lab = S.random_crop(image, label, rng, (8, 8), cat_max_ratio=0.75)
    assert rng.done() and np.array_equal(img, image[:, 3:11])


def test_crop_after_ten_rejections_takes_the_eleventh_box_unchecked():
    image, label = _image(8, 16), np.full((8, 16), 3, np.uint8)  # one class everywhere: every check fails
    rng = Scripted(*[("integers", 0), ("integers", 1)] * 10, ("integers", 0), ("integers", 7))
    img, lab = S.random_crop(image, label, rng, (8, 8), cat_max_ratio=0.75)
    assert rng.done() and np.array_equal(img, image[:, 7:15])


def test_crop_ignores_the_ignore_index_and_stops_at_small_images():
    label = np.full((8, 8), 255, np.uint8)
    label[:, :2] = 0  # class 0 and ignored only: a single class -> rejected
    assert not S._crop_ok(label, 0.75, 255)
    label[:, 2:4] = 1
    assert S._crop_ok(label, 0.75, 255)  # 16 / 32 of the counted pixels
    rng = Scripted(("integers", 0), ("integers", 0))
    img, lab = S.random_crop(_image(5, 6), np.zeros((5, 6), np.uint8), rng, (8, 8))  # cat_max_ratio 1: no check
    assert rng.calls == [("integers", 0, 1), ("integers", 0, 1)] and img.shape == (5, 6, 3)


def test_flip_moves_image_and_label_together():
    image, label = _halves()
    img, lab, flipped = S.random_flip(image, label, Scripted(("random", 0.49)), 0.5)
    assert flipped and np.array_equal(img, image[:, ::-1]) and lab[:, :8].min() == 1 and lab[:, 8:].max() == 0
    img, lab, flipped = S.random_flip(image, label, Scripted(("random", 0.5)), 0.5)
    assert not flipped and img is image and lab is label


# --------------------------------------------------------------------------------------------------- photometric
def test_brightness_and_contrast_clip_then_truncate():
    x = np.array([[[0, 10, 17], [18, 200, 250]]], np.uint8)
    assert S.adjust_brightness(x, -17.3).tolist() == [[[0, 0, 0], [0, 182, 232]]]
    assert S.adjust_brightness(x, 5.9).tolist() == [[[5, 15, 22], [23, 205, 255]]]
    # float32(x) * float32(alpha), truncated: 3 * 1.37 = 4.11 -> 4, 100 * 1.37 = 137.0000047 -> 137
    y = np.array([[[3, 100, 200]]], np.uint8)
    assert S.adjust_contrast(y, 1.37).tolist() == [[[4, 137, 255]]]
    assert S.adjust_contrast(y, 0.5).tolist() == [[[1, 50, 100]]]


#: cv2.cvtColor(..., COLOR_RGB2HSV) of these RGB colours (opencv-python 5.1; = BGR2HSV of the BGR colour)
CV2_RGB2HSV = [((255, 0, 0), (0, 255, 255)), ((0, 255, 0), (60, 255, 255)), ((0, 0, 255), (120, 255, 255)),
               ((12, 200, 77), (70, 240, 200)), ((200, 12, 77), (170, 240, 200)), ((77, 12, 200), (130, 240, 200)),
               ((128, 128, 128), (0, 0, 128)), ((0, 0, 0), (0, 0, 0)), ((255, 254, 0), (30, 255, 255)),
               ((1, 2, 3), (105, 170, 3)), ((250, 10, 251), (150, 245, 251))]
#: cv2.cvtColor(..., COLOR_HSV2RGB) of these HSV values inside 256-pixel rows (OpenCV's vectorised path, AVX-512)
CV2_HSV2RGB = [((1, 90, 85), (85, 56, 55)), ((1, 120, 255), (255, 138, 134)), ((0, 1, 1), (1, 0, 0)),
               ((0, 255, 255), (255, 0, 0)), ((30, 255, 255), (255, 255, 0)), ((60, 128, 200), (99, 200, 99)),
               ((90, 200, 100), (21, 99, 100)), ((150, 50, 220), (220, 176, 219)), ((179, 255, 128), (128, 0, 4)),
               ((45, 77, 33), (28, 33, 23))]


def test_hsv_conversions_match_opencv():
    rgb = np.array([[c for c, _ in CV2_RGB2HSV]], np.uint8)
    assert S.rgb_to_hsv(rgb)[0].tolist() == [list(h) for _, h in CV2_RGB2HSV]
    hsv = np.array([[h for h, _ in CV2_HSV2RGB]], np.uint8)
    assert S.hsv_to_rgb(hsv)[0].tolist() == [list(c) for _, c in CV2_HSV2RGB]


def test_hsv_round_trip():
    grey = np.stack([np.arange(256, dtype=np.uint8)] * 3, -1)[None]
    assert np.array_equal(S.hsv_to_rgb(S.rgb_to_hsv(grey)), grey)  # s = 0: exact
    x = _image(16, 64, seed=1)
    back = S.hsv_to_rgb(S.rgb_to_hsv(x)).astype(int)
    assert np.abs(back - x).max() <= 4 and (back <= x).mean() > 0.9  # 8-bit HSV, truncation: a little darker


def test_saturation_and_hue_act_in_hsv():
    x = np.array([[[200, 100, 50], [90, 90, 90]]], np.uint8)
    hsv = S.rgb_to_hsv(x)
    sat = S.rgb_to_hsv(S.adjust_saturation(x, 0.5))
    assert abs(int(sat[0, 0, 1]) - int(hsv[0, 0, 1]) // 2) <= 2  # 191 -> 95, then an 8-bit round trip
    assert sat[0, 0, 2] == hsv[0, 0, 2] and np.array_equal(S.adjust_saturation(x, 0.5)[0, 1], x[0, 1])
    expect = hsv.copy()
    expect[..., 0] = (expect[..., 0].astype(int) - 30) % 180
    assert np.array_equal(S.shift_hue(x, -30), S.hsv_to_rgb(expect))  # wraps modulo 180
    red = np.array([[[255, 0, 0]]], np.uint8)
    assert S.shift_hue(red, 60).tolist() == [[[0, 255, 0]]]  # OpenCV's hue is degrees / 2: +120 degrees
    assert S.shift_hue(red, -60).tolist() == [[[0, 0, 255]]]  # -120 = +240 degrees


def test_photometric_distortion_order_contrast_first():
    x = _image(4, 8, seed=2)
    rng = Scripted(("integers", 1), ("uniform", 10.0), ("integers", 1), ("integers", 1), ("uniform", 1.2),
                   ("integers", 0), ("integers", 0))
    out = S.photometric_distortion(x, rng)
    assert rng.done() and rng.calls == [("integers", 2, None), ("uniform", -32, 32), ("integers", 2, None),
                                        ("integers", 2, None), ("uniform", 0.5, 1.5), ("integers", 2, None),
                                        ("integers", 2, None)]
    assert np.array_equal(out, S.adjust_contrast(S.adjust_brightness(x, 10.0), 1.2))


def test_photometric_distortion_order_contrast_last_and_hue_bounds():
    x = _image(4, 8, seed=3)
    rng = Scripted(("integers", 0), ("integers", 0), ("integers", 1), ("uniform", 0.7), ("integers", 1),
                   ("integers", -18), ("integers", 1), ("uniform", 0.6))
    out = S.photometric_distortion(x, rng)
    # mode 0: saturation, hue, then contrast; the hue shift is integers(-18, 18): -18..17 (numpy's randint)
    assert rng.done() and ("integers", -18, 18) in rng.calls
    assert np.array_equal(out, S.adjust_contrast(S.shift_hue(S.adjust_saturation(x, 0.7), -18), 0.6))


# ---------------------------------------------------------------------------------------------- normalise and pad
def test_normalize_and_pad_values():
    x = np.array([[[123, 116, 103], [255, 0, 10]]], np.uint8)
    out = S.normalize(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, (x - np.array(S.ADE20K_MEAN)) / np.array(S.ADE20K_STD), rtol=0, atol=1e-5)
    img, lab = S.pad(out, np.array([[3, 4]], np.uint8), (3, 4))
    assert img.shape == (3, 4, 3) and np.array_equal(img[:1, :2], out) and not img[1:].any() and not img[:, 2:].any()
    assert lab.tolist() == [[3, 4, 255, 255], [255] * 4, [255] * 4]
    with pytest.raises(ValueError, match="cannot pad"):
        S.pad(out, None, (1, 1))


# --------------------------------------------------------------------------------------------------------- pipelines
def test_train_pipeline_order_of_draws_and_padding():
    image = _image(20, 30)
    label = np.ones((20, 30), np.uint8)  # stored 1 -> class 0
    label[:, 15:] = 3                    # stored 3 -> class 2
    label[0] = 0                         # stored 0 -> ignored
    pipe = S.SegTrainPipeline(crop_size=(32, 32), img_scale=(60, 20), ratio_range=(0.5, 2.0), photometric=False)
    # ratio 0.5 + 0.5 * 1.5 = 1.25 -> scale (75, 25) -> 25 x 38; crop 32x32 -> margins 0 and 6; no flip
    rng = Scripted(("random", 0.5), ("integers", 0), ("integers", 6), ("random", 0.9))
    x, y = pipe(image, label, rng)
    assert rng.done() and rng.calls[1:3] == [("integers", 0, 1), ("integers", 0, 7)]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y.shape == (32, 32) and y.dtype == torch.int64
    assert (x[:, 25:] == 0).all() and (y[25:] == 255).all()  # padded rows: image 0, label 255
    # stored row 0 is ignored; nearest resize 20 -> 25 rows repeats it (rows 0 and 1 take source row 0)
    assert set(y[2:25].unique().tolist()) == {0, 2} and (y[:2] == 255).all()
    img, lab = S.rescale(image, S.reduce_zero_label(label), (75, 25))
    expect = S.normalize(img[:, 6:38])
    assert torch.equal(x[:, :25], torch.from_numpy(expect).permute(2, 0, 1))


def test_train_pipeline_is_deterministic_given_the_generator():
    image, label = _image(40, 50), np.random.default_rng(1).integers(0, 5, (40, 50)).astype(np.uint8)
    pipe = S.SegTrainPipeline(crop_size=(24, 24), img_scale=(100, 30))
    a = pipe(image, label, np.random.default_rng(7))
    b = pipe(image, label, np.random.default_rng(7))
    c = pipe(image, label, np.random.default_rng(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert set(a[1].unique().tolist()) <= {0, 1, 2, 3, 255}


def test_eval_pipeline_resizes_the_image_only():
    image, label = _image(37, 50), np.full((37, 50), 5, np.uint8)
    x, y = S.SegEvalPipeline(img_scale=(200, 64))(image, label)
    assert x.shape == (3, 64, 86) and y.shape == (37, 50) and (y == 4).all()  # int(50 x 64/37 + 0.5) = int(86.99)
    x, _ = S.SegEvalPipeline(img_scale=(200, 64), align=32)(image, label)
    assert x.shape == (3, 64, 96)  # AlignResize: up to multiples of 32
    x, y = S.SegEvalPipeline(img_scale=(50, 37), reduce_zero_label=False)(image, label)
    assert x.shape == (3, 37, 50) and (y == 5).all()
    assert torch.equal(x, torch.from_numpy(S.normalize(image)).permute(2, 0, 1))


# -------------------------------------------------------------------------------------------------------------- loss
def _bilinear(x: np.ndarray, size) -> np.ndarray:
    """(K, h, w) -> (K, H, W), half-pixel centres, sources before the first pixel clamped to it."""
    def taps(n_in, n_out):
        src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0)
        i0 = np.floor(src).astype(int)
        return i0, np.minimum(i0 + 1, n_in - 1), src - i0
    y0, y1, fy = taps(x.shape[1], size[0])
    x0, x1, fx = taps(x.shape[2], size[1])
    rows = x[:, y0] * (1 - fy)[None, :, None] + x[:, y1] * fy[None, :, None]
    return rows[:, :, x0] * (1 - fx) + rows[:, :, x1] * fx


def _ce_mean_over_all(logits: np.ndarray, target: np.ndarray) -> float:
    """sum over valid pixels of -log softmax[target] / number of ALL pixels."""
    total = 0.0
    for b in range(logits.shape[0]):
        up = _bilinear(logits[b], target.shape[1:])
        logp = up - np.log(np.exp(up).sum(0, keepdims=True))
        for i in range(target.shape[1]):
            for j in range(target.shape[2]):
                if target[b, i, j] != 255:
                    total -= logp[target[b, i, j], i, j]
    return total / target.size


def test_loss_is_mmseg_mean_over_all_pixels_with_the_aux_head():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 2, 3, generator=g, dtype=torch.float64)
    aux = torch.randn(2, 3, 1, 2, generator=g, dtype=torch.float64)
    target = torch.randint(0, 3, (2, 8, 12), generator=g)
    target[0, :3] = 255
    target[1, :, -5:] = 255
    loss, parts = S.segmentation_loss(logits, target, aux_logits=aux)
    main = _ce_mean_over_all(logits.numpy(), target.numpy())
    side = _ce_mean_over_all(aux.numpy(), target.numpy())
    assert math.isclose(loss.item(), main + 0.4 * side, rel_tol=1e-12)
    assert math.isclose(parts["decode.loss_seg"].item(), main, rel_tol=1e-12)
    assert math.isclose(parts["aux.loss_seg"].item(), 0.4 * side, rel_tol=1e-12)
    valid = (target != 255).float().mean().item()
    # not the mean over the valid pixels only (PyTorch's default): that would be main / valid
    assert not math.isclose(main, main / valid, rel_tol=1e-3)
    assert set(parts) == {"decode.loss_seg", "decode.acc_seg", "aux.loss_seg", "aux.acc_seg"}
    assert 0 <= parts["decode.acc_seg"].item() <= 100 * valid  # correct pixels over all pixels, in %


def test_loss_without_aux_and_all_ignored():
    logits = torch.zeros(1, 4, 2, 2, requires_grad=True)
    target = torch.full((1, 1, 8, 8), 255)
    loss, parts = S.segmentation_loss(logits, target)
    assert loss.item() == 0.0 and set(parts) == {"decode.loss_seg", "decode.acc_seg"}  # 0, not NaN
    target[..., :4] = 1
    loss, _ = S.segmentation_loss(logits, target)
    assert math.isclose(loss.item(), math.log(4) / 2, rel_tol=1e-6)  # uniform logits on half the pixels
    loss.backward()
    assert logits.grad is not None


# ----------------------------------------------------------------------------------------------------------- dataset
def _write_pair(root, split, stem, size=(6, 8), value=1, image_size=None, ext=".jpg"):
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "annotations" / split).mkdir(parents=True, exist_ok=True)
    h, w = image_size or size
    if ext:
        Image.fromarray(_image(h, w)).save(root / "images" / split / f"{stem}{ext}")
    if value is not None:
        Image.fromarray(np.full(size, value, np.uint8), mode="L").save(root / "annotations" / split / f"{stem}.png")


def _folder(root, **kw):
    kw.setdefault("pipeline", S.SegEvalPipeline(img_scale=(8, 6)))
    kw.setdefault("num_classes", 3)
    return S.SegmentationFolder(root, "training", **kw)


def test_dataset_pairs_and_items(tmp_path):
    for i in range(3):
        _write_pair(tmp_path, "training", f"a{i}", value=i + 1)
    ds = _folder(tmp_path, class_names=["x", "y", "z"])
    assert len(ds) == 3 and [s[1].rsplit("/", 1)[1] for s in ds.samples] == ["a0.png", "a1.png", "a2.png"]
    x, y = ds[2]
    assert x.shape == (3, 6, 8) and (y == 2).all() and ds.class_names == ["x", "y", "z"]


def test_dataset_items_are_seeded_by_seed_epoch_and_index(tmp_path):
    _write_pair(tmp_path, "training", "a", size=(20, 24), value=2)
    ds = _folder(tmp_path, pipeline=S.SegTrainPipeline(crop_size=(16, 16), img_scale=(48, 16)), seed=3)
    a, b, c = ds[0], ds[(0, 0)], ds[(1, 0)]
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    ds.set_epoch(1)
    assert torch.equal(ds[0][0], c[0])


def test_dataset_layout_errors_name_the_files(tmp_path):
    with pytest.raises(AnnotationError, match="images/training: no such folder"):
        _folder(tmp_path)
    (tmp_path / "images" / "training").mkdir(parents=True)
    (tmp_path / "annotations" / "training").mkdir(parents=True)
    with pytest.raises(AnnotationError, match="images/training: no images"):
        _folder(tmp_path)
    for i in range(7):
        _write_pair(tmp_path, "training", f"img{i}", value=None)
    with pytest.raises(AnnotationError, match=r"7 image\(s\) without an annotation .* img0.jpg, img1.jpg, img2.jpg, "
                                              r"img3.jpg, img4.jpg \(and 2 more\)"):
        _folder(tmp_path)


def test_dataset_orphan_annotations(tmp_path):
    _write_pair(tmp_path, "training", "a")
    _write_pair(tmp_path, "training", "b", ext=None)
    with pytest.raises(AnnotationError, match=r"annotations/training: 1 annotation\(s\) without an image .*: b.png"):
        _folder(tmp_path)


@pytest.mark.parametrize("case,match", [
    ("size", r"b.png: 8x5 pixels, but its image .*b.jpg is 8x6"),
    ("range", r"b.png: label values 4, 200 out of range \(3 classes: stored ids 0 \('other', ignored\) and 1..3"),
    ("rgb", r"b.png: a RGB image"),
])
def test_dataset_bad_samples_raise_or_are_skipped(tmp_path, caplog, case, match):
    _write_pair(tmp_path, "training", "a", value=1)
    if case == "size":
        _write_pair(tmp_path, "training", "b", size=(5, 8), image_size=(6, 8))
    elif case == "range":
        _write_pair(tmp_path, "training", "b", value=1)
        Image.fromarray(np.array([[1, 4], [200, 255]], np.uint8)).resize((8, 6), Image.NEAREST).save(
            tmp_path / "annotations" / "training" / "b.png")
    else:
        _write_pair(tmp_path, "training", "b")
        Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(tmp_path / "annotations" / "training" / "b.png")
    with pytest.raises(AnnotationError, match=match):
        _folder(tmp_path)[1]
    ds = _folder(tmp_path, skip_bad=True)
    with caplog.at_level(logging.WARNING, logger="tubelet.data"):
        for _ in range(3):
            x, y = ds[1]  # the next sample is served
            assert (y == 0).all()
    assert ds.num_skipped == 1 and len([r for r in caplog.records if "bad segmentation sample" in r.message]) == 1


def test_dataset_range_without_reduce_zero_label_and_usage_errors(tmp_path):
    _write_pair(tmp_path, "training", "a", value=3)
    pipe = S.SegEvalPipeline(img_scale=(8, 6), reduce_zero_label=False)
    with pytest.raises(AnnotationError, match=r"a.png: label values 3 out of range \(3 classes: stored ids 0..2"):
        _folder(tmp_path, pipeline=pipe, reduce_zero_label=False)[0]
    assert (_folder(tmp_path, pipeline=pipe, reduce_zero_label=False, ignore_index=3)[0][1] == 3).all()
    with pytest.raises(UsageError, match="reduce_zero_label"):
        _folder(tmp_path, pipeline=pipe)
    with pytest.raises(UsageError, match="2 class names for num_classes=3"):
        _folder(tmp_path, class_names=["a", "b"])


# --------------------------------------------------------------------------------------------------------- synthetic
def test_synthetic_dataset_layout_and_determinism(tmp_path):
    names = S.make_synthetic_segmentation(tmp_path / "a", n_train=6, n_val=2, seed=5)
    S.make_synthetic_segmentation(tmp_path / "b", n_train=6, n_val=2, seed=5)
    S.make_synthetic_segmentation(tmp_path / "c", n_train=6, n_val=2, seed=6)
    assert names == ["background", "circle", "square", "triangle"]
    assert (tmp_path / "a" / "class_names.txt").read_text().split() == names
    train_p, eval_p = S.synthetic_pipelines((64, 64))
    ds = S.SegmentationFolder(tmp_path / "a", "training", pipeline=train_p, num_classes=4)
    val = S.SegmentationFolder(tmp_path / "a", "validation", pipeline=eval_p, num_classes=4)
    assert len(ds) == 6 and len(val) == 2 and ds.class_names == names
    stored = [S.read_label_map(a) for _, a in ds.samples]
    assert all(m.shape == (64, 64) for m in stored)
    present = set(np.unique(np.concatenate([m.ravel() for m in stored])).tolist())
    assert present == {0, 1, 2, 3, 4}  # unlabelled edges, background and every shape
    assert all(0 < (m == 0).mean() < 0.1 for m in stored)  # only a thin ignored band
    for split, stem in (("images/training", "000003.jpg"), ("annotations/validation", "000001.png")):
        a, b, c = ((tmp_path / d / split / stem).read_bytes() for d in "abc")
        assert a == b and a != c
    x, y = ds[0]
    assert x.shape == (3, 64, 64) and set(y.unique().tolist()) <= {0, 1, 2, 3, 255}


def test_synthetic_classes_are_not_told_by_colour(tmp_path):
    S.make_synthetic_segmentation(tmp_path, n_train=12, n_val=0, num_classes=3, seed=1)
    ds = S.SegmentationFolder(tmp_path, "training", pipeline=S.SegEvalPipeline(img_scale=(256, 64)), num_classes=3)
    colours = {k: [] for k in (1, 2, 3)}
    for img_path, ann_path in ds.samples:
        image, label = np.asarray(Image.open(img_path)), S.read_label_map(ann_path)
        for k in colours:
            if (label == k).any():
                colours[k].append(image[label == k].mean(0))
    for k, c in colours.items():  # shapes and background each come in many colours
        assert len(c) >= 3 and np.std(np.array(c), axis=0).mean() > 25, k
    with pytest.raises(UsageError, match="num_classes must be 2..6"):
        S.make_synthetic_segmentation(tmp_path, num_classes=7)
