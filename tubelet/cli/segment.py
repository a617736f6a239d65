"""``tubelet segment`` and ``tubelet segment-eval``: semantic segmentation of images and its mIoU on ADE20K-style
folders (:mod:`tubelet.tasks.segmentation`)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..atomic import write_text
from ..tasks.segmentation import evaluate_segmentation, format_metrics, match_pairs, segment
from .common import add_image_arguments, add_image_output_arguments, add_model_arguments, check_new_files, count, \
    each_image, expand_images, images_summary, model_from_args, random_weights, random_weights_note


def _build_model(args):
    """The command's model (a seam for the tests)."""
    return model_from_args(args, "segmentation")


def cmd_segment(args) -> int:
    from ..engine.inference import output_names

    images = expand_images(args.image)
    folder = Path(args.out)
    check_new_files([folder / f"{out_name}_{kind}.png" for out_name in output_names(images)
                     for kind in ("mask", "labels", "overlay")], args)
    model = _build_model(args)
    name = args.model or model.pretrained_cfg.architecture

    def work(index: int, path: str, out_name: str) -> None:
        result = segment(model, path, mode=args.mode)
        files = result.save(folder, out_name, alpha=args.alpha)
        record = {**result.to_dict(), "files": files}
        if args.json:
            print(json.dumps(record), flush=True)
            return
        H, W = result.labels.shape
        print(f"{name}: {path}, {W}x{H} -> input {result.input_size[1]}x{result.input_size[0]}, "
              f"{result.seconds * 1000:.0f} ms; {files['mask']}, {files['labels']}, {files['overlay']}", flush=True)
        for row in record["classes"][:args.top_k]:
            print(f"  {row['fraction'] * 100:6.2f}%  {row['index']:4d}  {row['label']}  ({row['pixels']:,} px)",
                  flush=True)
        rest = len(record["classes"]) - args.top_k
        if rest > 0:
            print(f"  ... {rest} more class{'es' if rest > 1 else ''} (--top-k, --json)", flush=True)

    failed, seconds = each_image(args, images, work)
    if not args.json and failed < len(images):
        random_weights_note(args, "the classes above mean nothing")
    return images_summary(args, images, failed, seconds)


def cmd_segment_eval(args) -> int:
    pairs = match_pairs(args.images, args.annotations)  # before the model: layout errors come first
    out = Path(args.out)
    check_new_files([out / "metrics.json", out / "report.txt"], args)
    model = _build_model(args)
    t0 = time.perf_counter()
    metrics = evaluate_segmentation(model, args.images, args.annotations, reduce_zero_label=args.reduce_zero_label,
                                    mode=args.mode, limit=args.limit, matched=pairs,
                                    progress=not args.json and sys.stderr.isatty())
    metrics.update(model=args.model or model.pretrained_cfg.architecture, checkpoint=args.checkpoint,
                   pretrained=args.pretrained if args.pretrained else None, mode=args.mode,
                   images=str(args.images), annotations=str(args.annotations),
                   seconds=round(time.perf_counter() - t0, 1))
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "metrics.json", json.dumps(metrics, indent=1))
    write_text(out / "report.txt", format_metrics(metrics) + "\n")
    if args.json:
        print(json.dumps(metrics))
    else:
        print(format_metrics(metrics))
        print(f"files in {out}: metrics.json, report.txt")
        if random_weights(args):
            random_weights_note(args, "the metrics mean nothing")
    return 0


def _add_model_options(p) -> None:
    add_model_arguments(p, model_help="segmentation variant, e.g. uniformer_small_fpn or uniformer_base_upernet "
                                      "(`tubelet models '*_fpn'`); optional with a tubelet checkpoint",
                        checkpoint_help="weights: an official mmseg file ({meta, state_dict, ...}) or tubelet's")
    p.add_argument("--mode", choices=["whole", "slide"], default="whole",
                   help="'whole': the full image at once, the official test (default); 'slide': mmseg's "
                        "sliding-window inference (512x512 crops every 341 pixels, logits averaged)")


def add_parsers(sub) -> None:
    """Add ``segment`` and ``segment-eval``."""
    sg = sub.add_parser(
        "segment", help="semantic segmentation of images (ADE20K classes): colour mask, label map, overlay",
        description="Segments each image with the official test of the model (keep-ratio resize to 2048x512, "
                    "Semantic FPN: sizes to multiples of 32; whole-image inference; class per pixel at the "
                    "original size) and writes OUT/<name>_mask.png (ADE20K colours), OUT/<name>_labels.png (8-bit, "
                    "pixel value = predicted class index 0..149 in the model's label order, i.e. mmseg's "
                    "prediction convention, NOT the ADE20K annotation convention where 0 is 'other' and classes are "
                    "1..150) and OUT/<name>_overlay.png (image blended with the mask), and prints the classes by "
                    "area. <name> is the image's stem (its path below the images' common folder when several "
                    "share a stem).")
    add_image_arguments(sg)
    _add_model_options(sg)
    sg.add_argument("--top-k", "--topk", dest="top_k", type=count, default=10,
                    help="classes printed per image, largest area first (default 10; --json lists all)")
    sg.add_argument("--alpha", type=float, default=0.5, help="weight of the mask in the overlay (default 0.5)")
    add_image_output_arguments(sg, "one JSON object per image (JSON lines): {\"image\", \"size\", \"input_size\", "
                                   "\"classes\": [{\"index\", \"label\", \"pixels\", \"fraction\"}], \"seconds\", "
                                   "\"files\"}, or {\"image\", \"error\"}")
    sg.set_defaults(func=cmd_segment)

    se = sub.add_parser(
        "segment-eval", help="mIoU / mAcc / aAcc of a segmentation model on ADE20K-style folders",
        description="Segments every image below --images with the official test and compares it with the "
                    "annotation of the same relative path and stem (.png) below --annotations, e.g. "
                    "ADEChallengeData2016/images/validation and ADEChallengeData2016/annotations/validation. "
                    "Metrics are mmseg's: areas summed over the whole set, per-class IoU and Acc, their means over "
                    "the classes present (nan = undefined), aAcc. Writes OUT/metrics.json and OUT/report.txt.")
    se.add_argument("--images", required=True, help="folder of images (searched recursively)")
    se.add_argument("--annotations", required=True, help="folder of label PNGs, same relative paths and stems")
    _add_model_options(se)
    se.add_argument("--reduce-zero-label", action=argparse.BooleanOptionalAction, default=True,
                    help="ADE20K annotations: 0 = 'other' is ignored and k becomes class k-1 (default: on; "
                         "--no-reduce-zero-label for label maps that already hold 0..K-1, 255 ignored)")
    se.add_argument("--limit", type=count, help="only the first N images (sorted), for a quick check")
    se.add_argument("--out", default=".", help="folder for metrics.json and report.txt (default: the current folder)")
    se.add_argument("--overwrite", action="store_true", help="replace metrics.json / report.txt if they exist")
    se.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    se.set_defaults(func=cmd_segment_eval)
