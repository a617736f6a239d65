"""Released weights by name: one :class:`Weights` entry per released checkpoint, addressed as ``ARCH.TAG``.

Each family keeps its table next to its module (``uniformer_weights.py``, ``uniformerv2_weights.py``,
``video_swin_weights.py``): the files a user can get, where from (the preferred source first, byte-identical mirrors
after it, pages for a person where no program can fetch the file), their hashes, and the data contract and
architecture options each checkpoint needs. ``create_model(name, pretrained=True | TAG)`` resolves an entry here and
:mod:`tubelet.hub` brings the file.

Availability of an entry:

* ``download``: a program can fetch it (Hugging Face hub, plain HTTPS);
* ``manual``: only a person can (Google Drive, Baidu): the error names the page and the file name to save it as;
* ``dead``: every known link is dead; a user who has the file can still pass it as ``checkpoint_path`` with the tag.
"""
from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from dataclasses import dataclass, field

from ..errors import UsageError
from ._registry import PretrainedCfg, get_pretrained_cfg, list_models

__all__ = ["Source", "Weights", "register_weights", "list_pretrained", "get_weights", "split_name", "hf", "http",
           "page", "dead"]


@dataclass(frozen=True)
class Source:
    """One place a checkpoint file can be had.

    Attributes:
        url: the file's URL (``kind`` hf/http), or the page a person downloads it from (manual/dead).
        kind: ``"hf"`` (Hugging Face hub: ``repo_id``, ``file_name``, ``revision``), ``"http"`` (plain HTTPS),
            ``"manual"`` (a page for a person: Google Drive, Baidu) or ``"dead"`` (a known-dead link).
        file_name: the file's name (also its name in the cache and in a ``TUBELET_WEIGHTS_MIRROR``).
        sha256: full published hash; sha256_prefix: the published leading hex digits (OpenMMLab / torchvision names).
        size: bytes, where published.
        repo_id, revision: Hugging Face hub files.
        note: e.g. a Baidu access code, or why the link is dead.
    """

    url: str
    kind: str
    file_name: str | None = None
    sha256: str | None = None
    sha256_prefix: str | None = None
    size: int | None = None
    repo_id: str | None = None
    revision: str = "main"
    note: str = ""

    @property
    def downloadable(self) -> bool:
        return self.kind in ("hf", "http")


def hf(repo_id: str, file_name: str, sha256: str | None = None, size: int | None = None, revision: str = "main",
       note: str = "") -> Source:
    """A file on the Hugging Face hub."""
    return Source(f"https://huggingface.co/{repo_id}/resolve/{revision}/{file_name}", "hf", file_name, sha256=sha256,
                  size=size, repo_id=repo_id, revision=revision, note=note)


def http(url: str, sha256_prefix: str | None = None, sha256: str | None = None, size: int | None = None,
         file_name: str | None = None, note: str = "") -> Source:
    """A file at a plain HTTPS URL (its name is the URL's last segment unless given)."""
    return Source(url, "http", file_name or url.rsplit("/", 1)[-1].split("?")[0], sha256=sha256,
                  sha256_prefix=sha256_prefix, size=size, note=note)


def page(url: str, note: str = "") -> Source:
    """A page a person downloads the file from (Google Drive, Baidu)."""
    return Source(url, "manual", note=note)


def dead(url: str, note: str) -> Source:
    """A link that is known to be dead (kept so that the error can say so)."""
    return Source(url, "dead", url.rsplit("/", 1)[-1].split("?")[0], note=note)


@dataclass(frozen=True)
class Weights:
    """One released checkpoint: what it is, where it is, and what it needs.

    Attributes:
        arch, tag: the registered architecture and the tag (``name`` = ``"ARCH.TAG"``).
        sources: downloadable sources first (byte-identical copies of one file), then pages and dead links.
        file_name: the name the file is saved as in the cache; default: the first source's file name, else
            ``ARCH_TAG.pth`` (files from Google Drive do not say their name).
        dataset: what the classifier was trained on (``"kinetics400"``, ``"imagenet1k"``, ...).
        num_classes: classifier rows (None: no classifier, e.g. a CLIP tower).
        labels: the shipped label list the rows follow (:mod:`tubelet.labels`), or None when the released file's
            order is not published in a form tubelet ships (``labels_note`` says why).
        num_frames, img_size, sampler, frame_interval, test_views, resize_size, mean, std: the data contract the
            published numbers were measured with (None: the architecture's default).
        options: constructor options the weights need (switches the weights do not reveal, or that must match).
        top1, top5: published accuracy (%) with ``views`` on ``dataset``'s validation set.
        metrics: other published results, by name (``{"mIoU": 46.6}``, ``{"box AP": 45.6, "mask AP": 41.6}``,
            ``{"AP": 74.0}``), for the dense-prediction tasks.
        init_only: the file initialises a model for training (ImageNet 2-D weights, CLIP) rather than classifying.
        init_for: the architectures the file initialises (``create_model("uniformer_small", pretrained="in1k")``
            starts the video model from ``uniformer_small_2d.in1k`` by the official 2-D -> 3-D rule).
        default: the architecture's default tag (``pretrained=True``).
        layout: the file's container and key names (``"flat"``, ``"pyslowfast"``, ``"mmaction2"``, ...).
        provenance: ``author``, ``mmaction2-port``, ``mmaction2-trained``, ``torchvision-port``, ``microsoft``,
            ``openai``.
        license: of the weights (as their source states it).
        notes: anything a user must know.
    """

    arch: str
    tag: str
    sources: tuple[Source, ...]
    dataset: str
    num_classes: int | None
    labels: str | None = None
    labels_note: str = ""
    num_frames: int | None = None
    img_size: int | tuple[int, int] | None = None
    sampler: str | None = None
    frame_interval: int | None = None
    test_views: tuple[int, int] | None = None
    resize_size: int | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    options: dict = field(default_factory=dict)
    top1: float | None = None
    top5: float | None = None
    metrics: dict = field(default_factory=dict)
    init_only: bool = False
    init_for: tuple[str, ...] = ()
    default: bool = False
    file_name: str | None = None
    layout: str = "flat"
    provenance: str = "author"
    license: str = "Apache-2.0"
    notes: str = ""

    @property
    def name(self) -> str:
        return f"{self.arch}.{self.tag}"

    @property
    def downloads(self) -> tuple[Source, ...]:
        return tuple(s for s in self.sources if s.downloadable)

    @property
    def pages(self) -> tuple[Source, ...]:
        return tuple(s for s in self.sources if s.kind == "manual")

    @property
    def availability(self) -> str:
        """``download``, ``manual`` or ``dead`` (see the module docstring)."""
        return "download" if self.downloads else "manual" if self.pages else "dead"

    @property
    def local_name(self) -> str:
        """The file's name in the cache and in a weights mirror."""
        if self.file_name:
            return self.file_name
        named = [s.file_name for s in self.sources if s.file_name and s.kind != "dead"]
        return named[0] if named else f"{self.arch}_{self.tag}.pth"

    @property
    def sha256(self) -> str | None:
        return next((s.sha256 for s in self.downloads if s.sha256), None)

    @property
    def sha256_prefix(self) -> str | None:
        return self.sha256 or next((s.sha256_prefix for s in self.downloads if s.sha256_prefix), None)

    @property
    def result(self) -> str:
        """The published result in a few characters: ``"80.8"`` (top-1), ``"mIoU 46.6"``, ``"AP 74"``."""
        if self.top1 is not None:
            return f"{self.top1:g}"
        return ", ".join(f"{k} {v:g}" for k, v in self.metrics.items())

    @property
    def gflops(self) -> float | None:
        """The published GFLOPs (multiply-accumulates) per view at this entry's input, where printed."""
        from ._published import PUBLISHED

        if self.init_only:
            return None
        cfg = self.cfg()
        for p in PUBLISHED:
            window = (p.kwargs or {}).get("window_size")
            if (p.name == self.arch and tuple(p.input_shape) == tuple(cfg.input_size)
                    and (window is None or tuple(window) == tuple(self.options.get("window_size", ())))
                    and (window is not None or "window_size" not in self.options
                         or tuple(self.options["window_size"]) == (8, 7, 7))):
                return p.value
        return None

    def create_options(self) -> dict:
        """Constructor options of the architecture for these weights (frames and size included)."""
        opts = {k: list(v) if isinstance(v, (list, tuple)) and k != "window_size" else v
                for k, v in self.options.items()}  # the tables share their option dicts: never hand them out
        if self.num_frames is not None:
            opts["num_frames"] = self.num_frames
        if self.img_size is not None:
            size = (self.img_size,) * 2 if isinstance(self.img_size, int) else tuple(self.img_size)
            if size != tuple(get_pretrained_cfg(self.arch).input_size[-2:]):
                opts["img_size"] = self.img_size if isinstance(self.img_size, int) else list(self.img_size)
        return opts

    def cfg(self, base: PretrainedCfg | None = None) -> PretrainedCfg:
        """The data contract of these weights: the architecture's (or ``base``) with this entry's settings."""
        cfg = base or get_pretrained_cfg(self.arch)
        cfg = cfg.for_options(num_frames=self.num_frames if cfg.is_video else None, img_size=self.img_size,
                              num_classes=self.num_classes if self.num_classes is not None else None)
        changes = {k: getattr(self, k) for k in ("sampler", "frame_interval", "test_views", "resize_size", "mean",
                                                  "std") if getattr(self, k) is not None}
        if self.num_classes is not None:
            changes.update(label_names=self.labels, class_names=None)
        notes = " ".join(x for x in (f"Weights {self.name} ({self.dataset}"
                                     + (f", top-1 {self.top1}" if self.top1 is not None else "")
                                     + "".join(f", {k} {v:g}" for k, v in self.metrics.items()) + ").",
                                     self.labels_note, self.notes) if x)
        return cfg.replace(notes=notes, **changes)

    def replace(self, **changes) -> "Weights":
        return dataclasses.replace(self, **changes)


_WEIGHTS: dict[str, Weights] = {}


def register_weights(table: list[Weights]) -> list[Weights]:
    """Add a family's table to the registry (names must be unique, architectures registered, one default each)."""
    for w in table:
        if w.name in _WEIGHTS:
            raise ValueError(f"pretrained weights {w.name!r} are registered twice")
        if w.arch not in list_models():
            raise ValueError(f"pretrained weights {w.name!r}: unknown architecture {w.arch!r}")
        if w.default and any(o.default and o.arch == w.arch for o in _WEIGHTS.values()):
            raise ValueError(f"{w.arch} has two default tags")
        _WEIGHTS[w.name] = w
    return table


def unregister_weights(name: str) -> None:
    """Remove an entry (tests register temporary ones)."""
    _WEIGHTS.pop(name, None)


def list_pretrained(pattern: str = "*") -> list[str]:
    """``ARCH.TAG`` names of the released weights matching the shell-style ``pattern`` (e.g. ``"uniformerv2_*"``,
    ``"*k400*"``), sorted. A pattern without a dot or wildcard lists that architecture's tags."""
    if "." not in pattern and not any(c in pattern for c in "*?["):
        pattern += ".*"
    return sorted(n for n in _WEIGHTS if fnmatch.fnmatchcase(n, pattern))


def split_name(name: str) -> tuple[str, str | None]:
    """``"arch.tag"`` -> ``("arch", "tag")``; ``"arch"`` -> ``("arch", None)``."""
    arch, _, tag = name.partition(".")
    return arch, tag or None


def default_tag(arch: str) -> str | None:
    return next((w.tag for w in _WEIGHTS.values() if w.arch == arch and w.default), None)


def get_weights(arch: str, tag: str | bool | None = True) -> Weights:
    """The entry ``arch.tag`` (``tag`` True/None: the architecture's default), or the file of another architecture
    that initialises ``arch`` under that tag (``uniformer_small`` + ``in1k`` -> ``uniformer_small_2d.in1k``).

    Raises:
        UsageError: unknown tag (with the close ones and the architecture's tags), or no default.
    """
    if tag is True or tag is None:
        tag = default_tag(arch)
        if tag is None:
            tags = [n.split(".", 1)[1] for n in list_pretrained(arch)]
            raise UsageError(f"{arch} has no default pretrained weights"
                             + (f"; name a tag: {', '.join(tags)}" if tags else "; no released weights are known"))
    name = f"{arch}.{tag}"
    if name not in _WEIGHTS:
        initialisers = [w for w in _WEIGHTS.values() if w.tag == tag and arch in w.init_for]
        if initialisers:
            return initialisers[0]
        tags = [n.split(".", 1)[1] for n in list_pretrained(arch)]
        tags += sorted({w.tag for w in _WEIGHTS.values() if arch in w.init_for and w.arch != arch})
        close = difflib.get_close_matches(str(tag), tags, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        known = f" ({arch} has {', '.join(tags)})" if tags else f" ({arch} has no released weights)"
        raise UsageError(f"unknown pretrained tag {tag!r} for {arch}{hint}{known}; `tubelet models --pretrained` "
                         f"lists them all")
    return _WEIGHTS[name]


def all_weights(pattern: str = "*") -> list[Weights]:
    """The entries :func:`list_pretrained` names, in its order."""
    return [_WEIGHTS[n] for n in list_pretrained(pattern)]
