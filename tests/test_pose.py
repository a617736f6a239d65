"""`tubelet pose` / `tubelet pose-eval` and tubelet.pose: person boxes, rescoring, OKS-NMS, COCO keypoint results and
their AP with pycocotools on a tiny annotation file whose right scores are worked out below, drawing, and the
commands end to end with the real uniformer_small_pose (random weights)."""
import json
import math
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from tubelet.tasks import pose
from tubelet.cli import main
from tubelet.errors import AnnotationError, DependencyError, UsageError
from tubelet.keypoints import COCO_SIGMAS
from tubelet.models import PretrainedCfg

#: 17 keypoints of a standing person, as fractions of its box; they span the whole box (min 0, max 1 on both axes),
#: so the box that pycocotools derives from a result's keypoints has the area of the annotation's box
TEMPLATE = np.array([(0.5, 0.0), (0.6, 0.04), (0.4, 0.04), (0.7, 0.06), (0.3, 0.06), (0.8, 0.2), (0.2, 0.2),
                     (0.9, 0.35), (0.1, 0.35), (1.0, 0.5), (0.0, 0.5), (0.7, 0.55), (0.3, 0.55), (0.7, 0.78),
                     (0.3, 0.78), (0.7, 1.0), (0.3, 1.0)])
#: the three persons: A and B in image 1 (100 x 150 = 15000 px^2: COCO "large", > 96^2), C in image 2 (40 x 60 =
#: 2400 px^2: "medium", 32^2..96^2)
PERSONS = {"A": (1, (20.0, 40.0, 100.0, 150.0)), "B": (1, (180.0, 40.0, 100.0, 150.0)),
           "C": (2, (100.0, 80.0, 40.0, 60.0))}
#: AP of 2 true positives ranked first out of 3 results for 3 persons: precision 1 up to recall 2/3, i.e. at the
#: COCO recall thresholds 0.00 ... 0.66 (67 of the 101), 0 above
TWO_OF_THREE = 67 / 101


def _keypoints(name, shift=(0.0, 0.0)):
    _, (x, y, w, h) = PERSONS[name]
    return TEMPLATE * [w, h] + [x, y] + shift


def _result(name, score, shift=(0.0, 0.0)):
    kp = np.concatenate([_keypoints(name, shift), np.ones((17, 1))], 1)
    return {"image_id": PERSONS[name][0], "category_id": 1, "keypoints": kp.reshape(-1).tolist(), "score": score}


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    """A COCO keypoint annotation file of 2 images (real PNGs, 320 x 240) and 3 persons."""
    root = tmp_path_factory.mktemp("coco")
    (root / "images").mkdir()
    images = []
    for image_id in (1, 2):
        name = f"{image_id:012d}.png"
        rng = np.random.default_rng(image_id)
        Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)).save(root / "images" / name)
        images.append({"id": image_id, "file_name": name, "width": 320, "height": 240})
    anns = []
    for i, name in enumerate("ABC", 1):
        image_id, box = PERSONS[name]
        kp = np.concatenate([_keypoints(name), np.full((17, 1), 2.0)], 1)
        anns.append({"id": i, "image_id": image_id, "category_id": 1, "iscrowd": 0, "bbox": list(box),
                     "area": box[2] * box[3], "num_keypoints": 17, "keypoints": kp.reshape(-1).tolist()})
    data = {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}
    (root / "ann.json").write_text(json.dumps(data))
    return root


def _coco_oks(gt, dt, area):
    """COCOeval's OKS, written out independently: mean over the labelled keypoints of the ground truth of
    exp(-d^2 / (2 area (2 sigma)^2))."""
    var = (2 * np.asarray(COCO_SIGMAS)) ** 2
    d2 = ((np.asarray(gt) - np.asarray(dt)) ** 2).sum(-1)
    return float(np.exp(-d2 / var / (area + np.spacing(1)) / 2).mean())


# -- COCO keypoint AP ----------------------------------------------------------------------------------------------

def test_ground_truth_as_results_scores_ap_1(coco):
    m = pose.evaluate_coco_keypoints(coco / "ann.json", [_result("A", 0.9), _result("B", 0.8), _result("C", 0.7)])
    assert list(m) == list(pose.STAT_NAMES)
    assert m == {name: pytest.approx(1.0) for name in pose.STAT_NAMES}


def test_one_person_far_off(coco):
    """C's keypoints 150 px away (OKS ~ 0): A and B are true positives ranked first, C a false positive; C is the only
    medium person, so the medium range has 1 false positive (AP 0), the large range 2 true positives (AP 1; C's
    result, medium-sized and unmatched, is ignored there)."""
    assert _coco_oks(_keypoints("C"), _keypoints("C", (150, 0)), 2400) < 1e-10
    m = pose.evaluate_coco_keypoints(coco / "ann.json",
                                     [_result("A", 0.9), _result("B", 0.8), _result("C", 0.7, (150, 0))])
    assert m == pytest.approx({"AP": TWO_OF_THREE, "AP50": TWO_OF_THREE, "AP75": TWO_OF_THREE, "APm": 0.0,
                               "APl": 1.0, "AR": 2 / 3, "AR50": 2 / 3, "AR75": 2 / 3, "ARm": 0.0, "ARl": 1.0},
                              abs=1e-9)
    # the same false positive ranked first: precision 2/3 at every recall up to 2/3
    ranked_first = pose.evaluate_coco_keypoints(coco / "ann.json",
                                                [_result("A", 0.9), _result("B", 0.8), _result("C", 0.95, (150, 0))])
    assert ranked_first["AP"] == pytest.approx(2 / 3 * TWO_OF_THREE, abs=1e-9)
    assert ranked_first["AR"] == pytest.approx(2 / 3, abs=1e-9)


def test_result_boxes_do_not_change_the_area_ranges(coco):
    """The official test evaluates results without "bbox" (pycocotools then sizes a result by its keypoints'
    extent); tubelet's results carry the person box, which must not change the metrics. C's false positive, ranked
    first, has keypoints of medium extent: the large range ignores it (APl 1, as in test_one_person_far_off), also
    when its box is large (sized by the box, it would count there: APl < 1)."""
    far_off = [_result("A", 0.9), _result("B", 0.8), _result("C", 0.95, (150, 0))]
    boxed = [dict(r, bbox=[0.0, 0.0, 300.0, 200.0]) for r in far_off]  # 60000 px^2: "large"
    plain = pose.evaluate_coco_keypoints(coco / "ann.json", far_off)
    assert plain["APl"] == pytest.approx(1.0) and plain["APm"] == 0.0
    assert pose.evaluate_coco_keypoints(coco / "ann.json", boxed) == plain


def test_dropping_a_person_lowers_recall(coco, tmp_path):
    results = [_result("A", 0.9), _result("B", 0.8)]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(results))
    m = pose.evaluate_coco_keypoints(coco / "ann.json", path)  # a results file works as the list
    assert m["AR"] == pytest.approx(2 / 3, abs=1e-9) and m["AR50"] == pytest.approx(2 / 3, abs=1e-9)
    assert m["AP"] == pytest.approx(TWO_OF_THREE, abs=1e-9)
    assert m["ARl"] == pytest.approx(1.0) and m["ARm"] == 0.0
    assert pose.evaluate_coco_keypoints(coco / "ann.json", []) == {n: 0.0 for n in pose.STAT_NAMES}


def test_a_result_between_the_oks_thresholds(coco):
    """A's keypoints 10 px off: an OKS between 0.70 and 0.75 (computed independently), so A counts as found at the
    thresholds 0.50 ... 0.70 (AP 1 there) and as a false positive ranked first at 0.75 ... 0.95."""
    oks = _coco_oks(_keypoints("A"), _keypoints("A", (6, 8)), 15000)
    assert 0.72 < oks < 0.73
    matched = sum(t <= oks for t in np.linspace(0.5, 0.95, 10))
    assert matched == 5
    m = pose.evaluate_coco_keypoints(coco / "ann.json",
                                     [_result("A", 0.9, (6, 8)), _result("B", 0.8), _result("C", 0.7)])
    assert m["AP"] == pytest.approx((matched * 1.0 + (10 - matched) * 2 / 3 * TWO_OF_THREE) / 10, abs=1e-9)
    assert m["AR"] == pytest.approx((matched * 1.0 + (10 - matched) * 2 / 3) / 10, abs=1e-9)
    assert m["AP50"] == pytest.approx(1.0) and m["AP75"] == pytest.approx(2 / 3 * TWO_OF_THREE, abs=1e-9)


def test_results_that_do_not_fit_are_named(coco, tmp_path):
    with pytest.raises(AnnotationError, match=r"entry 1: image_id 7 is not an image of the annotation file"):
        pose.evaluate_coco_keypoints(coco / "ann.json", [_result("A", 0.9), {**_result("B", 0.8), "image_id": 7}])
    bad = _result("A", 0.9)
    bad["keypoints"] = bad["keypoints"][:34]
    with pytest.raises(AnnotationError, match=r"entry 0: \"keypoints\" must be 51 numbers"):
        pose.evaluate_coco_keypoints(coco / "ann.json", [bad])
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(AnnotationError, match="broken.json: the annotation file is not a JSON file"):
        pose.evaluate_coco_keypoints(tmp_path / "broken.json", [])


def _fields(entry, **changes):
    """``entry`` with ``changes`` applied; a change to ``...`` (Ellipsis) removes that key."""
    out = {**entry, **changes}
    return {k: v for k, v in out.items() if v is not ...}


_A_KEYPOINTS = _result("A", 0.9)["keypoints"]


@pytest.mark.parametrize("change, message", [
    (dict(category_id=...), r'entry 1: a keypoint result needs "category_id"'),
    (dict(image_id=..., score=...), r'entry 1: a keypoint result needs "image_id", "score"'),
    (dict(keypoints=...), r'entry 1: a keypoint result needs "keypoints"'),
    (dict(category_id=0), r"entry 1: category_id 0 is not a category of the annotation file \(1; 1 is person\)"),
    (dict(category_id=[1]), r"entry 1: category_id \[1\] is not a category"),
    (dict(image_id=[1]), r"entry 1: image_id \[1\] is not an image of the annotation file"),
    (dict(image_id=True), r"entry 1: image_id true is not an image"),
    (dict(keypoints=_A_KEYPOINTS[:50]), r'entry 1: "keypoints" must be 51 numbers \[x1, y1, s1, \.\.\.\], got 50'),
    (dict(keypoints=["1"] * 51), r'entry 1: "keypoints" must be 51 numbers'),
    (dict(keypoints=[float("nan")] * 51), r'entry 1: "keypoints" must be 51 numbers'),
    (dict(keypoints={"x": 1}), r'entry 1: "keypoints" must be 51 numbers .* got dict'),
    (dict(score="high"), r'entry 1: "score" must be a number, got "high"'),
    (dict(score=None), r'entry 1: "score" must be a number, got null'),
])
def test_malformed_results_file_is_an_annotation_error_naming_the_entry(coco, tmp_path, capsys, change, message):
    """issue 23: `pose-eval --results` with an entry pycocotools cannot take ends in one error line naming the file
    and the entry, not in a KeyError/TypeError from pycocotools."""
    results = tmp_path / "r.json"
    results.write_text(json.dumps([_result("A", 0.9), _fields(_result("B", 0.8), **change)]))
    with pytest.raises(AnnotationError, match=f"{results}: {message}"):
        pose.evaluate_coco_keypoints(coco / "ann.json", results)
    assert main(["pose-eval", "--annotations", str(coco / "ann.json"), "--results", str(results),
                 "--out", str(tmp_path / "out")]) == 2
    assert f"{results}: entry 1: " in _err(capsys, "pose-eval")
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_result_boxes_are_not_read(coco, tmp_path):
    """A result's "bbox" is left out of the evaluation (the official test writes none): results with boxes, some
    without, or malformed ones score as the same results without any."""
    plain = [_result(n, s) for n, s in (("A", 0.9), ("B", 0.8), ("C", 0.7))]
    boxed = [_fields(r, bbox=list(PERSONS[n][1])) for r, n in zip(plain, "ABC")]
    expected = pose.evaluate_coco_keypoints(coco / "ann.json", plain)
    assert expected["AP"] == pytest.approx(1.0)
    assert pose.evaluate_coco_keypoints(coco / "ann.json", boxed) == expected
    assert pose.evaluate_coco_keypoints(coco / "ann.json", boxed[:2] + plain[2:]) == expected
    for bad in ([1, 2, 3], [1, 2, "3", 4], None):
        assert pose.evaluate_coco_keypoints(coco / "ann.json", [boxed[0], _fields(boxed[1], bbox=bad), boxed[2]]) \
            == expected


def _annotations(coco, tmp_path, where, **change):
    """A copy of the fixture's annotation file with ``change`` applied to annotations entry 1 (``where="ann"``),
    images entry 1 (``"img"``) or the whole file (``"file"``); returns its path."""
    data = json.loads((coco / "ann.json").read_text())
    if where == "ann":
        data["annotations"][1] = _fields(data["annotations"][1], **change)
    elif where == "img":
        data["images"][1] = _fields(data["images"][1], **change)
    else:
        data = _fields(data, **change)
    path = tmp_path / "bad_ann.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("where, change, message", [
    ("ann", dict(bbox=[180, 40, 100]), r'annotations entry 1 \(id 2\): "bbox" must be \[x, y, w, h\], 4 finite '
                                        r'numbers with w, h >= 0, got \[180, 40, 100\]'),
    ("ann", dict(bbox="180,40,100,150"), r'annotations entry 1 \(id 2\): "bbox" must be'),
    ("ann", dict(bbox=[180, 40, "100", 150]), r'annotations entry 1 \(id 2\): "bbox" must be'),
    ("ann", dict(bbox=[180, 40, -100, 150]), r'annotations entry 1 \(id 2\): "bbox" must be'),
    ("ann", dict(bbox=...), r'annotations entry 1 \(id 2\): a keypoint annotation needs "bbox"'),
    ("ann", dict(area=..., iscrowd=...), r'annotations entry 1 \(id 2\): a keypoint annotation needs "area", '
                                         r'"iscrowd"'),
    ("ann", dict(area="big"), r'annotations entry 1 \(id 2\): "area" must be a number >= 0, got "big"'),
    ("ann", dict(iscrowd="no"), r'annotations entry 1 \(id 2\): "iscrowd" must be 0 or 1, got "no"'),
    ("ann", dict(keypoints=...), r'annotations entry 1 \(id 2\): a keypoint annotation needs "keypoints"'),
    ("ann", dict(keypoints=[0] * 48), r'annotations entry 1 \(id 2\): "keypoints" must be 51 numbers .* got 48 '
                                      r'values'),
    ("ann", dict(num_keypoints=...), r'annotations entry 1 \(id 2\): a keypoint annotation needs "num_keypoints"'),
    ("ann", dict(num_keypoints=1.5), r'annotations entry 1 \(id 2\): "num_keypoints" must be a whole number'),
    ("ann", dict(category_id=...), r'annotations entry 1 \(id 2\): a keypoint annotation needs "category_id"'),
    ("ann", dict(image_id=7), r"annotations entry 1 \(id 2\): image_id 7 is not the id of an image of the file"),
    ("ann", dict(image_id=[1]), r"annotations entry 1 \(id 2\): image_id \[1\] is not the id of an image"),
    ("ann", dict(id=1), r"annotations entry 1 \(id 1\): the id is also that of annotations entry 0"),
    ("ann", dict(id=[2]), r'annotations entry 1: "id" must be an integer or a string, got \[2\]'),
    ("img", dict(id=1), r"images entry 1: id 1 is also the id of images entry 0"),
    ("img", dict(file_name=2), r'images entry 1 \(id 2\): "file_name" must be a file name, got 2'),
    ("img", dict(width="320"), r'images entry 1 \(id 2\): "width" must be a number > 0, got "320"'),
    ("file", dict(categories=[{"name": "person"}]), r'categories entry 0 needs an "id"'),
])
def test_malformed_annotation_file_is_an_annotation_error_naming_the_entry(coco, tmp_path, capsys, where, change,
                                                                         message):
    """issue 23: an annotation file that pycocotools (or the ground-truth boxes) cannot take is named with the entry
    (index and id), by the evaluation of a results file and by pose-eval --gt-boxes before any inference."""
    path = _annotations(coco, tmp_path, where, **change)
    with pytest.raises(AnnotationError, match=f"{path}: {message}"):
        pose.evaluate_coco_keypoints(path, [_result("A", 0.9), _result("B", 0.8)])
    model = OracleModel()
    with pytest.raises(AnnotationError, match=f"{path}: {message}"):
        pose.pose_eval(model, path, coco / "images", None, flip_test=False)
    assert model.calls == 0
    with pytest.raises(AnnotationError, match=f"the annotations: {message}"):
        pose.gt_person_boxes(json.loads(path.read_text()))
    results = tmp_path / "r.json"
    results.write_text(json.dumps([_result("A", 0.9)]))
    assert main(["pose-eval", "--annotations", str(path), "--results", str(results), "--out", str(tmp_path)]) == 2
    assert f"{path}: " in _err(capsys, "pose-eval")


def test_missing_pycocotools_is_a_dependency_error(coco, monkeypatch, capsys, tmp_path):
    for name in ("pycocotools", "pycocotools.coco", "pycocotools.cocoeval"):
        monkeypatch.setitem(sys.modules, name, None)  # `import pycocotools.coco` now raises ImportError
    with pytest.raises(DependencyError, match=r'pip install "tubelet\[coco\]"'):
        pose.evaluate_coco_keypoints(coco / "ann.json", [])
    results = tmp_path / "r.json"
    results.write_text(json.dumps([_result("A", 0.9)]))
    assert main(["pose-eval", "--annotations", str(coco / "ann.json"), "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tubelet pose-eval: error: COCO keypoint evaluation needs pycocotools")
    assert 'pip install "tubelet[coco]"' in err


# -- rescoring, OKS, OKS-NMS, the result format -------------------------------------------------------------------

def test_rescore_is_box_score_times_mean_of_confident_keypoints():
    scores = np.array([0.9, 0.7, 0.2, 0.1] + [0.0] * 13)  # 0.2 is not above the threshold 0.2
    assert pose.rescore(0.5, scores) == pytest.approx(0.5 * 0.8)
    assert pose.rescore(0.5, np.full(17, 0.2)) == 0.0


def test_oks_on_a_hand_example():
    """Only the nose (sigma 0.026) off, by d with d^2 = 2 * 10000 * (2 * 0.026)^2: its term is exp(-1), the 16
    others 1."""
    g = np.zeros((17, 2))
    d = np.zeros((1, 17, 2))
    d[0, 0] = [math.sqrt(2 * 10000 * (2 * 0.026) ** 2), 0.0]
    assert pose.oks_iou(g, d, 10000, [10000]) == pytest.approx([(16 + math.exp(-1)) / 17])
    # the area in OKS-NMS is the mean of the two persons' areas
    assert pose.oks_iou(g, d, 5000, [15000]) == pytest.approx([(16 + math.exp(-1)) / 17])


def test_oks_nms_drops_a_duplicate():
    a, b = _keypoints("A"), _keypoints("B")
    kpts = [a, b, a + 1.0, a + 40.0]  # 2: a duplicate of A (OKS ~0.97); 3: far enough to be another person
    scores, areas = [0.8, 0.7, 0.9, 0.6], [15000] * 4
    assert pose.oks_iou(kpts[2], np.array([a]), 15000, [15000])[0] > 0.9
    assert pose.oks_nms(kpts, scores, areas) == [2, 1, 3]
    assert pose.oks_nms(kpts, scores, areas, thr=0.999) == [2, 0, 1, 3]


def test_coco_result_format():
    persons = [{"bbox": [1.0, 2.0, 30.0, 40.0], "keypoints": _keypoints("C"), "keypoint_scores": np.linspace(0, 1, 17),
                "score": 0.42, "image_id": 5}]
    (r,) = pose.coco_keypoint_results(persons)
    assert set(r) == {"image_id", "category_id", "keypoints", "score", "bbox"}
    assert r["image_id"] == 5 and r["category_id"] == 1 and r["score"] == 0.42 and r["bbox"] == [1, 2, 30, 40]
    assert len(r["keypoints"]) == 51 and all(isinstance(v, float) for v in r["keypoints"])
    assert r["keypoints"][2::3] == pytest.approx(np.linspace(0, 1, 17))
    assert np.reshape(r["keypoints"], (17, 3))[:, :2] == pytest.approx(_keypoints("C"))
    json.dumps(r)


# -- boxes -----------------------------------------------------------------------------------------------------------

def test_boxes_file_formats(tmp_path):
    plain = tmp_path / "plain.json"
    plain.write_text("[[1, 2, 30, 40], [5.5, 6, 7, 8]]")
    assert [(b.bbox, b.score, b.image_id) for b in pose.read_boxes(plain)] == [((1, 2, 30, 40), 1.0, None),
                                                                             ((5.5, 6, 7, 8), 1.0, None)]
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"image_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5, "category_id": 1},
                                {"image_id": 3, "bbox": [1, 2, 3, 4], "score": 0.9, "category_id": 2},  # not a person
                                {"image_id": 4, "bbox": [9, 9, 9, 9], "score": 0.7, "category_id": 1}]))
    boxes = pose.read_boxes(dets)
    assert [(b.image_id, b.score) for b in boxes] == [(3, 0.5), (4, 0.7)]
    assert [b.image_id for b in pose.boxes_for_image(boxes, "val2017/000000000004.jpg")] == [4]
    with pytest.raises(UsageError, match="detections are of 2 images .* none is the image id of cat.jpg"):
        pose.boxes_for_image(boxes, "cat.jpg", str(dets))
    assert pose.parse_box(" 10, 20,30,40").bbox == (10, 20, 30, 40)


@pytest.mark.parametrize("content, message", [
    ("[[1, 2, 3]]", r"bad.json: entry 0: expected a box \[x, y, w, h\] of 4 numbers, got \[1, 2, 3\]"),
    ('[[1, 2, 3, 4], [1, 2, -3, 4]]', r"bad.json: entry 1: box \[1, 2, -3, 4\] has a width or height <= 0"),
    ('[[0, 0, 10, 0]]', r"bad.json: entry 0: box \[0, 0, 10, 0\] has a width or height <= 0"),
    ('[[1, 2, "3", 4]]', r"bad.json: entry 0: expected a box"),
    ('[{"image_id": 1, "score": 0.5}]', r"bad.json: entry 0: a detection needs a \"bbox\""),
    ('[{"bbox": [1, 2, 3, 4], "score": "high"}]', r"bad.json: entry 0: the score must be a number"),
    ('{"boxes": []}', r"bad.json: expected a JSON list of boxes"),
    ("[[1, 2, 3, 4]", r"bad.json: not a JSON file"),
])
def test_malformed_boxes_files_are_named(tmp_path, content, message):
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(AnnotationError, match=message):
        pose.read_boxes(tmp_path / "bad.json")


def test_boxes_outside_the_image_and_bad_box_values():
    inside = pose.PersonBox((310.0, 230.0, 50.0, 50.0), origin="--box 310,230,50,50")  # overlaps the corner
    pose.check_boxes([inside], 320, 240)
    for box in [(320, 0, 10, 10), (0, 240, 10, 10), (-20, 0, 20, 10), (0, -10, 5, 10)]:
        with pytest.raises(UsageError, match=r"--box X: box .* lies entirely outside img.png \(320x240"):
            pose.check_boxes([pose.PersonBox(box, origin="--box X")], 320, 240, "img.png")
    for text in ["1,2,3", "a,b,c,d", "1,2,0,4"]:
        with pytest.raises(UsageError, match="--box"):
            pose.parse_box(text)


def test_gt_boxes_as_mmpose_cleans_them(coco):
    data = json.loads((coco / "ann.json").read_text())
    data["annotations"].append({**data["annotations"][0], "id": 9, "bbox": [300, 200, 50, 50]})  # clipped to the image
    data["annotations"].append({**data["annotations"][0], "id": 10, "iscrowd": 1})  # crowd: skipped
    data["annotations"].append({**data["annotations"][0], "id": 11, "num_keypoints": 0})  # no keypoints: skipped
    boxes = pose.gt_person_boxes(data)
    assert [b.bbox for b in boxes] == [(20, 40, 99, 149), (180, 40, 99, 149), (100, 80, 39, 59), (300, 200, 19, 39)]


# -- drawing ---------------------------------------------------------------------------------------------------------

def test_drawing_puts_limbs_and_confident_keypoints_where_they_are(tmp_path):
    image = np.zeros((80, 100, 3), dtype=np.uint8)
    kpts, scores = np.zeros((17, 2)), np.zeros(17)
    kpts[5], scores[5] = (20, 40), 0.9  # left shoulder
    kpts[7], scores[7] = (60, 40), 0.8  # left elbow: limb 5-7, both left
    kpts[6], scores[6] = (80, 10), 0.1  # right shoulder below the threshold: neither it nor limb 5-6 is drawn
    person = {"keypoints": kpts, "keypoint_scores": scores, "bbox": [4, 4, 90, 70]}
    pose.draw_poses(image, [person], radius=3, width=3).save(tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as im:
        assert im.size == (100, 80)
        drawn = np.asarray(im.convert("RGB"))
    assert tuple(drawn[40, 40]) == pose.LEFT_COLOUR  # the middle of the limb
    assert tuple(drawn[40, 20]) == pose.LEFT_COLOUR and tuple(drawn[40, 60]) == pose.LEFT_COLOUR  # the dots
    assert tuple(drawn[10, 80]) == (0, 0, 0) and tuple(drawn[25, 50]) == (0, 0, 0)
    assert tuple(drawn[30, 5]) == pose.BOX_COLOUR and tuple(drawn[30, 30]) == (0, 0, 0)
    assert tuple(drawn[60, 40]) == (0, 0, 0) and image.max() == 0  # nothing else; the input is left alone


# -- the commands ----------------------------------------------------------------------------------------------------

def _err(capsys, command):
    err = capsys.readouterr().err
    assert err.startswith(f"tubelet {command}: error: ") and err.count("\n") == 1, err
    return err


def test_bad_image_or_boxes_file_exit_2(coco, tmp_path, capsys):
    image = str(coco / "images" / "000000000001.png")
    assert main(["pose", str(tmp_path / "missing.png"), "--model", "uniformer_small_pose"]) == 2
    assert "missing.png: no such file" in _err(capsys, "pose")
    (tmp_path / "text.png").write_text("not an image")
    assert main(["pose", str(tmp_path / "text.png"), "--model", "uniformer_small_pose"]) == 2
    assert "text.png: a text file, not an image" in _err(capsys, "pose")
    (tmp_path / "boxes.json").write_text("[[1, 2, 3, 4], [1, 2, 3]]")
    assert main(["pose", image, "--model", "uniformer_small_pose", "--boxes", str(tmp_path / "boxes.json")]) == 2
    assert "boxes.json: entry 1: expected a box [x, y, w, h] of 4 numbers" in _err(capsys, "pose")
    assert main(["pose", image, "--model", "uniformer_small_pose", "--box", "400,10,20,20"]) == 2
    assert "--box 400,10,20,20: box [400, 10, 20, 20] lies entirely outside" in _err(capsys, "pose")
    assert main(["pose-eval", "--annotations", str(tmp_path / "none.json"), "--results", str(tmp_path / "r.json")]) == 2
    assert "none.json: cannot read the annotation file" in _err(capsys, "pose-eval")
    assert main(["pose-eval", "--annotations", str(coco / "ann.json"), "--images", str(coco / "images"),
                 "--model", "uniformer_small_pose"]) == 2
    assert "--boxes DETECTIONS.json" in _err(capsys, "pose-eval")


def test_pose_eval_of_a_results_file(coco, tmp_path, capsys):
    results = tmp_path / "r.json"
    results.write_text(json.dumps([_result("A", 0.9), _result("B", 0.8)]))
    out = tmp_path / "out"
    assert main(["pose-eval", "--annotations", str(coco / "ann.json"), "--results", str(results), "--out", str(out),
                 "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["metrics"]["AR"] == pytest.approx(2 / 3) and printed["num_results"] == 2
    assert json.loads((out / "metrics.json").read_text()) == printed["metrics"]
    assert main(["pose-eval", "--annotations", str(coco / "ann.json"), "--results", str(results),
                 "--out", str(out)]) == 2
    assert "metrics.json: exists" in capsys.readouterr().err
    assert main(["pose-eval", "--annotations", str(coco / "ann.json"), "--results", str(results),
                 "--out", str(out), "--overwrite"]) == 0
    table = capsys.readouterr().out
    assert "    AP   AP50   AP75    APm    APl     AR" in table and "  66.3" in table and "  66.7" in table


class OracleModel(torch.nn.Module):
    """A stand-in pose model that knows where the persons' keypoints are: the TEMPLATE placed in a 2:3 box of the
    crop's height around its centre (exactly the ground truth for the boxes of PERSONS, all 2:3; the crop of a 2:3
    box is 3:4, widened, so its height is the box's x 1.25), every keypoint scored 1."""

    pretrained_cfg = PretrainedCfg(architecture="oracle", num_classes=17, input_size=(3, 256, 192),
                                   mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    def predict_keypoints(self, x, center, scale, flip_test=True, flip_pairs=None):
        self.calls += len(x)
        center, scale = torch.as_tensor(center, dtype=torch.float64), torch.as_tensor(scale, dtype=torch.float64)
        height = scale[:, 1:] * 200 / 1.25
        kp = center[:, None] + (torch.as_tensor(TEMPLATE) - 0.5)[None] * torch.tensor([2 / 3, 1.0]) * height[:, None]
        return kp.float(), torch.ones(len(x), 17, 1)


def test_pose_eval_pipeline_rescoring_and_oks_nms(coco, tmp_path):
    """pose_eval with detections through a model that is right: AP 1. A duplicate of C (1 px off, OKS with C's
    ground truth 0.975) scored above A is suppressed by OKS-NMS; without NMS it is a false positive ranked between
    true positives (precision 1 to recall 2/3, then 3/4: AP (67 + 34 x 0.75) / 101). det_thr drops a low box."""
    boxes = [pose.PersonBox(PERSONS[n][1], s, PERSONS[n][0], n) for n, s in (("A", 0.9), ("B", 0.8), ("C", 0.85))]
    boxes.append(pose.PersonBox((101.0, 80.0, 40.0, 60.0), 0.95, 2, "C'"))
    boxes.append(pose.PersonBox((200.0, 20.0, 50.0, 50.0), 0.05, 2, "low"))
    model = OracleModel()
    metrics, results = pose.pose_eval(model, coco / "ann.json", coco / "images", boxes, det_thr=0.1, flip_test=False)
    assert model.calls == 4  # the low-scored box is never run
    assert metrics == {n: pytest.approx(1.0) for n in pose.STAT_NAMES}
    assert sorted(r["score"] for r in results) == pytest.approx([0.8, 0.9, 0.95])  # box score x mean score 1
    metrics, results = pose.pose_eval(model, coco / "ann.json", coco / "images", boxes, det_thr=0.1, flip_test=False,
                                      oks_thr=None)
    assert len(results) == 4
    assert metrics["AP"] == pytest.approx((67 + 34 * 0.75) / 101, abs=1e-9) and metrics["AR"] == pytest.approx(1.0)
    (tmp_path / "000000000001.png").write_bytes((coco / "images" / "000000000001.png").read_bytes())
    with pytest.raises(UsageError, match=r"1 of the 2 images with person boxes are not there \(e.g. 000000000002.png"):
        pose.pose_eval(model, coco / "ann.json", tmp_path, boxes, flip_test=False)
    assert model.calls == 8  # found before any inference
    # ground-truth boxes: cleaned (w - 1, h - 1), so the oracle is a little off, but every person is found
    metrics, results = pose.pose_eval(model, coco / "ann.json", coco / "images", None, flip_test=False)
    assert len(results) == 3 and metrics["AP50"] == pytest.approx(1.0)


def test_pose_command_end_to_end(coco, tmp_path, capsys):
    """The real uniformer_small_pose with random weights on one image, two boxes: exit 0, the COCO results file
    and a drawing of the image's size."""
    image = str(coco / "images" / "000000000001.png")
    boxes = tmp_path / "dets.json"
    boxes.write_text(json.dumps([{"image_id": 1, "bbox": [20, 40, 100, 150], "score": 0.5, "category_id": 1},
                                 {"image_id": 1, "bbox": [180, 40, 100, 150], "score": 0.9, "category_id": 1}]))
    out = tmp_path / "out"
    assert main(["pose", image, "--model", "uniformer_small_pose", "--boxes", str(boxes), "--out", str(out),
                 "--no-flip", "--json", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert "weights are random" in captured.err
    written = json.loads((out / "000000000001_keypoints.json").read_text())
    assert [r["image_id"] for r in written] == [1, 1] and [r["bbox"] for r in written] == [[20, 40, 100, 150],
                                                                                            [180, 40, 100, 150]]
    for r, p, box_score in zip(written, printed["persons"], (0.5, 0.9)):
        assert r["category_id"] == 1 and len(r["keypoints"]) == 51
        assert r["score"] == pytest.approx(pose.rescore(box_score, r["keypoints"][2::3]))
        assert np.reshape(r["keypoints"], (17, 3)) == pytest.approx(np.array(p["keypoints"]))
    with Image.open(out / "000000000001_pose.png") as im:
        assert im.size == (320, 240)
    # no boxes: the whole image, said on stderr; the summary on stdout
    assert main(["pose", image, "--model", "uniformer_small_pose", "--out", str(out), "--no-flip"]) == 2
    assert "000000000001_keypoints.json (and 1 more): exists (from an earlier run?); pass --overwrite" in \
        capsys.readouterr().err  # an earlier run's files are not replaced unless asked
    assert main(["pose", image, "--model", "uniformer_small_pose", "--out", str(out), "--no-flip",
                 "--overwrite"]) == 0
    captured = capsys.readouterr()
    assert "the whole image is one person box" in captured.err
    assert "1 person (the whole image)" in captured.out and "_pose.png" in captured.out


def test_pose_eval_end_to_end(coco, tmp_path, capsys):
    """pose-eval with the real model on a detections file: the box below --det-thr is dropped, one crop runs."""
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"image_id": 2, "bbox": [100, 80, 40, 60], "score": 0.9, "category_id": 1},
                                {"image_id": 1, "bbox": [20, 40, 100, 150], "score": 0.2, "category_id": 1}]))
    out = tmp_path / "eval"
    assert main(["pose-eval", "--annotations", str(coco / "ann.json"), "--images", str(coco / "images"),
                 "--boxes", str(dets), "--det-thr", "0.5", "--model", "uniformer_small_pose", "--out", str(out),
                 "--no-flip", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert list(printed["metrics"]) == list(pose.STAT_NAMES) and printed["num_results"] == 1
    (result,) = json.loads((out / "result_keypoints.json").read_text())
    assert result["image_id"] == 2 and result["bbox"] == [100, 80, 40, 60] and len(result["keypoints"]) == 51
    assert json.loads((out / "metrics.json").read_text()) == printed["metrics"]
