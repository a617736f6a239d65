"""``tubelet features``: clip features of untrimmed videos, resumable (:mod:`tubelet.tasks.features`)."""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from ..errors import UsageError
from ..tasks.features import INDEX_NAME, check_settings, check_video_model, clear_output, extract_to_folder, \
    load_index, resolve_inputs
from .common import add_model_arguments, count, model_from_args, random_weights_note, seconds, workers


def cmd_features(args) -> int:
    from ..engine.inference import default_workers, model_labels

    videos = resolve_inputs(args.videos)
    if args.model is not None:  # refuse an image model before building it (other tasks: model_from_args)
        from ..models._pretrained import split_name
        from ..models._registry import get_pretrained_cfg, get_task

        name = split_name(args.model)[0]
        if get_task(name) == "classification" and not get_pretrained_cfg(name).is_video:
            raise UsageError(f"features need a video model, {name} is an image model")
    model = model_from_args(args, "classification")
    device = next(model.parameters()).device
    check_video_model(model, args.classify)
    cfg = model.pretrained_cfg
    random_weights_note(args, "the features mean nothing", stream=sys.stderr)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: a file, not a folder")
    if args.overwrite:
        refused = clear_output(out)
        if refused:
            print(f"tubelet features: note: {out / INDEX_NAME} named {len(refused)} file(s) outside {out} "
                  f"(e.g. {refused[0]}); they were left alone", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"model": args.model or cfg.architecture, "checkpoint": args.checkpoint,
                "pretrained": args.pretrained, "set": list(args.set or []), "window": args.window,
                "stride": args.stride, "frames": args.frames or cfg.num_frames, "sampler": cfg.sampler,
                "dtype": args.dtype, "classify": bool(args.classify)}
    check_settings(out, settings, restart=False)
    labels = model_labels(cfg, model.num_classes) if args.classify else None
    n_workers = default_workers() if args.workers is None else args.workers
    threads = torch.get_num_threads()
    if device.type == "cpu":  # leave the cores to the decoding workers while they run (restored after)
        from ..runtime import set_threads_for_workers
        set_threads_for_workers(n_workers)
    try:
        stats = extract_to_folder(model, videos, out, window=args.window, stride=args.stride, frames=args.frames,
                                  batch_size=args.batch_size, num_workers=n_workers, dtype=args.dtype,
                                  classify=args.classify, labels=labels, progress=not args.no_progress)
    except KeyboardInterrupt:
        done = len(load_index(out))
        print(f"tubelet features: interrupted; {done} of {len(videos)} videos are finished in {out}; run the same "
              f"command again to continue", file=sys.stderr)
        return 130
    finally:
        torch.set_num_threads(threads)
    elapsed = max(stats["seconds"], 1e-9)
    print(f"tubelet features: {stats['videos']} video{'s' if stats['videos'] != 1 else ''}: {stats['done']} written, {stats['skipped']} already done, "
          f"{stats['failed']} failed; {stats['windows']} windows in {stats['seconds']:.1f} s "
          f"({stats['done'] / elapsed:.2f} videos/s, {stats['windows'] / elapsed:.1f} windows/s); index "
          f"{out / INDEX_NAME}", file=sys.stderr, flush=True)
    return 2 if stats["failed"] and not args.skip_bad else 0


def add_parsers(sub) -> None:
    """Add ``features``."""
    fe = sub.add_parser(
        "features", help="clip features of untrimmed videos (sliding windows) for temporal localisation",
        description="Cuts each video into windows of --window seconds every --stride seconds, samples each window "
                    "with the model's sampler and frames, and writes the pooled pre-logits feature of every window: "
                    "OUT/NAME.npy (float32, windows x dim; NAME mirrors the video's path below the videos' common "
                    "folder) and one line per video in OUT/index.jsonl (video, fps, duration, num_frames, features, "
                    "dim, windows as [start, end] seconds). Resumable: a rerun skips the videos in the index. The "
                    "papers' untrimmed classification (ActivityNet/HACS: 10 clips x 3 crops, each spread over the "
                    "whole video) is `tubelet eval` with configs/*_anet.yaml or *_hacs.yaml.")
    fe.add_argument("videos", nargs="+", help="video files, folders (searched recursively) or text lists of video "
                                              "paths (.txt/.lst/.list, one per line, # comments; relative to the "
                                              "list's folder)")
    add_model_arguments(fe)
    fe.add_argument("--window", type=seconds,
                    help="seconds per window (default: the model's clip span: num_frames x frame_interval frames, "
                         "4 s for segment-sampled models)")
    fe.add_argument("--stride", type=seconds, help="seconds between window starts (default: one window)")
    fe.add_argument("--frames", type=count, help="frames sampled per window (default: the model's)")
    fe.add_argument("--out", required=True, help="output folder (arrays, index.jsonl, features.json)")
    fe.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32",
                    help="autocast dtype; on a CPU without native bf16, bf16 runs fp32 (with a note) unless "
                         "TUBELET_FORCE_BF16=1; arrays are float32 either way")
    fe.add_argument("--workers", type=workers, help="processes that decode and transform (default: min(4, CPUs); "
                                                     "0: the main process)")
    fe.add_argument("--batch-size", type=count, default=8, help="windows per forward pass, across videos "
                                                                 "(default 8)")
    fe.add_argument("--classify", action="store_true",
                    help="also write OUT/NAME.scores.npy (softmax per window) and the top 5 of their average in the "
                         "index")
    fe.add_argument("--overwrite", action="store_true", help="start over in OUT: delete the index, the settings "
                                                             "and the arrays it names")
    fe.add_argument("--skip-bad", action="store_true", help="exit 0 even when some videos cannot be decoded (they "
                                                            "are reported either way; default: exit status 2)")
    fe.add_argument("--no-progress", action="store_true", help="no progress bar")
    fe.set_defaults(func=cmd_features)
