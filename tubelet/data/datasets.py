"""Video datasets: annotation readers for the formats users have, and one ``VideoDataset`` for train and test.

Readers return ``list[(path, label)]``; anything wrong with an annotation file raises ``AnnotationError`` naming the
file and the line (``FILE:LINE: ...``) or, for JSON, the entry (``FILE: [3].template: ...``). The rules they share:

* only regular files are read (a folder, FIFO or device is refused before reading), at most
  ``MAX_ANNOTATION_BYTES``;
* text is UTF-8, with or without a byte-order mark; UTF-16/UTF-32, Latin-1 and binary files (a NUL or other
  control byte) are refused with a message saying which they are, since a wrongly decoded path is a missing video;
* labels and class indices are plain ASCII decimal integers (no ``+``, exponent, ``inf`` or Unicode digits) up to
  ``MAX_LABEL``;
* the same video listed twice with two labels is an error naming both places; identical repeats are kept (they
  weigh that video twice) and counted in one warning per file.

Folder scans (:func:`read_class_folders`, :func:`find_videos`) tell a video by its extension (``VIDEO_EXTENSIONS``)
and count the other files (:class:`SkippedFiles`), so that a video without an extension is never dropped silently;
:func:`split_class_folders` and :func:`write_split_lists` turn one folder of class folders into stratified
``train.txt`` / ``val.txt`` lists and ``classes.txt`` (``tubelet data split``).

``VideoDataset`` decodes, samples and transforms one video per item; broken videos raise ``VideoDecodeError`` unless
``skip_bad=True``, which logs each bad file once, counts it and serves the next good item instead.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import math
import os
import re
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch

from ..atomic import write_text
from ..errors import AnnotationError, UsageError
from .decode import VideoDecodeError, VideoReader
from .loader import first_good_sample

__all__ = ["AnnotationError", "VideoDataset", "read_list_file", "read_kinetics_csv", "read_ssv2", "read_class_folders",
           "read_class_names", "VIDEO_EXTENSIONS", "SkippedFiles", "find_videos", "ClassFolders", "scan_class_folders",
           "ClassFolderSplit", "split_class_folders", "write_split_lists"]

_log = logging.getLogger("tubelet.data")
#: what a folder scan takes for a video, by the file's extension (each checked to decode with PyAV/FFmpeg): MPEG-4,
#: Matroska/WebM, QuickTime, MPEG-PS/TS (.ts, camcorders' .m2ts/.mts, DVD .vob), 3GPP, Flash, ASF/WMV, MXF, Ogg
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".ts", ".m2ts", ".mts", ".3gp",
                    ".3g2", ".flv", ".wmv", ".asf", ".vob", ".mxf", ".ogv")
MAX_ANNOTATION_BYTES = 2 << 30  # 2 GiB: ~20x the largest public list (Kinetics-700 train CSV is ~30 MB)
MAX_LABEL = 2**31 - 1  # a class index must fit int32 (torch index tensors, cross-entropy targets)

_INT = re.compile(r"-?[0-9]+")  # ASCII only: str.isdigit() and int() also take '²', '３', '٣'
_SECONDS = re.compile(r"[0-9]{1,9}(?:\.[0-9]*)?")  # Kinetics time_start/time_end: up to ~31 years, no sign or exponent
# C0 control bytes other than \t \n \v \f \r (and DEL): never in a text annotation file, always in binary data; in
# UTF-8 they only ever stand for themselves, so the raw bytes can be searched before decoding
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")
_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),  # UTF-32 LE starts with UTF-16 LE's BOM
         (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))
_FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _clip(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters: a message quotes a bad line, not a megabyte of it."""
    return text[:limit] + ("..." if len(text) > limit else "")


def _short(text: str, limit: int = 80) -> str:
    """``repr`` of :func:`_clip` (quoted, control and odd characters escaped)."""
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def _read_bytes(path: str) -> bytes:
    """The file's bytes; anything but a readable regular file of at most ``MAX_ANNOTATION_BYTES`` is refused.

    ``O_NONBLOCK`` keeps ``open`` from waiting for a FIFO's writer; the kind of file is checked on the open
    descriptor, so nothing is read from a FIFO or device (``/dev/zero`` would never end).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise AnnotationError(f"{path}: no such annotation file") from None
    except ValueError:  # an embedded NUL character
        raise AnnotationError(f"{path!r}: not a valid file name") from None
    except OSError as e:
        if os.path.isdir(path):  # Windows cannot open a folder at all
            raise AnnotationError(f"{path}: cannot read the annotation file: it is a folder, not an annotation "
                                  "file") from None
        raise AnnotationError(f"{path}: cannot read the annotation file ({e.strerror or e})") from None
    try:
        try:  # the kind of file first: FileIO itself refuses a folder, with a less helpful message
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                kind = next((name for test, name in _FILE_KINDS if test(st.st_mode)), "not a regular file")
                raise AnnotationError(f"{path}: cannot read the annotation file: it is {kind}, not an annotation file")
            if st.st_size > MAX_ANNOTATION_BYTES:
                raise AnnotationError(f"{path}: {st.st_size / 2**30:.1f} GiB is too large for an annotation file "
                                      f"(at most {MAX_ANNOTATION_BYTES >> 30} GiB)")
            f = open(fd, "rb")  # owns fd from here on
        except BaseException:
            os.close(fd)
            raise
        with f:
            data = f.read(MAX_ANNOTATION_BYTES + 1)  # bounded even if the file grows while it is read
    except OSError as e:
        raise AnnotationError(f"{path}: cannot read the annotation file ({e.strerror or e})") from None
    if len(data) > MAX_ANNOTATION_BYTES:
        raise AnnotationError(f"{path}: too large for an annotation file (more than {MAX_ANNOTATION_BYTES >> 30} GiB)")
    return data


def _read_text(path: str) -> str:
    """The whole annotation file as text (UTF-8, a leading byte-order mark dropped; line endings untouched).

    UTF-16 and UTF-32 are refused rather than decoded, so that every tubelet text file is read the same way (class
    lists, recipes): the message says to save the file as UTF-8. Errors name the line where one can be told.
    """
    data = _read_bytes(path)
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise AnnotationError(f"{path}: not a UTF-8 text file: it is {name} text (it starts with a {name} "
                                  "byte-order mark); save it as UTF-8")
    bad = _CONTROL.search(data)
    if bad:
        head = data[:256]
        even, odd = head[0::2], head[1::2]
        if len(head) >= 4 and any(not a.strip(b"\0") and b"\0" not in b for a, b in ((odd, even), (even, odd))):
            # ASCII text saved as UTF-16 LE (or BE): every other byte is NUL, the others never are
            raise AnnotationError(f"{path}: not a UTF-8 text file: it looks like UTF-16 text without a byte-order "
                                  "mark; save it as UTF-8")
        line = data.count(b"\n", 0, bad.start()) + 1
        raise AnnotationError(f"{path}:{line}: not a UTF-8 text file: it is a binary file, not a text annotation file "
                              f"(control byte 0x{data[bad.start()]:02x})")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        pos = e.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
        line = data.count(b"\n", 0, pos) + 1
        raise AnnotationError(f"{path}:{line}: not a UTF-8 text file: byte 0x{data[pos]:02x} is not UTF-8 (Latin-1 or "
                              "Windows-1252 text?); save it as UTF-8") from None


class _Samples:
    """Samples in file order; a video seen again with another label is an error naming both places, with the same
    label it is kept and counted (one warning per file in :meth:`result`)."""

    def __init__(self, path: str):
        self.path, self.samples, self.repeats = path, [], 0
        self._seen: dict[str, tuple[str, object]] = {}

    def add(self, sample: tuple[str, int], here: str, there: str, video: str, shown: object = None) -> None:
        """Add ``sample``; ``here``: ``FILE:LINE`` prefix, ``there``: where a later entry would find this one (``line
        3``); ``video``: the path as the file gives it; ``shown``: the label as the file gives it."""
        key = os.path.normpath(sample[0])  # ./a.mp4 and a.mp4 are one video
        shown = sample[1] if shown is None else shown
        if key in self._seen:
            first_there, first_shown = self._seen[key]
            if first_shown != shown:
                raise AnnotationError(f"{here}: {video!r} is labelled {shown!r} here but {first_shown!r} at "
                                      f"{first_there}")
            self.repeats += 1
        else:
            self._seen[key] = there, shown
        self.samples.append(sample)

    def result(self) -> list[tuple[str, int]]:
        if not self.samples:
            raise AnnotationError(f"{self.path}: no samples")
        if self.repeats:
            _log.warning("%s: %d duplicate entr%s (a video listed again with the same label) kept: those videos weigh "
                         "more in training and evaluation", self.path, self.repeats,
                         "y" if self.repeats == 1 else "ies")
        return self.samples


def _label(text: str) -> int | None:
    """An ASCII decimal integer (``-`` allowed, so that the range check can name it), else None."""
    text = text.strip()
    if not _INT.fullmatch(text):
        return None
    if len(text.lstrip("-").lstrip("0")) > len(str(MAX_LABEL)):  # int() of 5000 digits raises ValueError
        return MAX_LABEL + 1
    return int(text)


def read_list_file(path: str | os.PathLike, root: str | os.PathLike = "", sep: str | None = None,
                   num_classes: int | None = None) -> list[tuple[str, int]]:
    """``PATH LABEL`` lines (MMAction2: space; PySlowFast/UniFormer CSVs: ``sep=","``).

    The label is the last field (``rsplit``), so paths may contain spaces (and any UTF-8 character); space around
    either field is dropped. It is a plain ASCII decimal integer in ``[0, num_classes)`` (``[0, MAX_LABEL]`` without
    ``num_classes``): ``+3``, ``3.0``, ``1e3``, ``inf``, ``²`` or full-width digits are errors. Blank lines and lines
    whose first non-blank character is ``#`` are skipped (so a path cannot start with ``#``); relative paths are
    joined to ``root``. Encoding, file kinds and duplicates: see the module docstring.
    """
    path = os.fspath(path)
    root = os.fspath(root)
    shown_sep = sep or " "
    out = _Samples(path)
    with io.StringIO(_read_text(path), newline=None) as f:  # \r\n and \r end lines too; \x0c, \u2028 do not
        for n, line in enumerate(f, 1):
            line = line.strip().lstrip("\ufeff").strip()  # a BOM mid-file: two files saved by Excel, concatenated
            if not line or line.startswith("#"):
                continue
            parts = line.rsplit(sep, 1) if sep else line.rsplit(None, 1)
            label = _label(parts[1]) if len(parts) == 2 else None
            if label is None:
                raise AnnotationError(f"{path}:{n}: expected 'PATH{shown_sep}LABEL' with an integer label (ASCII "
                                      f"digits), got {_short(line)}")
            video = parts[0].strip()
            if not video:
                raise AnnotationError(f"{path}:{n}: no video path before the label, got {_short(line)}")
            if label < 0 or label > MAX_LABEL or (num_classes is not None and label >= num_classes):
                shown = _clip(parts[1].strip(), 30) if label > MAX_LABEL else label
                bound = f"[0, {num_classes})" if num_classes is not None else f"[0, {MAX_LABEL}]"
                raise AnnotationError(f"{path}:{n}: label {shown} outside {bound}")
            out.add((os.path.join(root, video), label), f"{path}:{n}", f"line {n}", video)
    return out.result()


def _check_template(template: str, **fields) -> None:
    """A path template must format with the fields a reader passes (a template is an argument, not file content)."""
    try:
        template.format(**fields)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as e:
        raise UsageError(f"path template {template!r} does not format with the fields {sorted(fields)} "
                         f"({type(e).__name__}: {e})") from None


def _video_id(value: str) -> bool:
    """A video id becomes a file name: not empty, not ``.``/``..``, no path separator, control character or lone
    surrogate (a JSON ``"\\u0000"`` or ``"\\ud800"`` would fail only when the video is opened)."""
    if not value or value in (".", "..") or "/" in value or "\\" in value or re.search("[\x00-\x1f\x7f]", value):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _format(template: str, where: str, **fields) -> str:
    """``template.format(**fields)``; a row that the (already checked) template cannot format names the row."""
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as e:
        raise AnnotationError(f"{where}: the path template {template!r} does not format this entry "
                              f"({type(e).__name__}: {e})") from None


def read_kinetics_csv(path: str | os.PathLike, root: str | os.PathLike, classes: Sequence[str],
                      template: str = "{label}/{youtube_id}_{time_start:06d}_{time_end:06d}.mp4") -> list[tuple[str, int]]:
    """The official Kinetics CSV (``label,youtube_id,time_start,time_end,split[,is_cc]``) with a path template.

    ``time_start``/``time_end`` are plain decimal seconds (``12``, ``12.0``; no sign, exponent, ``inf`` or ``nan``),
    truncated to whole seconds; a ``youtube_id`` is a file name (no ``/``). A row may have extra columns, but not miss
    one of the four used; blank lines are skipped. A bad ``template`` is a ``UsageError``.
    """
    _check_template(template, label="x", youtube_id="x", time_start=0, time_end=0)
    index = {c: i for i, c in enumerate(classes)}
    path = os.fspath(path)
    root = os.fspath(root)
    need = ("label", "youtube_id", "time_start", "time_end")
    out = _Samples(path)
    with io.StringIO(_read_text(path), newline="") as f:
        reader = csv.DictReader(f)
        rows, lines = iter(reader), reader.reader  # lines.line_num: DictReader's own is stale after an error
        try:
            fieldnames = reader.fieldnames
            if not fieldnames or not set(need) <= set(fieldnames):
                raise AnnotationError(f"{path}:{max(lines.line_num, 1)}: expected columns {sorted(need)}, got "
                                      f"{fieldnames}")
            while True:
                try:
                    row = next(rows)
                except StopIteration:
                    break
                n = lines.line_num  # the row's last line: a quoted field may span lines, blank lines are skipped
                missing = [k for k in need if row.get(k) is None]
                if missing:
                    have = sum(row.get(k) is not None for k in fieldnames)
                    raise AnnotationError(f"{path}:{n}: missing {', '.join(missing)} (the row has {have} of the "
                                          f"header's {len(fieldnames)} columns)")
                if row["label"] not in index:
                    raise AnnotationError(f"{path}:{n}: unknown class {_short(row['label'])}")
                if not _video_id(row["youtube_id"]):
                    raise AnnotationError(f"{path}:{n}: youtube_id {_short(row['youtube_id'])} is not a video id "
                                          "(empty, '.', '..', or with a path separator or control character)")
                times = {}
                for key in ("time_start", "time_end"):
                    value = row[key].strip()
                    if not _SECONDS.fullmatch(value):
                        raise AnnotationError(f"{path}:{n}: {key} {_short(row[key])} is not a number of seconds "
                                              "(plain digits such as 12 or 12.0)")
                    times[key] = int(float(value))
                rel = _format(template, f"{path}:{n}", label=row["label"], youtube_id=row["youtube_id"], **times)
                out.add((os.path.join(root, rel), index[row["label"]]), f"{path}:{n}", f"line {n}", rel, row["label"])
        except csv.Error as e:  # e.g. "field larger than field limit (131072)"
            raise AnnotationError(f"{path}:{lines.line_num}: not valid CSV ({e})") from None
    return out.result()


_JSON_TYPES = ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"), (list, "an array"),
               (dict, "an object"))


def _json_type(value: object) -> str:
    """What a JSON value is, for messages: ``an integer (5)``, ``an object``, ``null``."""
    if value is None:
        return "null"
    kind = next(name for t, name in _JSON_TYPES if isinstance(value, t))
    return kind if isinstance(value, (list, dict)) else f"{kind} ({_clip(json.dumps(value), 40)})"


def _load_json(path: str, object_pairs_hook: Callable | None = None) -> object:
    """Parse a JSON annotation file; syntax errors name the line, absurd nesting and numbers are refused."""
    text = _read_text(path)
    try:
        return json.loads(text, object_pairs_hook=object_pairs_hook)
    except AnnotationError:  # from object_pairs_hook
        raise
    except json.JSONDecodeError as e:
        raise AnnotationError(f"{path}:{e.lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:  # "[[[[..." a hundred thousand deep
        raise AnnotationError(f"{path}: not valid annotation JSON (nested too deeply)") from None
    except ValueError as e:  # an integer of more than 4300 digits
        raise AnnotationError(f"{path}: not valid annotation JSON ({e})") from None


def _ssv2_labels(path: str) -> dict[str, int]:
    """``labels.json``: ``{"class name": "index"}`` (indices as strings, as released, or as integers)."""
    def unique(pairs: list[tuple[str, object]]) -> dict:
        out = {}
        for k, v in pairs:
            if k in out and out[k] != v:
                raise AnnotationError(f"{path}: [{_clip(json.dumps(k))}]: listed twice, as "
                                      f"{_clip(json.dumps(out[k]), 40)} and {_clip(json.dumps(v), 40)}")
            out[k] = v
        return out

    labels = _load_json(path, unique)
    if not isinstance(labels, dict):
        raise AnnotationError(f'{path}: expected a JSON object {{"class name": "index", ...}}, got '
                              f"{_json_type(labels)}")
    out = {}
    for name, value in labels.items():
        index = None
        if isinstance(value, str):
            index = _label(value) if value == value.strip() else None
        elif isinstance(value, int) and not isinstance(value, bool):
            index = value
        if index is None or not 0 <= index <= MAX_LABEL:
            raise AnnotationError(f"{path}: [{_clip(json.dumps(name))}]: expected a class index (a string of "
                                  f"ASCII digits or a non-negative integer), got {_json_type(value)}")
        out[name] = index
    return out


def read_ssv2(labels_json: str | os.PathLike, split_json: str | os.PathLike, root: str | os.PathLike,
              template: str = "{id}.webm") -> list[tuple[str, int]]:
    """Something-Something v2: ``labels.json`` (``{"name": "index"}``) and a train/validation JSON list of
    ``{"id", "template"}``; the template's ``[something]`` placeholders are removed to match the label names.

    An ``id`` is a string or an integer and becomes a file name (no ``/``); errors name the JSON path
    (``train.json: [3].template: expected a string, got an integer (5)``). A bad ``template`` is a ``UsageError``.
    """
    _check_template(template, id="x")
    labels_json, split_json, root = os.fspath(labels_json), os.fspath(split_json), os.fspath(root)
    labels = _ssv2_labels(labels_json)
    items = _load_json(split_json)
    if not isinstance(items, list):
        raise AnnotationError(f'{split_json}: expected a JSON array of {{"id", "template"}} objects, got '
                              f"{_json_type(items)}")
    out = _Samples(split_json)
    for n, item in enumerate(items):
        where = f"{split_json}: [{n}]"
        if not isinstance(item, dict):
            raise AnnotationError(f'{where}: expected an object with "id" and "template", got {_json_type(item)}')
        for key in ("id", "template"):
            if key not in item:
                raise AnnotationError(f'{where}: no "{key}" (an unlabelled test list cannot be read)')
        vid, tpl = item["id"], item["template"]
        if isinstance(vid, bool) or not isinstance(vid, (str, int)):
            raise AnnotationError(f"{where}.id: expected a string or an integer, got {_json_type(vid)}")
        if not _video_id(str(vid)):
            raise AnnotationError(f"{where}.id: {_short(str(vid))} is not a video id (empty, '.', '..', or with a "
                                  "path separator or control character)")
        if not isinstance(tpl, str):
            raise AnnotationError(f"{where}.template: expected a string, got {_json_type(tpl)}")
        name = tpl.replace("[", "").replace("]", "")
        if name not in labels:
            raise AnnotationError(f"{where}.template: entry {n} names an unknown class {_short(name)} (not in "
                                  f"{labels_json})")
        rel = _format(template, where, id=str(vid))
        out.add((os.path.join(root, rel), labels[name]), where, f"entry {n}", str(vid))
    return out.result()


def _hidden(name: str) -> bool:
    """``.ipynb_checkpoints``, ``.DS_Store``, macOS ``._clip.mp4`` resource forks, ``.git``: never data."""
    return name.startswith(".")


_MAX_KINDS = 6  # extensions a note names one by one; the rest are counted together


@dataclass
class SkippedFiles:
    """Files of a folder scan that are not videos by their extension, counted per extension.

    Only the extension tells a video in a scan (opening every file would cost a decode each): a video saved without
    one (``clip``) or under another (``clip.bin``) is skipped, and counted here so that the user hears of it.
    ``str()`` is the one-line note the commands print. Hidden files are not counted: they are never data.

    Attributes:
        folder: the folder scanned, as given.
        counts: lower-case extension (``".txt"``; ``""``: no extension) -> files skipped.
    """

    folder: str
    counts: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(self.counts.values())

    def kinds(self) -> str:
        """The skipped kinds, most frequent first, files without an extension last: ``.txt x2, no extension x1``."""
        named = sorted(((ext, n) for ext, n in self.counts.items() if ext), key=lambda kv: (-kv[1], kv[0]))
        shown = [f"{_clip(ext, 12)} x{n}" for ext, n in named[:_MAX_KINDS]]
        if len(named) > _MAX_KINDS:
            more = len(named) - _MAX_KINDS
            shown.append(f"{more} more extension{'s' * (more > 1)} x{sum(n for _, n in named[_MAX_KINDS:])}")
        if self.counts.get(""):
            shown.append(f"no extension x{self.counts['']}")
        return ", ".join(shown)

    def __str__(self) -> str:
        n = len(self)
        if n == 1:
            head = f"skipped 1 file in {self.folder} that is not a video by its extension"
        else:
            head = f"skipped {n} files in {self.folder} that are not videos by their extension"
        hint = "; a video needs its extension (clip.mp4) to be found" if self.counts.get("") else ""
        return f"{head} ({self.kinds()}){hint}; known: {' '.join(VIDEO_EXTENSIONS)}"


def _walk_videos(folder: str | os.PathLike, found: list[Path], skipped: dict[str, int]) -> None:
    """Append the video files below ``folder`` (any depth, hidden entries skipped) to ``found``; count the other
    files per extension in ``skipped``. Symlinked folders are listed, not entered (``os.walk``)."""
    def fail(e: OSError) -> None:
        raise AnnotationError(f"{e.filename}: cannot list the folder ({e.strerror or e})")

    for here, dirs, files in os.walk(folder, onerror=fail):
        dirs[:] = [d for d in dirs if not _hidden(d)]
        for f in files:
            if _hidden(f):
                continue
            ext = Path(f).suffix.lower()
            if ext in VIDEO_EXTENSIONS:
                found.append(Path(here, f))
            else:
                skipped[ext] = skipped.get(ext, 0) + 1


def find_videos(folder: str | os.PathLike) -> tuple[list[str], SkippedFiles]:
    """The video files below ``folder`` by their extension (``VIDEO_EXTENSIONS``; any depth, sorted, hidden entries
    skipped), and the other files, counted (:class:`SkippedFiles`).

    Raises:
        AnnotationError: a folder below ``folder`` that cannot be listed, named.
    """
    found: list[Path] = []
    skipped: dict[str, int] = {}
    _walk_videos(folder, found, skipped)
    return [str(p) for p in sorted(found)], SkippedFiles(os.fspath(folder), skipped)


class ClassFolders(NamedTuple):
    """A folder of class folders (:func:`scan_class_folders`)."""

    samples: list[tuple[str, int]]  # (path, label), class by class, each class's videos sorted
    classes: list[str]  # the sorted folder names: label i is classes[i]
    skipped: SkippedFiles  # files in the class folders that are not videos by their extension


def scan_class_folders(root: str | os.PathLike) -> ClassFolders:
    """:func:`read_class_folders`, with the files skipped as not videos counted instead of logged."""
    root = Path(root)
    try:
        classes = sorted(p.name for p in root.iterdir() if not _hidden(p.name) and p.is_dir())
    except FileNotFoundError:
        raise AnnotationError(f"{root}: no such folder (one sub-folder of videos per class expected)") from None
    except NotADirectoryError:
        raise AnnotationError(f"{root}: a file, not a folder (one sub-folder of videos per class expected)") from None
    except OSError as e:
        raise AnnotationError(f"{root}: cannot list the class folders ({e.strerror or e})") from None
    if not classes:
        raise AnnotationError(f"{root}: no class folders")
    samples: list[tuple[str, int]] = []
    counts: dict[str, int] = {}
    for i, c in enumerate(classes):
        found: list[Path] = []
        _walk_videos(root / c, found, counts)
        samples += [(str(f), i) for f in sorted(found)]
    skipped = SkippedFiles(str(root), counts)
    if not samples:
        other = f" (only {len(skipped)} other files: {skipped.kinds()})" if skipped else ""
        raise AnnotationError(f"{root}: no video files ({', '.join(VIDEO_EXTENSIONS)}) in its class folders{other}")
    return ClassFolders(samples, classes, skipped)


_NOTED: set[tuple[str, tuple]] = set()  # skipped-file notes logged by this process: each folder's once


def _first_process() -> bool:
    """Not a torchrun process other than rank 0 (each would print the same note)."""
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def read_class_folders(root: str | os.PathLike) -> tuple[list[tuple[str, int]], list[str]]:
    """One folder per class (sorted names = class indices); returns ``(samples, class_names)``.

    Videos are found by their extension (``VIDEO_EXTENSIONS``) at any depth inside a class folder. Hidden entries
    (names starting with ``.``) are skipped: hidden folders are neither classes nor searched, hidden files are not
    videos. Other files are skipped too and counted, in one warning per folder and process (``note: skipped 3
    files in ROOT that are not videos by their extension (.txt x2, no extension x1); known: ...``), so that a run
    reading the folder for its classes, its training and its validation says it once; :func:`scan_class_folders`
    returns the counts instead.
    """
    samples, classes, skipped = scan_class_folders(root)
    key = (os.path.abspath(skipped.folder), tuple(sorted(skipped.counts.items())))
    if skipped and key not in _NOTED and _first_process():
        _NOTED.add(key)
        _log.warning("note: %s", skipped)
    return samples, classes


@dataclass
class ClassFolderSplit:
    """A train/validation split of a folder of class folders, stratified per class (:func:`split_class_folders`).

    Attributes:
        root: the folder of class folders, as given; the sample paths are relative to it, ``/``-separated.
        classes: the class names (sorted folder names; labels index them).
        train: ``(path, label)`` pairs for training.
        val: ``(path, label)`` pairs for validation.
        skipped: files in the class folders that are not videos by their extension.
    """

    root: str
    classes: list[str]
    train: list[tuple[str, int]]
    val: list[tuple[str, int]]
    skipped: SkippedFiles

    def per_class(self) -> list[tuple[int, int]]:
        """``(train videos, validation videos)`` of each class, in class order."""
        counts = [[0, 0] for _ in self.classes]
        for side, samples in enumerate((self.train, self.val)):
            for _, label in samples:
                counts[label][side] += 1
        return [(t, v) for t, v in counts]


_UNWRITABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f]")  # control characters: a line break would split a list line


def _writable(text: str, what: str, path: str | os.PathLike) -> str:
    """``text`` if it can stand on one line of a UTF-8 list file, else an ``AnnotationError`` naming ``path`` (quoted,
    its odd characters escaped)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes of another encoding, kept by os.fsdecode as lone surrogates
        raise AnnotationError(f"{os.fspath(path)!r}: the {what} is not UTF-8 text, so it cannot be written to a list "
                              "file; rename it") from None
    if _UNWRITABLE.search(text) or not text.strip():
        raise AnnotationError(f"{os.fspath(path)!r}: the {what} is blank or has a control character (a line break?), "
                              "so it cannot be written to a list file; rename it")
    return text


def split_class_folders(root: str | os.PathLike, val: float = 0.2, seed: int = 0) -> ClassFolderSplit:
    """Split the videos of a folder of class folders (:func:`read_class_folders`) into training and validation:
    ``val`` of each class, rounded, at random but deterministically.

    A class of two or more videos puts at least one on each side; a class of one video trains only. Each class is
    shuffled by a generator seeded with ``seed`` and the class name, so that adding videos to one class moves none
    of another's. The paths are relative to ``root`` (``/``-separated; one starting with ``#`` or a space gets a
    leading ``./``, so that :func:`read_list_file` reads it as a path).

    Args:
        root: the folder of class folders.
        val: the fraction of each class for validation, between 0 and 1 (exclusive).
        seed: a non-negative integer.
    Returns:
        a :class:`ClassFolderSplit`; :func:`write_split_lists` writes it.
    Raises:
        UsageError: ``val`` or ``seed`` out of range. AnnotationError: ``root`` is not a folder of class folders with
            videos, or a name that cannot be written to a list file (a control character, not UTF-8).
    """
    if not (isinstance(val, (int, float)) and 0 < val < 1):
        raise UsageError(f"val: {val!r} is not a fraction between 0 and 1 (0.2 puts a fifth of each class in the "
                         "validation list)")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"seed: {seed!r} is not a non-negative integer")
    samples, classes, skipped = scan_class_folders(root)
    for name in classes:
        _writable(name, "class folder's name", Path(root, name))
    by_class: list[list[str]] = [[] for _ in classes]
    for path, label in samples:
        rel = _writable(Path(path).relative_to(root).as_posix(), "file name", path)
        by_class[label].append("./" + rel if rel[0] in "# \t" else rel)
    train, valid = [], []
    for label, (name, paths) in enumerate(zip(classes, by_class)):
        n = len(paths)
        k = min(max(math.floor(val * n + 0.5), 1), n - 1) if n > 1 else 0
        rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
        chosen = set(rng.permutation(n)[:k].tolist())
        for i, rel in enumerate(paths):  # file order within each list
            (valid if i in chosen else train).append((rel, label))
    return ClassFolderSplit(os.fspath(root), classes, train, valid, skipped)


def write_split_lists(split: ClassFolderSplit, out: str | os.PathLike | None = None,
                      overwrite: bool = False) -> dict[str, Path]:
    """Write ``train.txt`` and ``val.txt`` (``PATH LABEL`` lines, paths relative to ``split.root``: read them with
    ``read_list_file(path, root=split.root)``, or ``data.format: list`` with ``data.root``) and ``classes.txt`` (one
    name per line) into ``out`` (default ``split.root``), each whole or not at all.

    Returns:
        ``{"train": train.txt, "val": val.txt, "classes": classes.txt}``.
    Raises:
        UsageError: one of the files exists and ``overwrite`` is false (a split is not replaced by accident), or a
            file cannot be written; the message names it.
    """
    folder = Path(split.root if out is None else out)
    files = {"train": folder / "train.txt", "val": folder / "val.txt", "classes": folder / "classes.txt"}
    existing = [p for p in files.values() if os.path.lexists(p)]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more of the lists)" if len(existing) > 1 else ""
        raise UsageError(f"{existing[0]} already exists{more}: --overwrite (overwrite=True) replaces train.txt, "
                         "val.txt and classes.txt; or choose another --out")
    texts = {"train": "".join(f"{p} {y}\n" for p, y in split.train),
             "val": "".join(f"{p} {y}\n" for p, y in split.val),
             "classes": "".join(f"{c}\n" for c in split.classes)}
    path = folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for key, path in files.items():
            write_text(path, texts[key])
    except OSError as e:
        raise UsageError(f"{path}: cannot write it ({e.strerror or e})") from None
    return files


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
        found = first_good_sample(self, index, lambda i: self._load(i, epoch), VideoDecodeError, "broken video", _log)
        if found is None:
            raise VideoDecodeError(f"every one of the {len(self.samples)} videos failed to decode")
        return found[1]


def read_class_names(spec: str) -> list[str]:
    """Class names from ``spec``: a text file (one name per line), an SSv2-style labels json (``{"name": "index"}``),
    or a shipped list by name or short name (``k400``, ``k600``, ``k700``, ``k710``, ``sthv2``, ...).

    Files are read as annotation files are (UTF-8, a byte-order mark allowed, binary files refused).

    Raises:
        UsageError: ``spec`` is neither a file nor a shipped list. AnnotationError: a file that cannot be read or
            parsed (naming the file and the line or JSON key), or a JSON file whose indices are not 0..N-1.
    """
    from ..labels import ALIASES, available, load_labels

    if os.path.isfile(spec):
        if spec.endswith(".json"):
            table = _ssv2_labels(spec)
            if sorted(table.values()) != list(range(len(table))):
                raise AnnotationError(f"{spec}: class indices must be 0..{len(table) - 1}, each once")
            return [name for name, _ in sorted(table.items(), key=lambda kv: kv[1])]
        names = [line.strip() for line in _read_text(spec).splitlines() if line.strip()]
        if not names:
            raise AnnotationError(f"{spec}: no class names")
        return names
    name = ALIASES.get(spec, spec)
    if name not in available():
        raise UsageError(f"{spec!r} is neither a file nor a shipped list ({', '.join(available())})")
    return list(load_labels(name))
