"""``tubelet explain``: where a video classifier looks, as an overlay video and a frame grid
(:mod:`tubelet.tasks.explain`)."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError, VideoDecodeError
from ..tasks.explain import check_target, explain_video, write_overlay
from .common import add_model_arguments, check_new_files, model_from_args, random_weights_note, rate


def _target_index(spec: str | None, labels: list[str] | None, num_classes: int) -> int | None:
    if spec is None:
        return None
    if spec.lstrip("-").isdigit():
        index = int(spec)
    elif labels is not None and spec in labels:
        index = labels.index(spec)
    else:
        known = "; the model's classes are not named, give an index" if labels is None else \
            " (a class index, or one of the model's class names)"
        raise UsageError(f"--target {spec}: not a class of this model{known}")
    if not 0 <= index < num_classes:
        raise UsageError(f"--target {spec}: the model has {num_classes} classes (0 to {num_classes - 1})")
    return index


def output_stem(video: str, method: str | None, target: str | None, stage: int | None) -> str:
    """``VIDEO.explain[.METHOD][.stageN][.TARGET]``: what was asked for is in the name, so that explaining a second
    class (or method, or stage) of the same video writes new files instead of needing ``--overwrite``."""
    import re

    parts = [Path(video).stem, "explain"]
    if method:
        parts.append(method)
    if stage:
        parts.append(f"stage{stage}")
    if target is not None:
        parts.append(re.sub(r"[^\w\-]+", "_", target).strip("_") or "target")
    return ".".join(parts)


def cmd_explain(args) -> int:
    from ..engine.inference import model_labels

    if not os.path.exists(args.video):
        raise VideoDecodeError(f"{args.video}: no such file")
    if os.path.isdir(args.video):
        raise VideoDecodeError(f"{args.video}: is a folder; tubelet explain takes one video file")
    stem = Path(args.out) / output_stem(args.video, args.method, args.target, args.stage)
    check_new_files([f"{stem}.mp4", f"{stem}.png"], args)
    model = model_from_args(args, "classification")
    cfg = model.pretrained_cfg
    labels = model_labels(cfg, model.num_classes)
    target = _target_index(args.target, labels, model.num_classes)
    check_target(model, args.method, target, shown=args.target)  # rollout / attention explain no class
    exp = explain_video(model, args.video, target=target, method=args.method, stage=args.stage)
    name = lambda i: labels[i] if labels else f"class {i}"  # noqa: E731
    top = int(exp.probs.argmax())
    how = exp.method + (f" (stage {args.stage})" if args.stage else "")
    if exp.target is None:  # the same map for every class: the title names no class as explained
        title = f"{args.model or cfg.architecture}: {how}, the same for every class (top class {name(top)}, " \
                f"p={float(exp.probs[top]):.2f})"
        explained = f"no class ({exp.method} is the same for every class)"
    else:
        title = f"{args.model or cfg.architecture}: {how} for {name(exp.target)} " \
                f"(p={float(exp.probs[exp.target]):.2f})"
        explained = f"{name(exp.target)} with {exp.method}"
    files = write_overlay(exp.frames, exp.saliency, stem, fps=args.fps, title=title, indices=exp.indices)
    print(f"{args.video}: top class {name(top)} ({float(exp.probs[top]):.3f}); explained: {explained}; "
          f"frames {', '.join(str(int(i)) for i in exp.indices)}")
    print(f"  overlay video  {files['video']}")
    print(f"  frame grid     {files['grid']}")
    random_weights_note(args, "the map means nothing")
    return 0


def add_parsers(sub) -> None:
    """Add ``explain``."""
    p = sub.add_parser("explain", help="where a video model looks: a saliency overlay video and a frame grid",
                       description="Saliency of a video classifier on one video: Grad-CAM on the last stage "
                                   "(UniFormer, Video Swin), the global query's attention rolled out through the "
                                   "global blocks (UniFormerV2), attention rollout (UniFormer's SABlocks). Writes "
                                   "OUT/<video>.explain.mp4 and OUT/<video>.explain.png, with the --method, --stage "
                                   "and --target asked for in the name (<video>.explain.gradcam.stage3.dog.mp4).")
    p.add_argument("video", help="a video file")
    add_model_arguments(p)
    p.add_argument("--method", help="gradcam | rollout | attention (default: the family's: gradcam for UniFormer "
                                    "and Video Swin, rollout for UniFormerV2)")
    p.add_argument("--target", help="class to explain: an index or a class name (default: the predicted class); "
                                    "gradcam only (rollout and attention are the same for every class)")
    p.add_argument("--stage", type=int, help="gradcam: the stage (1-4) to explain (default: the last; an earlier "
                                             "one gives a finer map on small inputs)")
    p.add_argument("-o", "--out", default=".", help="output folder (default: the current folder)")
    p.add_argument("--overwrite", action="store_true", help="replace the overlay video / grid if they exist (default: "
                                                           "an error naming them, before any work)")
    p.add_argument("--fps", type=rate, default=4.0, help="frame rate of the overlay video, fractional rates kept "
                                                        "(e.g. 2.5 or 29.97; default 4)")
    p.set_defaults(func=cmd_explain)
