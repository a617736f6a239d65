"""Top-down human pose on images: ``tubelet pose`` (one image, given person boxes) and ``tubelet pose-eval`` (COCO
keypoint AP).

The model part (crop each person box, heatmaps, decode) is :func:`tubelet.keypoints.estimate_poses`; this module
adds what a run around it needs, with the settings of the official UniFormer pose test (mmpose 0.16,
``TopDownCocoDataset``):

* person boxes from ``--box x,y,w,h``, a boxes file (a list of ``[x, y, w, h]`` or COCO detection results) or the
  ground-truth boxes of a COCO annotation file (:func:`read_boxes`, :func:`parse_box`, :func:`gt_person_boxes`);
* rescoring: a person's score = box score x the mean of its keypoint scores above 0.2 (``vis_thr``; 0 when none is)
  (:func:`rescore`);
* OKS non-maximum suppression of duplicate persons in an image (``oks_thr`` 0.9) (:func:`oks_iou`, :func:`oks_nms`);
* results in the COCO keypoint result format (:func:`coco_keypoint_results`) and their COCO keypoint AP with
  pycocotools' ``COCOeval`` (:func:`evaluate_coco_keypoints`; ``pip install "tubelet[coco]"``);
* the image with boxes, skeletons and keypoints drawn on it (:func:`draw_poses`).
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.images import read_image as read_image_array
from ..errors import AnnotationError, DependencyError, UsageError
from ..data.coco import check_annotation_ids, check_box_area_crowd, check_images, is_id, number, shown

__all__ = ["PersonBox", "STAT_NAMES", "RESCORE_THR", "OKS_THR", "DRAW_THR", "parse_box", "read_boxes", "check_boxes",
           "boxes_for_image", "gt_person_boxes", "read_image", "rescore", "oks_iou", "oks_nms", "estimate_persons",
           "coco_keypoint_results", "evaluate_coco_keypoints", "draw_poses", "pose_image", "pose_eval",
           "format_metrics", "load_json", "check_coco", "require_pycocotools"]

#: the COCO keypoint metrics, in the order of ``COCOeval.stats`` (mmpose: 'AP', 'AP .5', 'AP .75', 'AP (M)', 'AP (L)',
#: 'AR', 'AR .5', 'AR .75', 'AR (M)', 'AR (L)')
STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
#: rescoring: keypoint scores above this count in a person's score (mmpose COCO ``data_cfg.vis_thr``)
RESCORE_THR = 0.2
#: OKS-NMS: of two persons with an OKS above this, the lower-scored one is dropped (``data_cfg.oks_thr``)
OKS_THR = 0.9
#: drawing: keypoints scored below this are not drawn, nor the limbs to them (mmpose ``vis_pose_result``)
DRAW_THR = 0.3
#: the COCO category of persons
PERSON = 1
NUM_KEYPOINTS = 17

COCO_HINT = 'pip install "tubelet[coco]"'

# drawing colours (RGB): keypoints and limbs of the left side, the right side, and the middle (face, torso links)
LEFT_COLOUR = (0, 160, 255)
RIGHT_COLOUR = (255, 96, 0)
MIDDLE_COLOUR = (0, 200, 0)
BOX_COLOUR = (255, 0, 255)


# -- person boxes ------------------------------------------------------------------------------------------------

@dataclass
class PersonBox:
    """One person box: ``bbox`` (x, y, w, h) in image pixels, the detector's ``score`` (1 for a given or
    ground-truth box), the COCO ``image_id`` when known, and ``origin``, where it came from (for messages)."""
    bbox: tuple[float, float, float, float]
    score: float = 1.0
    image_id: int | None = None
    origin: str = field(default="", compare=False)




def _make_box(values, score, image_id, origin: str, error) -> PersonBox:
    nums = [number(v) for v in values] if isinstance(values, (list, tuple)) else [None]
    if len(nums) != 4 or None in nums:
        raise error(f"{origin}: expected a box [x, y, w, h] of 4 numbers, got {json.dumps(values)}")
    x, y, w, h = nums
    if w <= 0 or h <= 0:
        raise error(f"{origin}: box [{x:g}, {y:g}, {w:g}, {h:g}] has a width or height <= 0 (boxes are x, y, w, h)")
    s = number(score)
    if s is None:
        raise error(f"{origin}: the score must be a number, got {json.dumps(score)}")
    return PersonBox((x, y, w, h), s, image_id, origin)


def parse_box(text: str, origin: str = "--box") -> PersonBox:
    """``--box x,y,w,h`` (pixels, w and h > 0) as a :class:`PersonBox` of score 1.

    Raises:
        UsageError: not four numbers, or a width or height <= 0; the message quotes the value.
    """
    try:
        values = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        values = None
    if values is None or len(values) != 4:
        raise UsageError(f"{origin}: expected x,y,w,h (4 numbers, e.g. 10,20,100,200), got {text!r}")
    return _make_box(values, 1.0, None, f"{origin} {text}", UsageError)


def read_boxes(path: str | Path) -> list[PersonBox]:
    """The person boxes of a JSON file: a list of ``[x, y, w, h]`` (score 1), or of COCO detection results
    ``{"image_id", "bbox": [x, y, w, h], "score", "category_id"}`` (entries of another category than 1, person,
    are skipped, as mmpose does; a missing ``score`` is 1, a missing ``category_id`` person).

    Raises:
        AnnotationError: the file cannot be read or parsed, or an entry is malformed or has a width or height <= 0;
            the message names the file and the entry (0-based).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise AnnotationError(f"{path}: cannot read the boxes file ({e.strerror or e})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AnnotationError(f"{path}: not a JSON file ({e})") from None
    if not isinstance(data, list):
        raise AnnotationError(f"{path}: expected a JSON list of boxes [x, y, w, h] or of COCO detection results "
                              f"{{\"image_id\", \"bbox\", \"score\", \"category_id\"}}, got a {type(data).__name__}")
    boxes = []
    for i, entry in enumerate(data):
        origin = f"{path}: entry {i}"
        if isinstance(entry, dict):
            if "bbox" not in entry:
                raise AnnotationError(f"{origin}: a detection needs a \"bbox\": [x, y, w, h], got "
                                      f"{json.dumps(entry)[:200]}")
            category = entry.get("category_id", PERSON)
            if category != PERSON:
                continue
            image_id = entry.get("image_id")
            if image_id is not None and (isinstance(image_id, bool) or not isinstance(image_id, (int, str))):
                raise AnnotationError(f"{origin}: \"image_id\" must be an integer or a string, got "
                                      f"{json.dumps(image_id)}")
            box = _make_box(entry["bbox"], entry.get("score", 1.0), image_id, origin, AnnotationError)
        else:
            box = _make_box(entry, 1.0, None, origin, AnnotationError)
        boxes.append(box)
    return boxes


def check_boxes(boxes: list[PersonBox], width: int, height: int, image: str = "the image") -> None:
    """Raises :class:`UsageError` for a box that lies entirely outside a ``width`` x ``height`` image, naming where
    the box came from."""
    for b in boxes:
        x, y, w, h = b.bbox
        if x >= width or y >= height or x + w <= 0 or y + h <= 0:
            raise UsageError(f"{b.origin}: box [{x:g}, {y:g}, {w:g}, {h:g}] lies entirely outside {image} "
                             f"({width}x{height}; boxes are x, y, w, h in pixels)")


def _image_id_of(path: str | Path) -> int | None:
    stem = Path(path).stem
    return int(stem) if stem.isdigit() else None


def boxes_for_image(boxes: list[PersonBox], image: str | Path, source: str = "the boxes file") -> list[PersonBox]:
    """The boxes that belong to ``image``: all of them when they name at most one ``image_id``; else those of the
    image id in the file's name (COCO names, 000000397133.jpg = 397133).

    Raises:
        UsageError: several image ids and none is the file name's.
    """
    ids = {b.image_id for b in boxes if b.image_id is not None}
    if len(ids) <= 1:
        return boxes
    own = _image_id_of(image)
    mine = [b for b in boxes if b.image_id == own] if own is not None else []
    if not mine:
        shown = ", ".join(map(str, sorted(ids, key=str)[:5])) + (", ..." if len(ids) > 5 else "")
        raise UsageError(f"{source}: its detections are of {len(ids)} images ({shown}) and none is the image id of "
                         f"{Path(image).name}; keep one image's detections or name the image by its COCO id")
    return mine


# -- COCO annotations ------------------------------------------------------------------------------------------

def load_json(path: str | Path, what: str):
    try:
        return json.loads(Path(path).read_text())
    except OSError as e:
        raise AnnotationError(f"{path}: cannot read the {what} ({e.strerror or e})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AnnotationError(f"{path}: the {what} is not a JSON file ({e})") from None






def _numbers(value, n: int) -> bool:
    """``value`` is a list of ``n`` finite numbers."""
    return isinstance(value, list) and len(value) == n and all(number(v) is not None for v in value)


def check_coco(data, source: str | Path = "the annotations") -> None:
    """Raise :class:`AnnotationError` for what pycocotools' keypoint evaluation (and :func:`gt_person_boxes`) cannot
    take in a COCO keypoint annotation dict, naming ``source`` and the entry (its index and id): lists "images" and
    "annotations"; images with a unique integer or string "id", a "file_name" and, when given, a "width" and
    "height" > 0; categories (when given) with an "id"; annotations with a unique "id", the "image_id" of an image,
    a "category_id", "bbox" [x, y, w, h] (4 finite numbers, w, h >= 0), "area" >= 0, "iscrowd" 0 or 1,
    "keypoints" (51 numbers) and "num_keypoints" (a whole number >= 0)."""
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations")):
        raise AnnotationError(f"{source}: not a COCO annotation file (expected an object with lists "
                              f"\"images\" and \"annotations\", as person_keypoints_val2017.json)")
    images = check_images(data, source)
    categories = data.get("categories")
    if categories is not None:
        if not isinstance(categories, list):
            raise AnnotationError(f"{source}: \"categories\" must be a list, got a {type(categories).__name__}")
        for i, cat in enumerate(categories):
            if not isinstance(cat, dict) or not is_id(cat.get("id")):
                raise AnnotationError(f"{source}: categories entry {i} needs an \"id\" (an integer or a string)")
    ids: dict = {}
    for i, ann in enumerate(data["annotations"]):
        where = check_annotation_ids(ann, i, source, images, ids)
        missing = [k for k in ("category_id", "bbox", "area", "iscrowd", "keypoints", "num_keypoints")
                   if k not in ann]
        if missing:
            raise AnnotationError(f"{where}: a keypoint annotation needs {', '.join(map(json.dumps, missing))}")
        if not is_id(ann["category_id"]):
            raise AnnotationError(f"{where}: \"category_id\" must be an integer or a string, got "
                                  f"{shown(ann['category_id'])}")
        check_box_area_crowd(ann, where)
        if not _numbers(ann["keypoints"], 3 * NUM_KEYPOINTS):
            k = ann["keypoints"]
            raise AnnotationError(f"{where}: \"keypoints\" must be {3 * NUM_KEYPOINTS} numbers [x1, y1, v1, ...], "
                                  f"got {f'{len(k)} values' if isinstance(k, list) else shown(k)}")
        n = ann["num_keypoints"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise AnnotationError(f"{where}: \"num_keypoints\" must be a whole number >= 0, got {shown(n)}")


def _load_coco(annotation_file: str | Path) -> dict:
    data = load_json(annotation_file, "annotation file")
    check_coco(data, annotation_file)
    return data


def gt_person_boxes(coco: dict, source: str | Path = "the annotations") -> list[PersonBox]:
    """The ground-truth person boxes of a COCO annotation dict, as mmpose's test with ``use_gt_bbox=True``: not
    crowd, with some labelled keypoint, the box clipped to the image (x1 = max(0, x), x2 = min(W - 1, x1 +
    max(0, w - 1)), likewise y; kept when x2 > x1 and y2 > y1 and the area is not 0), score 1.

    Raises:
        AnnotationError: a malformed annotation (:func:`check_coco`), named with ``source``.
    """
    check_coco(coco, source)
    sizes = {img["id"]: (img.get("width"), img.get("height")) for img in coco["images"]}
    boxes = []
    for ann in coco["annotations"]:
        if ann["iscrowd"] or ann["category_id"] != PERSON:
            continue
        kpts = ann["keypoints"]
        if max(kpts) == 0 or ann["num_keypoints"] == 0:
            continue
        width, height = sizes[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        x1, y1 = max(0, x), max(0, y)
        x2, y2 = x1 + max(0, w - 1), y1 + max(0, h - 1)
        if width is not None and height is not None:
            x2, y2 = min(width - 1, x2), min(height - 1, y2)
        if ann["area"] > 0 and x2 > x1 and y2 > y1:
            boxes.append(PersonBox((x1, y1, x2 - x1, y2 - y1), 1.0, ann["image_id"], f"annotation {ann['id']}"))
    return boxes


# -- images --------------------------------------------------------------------------------------------------------

def read_image(path: str | Path) -> np.ndarray:
    """An image file as an ``(H, W, 3)`` uint8 RGB array (:func:`tubelet.data.images.read_image`).

    Raises:
        ImageReadError: the file does not exist or is not an image that can be read; the message names it.
    """
    return read_image_array(path)


# -- scores and OKS-NMS ----------------------------------------------------------------------------------------------

def rescore(box_score: float, keypoint_scores, thr: float = RESCORE_THR) -> float:
    """A person's score as mmpose's COCO test computes it: ``box_score`` x the mean of the keypoint scores above
    ``thr`` (0 when none is)."""
    s = np.asarray(keypoint_scores, dtype=np.float64).reshape(-1)
    valid = s[s > thr]
    return float(box_score) * (float(valid.mean()) if valid.size else 0.0)


def _sigmas(sigmas):
    if sigmas is None:
        from ..keypoints import COCO_SIGMAS
        sigmas = COCO_SIGMAS
    return np.asarray(sigmas, dtype=np.float64)


def oks_iou(keypoints, others, area, other_areas, sigmas=None) -> np.ndarray:
    """The object keypoint similarity that OKS-NMS uses between one person's ``keypoints`` (K, 2) and each of
    ``others`` (N, K, 2): the mean over all K keypoints of exp(-d^2 / (2 s^2 (2 sigma)^2)), with d the distance
    of the two keypoints, s^2 the mean of the two persons' areas (``area``, ``other_areas`` (N,)) and sigma the
    keypoint's COCO sigma. (COCOeval's OKS differs: it uses the ground truth's area and only its labelled
    keypoints.)"""
    k = np.asarray(keypoints, dtype=np.float64)[..., :2]
    o = np.asarray(others, dtype=np.float64)[..., :2].reshape(-1, *k.shape)
    var = (2 * _sigmas(sigmas)) ** 2
    d2 = ((o - k) ** 2).sum(-1)  # (N, K)
    s2 = (float(area) + np.asarray(other_areas, dtype=np.float64).reshape(-1, 1)) / 2 + np.spacing(1)
    return np.exp(-d2 / var / s2 / 2).mean(-1)


def oks_nms(keypoints, scores, areas, thr: float = OKS_THR, sigmas=None) -> list[int]:
    """Greedy OKS non-maximum suppression of the persons of one image: take the highest-scored person left, drop
    every other whose :func:`oks_iou` with it is above ``thr``, repeat. Returns the indices kept, best first
    (equal scores: the later person first, as mmpose's reversed ascending sort)."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    scores, areas = np.asarray(scores, dtype=np.float64), np.asarray(areas, dtype=np.float64)
    order = np.argsort(scores, kind="stable")[::-1]
    keep = []
    while order.size:
        i, rest = int(order[0]), order[1:]
        keep.append(i)
        if rest.size:
            rest = rest[oks_iou(keypoints[i], keypoints[rest], areas[i], areas[rest], sigmas) <= thr]
        order = rest
    return keep


# -- the model -----------------------------------------------------------------------------------------------------

def estimate_persons(model, image: np.ndarray, boxes: list[PersonBox], flip_test: bool = True) -> list[dict]:
    """Keypoints of each person box of one image with :func:`tubelet.keypoints.estimate_poses`, rescored.

    Returns one dict per box: ``bbox``, ``box_score``, ``image_id``, ``keypoints`` (17, 2) image (x, y),
    ``keypoint_scores`` (17,), ``score`` (:func:`rescore`) and ``area``, the area of the region the model saw
    (the box widened to the input's aspect ratio, x 1.25: ``prod(scale x 200)``), which OKS-NMS uses as mmpose does.
    """
    from ..keypoints import estimate_poses

    if not boxes:
        return []
    poses = estimate_poses(model, image, np.array([b.bbox for b in boxes], dtype=np.float32), flip_test=flip_test)
    persons = []
    for b, pose in zip(boxes, poses):
        kpts = np.asarray(pose.keypoints, dtype=np.float64).reshape(NUM_KEYPOINTS, 2)
        kscores = np.asarray(pose.scores, dtype=np.float64).reshape(NUM_KEYPOINTS)
        area = np.prod(np.asarray(pose.scale, dtype=np.float32) * np.float32(200.0))  # float32, as mmpose
        persons.append({"bbox": [float(v) for v in b.bbox], "box_score": b.score, "image_id": b.image_id,
                        "keypoints": kpts, "keypoint_scores": kscores, "score": rescore(b.score, kscores),
                        "area": float(area)})
    return persons


def coco_keypoint_results(persons: list[dict], image_id=None) -> list[dict]:
    """Persons (:func:`estimate_persons`) in the COCO keypoint result format: ``{"image_id", "category_id": 1,
    "keypoints": [x1, y1, s1, ..., x17, y17, s17] (s = the keypoint's score), "score", "bbox": [x, y, w, h]}``
    (COCOeval itself reads image_id, category_id, keypoints and score)."""
    out = []
    for p in persons:
        kpts = np.concatenate([np.asarray(p["keypoints"], dtype=np.float64).reshape(-1, 2),
                               np.asarray(p["keypoint_scores"], dtype=np.float64).reshape(-1, 1)], 1)
        pid = p.get("image_id") if image_id is None else image_id
        out.append({"image_id": 0 if pid is None else pid, "category_id": PERSON,
                    "keypoints": [float(v) for v in kpts.reshape(-1)], "score": float(p["score"]),
                    "bbox": [float(v) for v in p["bbox"]]})
    return out


# -- evaluation ------------------------------------------------------------------------------------------------------

def require_pycocotools():
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as e:
        raise DependencyError(f"COCO keypoint evaluation needs pycocotools, which is not installed ({e}); "
                              f"{COCO_HINT}") from None
    return COCO, COCOeval


def _check_results(results: list, image_ids: set, category_ids: set, source: str) -> None:
    """Raise :class:`AnnotationError` for a result that pycocotools' ``loadRes`` / ``COCOeval`` cannot take, naming
    ``source`` and the entry: each needs "image_id" (of an image of the annotation file), "category_id" (one of its
    categories), "keypoints" (51 finite numbers) and "score" (a finite number). A "bbox" is not read (the evaluation
    leaves it out, as the official test writes none)."""
    if not isinstance(results, list):
        raise AnnotationError(f"{source}: expected a JSON list of COCO keypoint results, got a "
                              f"{type(results).__name__}")
    first = results[0] if results and isinstance(results[0], dict) else {}
    for key in ("caption", "segmentation"):  # loadRes would read the file as results of another kind
        if key in first:
            raise AnnotationError(f"{source}: entry 0 has a \"{key}\": not a COCO keypoint result (pycocotools "
                                  f"would read the file as {key} results)")
    needed = ("image_id", "category_id", "keypoints", "score")
    for i, r in enumerate(results):
        where = f"{source}: entry {i}"
        if not isinstance(r, dict):
            raise AnnotationError(f"{where}: a keypoint result is an object {{\"image_id\", \"category_id\", "
                                  f"\"keypoints\", \"score\"}}, got {shown(r)}")
        missing = [k for k in needed if k not in r]
        if missing:
            raise AnnotationError(f"{where}: a keypoint result needs {', '.join(map(json.dumps, missing))}; "
                                  f"it has {', '.join(map(json.dumps, r)) or 'nothing'}")
        if not is_id(r["image_id"]) or r["image_id"] not in image_ids:
            raise AnnotationError(f"{where}: image_id {shown(r['image_id'])} is not an image of the annotation file")
        if not is_id(r["category_id"]) or r["category_id"] not in category_ids:
            known = ", ".join(map(json.dumps, sorted(category_ids, key=str)))
            raise AnnotationError(f"{where}: category_id {shown(r['category_id'])} is not a category of the "
                                  f"annotation file ({known}; 1 is person)")
        k = r["keypoints"]
        if not _numbers(k, 3 * NUM_KEYPOINTS):
            raise AnnotationError(f"{where}: \"keypoints\" must be {3 * NUM_KEYPOINTS} numbers [x1, y1, s1, ...], "
                                  f"got {len(k) if isinstance(k, list) else type(k).__name__}")
        if number(r["score"]) is None:
            raise AnnotationError(f"{where}: \"score\" must be a number, got {shown(r['score'])}")


def evaluate_coco_keypoints(annotation_file: str | Path, results: list[dict] | str | Path,
                            verbose: bool = False) -> dict[str, float]:
    """COCO keypoint AP/AR of ``results`` (a list in the COCO keypoint result format, or a JSON file of one)
    against ``annotation_file`` (``person_keypoints_val2017.json``), with pycocotools' ``COCOeval(iouType=
    "keypoints")`` and its COCO sigmas, as mmpose's ``_do_python_keypoint_eval``.

    Returns ``{"AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"}`` (``COCOeval.stats`` in
    that order; -1 where an area range has no ground truth). No results at all score 0. ``verbose``: pycocotools'
    own report on stderr.

    Raises:
        DependencyError: pycocotools is not installed.
        AnnotationError: a file that cannot be read, a malformed annotation (:func:`check_coco`), or a malformed
            result (missing or malformed "image_id", "category_id", "keypoints" or "score"), or one of an image or
            a category not in the annotation file; the message names the file and the entry.
    """
    COCO, COCOeval = require_pycocotools()
    data = _load_coco(annotation_file)
    source = "results"
    if not isinstance(results, list):
        source = str(results)
        results = load_json(results, "results file")
    if data.get("categories") is None:
        data["categories"] = [{"id": PERSON, "name": "person"}]
    _check_results(results, {img["id"] for img in data["images"]}, {c["id"] for c in data["categories"]}, source)
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        gt = COCO()
        gt.dataset = data
        gt.createIndex()
        if results:
            # without "bbox", as the official test writes its results (image_id, category_id, keypoints, score): with
            # one, pycocotools takes a result's area from its box instead of its keypoints' extent, and the area
            # decides which false positives count in the medium / large ranges (APm, APl, ARm, ARl)
            dt = gt.loadRes([{k: copy.deepcopy(v) for k, v in r.items() if k != "bbox"} for r in results])
        else:  # loadRes cannot take an empty list: an empty result set scores 0
            dt = COCO()
            dt.dataset = {"images": data["images"], "categories": data["categories"], "annotations": []}
            dt.createIndex()
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.useSegm = None
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    if verbose:
        print(report.getvalue(), end="", file=sys.stderr)
    return {name: float(v) for name, v in zip(STAT_NAMES, ev.stats)}


def format_metrics(metrics: dict[str, float]) -> str:
    """The ten COCO keypoint metrics as a two-line table (in %; -1 stays -1: no ground truth in that range)."""
    head = " ".join(f"{n:>6}" for n in STAT_NAMES)
    row = " ".join(f"{metrics[n] * 100:6.1f}" if metrics[n] >= 0 else f"{-1:6d}" for n in STAT_NAMES)
    return f"{head}\n{row}"


# -- drawing ---------------------------------------------------------------------------------------------------------

def _side(i: int) -> tuple[int, int, int]:
    return MIDDLE_COLOUR if i == 0 else LEFT_COLOUR if i % 2 else RIGHT_COLOUR


def _limb_colour(a: int, b: int) -> tuple[int, int, int]:
    return _side(a) if _side(a) == _side(b) else MIDDLE_COLOUR


def draw_poses(image, persons: list[dict], kpt_thr: float = DRAW_THR, radius: int | None = None,
               width: int | None = None, boxes: bool = True):
    """``image`` (an (H, W, 3) uint8 RGB array or a PIL image) with each person's box (magenta), the COCO
    skeleton (lines) and keypoints (dots) drawn on it: left side blue, right side orange, face and torso links
    green. A keypoint scored below ``kpt_thr`` is not drawn, nor a limb to it. Returns a new RGB PIL image of the
    same size; ``radius`` of the dots and ``width`` of the lines default to the image size."""
    from PIL import Image, ImageDraw

    from ..keypoints import COCO_SKELETON

    im = image.convert("RGB") if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
    im = im.copy()
    draw = ImageDraw.Draw(im)
    side = max(im.size)
    radius = max(2, round(side / 200)) if radius is None else radius
    width = max(1, round(side / 320)) if width is None else width
    for p in persons:
        kpts = np.asarray(p["keypoints"], dtype=np.float64).reshape(-1, 2)
        scores = np.asarray(p["keypoint_scores"], dtype=np.float64).reshape(-1)
        if boxes and p.get("bbox") is not None:
            x, y, w, h = p["bbox"]
            draw.rectangle([x, y, x + w, y + h], outline=BOX_COLOUR, width=width)
        for a, b in COCO_SKELETON:
            if scores[a] >= kpt_thr and scores[b] >= kpt_thr:
                draw.line([tuple(kpts[a]), tuple(kpts[b])], fill=_limb_colour(a, b), width=width)
        for i, ((x, y), s) in enumerate(zip(kpts, scores)):
            if s >= kpt_thr:
                draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=_side(i))
    return im


# -- the two runs ----------------------------------------------------------------------------------------------------

def pose_image(model, image_path: str | Path, boxes: list[PersonBox] | None = None, out_dir: str | Path = ".",
               flip_test: bool = True, image_id=None, kpt_thr: float = DRAW_THR,
               image: np.ndarray | None = None) -> dict:
    """``tubelet pose``: the keypoints of each person box of one image (no boxes: the whole image is one box),
    written as ``OUT/<stem>_keypoints.json`` (COCO keypoint results) and drawn in ``OUT/<stem>_pose.png``.

    Returns ``{"image", "width", "height", "whole_image", "persons": [{"bbox", "box_score", "score",
    "keypoints": [[x, y, score] x 17]}], "json", "png", "seconds"}``.

    ``image``: the file's pixels when already read (:func:`read_image`).

    Raises:
        UsageError: the image cannot be read, or a box lies entirely outside it.
    """
    t0 = time.perf_counter()
    image = read_image(image_path) if image is None else image
    height, width = image.shape[:2]
    whole = not boxes
    if whole:
        boxes = [PersonBox((0.0, 0.0, float(width), float(height)), 1.0, None, "the whole image")]
    check_boxes(boxes, width, height, str(image_path))
    if image_id is None:
        image_id = next((b.image_id for b in boxes if b.image_id is not None), None)
    if image_id is None:
        image_id = _image_id_of(image_path) or 0
    persons = estimate_persons(model, image, boxes, flip_test=flip_test)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(image_path).stem
    json_path, png_path = out / f"{stem}_keypoints.json", out / f"{stem}_pose.png"
    from ..atomic import write_atomically  # whole files only, even when interrupted

    text = json.dumps(coco_keypoint_results(persons, image_id), indent=1).encode()
    write_atomically(json_path, lambda f: f.write(text))
    drawing = draw_poses(image, persons, kpt_thr=kpt_thr)
    write_atomically(png_path, lambda f: drawing.save(f, format="PNG"))
    return {"image": str(image_path), "width": width, "height": height, "whole_image": whole,
            "persons": [{"bbox": p["bbox"], "box_score": p["box_score"], "score": p["score"],
                         "keypoints": [[float(x), float(y), float(s)] for (x, y), s in
                                       zip(p["keypoints"], p["keypoint_scores"])]} for p in persons],
            "json": str(json_path), "png": str(png_path), "seconds": round(time.perf_counter() - t0, 3)}


def pose_eval(model, annotation_file: str | Path, image_dir: str | Path, boxes: list[PersonBox] | None = None,
              det_thr: float = 0.0, flip_test: bool = True, oks_thr: float | None = OKS_THR,
              out_dir: str | Path | None = None, progress=None) -> tuple[dict, list[dict]]:
    """``tubelet pose-eval``: the official top-down COCO keypoint test. Each person box (``boxes``: detections
    with an ``image_id``, those scored below ``det_thr`` dropped; None: the annotation file's ground-truth boxes,
    :func:`gt_person_boxes`) through the model, rescored (:func:`rescore`), OKS-NMS per image (``oks_thr``; None:
    off), then :func:`evaluate_coco_keypoints`. With ``out_dir``: ``result_keypoints.json`` and ``metrics.json``
    there. ``progress(done, total)`` is called after each image. Returns (metrics, results).

    Raises:
        AnnotationError: an unreadable annotation file, a detection without an image id or of an image not in it.
        UsageError: an image that cannot be read, or a box entirely outside its image.
    """
    require_pycocotools()  # before hours of inference
    coco = _load_coco(annotation_file)
    images = {img["id"]: img for img in coco["images"]}
    if boxes is None:
        boxes = gt_person_boxes(coco, annotation_file)
    else:
        for b in boxes:
            if b.image_id is None:
                raise AnnotationError(f"{b.origin}: a detection for pose-eval needs an \"image_id\" (a list of "
                                      f"COCO detection results)")
            if b.image_id not in images:
                raise AnnotationError(f"{b.origin}: image_id {b.image_id!r} is not an image of {annotation_file}")
        boxes = [b for b in boxes if b.score >= det_thr]
    by_image: dict = {}
    for b in boxes:
        by_image.setdefault(b.image_id, []).append(b)
    missing = [images[i]["file_name"] for i in by_image if not (Path(image_dir) / images[i]["file_name"]).is_file()]
    if missing:  # before any inference
        raise UsageError(f"{image_dir}: {len(missing)} of the {len(by_image)} images with person boxes are not there "
                         f"(e.g. {missing[0]}); --images is the folder of the annotation file's file_name entries")
    results = []
    for n, (image_id, image_boxes) in enumerate(by_image.items(), 1):
        path = Path(image_dir) / images[image_id]["file_name"]
        image = read_image(path)
        check_boxes(image_boxes, image.shape[1], image.shape[0], str(path))
        persons = estimate_persons(model, image, image_boxes, flip_test=flip_test)
        if oks_thr is not None and persons:
            keep = oks_nms([p["keypoints"] for p in persons], [p["score"] for p in persons],
                           [p["area"] for p in persons], oks_thr)
            persons = [persons[i] for i in keep]
        results += coco_keypoint_results(persons, image_id)
        if progress is not None:
            progress(n, len(by_image))
    metrics = evaluate_coco_keypoints(annotation_file, results)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        from ..atomic import write_text  # whole files only, even when interrupted

        write_text(out / "result_keypoints.json", json.dumps(results))
        write_text(out / "metrics.json", json.dumps(metrics, indent=1))
    return metrics, results
