"""Video datasets: annotation readers for the formats users have, and one ``VideoDataset`` for train and test.

Readers return ``list[(path, label)]``; a malformed line raises ``AnnotationError`` naming the file and line.
``VideoDataset`` decodes, samples and transforms one video per item; broken videos raise ``VideoDecodeError`` unless
``skip_bad=True``, which logs each bad file once, counts it and serves the next good item instead.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..errors import AnnotationError
from .decode import VideoDecodeError, VideoReader

__all__ = ["AnnotationError", "VideoDataset", "read_list_file", "read_kinetics_csv", "read_ssv2", "read_class_folders",
           "VIDEO_EXTENSIONS"]

_log = logging.getLogger("tubelet.data")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg")


def _read_text(path: str, newline: str | None = None) -> str:
    """The whole annotation file; a missing, unreadable or non-UTF-8 file is an AnnotationError naming it."""
    try:
        with open(path, encoding="utf-8", newline=newline) as f:
            return f.read()
    except FileNotFoundError:
        raise AnnotationError(f"{path}: no such annotation file") from None
    except OSError as e:
        raise AnnotationError(f"{path}: cannot read the annotation file ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise AnnotationError(f"{path}: not a UTF-8 text file ({e})") from None


def read_list_file(path: str | os.PathLike, root: str | os.PathLike = "", sep: str | None = None,
                   num_classes: int | None = None) -> list[tuple[str, int]]:
    """``path label`` lines (MMAction2: space; PySlowFast/UniFormer CSVs: ``sep=","``). Blank lines are skipped;
    relative paths are joined to ``root``."""
    out = []
    path = os.fspath(path)
    with io.StringIO(_read_text(path)) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.rsplit(sep, 1) if sep else line.rsplit(None, 1)
            if len(parts) != 2 or not parts[1].strip().lstrip("-").isdigit():
                raise AnnotationError(f"{path}:{n}: expected 'PATH{sep or ' '}LABEL' with an integer label, got {line!r}")
            label = int(parts[1])
            if label < 0 or (num_classes is not None and label >= num_classes):
                raise AnnotationError(f"{path}:{n}: label {label} outside [0, {num_classes or 'inf'})")
            out.append((os.path.join(os.fspath(root), parts[0].strip()), label))
    if not out:
        raise AnnotationError(f"{path}: no samples")
    return out


def read_kinetics_csv(path: str | os.PathLike, root: str | os.PathLike, classes: Sequence[str],
                      template: str = "{label}/{youtube_id}_{time_start:06d}_{time_end:06d}.mp4") -> list[tuple[str, int]]:
    """The official Kinetics CSV (``label,youtube_id,time_start,time_end,split[,is_cc]``) with a path template."""
    index = {c: i for i, c in enumerate(classes)}
    out = []
    path = os.fspath(path)
    with io.StringIO(_read_text(path, newline=""), newline="") as f:
        reader = csv.DictReader(f)
        need = {"label", "youtube_id", "time_start", "time_end"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise AnnotationError(f"{path}:1: expected columns {sorted(need)}, got {reader.fieldnames}")
        for n, row in enumerate(reader, 2):
            try:
                label = index[row["label"]]
                rel = template.format(label=row["label"], youtube_id=row["youtube_id"],
                                      time_start=int(float(row["time_start"])), time_end=int(float(row["time_end"])))
            except KeyError:
                raise AnnotationError(f"{path}:{n}: unknown class {row.get('label')!r}") from None
            except (TypeError, ValueError) as e:
                raise AnnotationError(f"{path}:{n}: bad row {row} ({e})") from None
            out.append((os.path.join(os.fspath(root), rel), label))
    return out


def read_ssv2(labels_json: str | os.PathLike, split_json: str | os.PathLike, root: str | os.PathLike,
              template: str = "{id}.webm") -> list[tuple[str, int]]:
    """Something-Something v2: ``labels.json`` (``{"name": "index"}``) and a train/validation JSON list of
    ``{"id", "template"}``; the template's ``[something]`` placeholders are removed to match the label names."""
    labels_json, split_json = os.fspath(labels_json), os.fspath(split_json)
    labels_text, split_text = _read_text(labels_json), _read_text(split_json)
    try:
        labels = {k: int(v) for k, v in json.loads(labels_text).items()}
        items = json.loads(split_text)
    except (json.JSONDecodeError, ValueError, AttributeError) as e:
        raise AnnotationError(f"{labels_json} / {split_json}: not the SSv2 JSON format ({e})") from None
    out = []
    for n, item in enumerate(items):
        try:
            name = item["template"].replace("[", "").replace("]", "")
            out.append((os.path.join(os.fspath(root), template.format(id=item["id"])), labels[name]))
        except (KeyError, TypeError):
            raise AnnotationError(f"{split_json}: entry {n} ({item!r}) has no known template/id") from None
    if not out:
        raise AnnotationError(f"{split_json}: no samples")
    return out


def read_class_folders(root: str | os.PathLike) -> tuple[list[tuple[str, int]], list[str]]:
    """One folder per class (sorted names = class indices); returns ``(samples, class_names)``."""
    root = Path(root)
    try:
        classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    except FileNotFoundError:
        raise AnnotationError(f"{root}: no such folder (one sub-folder of videos per class expected)") from None
    except OSError as e:
        raise AnnotationError(f"{root}: cannot list the class folders ({e.strerror or e})") from None
    if not classes:
        raise AnnotationError(f"{root}: no class folders")
    samples = [(str(f), i) for i, c in enumerate(classes) for f in sorted((root / c).rglob("*"))
               if f.suffix.lower() in VIDEO_EXTENSIONS]
    if not samples:
        raise AnnotationError(f"{root}: no video files ({', '.join(VIDEO_EXTENSIONS)}) in its class folders")
    return samples, classes


class VideoDataset(torch.utils.data.Dataset):
    """Decode -> sample -> transform for one video per item.

    Args:
        samples: ``(path, label)`` pairs.
        sampler: ``sampler(num_frames, clip_index=None, rng=None) -> indices`` (see ``presets.make_sampler``).
        transform: train: ``transform(frames, rng) -> (clip (C, T, H, W), flipped)``; test: ``transform(frames) ->
            (crops, C, T, H, W)``.
        train: draw one random clip per item; otherwise all ``num_clips`` test clips, each with its crops.
        num_clips: test clips per video (views = clips x crops).
        flip_label_map: ``{label: label_when_flipped}`` (e.g. Something-Something left/right classes).
        skip_bad: on a broken video, log it once, count it in ``num_skipped`` and serve the next item instead.
        seed: base seed; each item's generator is seeded with (seed, epoch, index), see :meth:`set_epoch`.
        num_samples: train: augment the sampled frames this many times independently (PySlowFast
            ``AUG.NUM_SAMPLE``: one decode, several differently augmented clips per video and step).
    Returns per item:
        train ``(clip (C, T, H, W), label)``, or with ``num_samples = n > 1`` ``(clips (n, C, T, H, W), labels (n,))``;
        test ``(views (clips*crops, C, T, H, W), label)``.
    """

    def __init__(self, samples: Sequence[tuple[str, int]], sampler: Callable, transform: Callable, *,
                 train: bool, num_clips: int = 1, flip_label_map: dict[int, int] | None = None,
                 skip_bad: bool = False, seed: int = 0, num_samples: int = 1):
        if not samples:
            raise ValueError("VideoDataset needs at least one sample")
        self.samples, self.sampler, self.transform = list(samples), sampler, transform
        self.train, self.num_clips = train, num_clips
        self.flip_label_map = flip_label_map or {}
        self.skip_bad, self.seed, self.epoch, self.num_samples = skip_bad, seed, 0, num_samples
        self.num_skipped, self._bad = 0, set()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def _load(self, index: int, epoch: int):
        path, label = self.samples[index]
        rng = np.random.default_rng((self.seed, epoch, index))
        with VideoReader(path) as reader:
            if not self.train:
                views = [self.transform(reader.get_frames(self.sampler(reader.num_frames, clip_index=k)))
                         for k in range(self.num_clips)]
                return torch.cat(views), label
            frames = reader.get_frames(self.sampler(reader.num_frames, rng=rng))
        clips, labels = [], []
        for _ in range(self.num_samples):
            clip, flipped = self.transform(frames, rng)
            clips.append(clip)
            labels.append(self.flip_label_map.get(label, label) if flipped else label)
        if self.num_samples == 1:
            return clips[0], labels[0]
        return torch.stack(clips), torch.tensor(labels)

    def __getitem__(self, item):
        """``item``: an index, or ``(epoch, index)`` from ``loader.EpochSampler`` (workers keep their own copies of the
        dataset, so the epoch travels with the index)."""
        epoch, index = item if isinstance(item, tuple) else (self.epoch, item)
        for attempt in range(len(self.samples)):
            i = (index + attempt) % len(self.samples)
            try:
                return self._load(i, epoch)
            except VideoDecodeError as e:
                if not self.skip_bad:
                    raise
                if i not in self._bad:
                    self._bad.add(i)
                    self.num_skipped += 1
                    _log.warning("skipping broken video (%d so far): %s", self.num_skipped, e)
        raise VideoDecodeError(f"every one of the {len(self.samples)} videos failed to decode")
