"""``tubelet segment`` and ``tubelet segment-eval``: semantic segmentation of images and its mIoU on ADE20K-style
folders (:mod:`tubelet.tasks.segmentation`)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from ..atomic import write_text
from ..data.images import IMAGE_EXTENSIONS, ImageReadError
from ..errors import AnnotationError, UsageError
from ..tasks.segmentation import evaluate_segmentation, format_metrics, list_images, match_pairs, segment
from .common import OVERWRITE_HELP, add_model_arguments, check_new_files, count, model_from_args, random_weights, \
    random_weights_note


def _build_model(args):
    if args.model is None and args.checkpoint is None:
        raise UsageError("give --model NAME (e.g. uniformer_small_fpn; `tubelet models '*_fpn'` lists them) and "
                         "--checkpoint F or --pretrained")
    return model_from_args(args, "segmentation")


def _expand_images(items: list[str]) -> list[str]:
    """Files as given (checked when read); folders expanded to their image files (recursively, sorted); a folder
    without images stays as given, to be reported."""
    out = []
    for item in items:
        if os.path.isdir(item):
            found = [os.path.join(item, rel) for rel in list_images(item)]
            out += found or [item]
        else:
            out.append(item)
    return out


def cmd_segment(args) -> int:
    from ..engine.inference import output_names

    images = _expand_images(args.image)
    folder = Path(args.out)
    check_new_files([folder / f"{out_name}_{kind}.png" for out_name in output_names(images)
                     for kind in ("mask", "labels", "overlay")], args)
    model = _build_model(args)
    name = args.model or model.pretrained_cfg.architecture
    t0, failed = time.perf_counter(), 0
    for path, out_name in zip(images, output_names(images)):
        try:
            if os.path.isdir(path):
                raise ImageReadError(f"{path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
            result = segment(model, path, mode=args.mode)
            files = result.save(folder, str(out_name), alpha=args.alpha)
        except (ImageReadError, AnnotationError) as e:  # this image only: report it and go on
            failed += 1
            print(f"tubelet {args.command}: error: {e}", file=sys.stderr, flush=True)
            if args.json:
                print(json.dumps({"image": path, "error": str(e)}), flush=True)
            continue
        record = {**result.to_dict(), "files": files}
        if args.json:
            print(json.dumps(record), flush=True)
            continue
        H, W = result.labels.shape
        print(f"{name}: {path}, {W}x{H} -> input {result.input_size[1]}x{result.input_size[0]}, "
              f"{result.seconds * 1000:.0f} ms; {files['mask']}, {files['labels']}, {files['overlay']}", flush=True)
        for row in record["classes"][:args.top_k]:
            print(f"  {row['fraction'] * 100:6.2f}%  {row['index']:4d}  {row['label']}  ({row['pixels']:,} px)",
                  flush=True)
        rest = len(record["classes"]) - args.top_k
        if rest > 0:
            print(f"  ... {rest} more class{'es' if rest > 1 else ''} (--top-k, --json)", flush=True)
    if not args.json and failed < len(images):
        random_weights_note(args, "the classes above mean nothing")
    if len(images) > 1:
        seconds = time.perf_counter() - t0
        print(f"tubelet {args.command}: {len(images)} images, {failed} failed, {seconds:.1f} s", file=sys.stderr,
              flush=True)
    return 2 if failed and not args.skip_bad else 0


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
    sg.add_argument("image", nargs="+", help="image files (jpg, png, bmp, webp, tif) or folders of them")
    _add_model_options(sg)
    sg.add_argument("--out", default=".", help="output folder (default: the current folder)")
    sg.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    sg.add_argument("--top-k", "--topk", dest="top_k", type=count, default=10,
                    help="classes printed per image, largest area first (default 10; --json lists all)")
    sg.add_argument("--alpha", type=float, default=0.5, help="weight of the mask in the overlay (default 0.5)")
    sg.add_argument("--json", action="store_true",
                    help="one JSON object per image (JSON lines): {\"image\", \"size\", \"input_size\", \"classes\": "
                         "[{\"index\", \"label\", \"pixels\", \"fraction\"}], \"seconds\", \"files\"}, or "
                         "{\"image\", \"error\"}")
    sg.add_argument("--skip-bad", action="store_true", help="exit 0 even when some images cannot be read (they are "
                                                            "reported either way; default: exit status 2)")
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
