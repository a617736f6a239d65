"""``tubelet pose`` and ``tubelet pose-eval``: top-down human keypoints of an image and COCO keypoint AP
(:mod:`tubelet.tasks.pose`)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..atomic import write_text
from ..errors import UsageError
from ..tasks.pose import (DRAW_THR, NUM_KEYPOINTS, OKS_THR, boxes_for_image, check_boxes, evaluate_coco_keypoints,
                          format_metrics, load_json, parse_box, pose_eval, pose_image, read_boxes, read_image,
                          require_pycocotools)
from .common import OVERWRITE_HELP, add_model_arguments, check_new_files, model_from_args, probability, \
    random_weights_note, report_coco_eval

POSE_MODEL_HELP = "uniformer_small_pose or uniformer_base_pose; optional with a tubelet checkpoint"


def _random_weights_note(args) -> None:
    random_weights_note(args, "the keypoints mean nothing", stream=sys.stderr)


def cmd_pose(args) -> int:
    boxes = [parse_box(t) for t in args.box or []]
    if args.boxes:
        boxes += boxes_for_image(read_boxes(args.boxes), args.image, args.boxes)
        boxes = [b for b in boxes if b.score >= args.det_thr]
        if not boxes:
            raise UsageError(f"{args.boxes}: no person box scored {args.det_thr:g} or more")
    image = read_image(args.image)  # a bad image or box fails before the model is built
    check_boxes(boxes, image.shape[1], image.shape[0], args.image)
    stem = Path(args.out) / Path(args.image).stem
    check_new_files([f"{stem}_keypoints.json", f"{stem}_pose.png"], args)
    model = model_from_args(args, "pose")
    if not boxes:
        print("tubelet pose: note: no --box or --boxes, so the whole image is one person box", file=sys.stderr)
    _random_weights_note(args)
    result = pose_image(model, args.image, boxes, args.out, flip_test=not args.no_flip, image_id=args.image_id,
                        image=image)
    name = args.model or model.pretrained_cfg.architecture
    if args.json:
        print(json.dumps({"model": name, **result}))
        return 0
    n = len(result["persons"])
    print(f"{name}: {args.image} {result['width']}x{result['height']}, {n} person{'s' * (n != 1)}"
          f"{' (the whole image)' if result['whole_image'] else ''}, "
          f"{'flip test' if not args.no_flip else 'no flip test'}, {result['seconds'] * 1000:.0f} ms")
    for i, p in enumerate(result["persons"]):
        seen = sum(k[2] >= DRAW_THR for k in p["keypoints"])
        x, y, w, h = p["bbox"]
        print(f"  person {i}: box [{x:.0f}, {y:.0f}, {w:.0f}, {h:.0f}] score {p['score']:.3f} (box "
              f"{p['box_score']:.3f}), {seen}/{NUM_KEYPOINTS} keypoints scored >= {DRAW_THR}")
    print(f"-> {result['json']}, {result['png']}")
    return 0


def cmd_pose_eval(args) -> int:
    t0 = time.perf_counter()
    out = Path(args.out)
    check_new_files(([] if args.results else [out / "result_keypoints.json"]) + [out / "metrics.json"], args)
    if args.results:
        if args.model or args.checkpoint or args.pretrained or args.boxes or args.gt_boxes or args.images:
            raise UsageError("--results evaluates a results file as it is: it takes no --model, --checkpoint, "
                             "--pretrained, --images, --boxes or --gt-boxes")
        metrics = evaluate_coco_keypoints(args.annotations, args.results)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "metrics.json", json.dumps(metrics, indent=1))
        results_path, num = args.results, len(load_json(args.results, "results file"))
    else:
        if not args.images:
            raise UsageError("pose-eval needs --images DIR (the folder of the annotation file's images), or "
                             "--results R.json to evaluate precomputed results")
        if bool(args.boxes) == bool(args.gt_boxes):
            raise UsageError("pose-eval needs the person boxes: --boxes DETECTIONS.json (COCO detection results) "
                             "or --gt-boxes (the annotation file's)")
        if not Path(args.images).is_dir():
            raise UsageError(f"--images {args.images}: no such folder")
        require_pycocotools()  # before any inference
        boxes = None if args.gt_boxes else read_boxes(args.boxes)
        model = model_from_args(args, "pose")
        _random_weights_note(args)

        def progress(done, total):
            if not args.json and (done % 100 == 0 or done == total):
                print(f"tubelet pose-eval: {done}/{total} images, {time.perf_counter() - t0:.0f} s",
                      file=sys.stderr, flush=True)

        metrics, results = pose_eval(model, args.annotations, args.images, boxes, det_thr=args.det_thr,
                                     flip_test=not args.no_flip, oks_thr=None if args.no_nms else args.oks_thr,
                                     out_dir=out, progress=progress)
        results_path, num = str(out / "result_keypoints.json"), len(results)
    return report_coco_eval(args, "COCO keypoint AP", metrics, results_path, num, out, time.perf_counter() - t0,
                            format_metrics(metrics))


def add_parsers(sub) -> None:
    """Add ``pose`` and ``pose-eval``."""
    po = sub.add_parser("pose", help="human keypoints (COCO, 17) of the person boxes of an image, with a drawing",
                        description="Top-down pose: each person box is cropped to the model's input (e.g. 256x192) "
                                    "and its 17 COCO keypoints decoded, with flip test. Writes OUT/<stem>_keypoints"
                                    ".json (COCO keypoint results) and OUT/<stem>_pose.png.")
    po.add_argument("image", help="an image file (JPEG, PNG, ...)")
    add_model_arguments(po, model_help=POSE_MODEL_HELP,
                        checkpoint_help="weights in any supported layout (the official mmpose .pth too)")
    po.add_argument("--box", action="append", metavar="X,Y,W,H",
                    help="a person box in pixels (repeatable); none and no --boxes: the whole image")
    po.add_argument("--boxes", metavar="BOXES.json", help="person boxes: a JSON list of [x, y, w, h] or of COCO "
                                                          "detection results {image_id, bbox, score, category_id}")
    po.add_argument("--det-thr", type=probability, default=0.0,
                    help="drop --boxes detections scored below this (default 0)")
    po.add_argument("--image-id", type=int, help="image_id of the results (default: the detections', else the file "
                                                 "name's when it is a number, else 0)")
    po.add_argument("--out", default=".", help="output folder (default: the current folder)")
    po.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    po.add_argument("--no-flip", action="store_true", help="no flip test (faster, slightly less accurate)")
    po.add_argument("--json", action="store_true", help="print the result as JSON")
    po.set_defaults(func=cmd_pose)

    pe = sub.add_parser("pose-eval", help="COCO keypoint AP of a pose model (or of a results file)",
                        description="The official top-down COCO test: person boxes (detections or ground truth) "
                                    "through the model with flip test, rescoring (box score x mean keypoint score "
                                    "above 0.2), OKS-NMS (0.9), pycocotools COCOeval. Writes OUT/result_keypoints"
                                    ".json and OUT/metrics.json.")
    pe.add_argument("--annotations", required=True, metavar="FILE",
                    help="COCO keypoint annotations, e.g. person_keypoints_val2017.json")
    pe.add_argument("--images", metavar="DIR", help="the folder of the annotation file's images (val2017/)")
    pe.add_argument("--boxes", metavar="DETS.json", help="person detections: COCO detection results "
                                                         "{image_id, bbox, score, category_id}")
    pe.add_argument("--gt-boxes", action="store_true", help="use the annotation file's person boxes instead")
    pe.add_argument("--det-thr", type=probability, default=0.0,
                    help="drop detections scored below this (default 0.0, as the official test)")
    pe.add_argument("--oks-thr", type=probability, default=OKS_THR, help=f"OKS-NMS threshold (default {OKS_THR})")
    pe.add_argument("--no-nms", action="store_true", help="keep every person (no OKS-NMS)")
    pe.add_argument("--results", metavar="R.json", help="evaluate this COCO keypoint results file (no model)")
    add_model_arguments(pe, model_help=POSE_MODEL_HELP)
    pe.add_argument("--out", default=".", help="output folder (default: the current folder)")
    pe.add_argument("--overwrite", action="store_true", help="replace result_keypoints.json / metrics.json if they "
                                                            "exist")
    pe.add_argument("--no-flip", action="store_true", help="no flip test")
    pe.add_argument("--json", action="store_true", help="print the metrics as JSON")
    pe.set_defaults(func=cmd_pose_eval)
