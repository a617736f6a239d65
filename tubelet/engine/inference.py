"""Classify videos with a model's own data config: whole-video predictions (any number of test views), batched
across videos with decoding in DataLoader workers, and a sliding window timeline for long videos. ``tubelet
predict`` and ``tubelet demo`` call these."""
from __future__ import annotations

import collections
import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from ..data import EvalTransform, VideoReader, average_views, eval_clip, make_sampler
from ..data.datasets import VIDEO_EXTENSIONS, SkippedFiles, find_videos
from ..errors import TubeletError, UsageError, VideoDecodeError

__all__ = ["expand_videos", "classify_video", "video_views", "VideoViews", "Prediction", "predict_videos",
           "timeline", "resolve_labels", "model_labels", "resolve_device", "default_workers", "output_names", "topk"]

_log = logging.getLogger("tubelet.engine")


def expand_videos(inputs: list[str], skipped: list[SkippedFiles] | None = None) -> list[str]:
    """Files as given; folders expanded to the video files inside them (by their extension, recursively, sorted;
    hidden entries skipped: :func:`tubelet.data.datasets.find_videos`).

    Args:
        skipped: a list: each folder's files skipped as not videos by their extension are appended to it (a
            :class:`~tubelet.data.datasets.SkippedFiles` per folder that has any), for the caller to report. None: they
            are logged as a warning, one line per folder.
    Raises:
        VideoDecodeError: a path that does not exist, or a folder without video files; the message names it.
    """
    out = []
    for item in inputs:
        if os.path.isdir(item):
            found, other = find_videos(item)
            if not found:
                also = f" (only {len(other)} other files: {other.kinds()})" if other else ""
                raise VideoDecodeError(f"{item}: no video files ({', '.join(VIDEO_EXTENSIONS)}) in this folder{also}")
            if other and skipped is not None:
                skipped.append(other)
            elif other:
                _log.warning("note: %s", other)
            out += found
        elif not os.path.exists(item):
            raise VideoDecodeError(f"{item}: no such file or folder")
        else:
            out.append(item)
    return out


def output_names(paths: Sequence[str]) -> list[Path]:
    """Relative names for per-video output files that cannot collide: each video's path relative to the deepest
    folder holding all of them, without its suffix (``a/clip.mp4``, ``b/clip.mp4`` -> ``a/clip``, ``b/clip``; a single
    video -> ``clip``). Names that would still clash (``clip.mp4`` and ``clip.avi``, or names that differ only in case)
    keep their suffix (``clip.mp4``, ``clip.avi``)."""
    absolute = [Path(os.path.abspath(p)) for p in paths]
    if not absolute:
        return []
    try:
        root = Path(os.path.commonpath([str(a.parent) for a in absolute]))
        rel = [a.relative_to(root) for a in absolute]
    except ValueError:  # no common folder (Windows drives): the whole path without its anchor
        rel = [Path(*a.parts[1:]) for a in absolute]
    stems = [r.with_suffix("") for r in rel]
    counts = collections.Counter(str(s).lower() for s in stems)
    return [s if counts[str(s).lower()] == 1 else r for s, r in zip(stems, rel)]


def resolve_labels(spec: str | None, cfg, num_classes: int | None = None) -> list[str] | None:
    """``--labels``: a shipped list (k400, k600, k700, k710, sthv2 or a full list name) or a text file with one name
    per line; None: the model's own class names (:func:`model_labels`).

    Args:
        num_classes: the classifier's rows; a list of another length is refused (an explicit ``spec``) or dropped
            with a warning (the model's own names). None: not checked.
    Raises:
        UsageError: ``spec`` is neither a shipped list nor a readable label file, or its length is not
            ``num_classes``; the message names it.
    """
    if spec is None:
        return model_labels(cfg, num_classes, hint="pass --labels to name them")
    from ..data.datasets import read_class_names as class_names
    from ..labels import lists_of_length
    try:
        names = class_names(spec)
    except (ValueError, OSError) as e:  # unknown list name, unreadable file, malformed labels json
        where = f"{spec}: " if os.path.isfile(spec) else ""  # a json error does not name its file
        raise UsageError(f"--labels: {where}{e}") from None
    if num_classes is not None and len(names) != num_classes:
        model = f" of {cfg.architecture}" if cfg is not None else " of the model"
        fitting = lists_of_length(num_classes)
        hint = f"; shipped lists of {num_classes} names: {', '.join(fitting)}" if fitting else ""
        raise UsageError(f"--labels {spec}: {len(names)} class names for the {num_classes} classes{model}{hint}")
    return names


def model_labels(cfg, num_classes: int | None, hint: str = "") -> list[str] | None:
    """The class names stored with the weights (``cfg.labels()``), or None when there are none or they do not fit
    a classifier of ``num_classes`` rows (then with a warning: the classes are shown by index, never misnamed)."""
    names = cfg.labels() if cfg is not None else None
    if names is None or num_classes is None or len(names) == num_classes:
        return names
    warnings.warn(f"{cfg.architecture}: the weights' label list has {len(names)} names but the classifier has "
                  f"{num_classes} classes, so the classes are shown as 'class N'" + (f" ({hint})" if hint else ""),
                  stacklevel=2)
    return None


def resolve_device(spec: str | None) -> torch.device:
    """``--device``: ``cpu``, ``cuda``, ``cuda:N``, ``mps``; None: ``cuda`` when available, else ``cpu``.

    Raises:
        UsageError: not one of those, or not available on this machine; the message says which.
    """
    if spec is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"--device {spec!r}: expected cpu, cuda, cuda:N or mps")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UsageError(f"--device {spec}: no CUDA device is available to this torch ({torch.__version__})")
        if device.index is not None and device.index >= count:
            raise UsageError(f"--device {spec}: this machine has {count} CUDA device{'s' if count > 1 else ''} "
                             f"(cuda:0{f' to cuda:{count - 1}' if count > 1 else ''})")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"--device {spec}: Apple's MPS backend is not available on this machine")
    return device


def default_workers() -> int:
    """Decoding workers of ``tubelet predict``: min(4, CPUs this process may use)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(4, cpus)


def video_views(path: str, cfg, views: tuple[int, int] = (1, 1)) -> torch.Tensor:
    """The model inputs of one video through its ``pretrained_cfg``: video models ``(clips*crops, C, T, S, S)``, the
    ``views = (clips, crops)`` test views; image models ``(1, C, S, S)``, the middle frame."""
    clips, crops = views
    with VideoReader(path) as reader:
        if not cfg.is_video:
            return eval_clip(reader.get_frames([reader.num_frames // 2]), cfg)
        sampler = make_sampler(cfg, num_clips=clips)
        transform = EvalTransform.from_cfg(cfg, num_crops=crops)
        return torch.cat([transform(reader.get_frames(sampler(reader.num_frames, clip_index=k)))
                          for k in range(clips)])


@torch.no_grad()
def classify_video(model, path: str, *, views: tuple[int, int] = (1, 1), view_average: str = "prob",
                   max_views: int = 16) -> torch.Tensor:
    """Class probabilities ``(K,)`` of one video: ``views = (clips, crops)`` test views through the model's
    ``pretrained_cfg`` sampler and eval transform, averaged (softmax then mean, or mean logits then softmax)."""
    x = video_views(path, model.pretrained_cfg, views)
    device = next(model.parameters()).device
    logits = torch.cat([model(chunk.to(device)) for chunk in x.split(max_views)]).float().cpu()
    out = average_views(logits, x.shape[0], view_average)[0]
    return out if view_average == "prob" else out.softmax(-1)


class VideoViews(torch.utils.data.Dataset):
    """Item ``i``: ``(i, views, decode seconds)`` of ``paths[i]`` (:func:`video_views`), or ``(i, message)`` when
    the file cannot be decoded, so that one bad file does not stop a DataLoader."""

    def __init__(self, paths: Sequence[str], cfg, views: tuple[int, int] = (1, 1)):
        self.paths, self.cfg, self.views = list(paths), cfg, tuple(views)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        t0 = time.perf_counter()
        try:
            x = video_views(self.paths[index], self.cfg, self.views)
        except TubeletError as e:  # a broken file, named in the message; bugs keep their traceback
            return index, str(e)
        return index, x, time.perf_counter() - t0


@dataclass
class Prediction:
    """One video's result: ``probs (K,)`` and ``num_views``, or ``error`` (the message naming the file).
    ``seconds``: its decoding time plus its share (by views) of the forward passes that ran its views."""

    video: str
    probs: torch.Tensor | None = None
    error: str | None = None
    num_views: int = 0
    seconds: float = 0.0


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)  # workers decode and resize; the main process runs the model


@torch.no_grad()
def predict_videos(model, paths: Sequence[str], *, views: tuple[int, int] = (1, 1), batch_size: int = 8,
                   num_workers: int = 0, view_average: str = "prob") -> Iterator[Prediction]:
    """Classify many videos: decoding, sampling and the eval transform run in ``num_workers`` DataLoader workers,
    the views of consecutive videos are concatenated into batches of up to ``batch_size`` clips on the model's
    device, and the scores are averaged back per video (as :func:`classify_video`, to float rounding).

    Yields one :class:`Prediction` per video, in the order of ``paths``, as soon as all its views have gone through
    the model; a file that cannot be decoded yields a Prediction with ``error`` and the rest go on.
    """
    if batch_size < 1:
        raise UsageError(f"batch_size must be >= 1, got {batch_size}")
    device = next(model.parameters()).device
    num_workers = min(num_workers, len(paths)) if len(paths) > 1 else 0  # one video: nothing to overlap
    loader = torch.utils.data.DataLoader(
        VideoViews(paths, model.pretrained_cfg, views), batch_size=None, shuffle=False, num_workers=num_workers,
        worker_init_fn=_one_thread if num_workers else None, pin_memory=device.type == "cuda")
    queue: collections.deque = collections.deque()  # (index, views or error, decode s) in input order, unreported
    waiting: list[torch.Tensor] = []  # views not yet through the model
    done = torch.zeros(0)  # logits of the queued videos' views that went through, in order
    shares = collections.Counter()  # forward seconds per queued video

    def forward(x: torch.Tensor, owners: list[int]) -> None:
        nonlocal done
        t0 = time.perf_counter()
        with torch.inference_mode():
            logits = model(x.to(device, non_blocking=True)).float().cpu()
        seconds = time.perf_counter() - t0
        for owner in owners:
            shares[owner] += seconds / len(owners)
        done = logits if done.numel() == 0 else torch.cat([done, logits])

    def ready() -> Iterator[Prediction]:
        nonlocal done
        while queue:
            index, item, decode = queue[0]
            if isinstance(item, str):
                queue.popleft()
                yield Prediction(paths[index], error=item)
                continue
            if done.shape[0] < item:
                return
            queue.popleft()
            scores = average_views(done[:item], item, view_average)[0]
            done = done[item:]
            yield Prediction(paths[index], scores if view_average == "prob" else scores.softmax(-1), num_views=item,
                             seconds=decode + shares.pop(index, 0.0))

    owners: list[int] = []  # the video of each waiting view
    for index, *rest in loader:
        if isinstance(rest[0], str):
            queue.append((index, rest[0], 0.0))
        else:
            x, decode = rest
            queue.append((index, x.shape[0], decode))
            waiting.append(x)
            owners += [index] * x.shape[0]
            if len(owners) >= batch_size:
                x = torch.cat(waiting)
                full = len(owners) // batch_size * batch_size
                for start in range(0, full, batch_size):
                    forward(x[start:start + batch_size], owners[start:start + batch_size])
                waiting, owners = ([x[full:]] if full < len(owners) else []), owners[full:]
        yield from ready()
    if waiting:
        forward(torch.cat(waiting), owners)
    yield from ready()


def _window_indices(cfg, start: int, length: int) -> np.ndarray:
    """Frame indices of one window: the model's dense stride, or one frame from the middle of each segment."""
    T = cfg.num_frames
    if cfg.sampler in ("dense", "sample_frames"):
        step = max(1, length // T) if length < T * (cfg.frame_interval or 1) else cfg.frame_interval or 1
        return start + np.minimum(np.arange(T) * step, length - 1)
    return start + np.minimum(((np.arange(T) + 0.5) * length / T).astype(np.int64), length - 1)


@torch.no_grad()
def timeline(model, path: str, *, window: float | None = None, stride: float | None = None,
             batch_size: int = 8) -> tuple[list[dict], torch.Tensor]:
    """Slide windows over a long video and classify each.

    Args:
        window: seconds per window; default: the span of the model's dense clip (``num_frames x frame_interval``
            frames), or 4 s for segment-sampled models.
        stride: seconds between window starts; default: half a window.
        batch_size: windows decoded and run through the model at a time (memory stays flat).
    Returns:
        ``([{"start", "end"} seconds per window], probs (W, K))``.
    """
    cfg = model.pretrained_cfg
    transform = EvalTransform.from_cfg(cfg, num_crops=1)
    device = next(model.parameters()).device
    with VideoReader(path) as reader:
        n, fps = reader.num_frames, reader.fps or 25.0
        if window is None:
            span = cfg.num_frames * (cfg.frame_interval or 1) if cfg.sampler in ("dense", "sample_frames") \
                else round(4.0 * fps)
        else:
            span = round(window * fps)
        span = max(1, min(span, n))
        step = max(1, round(stride * fps) if stride is not None else span // 2)
        starts = list(range(0, max(n - span, 0) + 1, step))
        if starts[-1] + span < n:  # cover the tail
            starts.append(n - span)
        windows, probs = [], []
        for i in range(0, len(starts), batch_size):  # decode a few windows at a time: memory stays flat
            chunk = starts[i:i + batch_size]
            x = torch.cat([transform(reader.get_frames(_window_indices(cfg, s, span))) for s in chunk])
            probs.append(model(x.to(device)).float().softmax(-1).cpu())
            windows += [{"start": round(s / fps, 3), "end": round((s + span) / fps, 3)} for s in chunk]
    return windows, torch.cat(probs)


def topk(probs: torch.Tensor, labels: list[str] | None, k: int) -> list[dict]:
    """The ``k`` best classes of ``probs (K,)`` (all K when ``k > K``): ``[{"index", "label", "score"}]``; labels
    are ``class N`` without a label list.

    Raises:
        ValueError: ``labels`` is not one name per class (callers resolve them with :func:`resolve_labels`).
    """
    if labels is not None and len(labels) != probs.numel():
        raise ValueError(f"got {len(labels)} class names for {probs.numel()} classes")
    k = min(k, probs.numel())
    scores, idx = probs.topk(k)
    return [{"index": int(i), "label": labels[i] if labels else f"class {int(i)}", "score": round(float(s), 6)}
            for s, i in zip(scores, idx)]
