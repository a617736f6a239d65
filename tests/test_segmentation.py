"""Semantic segmentation (tubelet.segmentation, `tubelet segment`, `tubelet segment-eval`): mmseg's metrics on
hand-counted label maps, the official test resize rules, the OpenCV-exact bilinear resize, the ADE20K label list and
palette, and both commands end to end on generated images with a stand-in model whose predictions are known."""
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from tubelet.tasks import segmentation as seg
from tubelet.cli import main
from tubelet.labels import load_labels
from tubelet.models._registry import PretrainedCfg

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class StandIn(nn.Module):
    """The interface of the segmentation models (``pretrained_cfg``, ``num_classes``, ``model(x)`` -> logits at the
    input size) with known predictions: each pixel gets the class of its strongest normalised channel (red -> 0,
    green -> 1, blue -> 2); classes 3..149 never win. ``test_resize`` shrinks the test scale to keep the tests fast."""

    def __init__(self, num_classes=150, scale=(128, 96), size_divisor=32):
        super().__init__()
        self.num_classes = num_classes
        self.dummy = nn.Parameter(torch.zeros(()))
        self.pretrained_cfg = PretrainedCfg(architecture="standin_fpn", num_classes=num_classes,
                                            input_size=(3, 512, 512), mean=IMAGENET_MEAN, std=IMAGENET_STD,
                                            label_names="ade20k")
        self.test_resize = {"scale": scale, "size_divisor": size_divisor}
        self.inputs = []

    def forward(self, x):
        self.inputs.append(tuple(x.shape))
        b, _, h, w = x.shape
        out = torch.full((b, self.num_classes, h, w), -100.0) + self.dummy
        out[:, :3] = 10 * x
        return out


def _save(path, array):
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path, quality=95)
    return str(path)


def _solid(h, w, rgb):
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (h, w, 3)).copy()


# ------------------------------------------------------------------------------------------------ labels and palette
def test_ade20k_names_and_palette():
    names = load_labels("ade20k")
    assert len(names) == 150 and names[:3] == ("wall", "building", "sky") and names[-1] == "flag"
    assert names[7] == "bed" and names[44] == "chest of drawers"  # mmseg writes 'bed ' (trailing space): stripped
    palette = seg.ade20k_palette()
    assert len(palette) == 150 and all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in palette)
    assert palette[0] == (120, 120, 120) and palette[2] == (6, 230, 230) and palette[149] == (92, 0, 255)
    assert palette[6] == palette[48] == (140, 140, 140)  # road and skyscraper share a colour in mmseg too


# ---------------------------------------------------------------------------------------------------------- metrics
GT = np.array([[0, 0, 1, 1],
               [0, 0, 1, 1],
               [2, 2, 255, 255],
               [2, 2, 2, 2]])
PRED = np.array([[0, 1, 1, 1],
                 [0, 0, 1, 0],
                 [2, 1, 0, 2],
                 [2, 2, 2, 2]])


def test_metrics_hand_counted():
    # 14 valid pixels (the two 255s are ignored, whatever is predicted there). Hand count:
    # class 0: gt 4, pred 4 ((0,0),(1,0),(1,1),(1,3)), intersection 3 -> union 5, IoU 3/5, Acc 3/4
    # class 1: gt 4, pred 5 ((0,1),(0,2),(0,3),(1,2),(2,1)), intersection 3 -> union 6, IoU 1/2, Acc 3/4
    # class 2: gt 6, pred 5, intersection 5 -> union 6, IoU 5/6, Acc 5/6
    # class 3: in neither -> IoU and Acc undefined (NaN in mmseg), left out of the means
    m = seg.segmentation_metrics([(PRED, GT)], num_classes=4)
    iou = [r["IoU"] for r in m["per_class"]]
    acc = [r["Acc"] for r in m["per_class"]]
    assert iou[:3] == pytest.approx([3 / 5, 1 / 2, 5 / 6]) and iou[3] is None
    assert acc[:3] == pytest.approx([3 / 4, 3 / 4, 5 / 6]) and acc[3] is None
    assert m["aAcc"] == pytest.approx(11 / 14)
    assert m["mIoU"] == pytest.approx((3 / 5 + 1 / 2 + 5 / 6) / 3)
    assert m["mAcc"] == pytest.approx((3 / 4 + 3 / 4 + 5 / 6) / 3)
    assert [r["gt_pixels"] for r in m["per_class"]] == [4, 4, 6, 0]
    assert [r["pred_pixels"] for r in m["per_class"]] == [4, 5, 5, 0]

    # a second image, all class 0 in the ground truth, all class 3 predicted: areas add up over the set (not a mean
    # of per-image scores); class 3 is now predicted but absent from the ground truth: IoU 0 (counted), Acc undefined
    m2 = seg.segmentation_metrics([(PRED, GT), (np.full((2, 2), 3), np.zeros((2, 2), int))], num_classes=4)
    r = m2["per_class"]
    assert r[0]["IoU"] == pytest.approx(3 / 9) and r[0]["Acc"] == pytest.approx(3 / 8)  # union 4 + 8 - 3
    assert r[3]["IoU"] == 0 and r[3]["Acc"] is None
    assert m2["mIoU"] == pytest.approx((3 / 9 + 1 / 2 + 5 / 6 + 0) / 4)
    assert m2["mAcc"] == pytest.approx((3 / 8 + 3 / 4 + 5 / 6) / 3)
    assert m2["aAcc"] == pytest.approx(11 / 18) and m2["num_images"] == 2


def test_reduce_zero_label_and_ignore_index():
    # ADE20K annotation convention: 0 = "other" (ignored), k -> class k - 1, 255 stays ignored
    raw = np.array([[0, 1, 2, 255],
                    [1, 1, 3, 0]])
    pred = np.array([[2, 0, 1, 1],
                     [0, 1, 2, 0]])
    inter, union, area_pred, area_label = seg.intersect_and_union(pred, raw, 3, reduce_zero_label=True)
    # valid pixels: (0,1)=0 (0,2)=1 (1,0)=0 (1,1)=0 (1,2)=2; predictions there: 0 1 0 1 2
    assert area_label.tolist() == [3, 1, 1] and area_pred.tolist() == [2, 2, 1]
    assert inter.tolist() == [2, 1, 1] and union.tolist() == [3, 2, 1]
    # without the reduction: 7 pixels kept (only the 255 is ignored), labels 0 1 2 / 1 1 3 0, predictions there
    # 2 0 1 / 0 1 2 0; the label 3 is in no class of 3, but its prediction (2) still counts as predicted, as in mmseg
    inter, union, area_pred, area_label = seg.intersect_and_union(pred, raw, 3, reduce_zero_label=False)
    assert area_label.tolist() == [2, 3, 1] and area_pred.tolist() == [3, 2, 2]
    assert inter.tolist() == [1, 1, 0] and union.tolist() == [4, 4, 3]
    m = seg.evaluate_segmentation([(pred, raw)], num_classes=3)  # reduce_zero_label defaults to True (ADE20K)
    assert m["mIoU"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3) and m["reduce_zero_label"] is True


def test_metrics_from_label_files(tmp_path):
    pred = _save(tmp_path / "pred.png", PRED)
    gt = _save(tmp_path / "gt.png", GT)
    m = seg.evaluate_segmentation([(pred, gt)], num_classes=4, reduce_zero_label=False)
    assert m["mIoU"] == pytest.approx((3 / 5 + 1 / 2 + 5 / 6) / 3)
    _save(tmp_path / "rgb.png", _solid(4, 4, (1, 2, 3)))
    with pytest.raises(seg.AnnotationError, match="rgb.png: a RGB image, not a label map"):
        seg.intersect_and_union(PRED, str(tmp_path / "rgb.png"), 4)


# ----------------------------------------------------------------------------------------------------------- resize
@pytest.mark.parametrize("width,height,fpn,upernet", [
    (683, 512, (512, 704), (512, 683)),   # factor min(2048/683, 512/512) = 1; FPN: 683 -> 22 x 32 = 704
    (500, 375, (512, 704), (512, 683)),   # factor 512/375: 500 x 1.3653 + 0.5 = 683.2 -> 683; 375 -> 512
    (300, 900, (1536, 512), (1536, 512)),  # tall: factor 512/300; 900 x 1.7067 + 0.5 = 1536.5 -> 1536 (x 32 already)
    (2000, 400, (416, 2048), (410, 2048)),  # wide: the long side binds, factor 1.024; 400 -> 410 (FPN 416)
    (4032, 3024, (512, 704), (512, 683)),  # a phone photo: factor 512/3024
])
def test_network_sizes(width, height, fpn, upernet):
    assert seg.network_size(height, width, size_divisor=32) == fpn
    assert seg.network_size(height, width) == upernet
    assert seg.rescale_size(height, width) == upernet


def test_resize_rule_from_model():
    class Named(nn.Module):
        def __init__(self, arch):
            super().__init__()
            self.pretrained_cfg = PretrainedCfg(architecture=arch, num_classes=150, input_size=(3, 512, 512),
                                                mean=IMAGENET_MEAN, std=IMAGENET_STD)
    assert seg.test_resize_rule(Named("uniformer_small_fpn")) == {"scale": (2048, 512), "size_divisor": 32}
    assert seg.test_resize_rule(Named("uniformer_xxs_fpn")) == {"scale": (2048, 512), "size_divisor": 32}
    assert seg.test_resize_rule(Named("uniformer_base_upernet")) == {"scale": (2048, 512), "size_divisor": None}
    assert seg.test_resize_rule(StandIn()) == {"scale": (128, 96), "size_divisor": 32}  # the model's own rule wins


#: a 3x4 image (one channel of a seeded random RGB image) and what cv2.resize(INTER_LINEAR) of opencv-python-headless
#: 5.0.0 returned for it (recorded once; OpenCV is not a dependency)
SMALL = [[248, 207, 237, 211], [5, 60, 109, 82], [36, 222, 8, 15]]
CV2_5x7 = [[248, 233, 210, 222, 235, 220, 211], [151, 150, 148, 167, 184, 169, 159], [5, 25, 56, 85, 107, 92, 82],
           [23, 71, 148, 103, 48, 44, 42], [36, 102, 209, 115, 8, 12, 15]]
CV2_2x3 = [[184, 188, 183], [54, 107, 32]]
GRID = [[144, 208, 24, 24, 7, 41, 11, 85, 59], [104, 225, 110, 226, 201, 8, 159, 26, 27],
        [163, 122, 33, 41, 201, 67, 70, 166, 228], [40, 50, 179, 0, 177, 137, 63, 13, 188],
        [255, 64, 94, 8, 8, 156, 25, 29, 157], [146, 190, 115, 219, 135, 39, 100, 237, 127]]
CV2_4x13 = [[134, 176, 174, 58, 63, 69, 56, 40, 39, 50, 65, 61, 51],
            [148, 148, 126, 59, 74, 122, 201, 98, 68, 95, 122, 152, 178],
            [94, 72, 77, 150, 62, 43, 135, 139, 108, 51, 25, 92, 180],
            [173, 165, 147, 113, 144, 147, 103, 79, 73, 89, 161, 162, 135]]


def test_resize_matches_opencv():
    small = torch.tensor(SMALL, dtype=torch.uint8)
    assert seg.resize_uint8(small, (5, 7)).tolist() == CV2_5x7  # upscale
    assert seg.resize_uint8(small, (2, 3)).tolist() == CV2_2x3  # downscale
    assert seg.resize_uint8(torch.tensor(GRID, dtype=torch.uint8), (4, 13)).tolist() == CV2_4x13  # mixed
    # channels are independent; the same size is a copy; exact halving is the rounded 2x2 mean, as in OpenCV
    rgb = torch.stack([small, 255 - small, small // 2], -1)
    out = seg.resize_uint8(rgb, (5, 7))
    assert out[..., 0].tolist() == CV2_5x7 and out.shape == (5, 7, 3)
    assert torch.equal(seg.resize_uint8(rgb, (3, 4)), rgb)
    img = torch.randint(0, 256, (6, 8, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    quad = img.view(3, 2, 4, 2, 3).to(torch.int32).sum((1, 3))
    assert torch.equal(seg.resize_uint8(img, (3, 4)), ((quad + 2) >> 2).to(torch.uint8))


def test_preprocess_fpn_resizes_twice():
    # AlignResize: imrescale to (2048, 512) first, then a second resize of THAT image to multiples of 32
    img = torch.randint(0, 256, (375, 500, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    x = seg.preprocess(img, IMAGENET_MEAN, IMAGENET_STD, size_divisor=32)
    assert x.shape == (1, 3, 512, 704) and x.dtype == torch.float32
    twice = seg.resize_uint8(seg.resize_uint8(img, (512, 683)), (512, 704)).to(torch.float32)
    mean = torch.tensor(IMAGENET_MEAN) * 255
    std = torch.tensor(IMAGENET_STD) * 255
    torch.testing.assert_close(x[0].permute(1, 2, 0), (twice - mean) / std, rtol=1e-6, atol=1e-5)
    assert seg.preprocess(img, IMAGENET_MEAN, IMAGENET_STD).shape == (1, 3, 512, 683)  # UperNet


# ---------------------------------------------------------------------------------------------------------- segment
def test_segment_stand_in(tmp_path):
    model = StandIn().eval()
    img = np.zeros((30, 50, 3), np.uint8)
    img[:, :20] = (250, 10, 10)
    img[:, 20:] = (10, 10, 250)
    result = seg.segment(model, img, probabilities=True)
    # test scale (128, 96): factor min(128/50, 96/30) = 2.56 -> 77x128, aligned up to 96x128
    assert model.inputs[-1] == (1, 3, 96, 128) and result.input_size == (96, 128)
    assert result.labels.shape == (30, 50)  # original size
    assert set(result.labels.unique().tolist()) == {0, 2}
    assert (result.labels[:, :18] == 0).all() and (result.labels[:, 22:] == 2).all()
    assert result.probabilities.shape == (150, 30, 50)
    torch.testing.assert_close(result.probabilities.sum(0), torch.ones(30, 50))
    hist = result.histogram()
    assert sum(h["pixels"] for h in hist) == 30 * 50 and hist[0]["label"] == "sky"  # class 2 = blue, the largest
    assert sum(h["fraction"] for h in hist) == pytest.approx(1)
    mask = result.mask()
    assert (mask[:, :18] == (120, 120, 120)).all() and (mask[:, 22:] == (6, 230, 230)).all()
    overlay = result.overlay()
    assert (overlay == ((img.astype(float) + mask) * 0.5).astype(np.uint8)).all()
    files = result.save(tmp_path, "pic")
    assert np.array_equal(np.array(Image.open(files["labels"])), result.labels.numpy())
    assert np.array_equal(np.array(Image.open(files["mask"])), mask)
    # without probabilities the class-grouped argmax gives the same labels
    assert torch.equal(seg.segment(model, img).labels, result.labels)
    # an override of the rule: no size divisor
    seg.segment(model, img, size_divisor=None)
    assert model.inputs[-1] == (1, 3, 77, 128)


def test_segment_rejects_a_classifier():
    class Classifier(StandIn):
        def forward(self, x):
            return x.mean((2, 3))
    with pytest.raises(seg.UsageError, match="not a segmentation model"):
        seg.segment(Classifier(), _solid(8, 8, (1, 2, 3)))


def test_segment_slide_mode():
    class Sliding(StandIn):
        def slide_inference(self, x):
            self.slid = True
            return self(x)
    model = Sliding()
    img = _solid(10, 12, (0, 0, 255))
    assert (seg.segment(model, img, mode="slide").labels == 2).all() and model.slid
    with pytest.raises(seg.UsageError, match="no sliding-window inference"):
        seg.segment(StandIn(), img, mode="slide")
    with pytest.raises(seg.UsageError, match="expected 'whole' or 'slide'"):
        seg.segment(StandIn(), img, mode="tiles")


# ------------------------------------------------------------------------------------------------------ the commands
@pytest.fixture
def stand_in(monkeypatch):
    model = StandIn().eval()
    import tubelet.cli.segment as command

    monkeypatch.setattr(command, "_build_model", lambda args: model)
    return model


def test_cli_segment(tmp_path, stand_in, capsys):
    left_right = np.zeros((40, 60, 3), np.uint8)
    left_right[:, :30] = (0, 240, 0)
    left_right[:, 30:] = (240, 0, 0)
    a = _save(tmp_path / "a.png", left_right)
    b = _save(tmp_path / "b.jpg", _solid(24, 32, (230, 20, 20)))
    out = tmp_path / "out"
    assert main(["segment", a, b, "--model", "standin_fpn", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "a.png, 60x40 -> input 128x96" in text and "grass" not in text and "  wall  (" in text
    for stem, (h, w) in (("a", (40, 60)), ("b", (24, 32))):
        labels = np.array(Image.open(out / f"{stem}_labels.png"))
        mask = np.array(Image.open(out / f"{stem}_mask.png"))
        overlay = np.array(Image.open(out / f"{stem}_overlay.png"))
        assert labels.shape == (h, w) and labels.dtype == np.uint8 and mask.shape == overlay.shape == (h, w, 3)
        palette = seg.ade20k_palette()
        assert {tuple(c) for c in mask.reshape(-1, 3)} == {palette[i] for i in np.unique(labels)}
    assert set(np.unique(np.array(Image.open(out / "a_labels.png")))) == {0, 1}  # wall (red), building (green)
    assert (np.array(Image.open(out / "b_labels.png")) == 0).all()

    # the outputs of the first run are not replaced unless asked, and the refusal comes before any work
    before = (out / "a_mask.png").read_bytes()
    assert main(["segment", a, "--out", str(out), "--json"]) == 2
    assert f"{out / 'a_mask.png'} (and 2 more): exists (from an earlier run?); pass --overwrite" in \
        capsys.readouterr().err
    assert (out / "a_mask.png").read_bytes() == before
    assert main(["segment", a, "--out", str(out), "--json", "--overwrite"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["image"] == a and record["size"] == [40, 60] and record["input_size"] == [96, 128]
    assert sum(c["pixels"] for c in record["classes"]) == 40 * 60
    assert {c["label"] for c in record["classes"]} == {"wall", "building"}
    assert record["files"]["mask"].endswith("a_mask.png")


def test_cli_segment_bad_files(tmp_path, stand_in, capsys):
    good = _save(tmp_path / "good.png", _solid(16, 16, (0, 0, 200)))
    text = tmp_path / "notes.jpg"
    text.write_text("not an image\n")
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(64))
    missing = str(tmp_path / "missing.png")
    out = tmp_path / "out"
    assert main(["segment", missing, str(text), good, str(video), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: no such file" in err
    assert f"{text}: a text file, not an image" in err
    assert f"{video}: a video, not an image" in err
    assert "4 images, 3 failed" in err
    assert (out / "good_mask.png").is_file()  # the good image was still done
    assert main(["segment", str(text), "--out", str(out), "--skip-bad"]) == 0
    capsys.readouterr()
    # a folder is searched for images (recursively); outputs keep the path below the images' common folder
    (tmp_path / "folder" / "sub").mkdir(parents=True)
    _save(tmp_path / "folder" / "sub" / "x.png", _solid(8, 8, (200, 0, 0)))
    _save(tmp_path / "folder" / "y.png", _solid(8, 8, (0, 200, 0)))
    assert main(["segment", str(tmp_path / "folder"), "--out", str(out), "--json"]) == 0
    assert [json.loads(line)["image"] for line in capsys.readouterr().out.splitlines()] == [
        str(tmp_path / "folder" / "sub" / "x.png"), str(tmp_path / "folder" / "y.png")]
    assert (out / "sub" / "x_mask.png").is_file() and (out / "y_labels.png").is_file()


def _ade_layout(root):
    """Two images (solid red 24x32 -> class 0 everywhere; solid green 16x16 -> class 1) with ADE20K annotations."""
    images, annotations = root / "images" / "validation", root / "annotations" / "validation"
    images.mkdir(parents=True)
    annotations.mkdir(parents=True)
    _save(images / "ADE_val_1.jpg", _solid(24, 32, (240, 10, 10)))
    _save(images / "ADE_val_2.jpg", _solid(16, 16, (10, 240, 10)))
    gt1 = np.zeros((24, 32), np.uint8)
    gt1[:12] = 1          # class 0, 384 px
    gt1[12:, :16] = 2     # class 1, 192 px; the rest stays 0 = "other", ignored
    gt2 = np.full((16, 16), 2, np.uint8)
    gt2[0] = 4            # class 3, 16 px
    _save(annotations / "ADE_val_1.png", gt1)
    _save(annotations / "ADE_val_2.png", gt2)
    return images, annotations


#: hand count of _ade_layout with the stand-in's predictions (image 1: all class 0, image 2: all class 1):
#: class 0: intersection 384, predicted 576 (valid pixels of image 1), ground truth 384 -> IoU 384/576, Acc 1
#: class 1: intersection 240, predicted 256, ground truth 192 + 240 = 432 -> union 448, IoU 240/448, Acc 240/432
#: class 2: nowhere -> undefined; class 3: ground truth 16, never predicted -> IoU 0, Acc 0; classes 4..149 undefined
HAND = {"mIoU": (384 / 576 + 240 / 448 + 0) / 3, "mAcc": (1 + 240 / 432 + 0) / 3, "aAcc": 624 / 832}


def test_cli_segment_eval(tmp_path, stand_in, capsys):
    images, annotations = _ade_layout(tmp_path / "ade")
    out = tmp_path / "eval"
    assert main(["segment-eval", "--images", str(images), "--annotations", str(annotations), "--model", "standin_fpn",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"aAcc 75.00  mIoU {HAND['mIoU'] * 100:.2f}  mAcc {HAND['mAcc'] * 100:.2f}  (2 images, 150 classes)" in text
    assert "wall" in text and "nan" in text
    m = json.loads((out / "metrics.json").read_text())
    for key, value in HAND.items():
        assert m[key] == pytest.approx(value)
    assert m["per_class"][1]["IoU"] == pytest.approx(240 / 448) and m["per_class"][2]["IoU"] is None
    assert m["per_class"][3] == {"index": 3, "name": "floor", "IoU": 0.0, "Acc": 0.0, "gt_pixels": 16,
                                 "pred_pixels": 0}
    assert (out / "report.txt").is_file()

    assert main(["segment-eval", "--images", str(images), "--annotations", str(annotations), "--json",
                 "--no-reduce-zero-label", "--out", str(out)]) == 2
    assert f"{out / 'metrics.json'} (and 1 more): exists" in capsys.readouterr().err
    assert main(["segment-eval", "--images", str(images), "--annotations", str(annotations), "--json",
                 "--no-reduce-zero-label", "--out", str(out), "--overwrite"]) == 0
    m = json.loads(capsys.readouterr().out)
    # labels taken as they are: 0 (other) is class 0 now, 1 -> class 1, 2 -> class 2, 4 -> class 4
    assert m["reduce_zero_label"] is False and m["per_class"][0]["gt_pixels"] == 192

    # the Python API on the folders gives the same numbers
    api = seg.evaluate_segmentation(stand_in, images, annotations)
    assert api["mIoU"] == pytest.approx(HAND["mIoU"]) and api["num_images"] == 2


def test_cli_segment_eval_layout_errors(tmp_path, stand_in, capsys):
    images, annotations = _ade_layout(tmp_path / "ade")
    args = ["segment-eval", "--images", str(images), "--annotations", str(annotations), "--out", str(tmp_path)]
    (annotations / "ADE_val_2.png").rename(annotations / "other.png")
    assert main(args) == 2
    assert f"{images / 'ADE_val_2.jpg'}: no annotation {annotations / 'ADE_val_2.png'}" in capsys.readouterr().err
    _save(annotations / "ADE_val_2.png", np.zeros((16, 17), np.uint8))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{annotations / 'ADE_val_2.png'}: 17x16 pixels, but its image {images / 'ADE_val_2.jpg'} is 16x16" in err
    assert main(["segment-eval", "--images", str(tmp_path / "nope"), "--annotations", str(annotations)]) == 2
    assert "no such folder" in capsys.readouterr().err
    _save(annotations / "ADE_val_2.png", np.zeros((16, 16), np.uint8))
    (images / "ADE_val_3.jpg").write_text("not a picture\n")  # a text file with an image's name: named, no traceback
    _save(annotations / "ADE_val_3.png", np.zeros((16, 16), np.uint8))
    assert main(args) == 2
    assert f"{images / 'ADE_val_3.jpg'}: a text file, not an image" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- the real models
@pytest.mark.parametrize("name,divisor", [("uniformer_small_fpn", 32), ("uniformer_base_fpn", 32),
                                          ("uniformer_xxs_fpn", 32), ("uniformer_xs_fpn", 32),
                                          ("uniformer_small_upernet", None), ("uniformer_base_upernet", None)])
def test_real_models_resize_rule(name, divisor):
    from tubelet.models._registry import get_entrypoint
    with torch.device("meta"):
        model = get_entrypoint(name)()
    assert seg.test_resize_rule(model) == {"scale": (2048, 512), "size_divisor": divisor}
    assert model.pretrained_cfg.label_names == "ade20k" and model.num_classes == 150


def test_real_model_end_to_end(tmp_path, capsys):
    import tubelet
    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_xxs_fpn").eval()
    img = torch.randint(0, 256, (128, 160, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    result = seg.segment(model, img, scale=(320, 128))  # a small test scale: 128x160 stays 128x160
    assert result.input_size == (128, 160) and result.labels.shape == (128, 160)
    assert 0 <= int(result.labels.min()) and int(result.labels.max()) < 150
    assert len(result.class_names) == 150 and result.class_names[0] == "wall"
    with torch.inference_mode():  # same labels as the model's own predict() at the original size
        x = seg.preprocess(img, model.pretrained_cfg.mean, model.pretrained_cfg.std, scale=(320, 128),
                           size_divisor=32)
        assert torch.equal(model.predict(x, size=(128, 160))[0], result.labels)

    # the command, with the official rule: 128x160 -> 512x640 (factor 4), random weights
    path = _save(tmp_path / "street.jpg", img.numpy())
    out = tmp_path / "out"
    assert main(["segment", path, "--model", "uniformer_xxs_fpn", "--out", str(out), "--json"]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["input_size"] == [512, 640] and record["size"] == [128, 160]
    assert sum(c["pixels"] for c in record["classes"]) == 128 * 160
    assert all((out / f"street_{kind}.png").is_file() for kind in ("mask", "labels", "overlay"))
