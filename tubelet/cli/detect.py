"""``tubelet detect`` and ``tubelet detect-eval``: objects (boxes, classes, masks) in images and COCO box / mask AP
(:mod:`tubelet.tasks.detection`)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..atomic import write_text
from ..errors import UsageError
from ..tasks.detection import (SCORE_THR, check_image_files, coco_image_id, detect, detect_eval,
                               evaluate_coco_detection, format_metrics, load_instances, model_iou_types, require_coco)
from ..tasks.pose import load_json
from .common import add_image_arguments, add_image_output_arguments, add_model_arguments, check_new_files, count, \
    each_image, expand_images, images_summary, model_from_args, probability, random_weights_note, report_coco_eval

DETECT_MODEL_HELP = ("detector, e.g. uniformer_small_maskrcnn or uniformer_base_cascade_maskrcnn "
                     "(`tubelet models '*maskrcnn'`); optional with a tubelet checkpoint")


def _build_model(args):
    """The command's model (a seam for the tests)."""
    return model_from_args(args, "detection")


def _print_detections(name: str, path: str, result, files: dict) -> None:
    H, W = result.size
    (h, w), (hp, wp) = result.img_shape, result.input_size
    n = len(result)
    above = "" if result.score_threshold is None else f" scored above {result.score_threshold:g}"
    print(f"{name}: {path}, {W}x{H} -> {w}x{h} (input {wp}x{hp}), {n} detection{'s' * (n != 1)}{above}, "
          f"{result.seconds * 1000:.0f} ms; {files['detections']}", flush=True)
    if not n:
        return
    width = max(5, *(len(d["class"]) for d in result.detections()))
    print(f"  {'class':<{width}}  score  box (x1, y1, x2, y2)", flush=True)
    for d in result.detections():
        x1, y1, x2, y2 = d["box"]
        print(f"  {d['class']:<{width}}  {d['score']:.3f}  {x1:7.1f} {y1:7.1f} {x2:7.1f} {y2:7.1f}", flush=True)


def cmd_detect(args) -> int:
    from ..engine.inference import output_names

    images = expand_images(args.image)
    folder = Path(args.out)
    check_new_files([folder / f"{out_name}_detections.png" for out_name in output_names(images)]
                    + [folder / "results.json"], args)
    model = _build_model(args)
    if "segm" in model_iou_types(model):
        require_coco("the masks of results.json (COCO RLE)")  # before any image
    name = args.model or model.pretrained_cfg.architecture
    results = []

    def work(index: int, path: str, out_name: str) -> None:
        result = detect(model, path, score_threshold=args.score_threshold)
        image_id = coco_image_id(path, index)
        entries = result.to_coco(image_id)
        files = result.save(folder, out_name)
        results.extend(entries)
        if args.json:
            print(json.dumps({**result.to_dict(), "image_id": image_id, "files": files}), flush=True)
        else:
            _print_detections(name, path, result, files)

    failed, seconds = each_image(args, images, work)
    if failed < len(images):
        folder.mkdir(parents=True, exist_ok=True)
        write_text(folder / "results.json", json.dumps(results))
        if not args.json:
            print(f"-> {folder / 'results.json'} ({len(results)} COCO result{'s' * (len(results) != 1)})", flush=True)
            random_weights_note(args, "the detections above mean nothing")
    return images_summary(args, images, failed, seconds)


def cmd_detect_eval(args) -> int:
    t0 = time.perf_counter()
    out = Path(args.out)
    check_new_files(([] if args.results else [out / "results.json"]) + [out / "metrics.json"], args)
    if args.results:
        if args.model or args.checkpoint or args.pretrained or args.images or args.limit:
            raise UsageError("--results evaluates a results file as it is: it takes no --model, --checkpoint, "
                             "--pretrained, --images or --limit")
        results = load_json(args.results, "results file")
        with_masks = isinstance(results, list) and any(isinstance(r, dict) and "segmentation" in r for r in results)
        metrics = evaluate_coco_detection(args.annotations, results,
                                          ("bbox", "segm") if with_masks or not results else ("bbox",),
                                          source=args.results)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "metrics.json", json.dumps(metrics, indent=1))
        results_path, num = args.results, len(results)
    else:
        if not args.images:
            raise UsageError("detect-eval needs --images DIR (the folder of the annotation file's images) and a "
                             "--model, or --results R.json to evaluate precomputed results")
        if not Path(args.images).is_dir():
            raise UsageError(f"--images {args.images}: no such folder")
        require_coco("COCO detection evaluation")  # before any inference
        data = load_instances(args.annotations, ("bbox",))  # the layout's errors come before the model
        check_image_files(data, args.images, args.annotations, args.limit)
        model = _build_model(args)
        random_weights_note(args, "the metrics mean nothing", stream=sys.stderr)

        def progress(done, total):
            if not args.json and (done % 100 == 0 or done == total):
                print(f"tubelet detect-eval: {done}/{total} images, {time.perf_counter() - t0:.0f} s",
                      file=sys.stderr, flush=True)

        metrics, results = detect_eval(model, args.annotations, args.images, limit=args.limit, out_dir=out,
                                       progress=progress, data=data)
        results_path, num = str(out / "results.json"), len(results)
    return report_coco_eval(args, "COCO AP", metrics, results_path, num, out, time.perf_counter() - t0,
                            format_metrics(metrics))


def add_parsers(sub) -> None:
    """Add ``detect`` and ``detect-eval``."""
    de = sub.add_parser(
        "detect", help="objects in images (COCO classes): boxes, scores, masks; a drawing and COCO results",
        description="Detects the objects of each image with the official test of the model (keep-ratio resize to "
                    "1333x800, normalise, zero-pad to multiples of 32; boxes and masks at the original size) and "
                    "writes OUT/<name>_detections.png (masks, boxes, class names and scores of the detections "
                    "scored above --score-threshold) and OUT/results.json, the COCO results of all the images "
                    "(image_id: the number of a COCO file name such as 000000000139.jpg, else the image's index "
                    "0, 1, ...; category_id: COCO's). <name> is the image's stem (its path below the images' common "
                    "folder when several share a stem).")
    add_image_arguments(de)
    add_model_arguments(de, model_help=DETECT_MODEL_HELP,
                        checkpoint_help="weights: an official mmdet file ({meta, state_dict, ...}) or tubelet's")
    de.add_argument("--score-threshold", type=probability, default=SCORE_THR,
                    help=f"keep the detections scored above this (default {SCORE_THR}, as mmdet draws them; 0 keeps "
                         f"all the model gives, which are scored above 0.05)")
    add_image_output_arguments(de, "one JSON object per image (JSON lines): {\"image\", \"image_id\", \"size\", "
                                   "\"input_size\", \"score_threshold\", \"detections\": [{\"label\", \"class\", "
                                   "\"score\", \"box\"}], \"seconds\", \"files\"}, or {\"image\", \"error\"}",
                               short_out=True)
    de.set_defaults(func=cmd_detect)

    ev = sub.add_parser(
        "detect-eval", help="COCO box and mask AP of a detector (or of a results file)",
        description="The official COCO test: every image of the annotation file (its file_name below --images) "
                    "through the model with the official test, all its detections (scored above 0.05) as COCO "
                    "results, and pycocotools' COCOeval of the boxes and, for a model with masks, the masks. "
                    "Writes OUT/results.json and OUT/metrics.json and prints the 12 COCO numbers of each. "
                    "--results evaluates a results file without a model.")
    ev.add_argument("--annotations", required=True, metavar="FILE",
                    help="COCO instance annotations, e.g. instances_val2017.json")
    ev.add_argument("--images", metavar="DIR", help="the folder of the annotation file's images (val2017/)")
    ev.add_argument("--results", metavar="R.json", help="evaluate this COCO detection results file (no model); its "
                                                        "masks too when it has \"segmentation\" entries")
    add_model_arguments(ev, model_help=DETECT_MODEL_HELP)
    ev.add_argument("--limit", type=count, help="only the first N images of the annotation file (evaluated on them "
                                                "alone), for a quick check")
    ev.add_argument("--out", "-o", default=".", help="output folder (default: the current folder)")
    ev.add_argument("--overwrite", action="store_true", help="replace results.json / metrics.json if they exist")
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ev.set_defaults(func=cmd_detect_eval)
