"""``tubelet predict``: classify videos (or a clip tubelet generates), one view or the published protocol, or as a
timeline of sliding windows."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from ..atomic import write_text
from ..data import eval_clip, synthetic_clip
from ..data.presets import eval_indices
from ..errors import TubeletError, UsageError
from .common import (add_model_arguments, count, model_from_args, parse_views, random_weights,
                     random_weights_note, workers)


def _predict_synthetic(model, seed: int) -> torch.Tensor:
    """Class probabilities of the clip tubelet generates when ``predict`` is given no video (one view)."""
    cfg = model.pretrained_cfg
    clip = synthetic_clip(num_frames=max(cfg.num_frames or 1, 1) * (cfg.frame_interval or 1), seed=seed)
    frames = clip[eval_indices(cfg, len(clip))] if cfg.is_video else clip[len(clip) // 2:len(clip) // 2 + 1]
    device = next(model.parameters()).device
    with torch.inference_mode():
        return model(eval_clip(frames, cfg).to(device)).float().softmax(-1).mean(0).cpu()


def _emit(args, result: dict) -> None:
    """One video's result on stdout: a JSON line with ``--json``; a failure also as one error line on stderr."""
    if "error" in result:
        print(f"tubelet {args.command}: error: {result['error']}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(result), flush=True)


def _finish(args, num_videos: int, failed: int, t0: float) -> int:
    """The one-line summary on stderr (several videos) and the exit status: 2 when a video failed, unless
    ``--skip-bad``."""
    if num_videos > 1:
        seconds = time.perf_counter() - t0
        print(f"tubelet {args.command}: {num_videos} videos, {failed} failed, {seconds:.1f} s "
              f"({num_videos / max(seconds, 1e-9):.2f} videos/s)", file=sys.stderr, flush=True)
    return 2 if failed and not args.skip_bad else 0


def _predict_timeline(args, model, videos: list[str], labels: list[str] | None, name: str) -> int:
    """``predict --timeline``: a JSON timeline and a PNG plot per video, named after its path below the videos'
    common folder (``--out``/a/clip.timeline.json), so that videos of the same name do not overwrite each other."""
    from ..engine.inference import output_names, timeline, topk
    from ..engine.plots import plot_timeline

    if not model.pretrained_cfg.is_video:
        raise UsageError(f"--timeline needs a video model, {name} is an image model")
    if not videos:
        raise UsageError("--timeline needs at least one video file or folder")
    folder = Path(args.out or ".")
    t0, failed = time.perf_counter(), 0
    for video, out_name in zip(videos, output_names(videos)):
        try:
            windows, probs = timeline(model, video, window=args.window, stride=args.stride,
                                      batch_size=args.batch_size)
        except TubeletError as e:  # a file that cannot be decoded: report it and go on
            failed += 1
            _emit(args, {"video": video, "error": str(e)})
            continue
        for w, p in zip(windows, probs):
            w["topk"] = topk(p, labels, args.top_k)
        stem = folder / out_name
        stem.parent.mkdir(parents=True, exist_ok=True)
        json_path = stem.parent / f"{stem.name}.timeline.json"
        write_text(json_path, json.dumps({"video": video, "model": name, "windows": windows}, indent=1))
        png = plot_timeline([(w["start"] + w["end"]) / 2 for w in windows], probs, labels,
                            stem.parent / f"{stem.name}.timeline.png", topk=min(args.top_k, probs.shape[1]))
        _emit(args, {"video": video, "windows": len(windows), "json": str(json_path), "png": str(png)})
        if not args.json:
            print(f"{video}: {len(windows)} windows -> {json_path}, {png}", flush=True)
    return _finish(args, len(videos), failed, t0)


def cmd_predict(args) -> int:
    from ..engine.inference import Prediction, default_workers, expand_videos, predict_videos, resolve_labels, topk

    skipped = []  # folders' files that are not videos by their extension: one note each, before any result
    videos = expand_videos(args.video, skipped) if args.video else []
    for note in skipped:
        print(f"note: {note}", file=sys.stderr, flush=True)
    model = model_from_args(args, "classification")
    cfg = model.pretrained_cfg
    labels = resolve_labels(args.labels, cfg, model.num_classes)
    views = parse_views(args.views, cfg)
    if not cfg.is_video:  # image models classify the middle frame
        views = (1, 1)
    name = args.model or cfg.architecture
    if args.timeline:
        return _predict_timeline(args, model, videos, labels, name)
    shape = tuple(cfg.input_size) if cfg.is_video else (1, *cfg.input_size)
    t0, failed = time.perf_counter(), 0
    if videos:
        n_workers = default_workers() if args.workers is None else args.workers
        predictions = predict_videos(model, videos, views=views, batch_size=args.batch_size, num_workers=n_workers)
    else:
        probs = _predict_synthetic(model, args.seed)
        predictions = [Prediction("synthetic clip (generated by tubelet)", probs, num_views=1,
                                  seconds=time.perf_counter() - t0)]
    for p in predictions:  # each video as soon as it is done, in input order
        if p.error is not None:
            failed += 1
            _emit(args, {"video": p.video, "error": p.error})
            continue
        result = {"video": p.video, "topk": topk(p.probs, labels, args.top_k), "seconds": round(p.seconds, 3)}
        _emit(args, result)
        if not args.json:
            print(f"{name}: {p.video}, input {(views[0] * views[1], *shape)}, {views[0]}x{views[1]} views, "
                  f"{p.seconds * 1000:.0f} ms", flush=True)
            for r in result["topk"]:
                print(f"  {r['score']:7.4f}  {r['index']:4d}  {r['label']}", flush=True)
    if not args.json and failed < max(len(videos), 1):  # notes on the classes printed above
        if random_weights(args):
            random_weights_note(args, "the classes above mean nothing")
        elif labels is None and model.num_classes:
            print(f"note: the class names of these weights are not known to tubelet ({cfg.notes.strip()}); pass "
                  f"--labels")
    return _finish(args, len(videos), failed, t0)


def add_parsers(sub) -> None:
    """Add ``predict``."""
    pr = sub.add_parser("predict", help="classify videos (or a synthetic clip when none is given)")
    pr.add_argument("video", nargs="*", help="video files or folders; none: a clip that tubelet generates")
    add_model_arguments(pr)
    pr.add_argument("--labels", help="class names: k400, k600, k700, k710, sthv2 or a text file, one name per class "
                                     "of the model (default: the model's)")
    pr.add_argument("--top-k", "--topk", dest="top_k", type=count, default=5,
                    help="classes shown per video (default 5; all of them when the model has fewer)")
    pr.add_argument("--views", help="CLIPSxCROPS test views (default 1x1; 'model' = the published protocol)")
    pr.add_argument("--timeline", action="store_true", help="slide windows over each video; writes a JSON timeline "
                                                            "and a PNG plot per video")
    pr.add_argument("--window", type=float, help="--timeline window in seconds (default: the model's clip span)")
    pr.add_argument("--stride", type=float, help="--timeline stride in seconds (default: half a window)")
    pr.add_argument("--out", help="--timeline output folder (default: the current folder); the files mirror each "
                                  "video's path below the videos' common folder")
    pr.add_argument("--json", action="store_true", help="print one JSON object per video as soon as it is done (JSON "
                                                        "lines); a failed video as {\"video\": ..., \"error\": ...}")
    pr.add_argument("--batch-size", type=count, default=8,
                    help="clips per forward pass; the views of several videos go together (default 8)")
    pr.add_argument("--workers", type=workers, help="processes that decode and transform the videos (default: "
                                                     "min(4, CPUs); 0: the main process)")
    pr.add_argument("--skip-bad", action="store_true", help="exit 0 even when some videos cannot be decoded (they "
                                                            "are reported either way; default: exit status 2)")
    pr.add_argument("--seed", type=int, default=0, help="seed of the synthetic clip")
    pr.set_defaults(func=cmd_predict)
