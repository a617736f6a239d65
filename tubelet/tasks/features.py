"""Clip features of untrimmed videos (ActivityNet / HACS temporal localisation): ``tubelet features``.

Each video is cut into windows of ``window`` seconds every ``stride`` seconds (default: the model's clip span, the
windows of ``tubelet predict --timeline``, and a stride of one window: windows that touch without overlapping); each
window is sampled with the model's own sampler and frames (``pretrained_cfg``: dense clips, or one frame per segment)
and its eval transform (short side, centre crop, normalisation), and goes through
``model.forward_head(model.forward_features(x), pre_logits=True)``: the pooled feature that enters the classifier.
The last window is moved back to end at the video's last frame, so the tail is always covered (as the timeline).

``tubelet features`` writes, below ``--out``:

* ``NAME.npy``: float32 ``(windows, dim)`` per video, NAME mirroring the video's path below the videos' common folder
  (:func:`tubelet.engine.inference.output_names`); with ``--classify`` also ``NAME.scores.npy``, the softmax of each
  window ``(windows, classes)``;
* ``index.jsonl``: one JSON line per finished video: ``video``, ``fps``, ``duration``, ``num_frames``, ``features``
  (the file, relative to ``--out``), ``dim``, ``windows`` (``[start, end]`` seconds each) and, with ``--classify``,
  ``scores`` and ``top5`` (the video-level average of the window scores);
* ``features.json``: the settings of the run (model, weights, window, stride, frames, dtype); a rerun with other
  settings into the same folder is refused.

A run is resumable: every array is written to a temporary name (``.NAME.npy.tmpPID``), flushed to disk and renamed,
and only then is its index line appended, so a video is finished exactly when its index line exists. A rerun reads
the index (a line torn by a kill is cut off), skips the finished videos, removes temporaries of dead processes and
redoes the rest; an array without its line (killed between the rename and the append) is simply written again.

Videos are decoded, sampled, resized and cropped in DataLoader workers, a few windows at a time (memory stays flat
on hour-long videos), and shipped as uint8; the main process normalises them on the model's device and batches
windows across videos into forward passes of ``batch_size`` clips (the last batch is padded to that size, so a
window's feature never depends on the batch it shared).

The papers' untrimmed *classification* protocol (UniFormerV2 ActivityNet / HACS, MODELS.md §2.5: ``kinetics_sparse``
with 10 test clips x 3 crops, each clip one frame from each of T segments spread over the *whole* video, softmax per
view then averaged) is not a window protocol: it is ``tubelet eval`` with the ``configs/*_anet.yaml`` /
``*_hacs.yaml`` recipes (``data.sampler: segment``, ``test_clips: 10``, ``test_crops: 3``, ``view_average: prob``),
or ``tubelet predict --views 10x3`` for single videos. ``--classify`` here gives the window-level scores a
localisation method needs, and their average as a video-level score.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import AnnotationError, TubeletError, UsageError

__all__ = ["extract_features", "extract_to_folder", "plan_windows", "window_clips", "normalize_clips",
           "read_video_list", "resolve_inputs", "load_index", "check_video_model", "check_settings",
           "clear_output", "INDEX_NAME", "SETTINGS_NAME"]

INDEX_NAME = "index.jsonl"
SETTINGS_NAME = "features.json"


# ------------------------------------------------------------------------------------------------------- windows
def _span_frames(cfg, fps: float, window: float | None) -> int:
    """Frames per window: ``window`` seconds, or the model's clip span (dense: ``num_frames x frame_interval``
    frames; segment samplers: 4 s), as ``tubelet predict --timeline``."""
    if window is not None:
        return round(window * fps)
    if cfg.sampler in ("dense", "sample_frames"):
        return cfg.num_frames * (cfg.frame_interval or 1)
    return round(4.0 * fps)


def plan_windows(cfg, num_frames: int, fps: float, *, window: float | None = None,
                 stride: float | None = None) -> tuple[list[int], int]:
    """First frames of the windows of a video of ``num_frames`` frames at ``fps``, and the frames per window.

    ``window`` / ``stride`` in seconds; defaults: the model's clip span, and one window (no overlap). Windows longer
    than the video shrink to it; a last window is added, ending at the last frame, when the stride leaves a tail.
    """
    if num_frames < 1:
        raise ValueError("a video without frames has no windows")
    fps = fps or 25.0
    span = max(1, min(_span_frames(cfg, fps, window), num_frames))
    step = max(1, round(stride * fps) if stride is not None else span)
    starts = list(range(0, num_frames - span + 1, step))
    if starts[-1] + span < num_frames:  # cover the tail
        starts.append(num_frames - span)
    return starts, span


def _window_times(starts: Sequence[int], span: int, fps: float) -> list[tuple[float, float]]:
    fps = fps or 25.0
    return [(round(s / fps, 3), round((s + span) / fps, 3)) for s in starts]


def window_clips(reader, cfg, starts: Sequence[int], span: int) -> torch.Tensor:
    """The frames of windows of ``span`` frames at ``starts``, sampled with the model's rule
    (:func:`tubelet.engine.inference._window_indices`), short side resized and centre-cropped as the model's eval
    transform does, still uint8: ``(len(starts), T, C, S, S)``; :func:`normalize_clips` makes them model inputs.
    The frames of all the windows are decoded (and resized) once each, in one pass."""
    from ..data import EvalTransform
    from ..data import transforms as T
    from ..engine.inference import _window_indices

    tr = EvalTransform.from_cfg(cfg, num_crops=1)
    per_window = np.stack([_window_indices(cfg, s, span) for s in starts])  # n, T
    unique, inverse = np.unique(per_window, return_inverse=True)
    frames = T.resize_short_side(T.to_tchw(reader.get_frames(unique)), tr.resize_size, tr.interpolation)
    crops = T.center_crop(frames, tr.crop_size)  # U, C, S, S uint8
    return crops[torch.from_numpy(inverse.reshape(per_window.shape))]


def normalize_clips(x: torch.Tensor, cfg, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 windows ``(B, T, C, S, S)`` (:func:`window_clips`) -> float32 model inputs ``(B, C, T, S, S)`` on
    ``device``: ``(x / 255 - mean) / std``, the eval transform's normalisation (run where the model runs, so that
    decoding workers ship a quarter of the bytes)."""
    x = x.to(device, non_blocking=True)
    m = torch.tensor(cfg.mean, dtype=torch.float32, device=x.device).view(1, 1, -1, 1, 1)
    s = torch.tensor(cfg.std, dtype=torch.float32, device=x.device).view(1, 1, -1, 1, 1)
    return ((x.float() / 255.0 - m) / s).permute(0, 2, 1, 3, 4).contiguous()


def _with_frames(cfg, frames: int | None):
    if frames is None or frames == cfg.num_frames:
        return cfg
    return cfg.replace(num_frames=frames, input_size=(cfg.input_size[0], frames, *cfg.input_size[2:]))


def check_video_model(model, classify: bool = False) -> None:
    """A video classifier: its pooled clip feature is ``forward_head(forward_features(x), pre_logits=True)``."""
    from ..models._registry import check_task

    cfg = model.pretrained_cfg
    check_task(cfg.architecture, "classification", "tubelet features")
    if not cfg.is_video:
        raise UsageError(f"features need a video model, {cfg.architecture} is an image model")
    if classify and not model.num_classes:
        raise UsageError(f"--classify: {cfg.architecture} has no classifier (num_classes 0)")


def _autocast(device: torch.device, dtype: str):
    from ..engine.evaluate import autocast
    from ..runtime import resolve_amp

    if dtype not in ("fp32", "bf16"):
        raise UsageError(f"dtype must be fp32 or bf16, got {dtype!r}")
    return autocast(device, resolve_amp("none" if dtype == "fp32" else "bf16", device))


@torch.no_grad()
def _forward(model, x: torch.Tensor, dtype: str, classify: bool, cfg=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Pooled pre-logits features ``(B, D)`` float32 (and the softmax ``(B, K)`` with ``classify``) on the CPU, of
    uint8 windows ``x`` (:func:`window_clips`)."""
    device = next(model.parameters()).device
    x = normalize_clips(x, model.pretrained_cfg if cfg is None else cfg, device)
    with torch.inference_mode(), _autocast(device, dtype):
        fmap = model.forward_features(x)
        feats = model.forward_head(fmap, pre_logits=True).float().cpu()
        probs = model.forward_head(fmap).float().softmax(-1).cpu() if classify else None
    return feats, probs


@torch.no_grad()
def extract_features(model, video: str | os.PathLike, *, window: float | None = None, stride: float | None = None,
                     frames: int | None = None, batch_size: int = 8,
                     dtype: str = "fp32") -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Pooled pre-logits features of the windows of one video.

    Args:
        model: a tubelet video classifier (any family); runs on its own device, in eval mode.
        window, stride: seconds (defaults: the model's clip span; one window, so windows touch); see
            :func:`plan_windows`.
        frames: frames sampled per window (default: the model's ``num_frames``).
        batch_size: windows decoded and run at a time (memory stays flat).
        dtype: ``fp32`` or ``bf16`` (autocast; on a CPU without native bf16 it runs fp32, with a note).
    Returns:
        ``(features float32 (N, D), [(start, end) seconds] * N)``.
    Raises:
        VideoDecodeError: the file cannot be decoded (the message names it).
    """
    from ..data import VideoReader

    if batch_size < 1:
        raise UsageError(f"batch_size must be >= 1, got {batch_size}")
    check_video_model(model)
    was_training = model.training
    model.eval()
    cfg = _with_frames(model.pretrained_cfg, frames)
    try:
        with VideoReader(os.fspath(video)) as reader:
            starts, span = plan_windows(cfg, reader.num_frames, reader.fps, window=window, stride=stride)
            feats = [_forward(model, window_clips(reader, cfg, starts[i:i + batch_size], span), dtype, False)[0]
                     for i in range(0, len(starts), batch_size)]
            times = _window_times(starts, span, reader.fps)
    finally:
        model.train(was_training)
    return torch.cat(feats).numpy(), times


# ------------------------------------------------------------------------------------------------------ list file
def read_video_list(path: str | os.PathLike) -> list[str]:
    """Video paths of a text list, one per line (UTF-8, a byte-order mark dropped; blank lines and ``#`` comments
    skipped; relative paths are relative to the list's folder). A line is a path as it stands (spaces included);
    when no such file exists, a trailing integer label (``PATH LABEL`` or ``PATH,LABEL``: the training lists) is
    dropped from it.

    Raises:
        AnnotationError: an unreadable or binary file, no paths, or a line naming no existing file (``FILE:LINE``).
    """
    import io

    from ..data.datasets import _read_text, _short

    path = os.fspath(path)
    base = os.path.dirname(path)
    out = []
    with io.StringIO(_read_text(path), newline=None) as f:
        for n, line in enumerate(f, 1):
            line = line.strip().lstrip("\ufeff").strip()
            if not line or line.startswith("#"):
                continue
            video = line if os.path.isabs(line) else os.path.join(base, line)
            if not os.path.isfile(video):  # a labelled list ('PATH LABEL', 'PATH,LABEL'): the path alone
                for sep in (",", None):
                    head, *label = line.rsplit(sep, 1)
                    candidate = head.strip() if os.path.isabs(head.strip()) else os.path.join(base, head.strip())
                    if label and label[0].strip().isdigit() and os.path.isfile(candidate):
                        video = candidate
                        break
            if not os.path.isfile(video):
                what = "a folder, not a video file" if os.path.isdir(video) else "no such file"
                raise AnnotationError(f"{path}:{n}: {_short(line)}: {what}" +
                                      (f" (looked for {video})" if video != line else ""))
            out.append(video)
    if not out:
        raise AnnotationError(f"{path}: no video paths (one per line)")
    return out


def _is_list_file(item: str) -> bool:
    from ..data.datasets import VIDEO_EXTENSIONS

    return os.path.isfile(item) and Path(item).suffix.lower() in (".txt", ".lst", ".list", ".csv")\
        and Path(item).suffix.lower() not in VIDEO_EXTENSIONS


def resolve_inputs(items: Sequence[str]) -> list[str]:
    """Video files, folders (recursive) and list files -> video paths, duplicates dropped (first kept)."""
    from ..engine.inference import expand_videos

    videos: list[str] = []
    for item in items:
        videos += read_video_list(item) if _is_list_file(item) else expand_videos([item])
    seen, out = set(), []
    for v in videos:
        key = os.path.normcase(os.path.abspath(v))
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


# -------------------------------------------------------------------------------------------------- many videos
class _VideoWindows(torch.utils.data.IterableDataset):
    """Items ``("info", i, dict)``, then ``("clips", i, (n, C, T, S, S))`` chunks of at most ``chunk`` windows, of
    the videos ``i`` this worker owns (``i % workers == worker id``); ``("error", i, message)`` for a file that
    cannot be decoded (then nothing more of it)."""

    def __init__(self, paths, cfg, window, stride, chunk):
        self.paths, self.cfg, self.window, self.stride, self.chunk = list(paths), cfg, window, stride, chunk

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for i in range(wid, len(self.paths), workers):
            yield from self._video(i)

    def _video(self, i: int):
        from ..data import VideoReader

        try:
            reader = VideoReader(self.paths[i])
        except TubeletError as e:
            yield "error", i, str(e)
            return
        with reader:
            try:
                starts, span = plan_windows(self.cfg, reader.num_frames, reader.fps, window=self.window,
                                            stride=self.stride)
            except ValueError as e:
                yield "error", i, f"{self.paths[i]}: {e}"
                return
            yield "info", i, {"fps": round(float(reader.fps), 6), "duration": round(float(reader.duration), 6),
                              "num_frames": int(reader.num_frames), "span": span,
                              "windows": [list(w) for w in _window_times(starts, span, reader.fps)]}
            for k in range(0, len(starts), self.chunk):
                try:
                    x = window_clips(reader, self.cfg, starts[k:k + self.chunk], span)
                except TubeletError as e:
                    yield "error", i, str(e)
                    return
                yield "clips", i, x


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)


def _write_atomic(path: Path, data: bytes) -> None:
    """``data`` to a temporary name beside ``path``, flushed to disk, renamed over it."""
    from ..atomic import write_atomically

    write_atomically(path, lambda f: f.write(data))


def _save_array(path: Path, array: np.ndarray) -> None:
    """``np.save`` to a temporary name in the same folder, fsync, rename: a reader (or a rerun) sees the whole
    array or none."""
    from ..atomic import write_atomically

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda f: np.save(f, np.ascontiguousarray(array, dtype=np.float32)))


def _remove_stale(out: Path) -> list[str]:
    from ..atomic import remove_stale_temporaries

    removed = []
    for folder, _dirs, _files in os.walk(out):
        removed += remove_stale_temporaries(folder)
    return removed


def _key(video: str) -> str:
    return os.path.normcase(os.path.abspath(video))


def load_index(out: str | os.PathLike) -> dict[str, dict]:
    """The finished videos of a features folder: ``{absolute video path: index entry}``. A torn last line (a run
    killed mid-append) is cut off the file; entries whose array is missing are dropped from it."""
    out = Path(out)
    index = out / INDEX_NAME
    if not index.is_file():
        return {}
    data = index.read_bytes()
    keep, done, changed = [], {}, False
    for raw in data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"):
        try:
            entry = json.loads(raw)
            ok = isinstance(entry, dict) and (out / entry["features"]).is_file() and \
                (not entry.get("scores") or (out / entry["scores"]).is_file())
        except (ValueError, KeyError, TypeError):
            ok = False
        if ok and raw:
            done[_key(entry["video"])] = entry
            keep.append(raw)
        elif raw:
            changed = True
    if changed or not data.endswith(b"\n") and data:
        _write_atomic(index, b"".join(line + b"\n" for line in keep))
    return done


def check_settings(out: Path, settings: dict, restart: bool) -> None:
    path = out / SETTINGS_NAME
    if path.is_file() and not restart:
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = None
        if old != settings:
            differ = sorted(k for k in set(settings) | set(old or {}) if (old or {}).get(k) != settings.get(k))
            raise UsageError(f"{out} holds features of other settings ({', '.join(differ) or 'unreadable '} "
                             f"{path.name}): use another --out, or --overwrite to start over there")
    _write_atomic(path, (json.dumps(settings, indent=1) + "\n").encode())


def _inside(out: Path, name) -> Path | None:
    """``out / name`` when it names a file below ``out`` (no absolute path, no ``..`` out of it, no link leading out);
    None otherwise."""
    if not isinstance(name, str) or not name or os.path.isabs(name) or "\0" in name:
        return None
    root = out.resolve()
    path = (out / name)
    try:
        target = path.resolve()
    except (OSError, RuntimeError):
        return None
    if target == root or root not in target.parents:
        return None
    return path


def clear_output(out: Path) -> list[str]:
    """``--overwrite``: delete what earlier runs wrote (the index, the settings and the arrays it names). Only files
    inside ``out`` are deleted: an index entry that names a file elsewhere (an absolute path, ``../``, a link out of
    ``out``) is left alone and returned, so the caller can say so."""
    out = Path(out)
    index = out / INDEX_NAME
    refused = []
    if index.is_file():
        for line in index.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
                names = [entry.get(key) for key in ("features", "scores") if entry.get(key)]
            except (ValueError, AttributeError, TypeError):
                continue
            for name in names:
                path = _inside(out, name)
                if path is None:
                    refused.append(str(name))
                elif path.is_file() or path.is_symlink():
                    path.unlink()
        index.unlink()
    (out / SETTINGS_NAME).unlink(missing_ok=True)
    return refused


def extract_to_folder(model, videos: Sequence[str], out: str | os.PathLike, *, window: float | None = None,
                      stride: float | None = None, frames: int | None = None, batch_size: int = 8,
                      num_workers: int = 0, dtype: str = "fp32", classify: bool = False, labels=None,
                      progress: bool = True, log=None) -> dict:
    """The work of ``tubelet features`` (see the module docstring): arrays and ``index.jsonl`` in ``out`` for every
    video not finished there yet. Returns ``{"videos", "done", "skipped", "failed", "windows", "seconds"}``;
    failures are reported through ``log(message)`` (default: one line on stderr) and counted."""
    from tqdm.auto import tqdm

    from ..engine.inference import output_names, topk

    if batch_size < 1:
        raise UsageError(f"batch_size must be >= 1, got {batch_size}")
    check_video_model(model, classify)
    log = log or (lambda msg: print(f"tubelet features: error: {msg}", file=sys.stderr, flush=True))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)
    finished = load_index(out)
    names = dict(zip(videos, output_names(videos)))
    todo = [v for v in videos if _key(v) not in finished]
    cfg = _with_frames(model.pretrained_cfg, frames)
    model.eval()
    t0 = time.perf_counter()
    stats = {"videos": len(videos), "done": 0, "skipped": len(videos) - len(todo), "failed": 0, "windows": 0}
    if not todo:
        stats["seconds"] = 0.0
        return stats
    num_workers = min(num_workers, len(todo)) if len(todo) > 1 else 0
    chunk = max(1, min(batch_size, 16))
    loader = torch.utils.data.DataLoader(
        _VideoWindows(todo, cfg, window, stride, chunk), batch_size=None, num_workers=num_workers,
        worker_init_fn=_one_thread if num_workers else None,
        pin_memory=next(model.parameters()).device.type == "cuda")
    state: dict[int, dict] = {}  # video -> info + received feature rows
    pending: list[tuple[int, torch.Tensor]] = []  # window chunks not yet through the model
    waiting = 0
    bar = tqdm(total=len(todo), unit="video", disable=not progress, dynamic_ncols=True, desc="features")
    index = open(out / INDEX_NAME, "a", encoding="utf-8")

    def finish(i: int) -> None:
        s = state.pop(i)
        video = todo[i]
        name = names[video]
        feats = torch.cat(s["feats"]).numpy()
        feat_file = name.parent / f"{name.name}.npy"
        _save_array(out / feat_file, feats)
        entry = {"video": video, "fps": s["fps"], "duration": s["duration"], "num_frames": s["num_frames"],
                 "features": feat_file.as_posix(), "dim": int(feats.shape[1]), "windows": s["windows"]}
        if classify:
            probs = torch.cat(s["probs"])
            score_file = name.parent / f"{name.name}.scores.npy"
            _save_array(out / score_file, probs.numpy())
            entry["scores"] = score_file.as_posix()
            entry["top5"] = topk(probs.mean(0), labels, 5)
        index.write(json.dumps(entry) + "\n")
        index.flush()
        os.fsync(index.fileno())
        stats["done"] += 1
        stats["windows"] += feats.shape[0]
        bar.update(1)
        seconds = max(time.perf_counter() - t0, 1e-9)
        bar.set_postfix_str(f"{stats['done'] / seconds:.2f} videos/s, {stats['windows'] / seconds:.1f} windows/s",
                            refresh=False)

    def run_batch(pad: bool) -> None:
        nonlocal waiting
        take, owners, parts = batch_size, [], []
        while take and pending:
            i, x = pending[0]
            n = min(take, x.shape[0])
            parts.append(x[:n])
            owners.append((i, n))
            pending[0] = (i, x[n:])
            if n == x.shape[0]:
                pending.pop(0)
            take -= n
        x = torch.cat(parts)
        real = x.shape[0]
        waiting -= real
        if pad and real < batch_size:  # one batch shape for every window: results never depend on the batch
            x = torch.cat([x, x[-1:].expand(batch_size - real, *x.shape[1:])])
        feats, probs = _forward(model, x, dtype, classify, cfg)
        at = 0
        for i, n in owners:
            if i in state:  # not failed meanwhile
                state[i]["feats"].append(feats[at:at + n])
                if classify:
                    state[i]["probs"].append(probs[at:at + n])
                state[i]["got"] += n
                if state[i]["got"] == len(state[i]["windows"]):
                    finish(i)
            at += n

    try:
        for kind, i, payload in loader:
            if kind == "error":
                state.pop(i, None)
                stats["failed"] += 1
                log(payload)
                bar.update(1)
            elif kind == "info":
                state[i] = {**payload, "feats": [], "probs": [], "got": 0}
            else:
                pending.append((i, payload))
                waiting += payload.shape[0]
                while waiting >= batch_size:
                    run_batch(pad=False)
        while waiting:
            run_batch(pad=True)
    finally:
        index.close()
        bar.close()
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    return stats
