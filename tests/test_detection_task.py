"""COCO detection (tubelet.tasks.detection, `tubelet detect`, `tubelet detect-eval`): mmdet's test pipeline on a
hand-worked image, the COCO label list and category ids, the COCO result format and its RLE masks, drawing, box and
mask AP with pycocotools on a tiny annotation file whose right scores are worked out below, the errors that name the
file, and both commands end to end, with the real uniformer_xxs_maskrcnn (random weights) and with stand-ins whose
detections are known."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_util  # a dev dependency: these tests never skip
from torch import nn

from tubelet.cli import main
from tubelet.errors import AnnotationError, DependencyError, ImageReadError, UsageError
from tubelet.labels import load_labels
from tubelet.models import PretrainedCfg
from tubelet.tasks import detection as det
from tubelet.tasks.segmentation import palette_for, resize_uint8


#: a quick test scale for the real model: a 128 x 160 image stays 128 x 160 (the official one makes it 800 x 1000)
SMALL = (160, 128)


# -- the fixture: two images, three instances ------------------------------------------------------------------------
#: image 1 (160 x 128) holds two persons, image 2 (128 x 96) a car; every instance is "medium" (32^2 < area < 96^2)
SIZES = {1: (128, 160), 2: (96, 128)}  # (height, width)
GT = [(1, 1, [10, 10, 40, 40]), (1, 1, [100, 60, 40, 50]), (2, 3, [20, 30, 60, 40])]  # image, category, box
CATEGORIES = [{"id": 1, "name": "person", "supercategory": "person"},
              {"id": 3, "name": "car", "supercategory": "vehicle"},
              {"id": 18, "name": "dog", "supercategory": "animal"}]


def _rect(image_id, box):
    """The compressed RLE of a box's pixels (integer box: exactly w x h pixels) in an image of the fixture."""
    h, w = SIZES[image_id]
    m = np.zeros((h, w), dtype=np.uint8)
    x, y, bw, bh = box
    m[y:y + bh, x:x + bw] = 1
    return det.mask_to_rle(m)


def _write_image(path, image_id):
    h, w = SIZES[image_id]
    rng = np.random.default_rng(image_id)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path, quality=95)


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    """A COCO instances file of 2 real images (a PNG and a JPEG) and 3 instances, masks as RLE rectangles."""
    root = tmp_path_factory.mktemp("coco")
    (root / "images").mkdir()
    images = []
    for image_id, suffix in ((1, "png"), (2, "jpg")):
        name = f"{image_id:012d}.{suffix}"
        _write_image(root / "images" / name, image_id)
        h, w = SIZES[image_id]
        images.append({"id": image_id, "file_name": name, "width": w, "height": h})
    anns = [{"id": i, "image_id": image_id, "category_id": cat, "bbox": box, "area": box[2] * box[3], "iscrowd": 0,
             "segmentation": _rect(image_id, box)} for i, (image_id, cat, box) in enumerate(GT, 1)]
    (root / "instances.json").write_text(json.dumps({"images": images, "annotations": anns,
                                                     "categories": CATEGORIES}))
    return root


def _res(image_id, cat, box, score, mask_box=None):
    return {"image_id": image_id, "category_id": cat, "bbox": [float(v) for v in box], "score": score,
            "segmentation": _rect(image_id, mask_box or box)}


#: D1 finds person 1 exactly; D2's box is person 2's shifted 8 px (IoU 32 x 50 / (2 x 2000 - 1600) = 2/3, a match at
#: the IoU thresholds 0.50 ... 0.65, 4 of 10), its mask is exactly person 2's; D3 is a false positive ranked last;
#: D4 finds the car exactly
RESULTS = [_res(1, 1, [10, 10, 40, 40], 0.9), _res(1, 1, [108, 60, 40, 50], 0.8, mask_box=[100, 60, 40, 50]),
           _res(1, 1, [100, 0, 40, 30], 0.7), _res(2, 3, [20, 30, 60, 40], 0.95)]
# Boxes, persons: at IoU <= 0.65 both persons are found by the two first results (precision 1 up to recall 1: AP 1);
# above, D1 alone (precision 1 up to recall 1/2, i.e. at 51 of COCO's 101 recall points, then 0: AP 51/101). The car
# scores 1 everywhere, and the metrics are means over the 2 categories with ground truth. Masks: D2 matches too, so
# every threshold is AP 1. AR_1 counts each image's best result only (D1: recall 1/2 of the persons).
PERSON_AP = (4 * 1 + 6 * 51 / 101) / 10
BOX_METRICS = {"AP": (PERSON_AP + 1) / 2, "AP50": 1.0, "AP75": (51 / 101 + 1) / 2, "AP_s": -1.0,
               "AP_m": (PERSON_AP + 1) / 2, "AP_l": -1.0, "AR_1": (0.5 + 1) / 2, "AR_10": (0.7 + 1) / 2,
               "AR_100": (0.7 + 1) / 2, "AR_s": -1.0, "AR_m": (0.7 + 1) / 2, "AR_l": -1.0}
MASK_METRICS = {"AP": 1.0, "AP50": 1.0, "AP75": 1.0, "AP_s": -1.0, "AP_m": 1.0, "AP_l": -1.0, "AR_1": 0.75,
                "AR_10": 1.0, "AR_100": 1.0, "AR_s": -1.0, "AR_m": 1.0, "AR_l": -1.0}


def _expected(box=BOX_METRICS, mask=MASK_METRICS):
    return {**{f"bbox_{k}": v for k, v in box.items()}, **{f"segm_{k}": v for k, v in mask.items()}}


# -- labels ------------------------------------------------------------------------------------------------------

#: the categories of instances_val2017.json in their order: (id, name, supercategory)
VAL2017_CATEGORIES = [
    (1, "person", "person"), (2, "bicycle", "vehicle"), (3, "car", "vehicle"), (4, "motorcycle", "vehicle"),
    (5, "airplane", "vehicle"), (6, "bus", "vehicle"), (7, "train", "vehicle"), (8, "truck", "vehicle"),
    (9, "boat", "vehicle"), (10, "traffic light", "outdoor"), (11, "fire hydrant", "outdoor"),
    (13, "stop sign", "outdoor"), (14, "parking meter", "outdoor"), (15, "bench", "outdoor"), (16, "bird", "animal"),
    (17, "cat", "animal"), (18, "dog", "animal"), (19, "horse", "animal"), (20, "sheep", "animal"),
    (21, "cow", "animal"), (22, "elephant", "animal"), (23, "bear", "animal"), (24, "zebra", "animal"),
    (25, "giraffe", "animal"), (27, "backpack", "accessory"), (28, "umbrella", "accessory"),
    (31, "handbag", "accessory"), (32, "tie", "accessory"), (33, "suitcase", "accessory"), (34, "frisbee", "sports"),
    (35, "skis", "sports"), (36, "snowboard", "sports"), (37, "sports ball", "sports"), (38, "kite", "sports"),
    (39, "baseball bat", "sports"), (40, "baseball glove", "sports"), (41, "skateboard", "sports"),
    (42, "surfboard", "sports"), (43, "tennis racket", "sports"), (44, "bottle", "kitchen"),
    (46, "wine glass", "kitchen"), (47, "cup", "kitchen"), (48, "fork", "kitchen"), (49, "knife", "kitchen"),
    (50, "spoon", "kitchen"), (51, "bowl", "kitchen"), (52, "banana", "food"), (53, "apple", "food"),
    (54, "sandwich", "food"), (55, "orange", "food"), (56, "broccoli", "food"), (57, "carrot", "food"),
    (58, "hot dog", "food"), (59, "pizza", "food"), (60, "donut", "food"), (61, "cake", "food"),
    (62, "chair", "furniture"), (63, "couch", "furniture"), (64, "potted plant", "furniture"), (65, "bed", "furniture"),
    (67, "dining table", "furniture"), (70, "toilet", "furniture"), (72, "tv", "electronic"),
    (73, "laptop", "electronic"), (74, "mouse", "electronic"), (75, "remote", "electronic"),
    (76, "keyboard", "electronic"), (77, "cell phone", "electronic"), (78, "microwave", "appliance"),
    (79, "oven", "appliance"), (80, "toaster", "appliance"), (81, "sink", "appliance"),
    (82, "refrigerator", "appliance"), (84, "book", "indoor"), (85, "clock", "indoor"), (86, "vase", "indoor"),
    (87, "scissors", "indoor"), (88, "teddy bear", "indoor"), (89, "hair drier", "indoor"),
    (90, "toothbrush", "indoor")]


def test_coco_labels_and_category_ids(tmp_path):
    names = load_labels("coco")
    assert len(names) == 80 == len(set(names)) == len(det.COCO_CATEGORY_IDS)
    assert names[:3] == ("person", "bicycle", "car") and names[-1] == "toothbrush"
    assert set(det.COCO_CATEGORY_IDS) == set(range(1, 91)) - {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}
    assert list(det.COCO_CATEGORY_IDS) == sorted(det.COCO_CATEGORY_IDS)
    # pycocotools' view of a file with the categories of instances_val2017.json: the same names and ids, in order
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": [], "annotations": [], "categories": [
        {"id": i, "name": n, "supercategory": s} for i, n, s in VAL2017_CATEGORIES]}))
    from pycocotools.coco import COCO

    with open(path) as f, pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stdout", sys.stderr)  # pycocotools prints as it loads
        coco = COCO()
        coco.dataset = json.load(f)
        coco.createIndex()
    cats = coco.loadCats(coco.getCatIds())
    assert [c["name"] for c in cats] == list(names)
    assert tuple(c["id"] for c in cats) == det.COCO_CATEGORY_IDS
    # the class -> category mapping by name of the evaluation gives COCO's ids for COCO's own file
    assert det.category_ids_for(names, coco.dataset) == list(det.COCO_CATEGORY_IDS)


# -- the test pipeline ---------------------------------------------------------------------------------------------

def test_preprocess_hand_worked():
    """A 160 x 120 image: factor min(1333 / 160, 800 / 120) = 6.667 -> int(120 x 6.667 + 0.5) = 800 rows and
    int(160 x 6.667 + 0.5) = int(1067.17) = 1067 columns; padded to 800 x 1088 (34 x 32); scale factors 1067 / 160
    and 800 / 120 in float32. A uniform colour stays uniform; the values are mmcv's (x - mean) x (1 / std) in
    float32."""
    rgb = (200, 100, 50)
    image = np.broadcast_to(np.array(rgb, np.uint8), (120, 160, 3)).copy()
    x, meta = det.preprocess(image)
    assert x.shape == (1, 3, 800, 1088) and x.dtype == torch.float32
    assert meta == {"ori_shape": (120, 160), "img_shape": (800, 1067), "pad_shape": (800, 1088),
                    "scale_factor": (float(np.float32(1067 / 160)), float(np.float32(800 / 120))) * 2}
    assert meta["scale_factor"][0] == pytest.approx(6.66875) and meta["scale_factor"][1] == pytest.approx(6.6666667)
    for c, (v, mean, std) in enumerate(zip(rgb, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375))):
        expected = (np.float32(v) - np.float32(mean)) * np.float32(1 / np.float64(np.float32(std)))
        assert expected == pytest.approx((v - mean) / std, abs=1e-6)
        assert (x[0, c, :, :1067] == float(expected)).all()
        assert (x[0, c, :, 1067:] == 0).all()  # the padding: zeros after normalisation
    # the official size of an exact fit: a 1333 x 800 image is neither resized nor padded beyond 32
    x, meta = det.preprocess(np.zeros((800, 1333, 3), np.uint8))
    assert meta["img_shape"] == (800, 1333) and meta["pad_shape"] == (800, 1344)
    assert meta["scale_factor"] == (1.0, 1.0, 1.0, 1.0)
    # a tall image: the long side limits (1333 / 400 < 800 / 100)
    _, meta = det.preprocess(np.zeros((400, 100, 3), np.uint8))
    assert meta["img_shape"] == (1333, 333) and meta["pad_shape"] == (1344, 352)


def test_preprocess_resizes_as_opencv_and_pads_at_the_bottom_right():
    """The resize is the OpenCV-exact one of the segmentation test (tests/test_segmentation.py checks it against
    OpenCV); a 2x upscale of a 2 x 2 image by hand: OpenCV's bilinear samples at (i + 0.5) / 2 - 0.5."""
    image = np.array([[[0, 0, 0], [200, 200, 200]], [[100, 100, 100], [40, 40, 40]]], np.uint8)
    x, meta = det.preprocess(image, scale=(4, 4), size_divisor=8, mean=(0, 0, 0), std=(1, 1, 1))
    assert meta["img_shape"] == (4, 4) and meta["pad_shape"] == (8, 8) and meta["scale_factor"] == (2.0,) * 4
    # row 0: columns at x = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1): 0, 50, 150, 200
    assert x[0, 0, 0, :4].tolist() == [0.0, 50.0, 150.0, 200.0]
    # corner (1, 1): y = x = 0.25: 0.75 x 0.75 x 0 + 0.75 x 0.25 x 200 + 0.25 x 0.75 x 100 + 0.25 x 0.25 x 40 = 58.75
    assert x[0, 0, 1, 1].item() == 59.0
    assert x[0, :, :, 4:].abs().sum() == 0 and x[0, :, 4:, :].abs().sum() == 0
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    x, meta = det.preprocess(image, scale=(90, 64), mean=(0, 0, 0), std=(1, 1, 1))
    h, w = meta["img_shape"]  # factor min(90 / 53, 64 / 37) = 90 / 53: 53 -> 90, 37 -> int(62.8 + 0.5) = 63
    assert (h, w) == (63, 90) and meta["pad_shape"] == (64, 96)
    assert torch.equal(x[0, :, :h, :w], resize_uint8(torch.from_numpy(image), (h, w)).permute(2, 0, 1).float())
    with pytest.raises(UsageError, match=r"takes an \(H, W, 3\) uint8 RGB image"):
        det.preprocess(np.zeros((4, 4), np.uint8))


# -- COCO results --------------------------------------------------------------------------------------------------

def _result(boxes, scores, labels, masks=None, size=(40, 50)):
    h, w = size
    return det.DetectionResult(boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
                               scores=np.asarray(scores, np.float32), labels=np.asarray(labels, np.int64),
                               masks=None if masks is None else np.asarray(masks, bool),
                               class_names=list(load_labels("coco")), image=np.zeros((h, w, 3), np.uint8),
                               input_size=(h, w), img_shape=(h, w), scale_factor=(1.0,) * 4)


def test_coco_result_format():
    masks = np.zeros((2, 40, 50), bool)
    masks[0, 2:5, 1:3] = True
    masks[1, 10:30, 20:45] = True
    r = _result([[1.1, 2.2, 3.3, 5.5], [20, 10, 45, 30]], [0.9, 0.35], [2, 79], masks)
    entries = r.to_coco(139)
    assert [set(e) for e in entries] == [{"image_id", "bbox", "score", "category_id", "segmentation"}] * 2
    first, second = entries
    # float32 coordinates as exact floats, width and height subtracted in double precision (mmdet's xyxy2xywh)
    x1, y1, x2, y2 = (float(np.float32(v)) for v in (1.1, 2.2, 3.3, 5.5))
    assert first["bbox"] == [x1, y1, x2 - x1, y2 - y1] and first["score"] == float(np.float32(0.9))
    assert first["image_id"] == 139 and first["category_id"] == 3  # class 2, car
    assert second["category_id"] == 90 and second["bbox"] == [20.0, 10.0, 25.0, 20.0]  # class 79, toothbrush
    assert isinstance(first["segmentation"]["counts"], str) and first["segmentation"]["size"] == [40, 50]
    assert json.loads(json.dumps(entries)) == entries
    # the boxes alone; a class without a category is left out
    assert [set(e) for e in r.to_coco(1, masks=False)] == [{"image_id", "bbox", "score", "category_id"}] * 2
    assert [e["category_id"] for e in r.to_coco(1, [None] * 79 + [5])] == [5]
    assert det.coco_image_id("val2017/000000000139.jpg", 4) == 139 and det.coco_image_id("street.jpg", 4) == 4


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools' decode, numpy 2
def test_rle_round_trip_and_a_hand_encoded_mask():
    # column-major pixels 0, 1, 1, 1: one 0, then three 1s -> counts [1, 3] -> "13" (each count a character + 48)
    assert det.mask_to_rle(np.array([[0, 1], [1, 1]])) == {"size": [2, 2], "counts": "13"}
    rng = np.random.default_rng(0)
    mask = rng.random((37, 53)) > 0.6
    rle = det.mask_to_rle(mask)
    assert rle["size"] == [37, 53] and isinstance(rle["counts"], str)
    assert np.array_equal(mask_util.decode({"size": rle["size"], "counts": rle["counts"].encode()}), mask)
    assert mask_util.area(rle) == mask.sum()
    assert det.mask_to_rle(np.zeros((3, 4), bool))["counts"] == "<"  # 12 zeros: one count, 12 + 48


def test_drawing_puts_the_class_colour_on_boxes_and_masks(tmp_path):
    """Class 2 (car) in its colour: the box outline (2 px inside the box), the mask half blended in (black x 0.5 +
    colour x 0.5, truncated), the label above the box on a filled rectangle; the rest stays black."""
    masks = np.zeros((1, 80, 100), bool)
    masks[0, 50:60, 30:50] = True
    r = _result([[10, 30, 70, 75]], [0.9], [2], masks, size=(80, 100))
    colour = palette_for(80)[2]
    files = r.save(tmp_path, "photo")
    assert files == {"detections": str(tmp_path / "photo_detections.png")}
    with Image.open(files["detections"]) as im:
        assert im.size == (100, 80)
        assert np.array_equal(np.asarray(im.convert("RGB")), np.asarray(r.draw()))
    drawn = np.asarray(r.draw(width=2))
    assert tuple(drawn[50, 10]) == colour and tuple(drawn[50, 11]) == colour and tuple(drawn[50, 70]) == colour
    assert tuple(drawn[30, 40]) == colour and tuple(drawn[75, 40]) == colour
    assert tuple(drawn[55, 40]) == tuple(int(c * 0.5) for c in colour)  # the mask
    assert tuple(drawn[40, 40]) == (0, 0, 0) and tuple(drawn[78, 90]) == (0, 0, 0)  # inside the box, outside
    label = drawn[:30, 10:60]
    assert (label == colour).all(-1).sum() > 50 and (label != colour).any()  # the filled label and its text
    assert r.image.max() == 0  # the input is left alone
    plain = np.asarray(r.draw(text=False))
    assert (plain[:29] == 0).all()


# -- COCO AP -------------------------------------------------------------------------------------------------------

def test_box_and_mask_ap_hand_computed(coco, tmp_path, capsys):
    metrics = det.evaluate_coco_detection(coco / "instances.json", RESULTS, verbose=True)
    assert list(metrics) == [f"{k}_{n}" for k in ("bbox", "segm") for n in det.STAT_NAMES]
    assert metrics == pytest.approx(_expected(), abs=1e-9)
    # the printed table is pycocotools' own summary, line for line
    report = capsys.readouterr().err
    table = det.format_metrics(metrics).splitlines()
    assert table[0] == "Evaluate annotation type *bbox*" and table[13] == "Evaluate annotation type *segm*"
    assert len(table) == 26 and all(line in report for line in table if line.startswith(" Average"))
    assert " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.851" in table
    assert " Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000" in table
    # boxes only, and a results file works as the list
    path = tmp_path / "r.json"
    path.write_text(json.dumps(RESULTS))
    assert det.evaluate_coco_detection(coco / "instances.json", path, ("bbox",)) == pytest.approx(
        {f"bbox_{k}": v for k, v in BOX_METRICS.items()}, abs=1e-9)


def test_ap_without_a_result_or_a_person(coco):
    """No results score 0 where there is ground truth (-1 in the empty area ranges); without D1 the persons are
    found by D2 alone (boxes: precision 1/1 at recall 1/2 for IoU <= 0.65, 0 above; the false positive ranked after
    it does not lower the interpolated precision)."""
    empty = det.evaluate_coco_detection(coco / "instances.json", [])
    assert empty == {k: -1.0 if k.endswith(("_s", "_l")) else 0.0 for k in _expected()}
    m = det.evaluate_coco_detection(coco / "instances.json", RESULTS[1:])
    assert m["bbox_AP"] == pytest.approx((4 / 10 * 51 / 101 + 1) / 2, abs=1e-9)
    assert m["segm_AP"] == pytest.approx((51 / 101 + 1) / 2, abs=1e-9)
    assert m["bbox_AR_100"] == pytest.approx((4 / 10 * 0.5 + 1) / 2, abs=1e-9)
    # the evaluated images only (--limit): on image 2 alone the car is all there is
    only_car = det.evaluate_coco_detection(coco / "instances.json", RESULTS[3:], image_ids=[2])
    assert only_car["bbox_AP"] == pytest.approx(1.0) and only_car["segm_AR_100"] == pytest.approx(1.0)


def test_mask_ap_sizes_results_by_their_box_as_mmdet_2_11(coco):
    """A false positive ranked first with a medium box (40 x 28) but a small mask (5 x 5): mmdet 2.11 evaluates masks
    with their boxes, so pycocotools counts it in the medium range too. Persons' masks: precision 0, 1/2, 2/3, 1/2
    down the ranking, i.e. 2/3 at every recall point: AP 2/3 (the car 1) over all areas and over the medium ones
    (mmdet >= 2.12, sizing it by its mask, would ignore it there: AP_m 1)."""
    fp = _res(1, 1, [0, 100, 40, 28], 0.99, mask_box=[0, 100, 5, 5])
    m = det.evaluate_coco_detection(coco / "instances.json", [fp] + RESULTS)
    assert m["segm_AP"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-9)
    assert m["segm_AP_m"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-9)


def test_polygon_ground_truth(coco, tmp_path):
    """Ground-truth masks as polygons (instances_val2017.json's usual form) are rasterised by pycocotools."""
    data = json.loads((coco / "instances.json").read_text())
    for ann in data["annotations"]:
        x, y, w, h = ann["bbox"]
        ann["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    path = tmp_path / "polygons.json"
    path.write_text(json.dumps(data))
    m = det.evaluate_coco_detection(path, RESULTS)
    assert m["segm_AP50"] == pytest.approx(1.0) and m["segm_AR_100"] > 0.9
    assert m["bbox_AP"] == pytest.approx(BOX_METRICS["AP"], abs=1e-9)


def _fields(entry, **changes):
    """``entry`` with ``changes`` applied; a change to ``...`` (Ellipsis) removes that key."""
    out = {**entry, **changes}
    return {k: v for k, v in out.items() if v is not ...}


@pytest.mark.parametrize("change, message", [
    (dict(category_id=...), r'entry 1: a detection result needs "category_id"; it has "image_id", "bbox", "score", '
                            r'"segmentation"'),
    (dict(category_id=99), r"entry 1: category_id 99 is not a category of the annotation file \(1, 18, 3\)"),
    (dict(image_id=7), r"entry 1: image_id 7 is not an image of the annotation file"),
    (dict(image_id=True), r"entry 1: image_id true is not an image"),
    (dict(bbox=[1, 2, 3]), r'entry 1: "bbox" must be \[x, y, w, h\], 4 finite numbers with w, h >= 0, got \[1, 2, '
                           r'3\]'),
    (dict(bbox=...), r'entry 1: a detection result needs "bbox"'),
    (dict(score="high"), r'entry 1: "score" must be a number, got "high"'),
    (dict(segmentation=...), r'entry 1: a detection result needs "segmentation"; .* evaluate boxes only'),
    (dict(segmentation=[[1, 2, 3, 4, 5, 6]]), r'entry 1: "segmentation" must be a compressed RLE'),
    (dict(segmentation={"size": [10, 10], "counts": "PP"}), r"entry 1: the mask is 10x10, but image 1 is 160x128"),
])
def test_malformed_results_are_named(coco, tmp_path, capsys, change, message):
    results = tmp_path / "r.json"
    results.write_text(json.dumps([RESULTS[0], _fields(RESULTS[1], **change)]))
    with pytest.raises(AnnotationError, match=f"{results}: {message}"):
        det.evaluate_coco_detection(coco / "instances.json", results)
    out = tmp_path / "out"
    assert main(["detect-eval", "--annotations", str(coco / "instances.json"), "--results", str(results),
                 "--out", str(out)]) == 2
    assert f"{results}: entry 1: " in _err(capsys, "detect-eval")
    assert not (out / "metrics.json").exists()


def _annotations(coco, tmp_path, where, **change):
    """A copy of the fixture's annotation file with ``change`` applied to annotations entry 1 (``where="ann"``),
    images entry 1 (``"img"``) or the whole file (``"file"``); returns its path."""
    data = json.loads((coco / "instances.json").read_text())
    if where == "ann":
        data["annotations"][1] = _fields(data["annotations"][1], **change)
    elif where == "img":
        data["images"][1] = _fields(data["images"][1], **change)
    else:
        data = _fields(data, **change)
    path = tmp_path / "bad_instances.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("where, change, message", [
    ("ann", dict(bbox=...), r'annotations entry 1 \(id 2\): an instance annotation needs "bbox"'),
    ("ann", dict(bbox=[100, 60, 40]), r'annotations entry 1 \(id 2\): "bbox" must be \[x, y, w, h\]'),
    ("ann", dict(area=..., iscrowd=...), r'annotations entry 1 \(id 2\): an instance annotation needs "area", '
                                         r'"iscrowd"'),
    ("ann", dict(segmentation=...), r'annotations entry 1 \(id 2\): an instance annotation needs "segmentation" '
                                    r'\(mask AP reads'),
    ("ann", dict(segmentation=[]), r'annotations entry 1 \(id 2\): "segmentation": polygons must be a non-empty'),
    ("ann", dict(segmentation={"counts": "x"}), r'annotations entry 1 \(id 2\): "segmentation": an RLE needs'),
    ("ann", dict(category_id=2), r"annotations entry 1 \(id 2\): category_id 2 is not the id of a category"),
    ("ann", dict(image_id=7), r"annotations entry 1 \(id 2\): image_id 7 is not the id of an image of the file"),
    ("ann", dict(id=1), r"annotations entry 1 \(id 1\): the id is also that of annotations entry 0"),
    ("img", dict(id=1), r"images entry 1: id 1 is also the id of images entry 0"),
    ("img", dict(height=...), r'images entry 1 \(id 2\): mask AP needs the image\'s "width" and "height"'),
    ("img", dict(file_name=...), r'images entry 1 needs an "id" and a "file_name"'),
    ("file", dict(categories=...), r'not a COCO instances file \(expected an object with lists "images", '
                                   r'"annotations" and "categories"'),
    ("file", dict(categories=[{"name": "person"}]), r'categories entry 0 needs an "id"'),
])
def test_malformed_annotation_file_is_named(coco, tmp_path, capsys, where, change, message):
    path = _annotations(coco, tmp_path, where, **change)
    with pytest.raises(AnnotationError, match=f"{path}: {message}"):
        det.evaluate_coco_detection(path, RESULTS[:1])
    results = tmp_path / "r.json"
    results.write_text(json.dumps(RESULTS[:1]))
    assert main(["detect-eval", "--annotations", str(path), "--results", str(results), "--out", str(tmp_path)]) == 2
    assert f"{path}: " in _err(capsys, "detect-eval")


def test_unreadable_files_are_named(coco, tmp_path):
    (tmp_path / "broken.json").write_text('{"images": [')
    with pytest.raises(AnnotationError, match="broken.json: the annotation file is not a JSON file"):
        det.evaluate_coco_detection(tmp_path / "broken.json", [])
    with pytest.raises(AnnotationError, match="none.json: cannot read the results file"):
        det.evaluate_coco_detection(coco / "instances.json", tmp_path / "none.json")
    with pytest.raises(AnnotationError, match=r"r.json: expected a JSON list of COCO detection results, got a dict"):
        (tmp_path / "r.json").write_text("{}")
        det.evaluate_coco_detection(coco / "instances.json", tmp_path / "r.json")
    with pytest.raises(UsageError, match="iou_types: expected 'bbox' and / or 'segm', got 'keypoints'"):
        det.evaluate_coco_detection(coco / "instances.json", [], ("bbox", "keypoints"))
    with pytest.raises(ImageReadError, match="notes.jpg: a text file, not an image"):
        (tmp_path / "notes.jpg").write_text("not an image\n")
        det.detect(StandIn(), tmp_path / "notes.jpg")


def test_missing_pycocotools_is_a_dependency_error(coco, monkeypatch, capsys, tmp_path):
    for name in ("pycocotools", "pycocotools.coco", "pycocotools.cocoeval", "pycocotools.mask"):
        monkeypatch.setitem(sys.modules, name, None)  # `import pycocotools.coco` now raises ImportError
    with pytest.raises(DependencyError, match=r'needs? pycocotools, which is not installed .* pip install '
                                              r'"tubelet\[coco\]"'):
        det.evaluate_coco_detection(coco / "instances.json", [])
    r = _result([[1, 2, 3, 4]], [0.9], [0], np.ones((1, 40, 50), bool))
    with pytest.raises(DependencyError, match=r"COCO masks \(RLE\) need pycocotools"):
        r.to_coco(1)
    assert r.to_coco(1, masks=False)[0]["category_id"] == 1  # boxes need nothing
    results = tmp_path / "r.json"
    results.write_text("[]")
    assert main(["detect-eval", "--annotations", str(coco / "instances.json"), "--results", str(results),
                 "--out", str(tmp_path)]) == 2
    assert 'pip install "tubelet[coco]"' in _err(capsys, "detect-eval")


# -- stand-ins and the real model ----------------------------------------------------------------------------------

class StandIn(nn.Module):
    """The interface of the detectors (``pretrained_cfg``, ``num_classes``, ``size_divisor``, ``detect``) with known
    detections: ``dets[(h0, w0)]`` = [(class, score, [x1, y1, x2, y2])] for an image of that size (the fixture's
    ground truth by default: an oracle), masks = the boxes' pixels."""

    def __init__(self, dets=None, test_scale=SMALL):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))
        self.pretrained_cfg = PretrainedCfg(architecture="standin_maskrcnn", num_classes=80,
                                            input_size=(3, 800, 1333), mean=(0.485, 0.456, 0.406),
                                            std=(0.229, 0.224, 0.225), label_names="coco")
        self.num_classes, self.size_divisor, self.test_scale = 80, 32, test_scale
        if dets is None:
            classes = {1: 0, 3: 2}
            dets = {}
            for image_id, cat, (x, y, w, h) in GT:
                dets.setdefault(SIZES[image_id], []).append((classes[cat], 0.9, [x, y, x + w, y + h]))
        self.dets = dets
        self.calls = []

    def detect(self, x, img_shape, ori_shape):
        self.calls.append((tuple(x.shape), tuple(img_shape), tuple(ori_shape)))
        found = sorted(self.dets.get(tuple(ori_shape), []), key=lambda d: (d[0], -d[1]))  # mmdet's order
        masks = torch.zeros(len(found), *ori_shape, dtype=torch.bool)
        for i, (_, _, (x1, y1, x2, y2)) in enumerate(found):
            masks[i, int(y1):int(y2), int(x1):int(x2)] = True
        return {"proposals": torch.zeros(1000, 5), "boxes": torch.tensor([d[2] for d in found]).reshape(-1, 4),
                "scores": torch.tensor([d[1] for d in found]), "labels": torch.tensor([d[0] for d in found]).long(),
                "masks": masks}


@pytest.fixture(scope="module")
def confident_xxs():
    """The real uniformer_xxs_maskrcnn (random weights) with its box classifier's weights x 7, so that it is sure
    enough of something to detect it; a quick test scale."""
    import tubelet

    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_xxs_maskrcnn").eval()
    with torch.no_grad():
        model.roi_head.bbox_head.fc_cls.weight.mul_(7)
        model.roi_head.bbox_head.fc_cls.bias.mul_(7)
    model.test_scale = SMALL
    return model


def test_detect_with_the_real_model(confident_xxs, coco, monkeypatch):
    """detect() gives the model preprocess()'s input and the two shapes, and returns its detections as they are
    (no threshold): mmdet's order, masks at the original size, COCO results of them."""
    image = np.asarray(Image.open(coco / "images" / "000000000001.png"))
    seen = []
    real = confident_xxs.detect

    def spy(x, **shapes):
        out = real(x, **shapes)
        seen.append((x.clone(), shapes, out))
        return out

    monkeypatch.setattr(confident_xxs, "detect", spy)
    result = det.detect(confident_xxs, image, score_threshold=None)
    ((x, shapes, out),) = seen
    assert torch.equal(x, det.preprocess(image, scale=SMALL)[0])
    assert shapes == {"img_shape": (128, 160), "ori_shape": (128, 160)}
    assert torch.equal(torch.from_numpy(result.boxes), out["boxes"]) and np.array_equal(result.masks, out["masks"])
    assert result.size == (128, 160) and result.input_size == (128, 160) and result.img_shape == (128, 160)
    n = len(result)
    assert 0 < n <= 100 and result.masks.shape == (n, 128, 160) and result.masks.dtype == bool
    assert result.boxes.dtype == np.float32 and result.labels.dtype == np.int64
    assert (result.scores > 0.05).all() and result.labels.max() < 80
    assert (np.diff(result.labels) >= 0).all()  # mmdet's order: by class ...
    for k in np.unique(result.labels):  # ... then by descending score
        assert (np.diff(result.scores[result.labels == k]) <= 0).all()
    assert result.class_names == list(load_labels("coco"))
    entries = result.to_coco(1)
    assert len(entries) == n and {e["category_id"] for e in entries} <= set(det.COCO_CATEGORY_IDS)
    assert all(e["segmentation"]["size"] == [128, 160] for e in entries)
    assert [mask_util.area(e["segmentation"]) for e in entries] == result.masks.sum((1, 2)).tolist()


def test_score_threshold_keeps_the_scores_above_it(coco):
    image = np.asarray(Image.open(coco / "images" / "000000000001.png"))
    model = StandIn({(128, 160): [(0, 0.9, [1, 2, 30, 40]), (0, 0.3, [5, 5, 9, 9]), (5, 0.6, [50, 60, 70, 80])]})
    result = det.detect(model, image)  # default 0.3: above it, as mmdet draws
    assert result.scores.tolist() == pytest.approx([0.9, 0.6]) and result.labels.tolist() == [0, 5]
    assert result.masks.shape == (2, 128, 160) and result.masks[1, 60:80, 50:70].all()
    assert len(det.detect(model, image, score_threshold=None)) == 3
    assert len(det.detect(model, image, score_threshold=0.9)) == 0
    with pytest.raises(UsageError, match="is not a detection model"):
        det.detect(nn.Linear(2, 2), image)


# -- the commands --------------------------------------------------------------------------------------------------

def _err(capsys, command):
    err = capsys.readouterr().err
    assert err.startswith(f"tubelet {command}: error: ") and err.count("\n") == 1, err
    return err


def _last_err(capsys, command):
    """The error line of a command that failed after the note on its random weights."""
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith(f"tubelet {command}: error: ") and "Traceback" not in lines, lines
    return lines[-1]


def test_detect_command_with_the_real_model(coco, tmp_path, capsys, monkeypatch):
    """The real uniformer_xxs_maskrcnn built by the command (random weights: nothing scores above 0.3), at a quick
    test scale: a drawing per image, one results file, a bad image reported while the others go on (exit 2)."""
    monkeypatch.setattr(det, "TEST_SCALE", SMALL)
    (tmp_path / "in").mkdir()
    a, notes, b = (str(tmp_path / "in" / name) for name in ("000000000001.png", "notes.jpg", "000000000002.jpg"))
    for path in (a, b):
        Path(path).write_bytes((coco / "images" / Path(path).name).read_bytes())
    Path(notes).write_text("not an image\n")
    out = tmp_path / "out"
    assert main(["detect", a, notes, b, "--model", "uniformer_xxs_maskrcnn", "--out", str(out), "--device", "cpu",
                 "--json"]) == 2
    captured = capsys.readouterr()
    assert f"{notes}: a text file, not an image" in captured.err and "3 images, 1 failed" in captured.err
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["image"] for r in records] == [a, notes, b] and "error" in records[1]
    assert records[0]["image_id"] == 1 and records[2]["image_id"] == 2
    assert records[0]["size"] == [128, 160] and records[0]["input_size"] == [128, 160]
    assert records[2]["size"] == [96, 128] and records[2]["input_size"] == [128, 160]  # 96 x 128 -> 120 x 160, padded
    assert records[0]["detections"] == [] and records[0]["score_threshold"] == 0.3
    assert json.loads((out / "results.json").read_text()) == []
    for stem, size in (("000000000001", (160, 128)), ("000000000002", (128, 96))):
        with Image.open(out / f"{stem}_detections.png") as im:
            assert im.size == size
    assert main(["detect", a, "--model", "uniformer_xxs_maskrcnn", "--out", str(out)]) == 2
    assert "000000000001_detections.png (and 1 more): exists (from an earlier run?); pass --overwrite" in \
        _err(capsys, "detect")
    assert main(["detect", a, "--model", "uniformer_xxs_fpn", "--out", str(tmp_path / "seg")]) == 2
    assert "uniformer_xxs_fpn is a semantic segmentation model" in _err(capsys, "detect")


@pytest.fixture
def stand_in(monkeypatch):
    model = StandIn()
    import tubelet.cli.detect as command

    monkeypatch.setattr(command, "_build_model", lambda args: model)
    return model


def test_detect_command_table_and_results(coco, tmp_path, capsys, stand_in):
    street = tmp_path / "street.png"
    _write_image(street, 2)
    a = str(coco / "images" / "000000000001.png")
    out = tmp_path / "out"
    assert main(["detect", a, str(street), "--model", "standin_maskrcnn", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "000000000001.png, 160x128 -> 160x128 (input 160x128), 2 detections scored above 0.3" in text
    assert "street.png, 128x96 -> 160x120 (input 160x128), 1 detection scored above 0.3" in text
    assert "  class   score  box (x1, y1, x2, y2)\n  person  0.900     10.0    10.0    50.0    50.0\n" in text
    assert "  class  score  box (x1, y1, x2, y2)\n  car    0.900     20.0    30.0    80.0    70.0\n" in text
    assert "weights are random" in text and f"-> {out / 'results.json'} (3 COCO results)" in text
    results = json.loads((out / "results.json").read_text())
    assert [(r["image_id"], r["category_id"]) for r in results] == [(1, 1), (1, 1), (1, 3)]  # street.png: index 1
    assert results[0]["bbox"] == [10.0, 10.0, 40.0, 40.0] and results[0]["score"] == float(np.float32(0.9))
    assert mask_util.area(results[0]["segmentation"]) == 1600
    # a high threshold: nothing drawn, nothing listed; a folder is searched for images
    assert main(["detect", str(coco / "images"), "--out", str(tmp_path / "high"), "--score-threshold", "0.95",
                 "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [len(r["detections"]) for r in records] == [0, 0] and [r["image_id"] for r in records] == [1, 2]
    assert json.loads((tmp_path / "high" / "results.json").read_text()) == []


def test_detect_eval_with_the_real_model(coco, tmp_path, capsys, monkeypatch):
    """detect-eval end to end with the real uniformer_xxs_maskrcnn (random weights: no detection, AP 0) at a quick
    test scale: both images run, results.json and metrics.json written."""
    monkeypatch.setattr(det, "TEST_SCALE", SMALL)
    out = tmp_path / "eval"
    assert main(["detect-eval", "--images", str(coco / "images"), "--annotations", str(coco / "instances.json"),
                 "--model", "uniformer_xxs_maskrcnn", "--device", "cpu", "-o", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert "weights are random" in captured.err
    assert printed["metrics"] == {k: -1.0 if k.endswith(("_s", "_l")) else 0.0 for k in _expected()}
    assert printed["num_results"] == 0 and json.loads((out / "results.json").read_text()) == []
    assert json.loads((out / "metrics.json").read_text()) == printed["metrics"]


def test_detect_eval_pipeline_with_an_oracle(coco, tmp_path, capsys, stand_in):
    """An oracle finds every instance: AP 1 for boxes and masks; classes go to the file's categories by name;
    --limit 1 runs and evaluates image 1 alone; then the written results evaluate the same through --results."""
    out = tmp_path / "eval"
    assert main(["detect-eval", "--images", str(coco / "images"), "--annotations", str(coco / "instances.json"),
                 "--model", "standin_maskrcnn", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    # AR_1 counts each image's best result: 1 of the 2 persons of image 1 (0.75 over the two categories)
    assert "COCO AP of 3 results" in text and text.count("] = 1.000") == 14 and text.count("] = -1.000") == 8
    assert text.count("maxDets=  1 ] = 0.750") == 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["bbox_AP"] == metrics["segm_AP"] == pytest.approx(1.0)
    assert [c[2] for c in stand_in.calls] == [(128, 160), (96, 128)]
    assert main(["detect-eval", "--images", str(coco / "images"), "--annotations", str(coco / "instances.json"),
                 "--model", "standin_maskrcnn", "--out", str(tmp_path / "one"), "--limit", "1", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["num_results"] == 2 and printed["metrics"]["bbox_AR_100"] == pytest.approx(1.0)
    assert len(stand_in.calls) == 3
    assert main(["detect-eval", "--annotations", str(coco / "instances.json"), "--results", str(out / "results.json"),
                 "--out", str(tmp_path / "again"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == metrics
    assert main(["detect-eval", "--annotations", str(coco / "instances.json"), "--results", str(out / "results.json"),
                 "--out", str(tmp_path / "again")]) == 2
    assert "metrics.json: exists" in _err(capsys, "detect-eval")
    # box-only results are evaluated for boxes only
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([_fields(r, segmentation=...) for r in RESULTS]))
    assert main(["detect-eval", "--annotations", str(coco / "instances.json"), "--results", str(boxes),
                 "--out", str(tmp_path / "boxes"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == pytest.approx(
        {f"bbox_{k}": v for k, v in BOX_METRICS.items()}, abs=1e-9)


def test_detect_eval_errors_name_the_file(coco, tmp_path, capsys, stand_in):
    images = tmp_path / "images"
    images.mkdir()
    (images / "000000000001.png").write_bytes((coco / "images" / "000000000001.png").read_bytes())
    ann = str(coco / "instances.json")
    assert main(["detect-eval", "--images", str(images), "--annotations", ann, "--model", "standin_maskrcnn",
                 "--out", str(tmp_path / "o")]) == 2
    assert f"{images / '000000000002.jpg'}: no such image, but {ann} lists it" in _err(capsys, "detect-eval")
    assert stand_in.calls == []  # found before any inference
    (images / "000000000002.jpg").write_text("not an image\n")
    assert main(["detect-eval", "--images", str(images), "--annotations", ann, "--model", "standin_maskrcnn",
                 "--out", str(tmp_path / "o")]) == 2
    assert f"{images / '000000000002.jpg'}: a text file, not an image" in _last_err(capsys, "detect-eval")
    _write_image(images / "000000000002.jpg", 1)  # 160 x 128, but the file says 128 x 96
    assert main(["detect-eval", "--images", str(images), "--annotations", ann, "--model", "standin_maskrcnn",
                 "--out", str(tmp_path / "o"), "--overwrite"]) == 2
    assert f"000000000002.jpg: 160x128 pixels, but {ann} says 128x96 (image id 2)" in _last_err(capsys, "detect-eval")
    data = json.loads((coco / "instances.json").read_text())
    data["categories"] = [{"id": 1, "name": "people"}]
    data["annotations"] = [a for a in data["annotations"] if a["category_id"] == 1]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    assert main(["detect-eval", "--images", str(coco / "images"), "--annotations", str(other), "--model",
                 "standin_maskrcnn", "--out", str(tmp_path / "o"), "--overwrite"]) == 2
    assert f"{other}: none of its categories (people) is a class of the model" in _last_err(capsys, "detect-eval")
    (tmp_path / "broken.json").write_text("{not json")
    assert main(["detect-eval", "--images", str(coco / "images"), "--annotations", str(tmp_path / "broken.json"),
                 "--model", "standin_maskrcnn", "--out", str(tmp_path / "o"), "--overwrite"]) == 2
    assert "broken.json: the annotation file is not a JSON file" in _err(capsys, "detect-eval")
    assert main(["detect-eval", "--annotations", ann, "--results", str(tmp_path / "r.json"), "--model", "x",
                 "--out", str(tmp_path / "o")]) == 2
    assert "--results evaluates a results file as it is" in _err(capsys, "detect-eval")
    assert main(["detect-eval", "--annotations", ann, "--model", "standin_maskrcnn", "--out", str(tmp_path / "o")]) == 2
    assert "detect-eval needs --images DIR" in _err(capsys, "detect-eval")
