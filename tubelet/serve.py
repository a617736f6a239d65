"""``tubelet serve``: a local web page that classifies one video at a time (the UniFormer authors' demos are such
pages): pick the weights, upload a clip or pick a bundled sample, and see the top-5 classes, the frames the model
saw, a timeline of the class scores along a long video and a saliency overlay.

Gradio is an optional extra (``pip install "tubelet[app]"``), imported only when the page is built. The page works
offline: Gradio's analytics and version check are switched off, its fonts and scripts are served by this process,
the sample clips are written at startup, and the default weights need no download (the model named on the command
line, else a small randomly initialised UniFormer, labelled "random weights" on the page).

A request's failure (a file that is not a video, a video longer than ``--max-duration``, weights that cannot be
downloaded) is shown on the page and the server keeps serving. Uploads (at most ``--max-file-size``) and everything
the page shows are written below one temporary folder, removed when the server stops.

Predictions are those of ``tubelet predict --json`` on the same file and weights: the same code
(:func:`tubelet.engine.inference.predict_videos`), the same views (1x1 unless ``--views``) and the same rounding.
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DependencyError, TubeletError, UsageError, VideoDecodeError

__all__ = ["build_app", "launch", "close", "ModelChoice", "ServeState", "RANDOM_MODEL", "check_video",
           "sampled_indices", "write_samples", "saliency_overlays"]

#: the weights the page starts with when none are given: the narrowed UniFormer of ``tubelet demo``, random weights
RANDOM_MODEL = "uniformer_small"
RANDOM_OPTIONS = {"depth": [1, 1, 2, 1], "embed_dim": [32, 64, 128, 256], "head_dim": 32, "num_frames": 8,
                  "img_size": 112}
RANDOM_KEY = "random"  # the dropdown value of the random model
CLI_KEY = "cli"  # ... of the model given on the command line

#: the oldest Gradio the page works with: ``gr.Gallery(fit_columns=)`` and ``launch(footer_links=)`` are Gradio 6's,
#: and before 6.17 the page fetched fonts and scripts from CDNs (not offline). pyproject.toml's ``app`` extra asks for
#: the same (tests/test_min_versions.py keeps them in agreement; .ci/min_versions runs the page on it)
GRADIO_MIN_VERSION = "6.17.3"

#: the refusals before anything is decoded
DEFAULT_MAX_DURATION = 600.0  # seconds of video
DEFAULT_MAX_FILE_SIZE = "200mb"
TOP_K = 5
THUMB_SIDE = 112  # thumbnails of the sampled frames: longer side in pixels
MAX_TIMELINE_WINDOWS = 200  # a longer video gets a wider stride


# ------------------------------------------------------------------------------------------------ models and weights
@dataclass
class ModelChoice:
    """The weights of one dropdown entry: a registered name with a released tag, a checkpoint, or random weights."""

    key: str
    label: str
    model: str | None = None
    checkpoint: str | None = None
    pretrained: bool | str = False
    options: dict = field(default_factory=dict)
    random: bool = False

    def create(self, device=None):
        import torch

        from .models import create_task_model

        model = create_task_model(self.model, "classification", pretrained=self.pretrained,
                                  checkpoint_path=self.checkpoint, command="tubelet serve", **self.options)
        if self.random and model.pretrained_cfg.labels() is None:
            from .data.synthetic import SYNTHETIC_CLASSES
            if model.num_classes == len(SYNTHETIC_CLASSES):  # names the rows (they mean nothing yet)
                model.pretrained_cfg = model.pretrained_cfg.replace(class_names=tuple(SYNTHETIC_CLASSES))
        return model.eval().to(device or torch.device("cpu"))


def random_choice() -> ModelChoice:
    from .data.synthetic import SYNTHETIC_CLASSES
    return ModelChoice(RANDOM_KEY, f"{RANDOM_MODEL} (small, random weights: its classes mean nothing)",
                       model=RANDOM_MODEL, options={**RANDOM_OPTIONS, "num_classes": len(SYNTHETIC_CLASSES)},
                       random=True)


def cli_choice(model: str | None, checkpoint: str | None, pretrained: bool | str, options: dict) -> ModelChoice:
    """The weights given as ``--model/--checkpoint/--pretrained/--set`` (resolved as ``tubelet predict`` does)."""
    if model is None and checkpoint is None:
        raise UsageError("give --model NAME (with --pretrained [TAG] or --checkpoint FILE) or --checkpoint FILE")
    what = model or Path(checkpoint).name
    if checkpoint is not None:
        weights = f"checkpoint {checkpoint}"
    elif pretrained:
        weights = "released weights" + (f" {pretrained}" if isinstance(pretrained, str) else " (default tag)")
    else:
        weights = "random weights: its classes mean nothing"
    return ModelChoice(CLI_KEY, f"{what} ({weights})", model=model, checkpoint=checkpoint, pretrained=pretrained,
                       options=dict(options), random=checkpoint is None and not pretrained)


def released_choices() -> list[ModelChoice]:
    """One entry per released classifier of videos or images (``ARCH.TAG``), with its availability."""
    from .models._pretrained import all_weights
    from .models._registry import get_task

    out = []
    for w in all_weights():
        if w.init_only or not w.num_classes or get_task(w.arch) != "classification":
            continue
        how = {"download": "downloaded once", "manual": "manual download: not available here",
               "dead": "no longer downloadable"}[w.availability]
        top1 = f", top-1 {w.top1:g}" if w.top1 is not None else ""
        out.append(ModelChoice(w.name, f"{w.name} ({w.dataset}{top1}; {how})", model=w.name, pretrained=True))
    return out


class ServeState:
    """What the page's callbacks share: the dropdown's entries, the loaded models (the last few, by key) and the
    temporary folders. One prediction runs at a time (the event's concurrency limit is 1). ``views``: (clips, crops)
    for every model, or ``"model"``: each model's own published test views (``pretrained_cfg.test_views``)."""

    def __init__(self, choices: list[ModelChoice], device=None, views: tuple[int, int] | str = (1, 1),
                 max_duration: float = DEFAULT_MAX_DURATION, max_bytes: int | None = None, work_dir: str | None = None,
                 keep_models: int = 2):
        self.choices = {c.key: c for c in choices}
        self.order = [c.key for c in choices]
        if isinstance(views, str) and views != "model":
            raise UsageError(f"views must be (clips, crops) or 'model', got {views!r}")
        self.device, self.views = device, views if isinstance(views, str) else tuple(views)
        self.max_duration, self.max_bytes = max_duration, max_bytes
        self.work_dir = work_dir
        self.keep_models = keep_models
        self._models: dict[str, object] = {}
        self._lock = threading.Lock()

    @property
    def default_key(self) -> str:
        return self.order[0]

    def model(self, key: str | None):
        """The model of dropdown entry ``key`` (created on first use, then kept)."""
        key = key or self.default_key
        if key not in self.choices:
            raise UsageError(f"unknown model {key!r}; pick one of the list")
        with self._lock:
            if key not in self._models:
                choice = self.choices[key]
                if choice.pretrained and choice.checkpoint is None and choice.model and "." in choice.model:
                    from .models._pretrained import get_weights, split_name
                    w = get_weights(*split_name(choice.model))
                    if w.availability != "download":
                        page = f" ({w.pages[0].url})" if w.pages else ""
                        raise UsageError(f"{w.name} cannot be downloaded by tubelet{page}: fetch the file yourself "
                                         f"and run `tubelet serve --model {w.name} --pretrained --checkpoint FILE`")
                model = choice.create(self.device)
                while len(self._models) >= self.keep_models:
                    self._models.pop(next(iter(self._models)))
                self._models[key] = model
            return self._models[key]

    def views_for(self, cfg) -> tuple[int, int]:
        """The (clips, crops) a model with ``cfg`` is run with: 1x1 for an image model, its published test views
        with ``views="model"``, else the views given."""
        if not cfg.is_video:
            return 1, 1
        return tuple(cfg.test_views) if self.views == "model" else self.views


# ------------------------------------------------------------------------------------------------ videos
def _parse_size(text: str | int | None) -> int | None:
    """``"200mb"``, ``"1gb"``, ``"500kb"`` or bytes -> bytes (Gradio's ``max_file_size`` grammar)."""
    if text is None or isinstance(text, int):
        return text
    s = str(text).strip().lower()
    for unit, factor in (("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10), ("b", 1)):
        if s.endswith(unit):
            number = s[:-len(unit)].strip()
            break
    else:
        number, factor = s, 1
    try:
        value = float(number)
    except ValueError:
        raise UsageError(f"--max-file-size expects a size such as 200mb, 1gb or 500kb, got {text!r}") from None
    if value <= 0:
        raise UsageError(f"--max-file-size must be positive, got {text!r}")
    return int(value * factor)


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def check_video(path: str, max_duration: float | None = DEFAULT_MAX_DURATION, max_bytes: int | None = None) -> None:
    """Refuse a file before decoding it: too large (``max_bytes``), or longer than ``max_duration`` seconds by its
    container's header (a 2-hour film is not demuxed, let alone decoded). Files whose header says nothing are left
    to :class:`~tubelet.data.VideoReader`, which refuses non-videos with a message naming the file.

    Raises:
        VideoDecodeError: missing file, or over a limit; the message says which and what the limit is.
    """
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise VideoDecodeError(f"{name}: no such file")
    size = os.path.getsize(path)
    if max_bytes is not None and size > max_bytes:
        raise VideoDecodeError(f"{name}: {size / 2**20:.1f} MB; this server takes files up to "
                               f"{max_bytes / 2**20:.0f} MB")
    if max_duration is None:
        return
    seconds = _header_duration(path)
    if seconds is not None and seconds > max_duration:
        raise VideoDecodeError(f"{name}: the video is {_clock(seconds)} long; this server classifies videos up to "
                               f"{_clock(max_duration)} (tubelet serve --max-duration SECONDS; for a long video "
                               f"`tubelet predict --timeline` runs without a limit)")


def _header_duration(path: str) -> float | None:
    """Seconds of the first video stream as the container's header states them (nothing is decoded), or None."""
    try:
        import av

        with open(path, "rb") as f, av.open(f, "r", container_options={"protocol_whitelist": "none"},
                                           metadata_errors="replace") as c:
            streams = list(c.streams.video)
            if not streams:
                return None
            s = streams[0]
            if s.duration is not None and s.time_base:
                return float(s.duration * s.time_base)
            if c.duration is not None:
                return c.duration / 1e6
            if s.frames and s.average_rate:
                return s.frames / float(s.average_rate)
    except Exception:  # noqa: BLE001 - not a container FFmpeg knows: VideoReader says what it is
        return None
    return None


def sampled_indices(path: str, cfg) -> tuple[np.ndarray, int, float]:
    """The frame indices of the first test view (what the model sees with 1x1 views; with more views, the first
    clip), the video's frame count and its fps."""
    from .data import VideoReader, make_sampler

    with VideoReader(path) as reader:
        n, fps = reader.num_frames, reader.fps or 25.0
    idx = np.asarray(make_sampler(cfg)(n, clip_index=0)) if cfg.is_video else np.array([n // 2])
    return idx, n, fps


def _thumbnails(path: str, indices: np.ndarray) -> tuple[list[tuple[np.ndarray, str]], np.ndarray]:
    """``[(thumbnail, "frame N")]`` of the distinct sampled frames, and the frames themselves (uint8 T,H,W,3)."""
    from .data import VideoReader

    with VideoReader(path) as reader:
        frames = reader.get_frames(list(indices))
    frames = np.asarray(frames)
    thumbs = []
    seen = set()
    for i, f in zip(indices.tolist(), frames):
        if i in seen:
            continue
        seen.add(i)
        thumbs.append((_shrink(f, THUMB_SIDE), f"frame {i}"))
    return thumbs, frames


def _shrink(frame: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    h, w = frame.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return frame
    return np.asarray(Image.fromarray(frame).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                                     Image.BILINEAR))


def _sample_label(path: str) -> str:
    name = Path(path).stem
    return "four actions in a row (8 s)" if name.startswith("four_actions") else name.replace("_", " ")


def _timeline_span(cfg, fps: float) -> int:
    """Frames per window of :func:`tubelet.engine.inference.timeline` with its default window."""
    if cfg.sampler in ("dense", "sample_frames"):
        return cfg.num_frames * (cfg.frame_interval or 1)
    return round(4.0 * fps)


def write_samples(folder: str | os.PathLike, long: bool = True) -> list[str]:
    """Write the bundled sample clips (real H.264 files of the synthetic dataset's classes) into ``folder``: three
    short clips and, with ``long``, an 8 s clip of four actions in a row (for the timeline)."""
    from .data.synthetic import SYNTHETIC_CLASSES, render_clip, write_video

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for label in (1, 4, 6):  # moving right, growing, rotating clockwise
        path = folder / f"{SYNTHETIC_CLASSES[label].replace(' ', '_')}.mp4"
        write_video(path, render_clip(label, 32, 128, 160, np.random.default_rng((7, label))))
        out.append(str(path))
    if long:
        parts = [render_clip(label, 50, 96, 128, np.random.default_rng((8, label))) for label in (0, 5, 2, 8)]
        path = folder / "four_actions_8s.mp4"
        write_video(path, np.concatenate(parts))
        out.append(str(path))
    return out


# ------------------------------------------------------------------------------------------------ saliency
def saliency_overlays(model, frames: np.ndarray, indices: np.ndarray) -> tuple[list | None, str]:
    """The saliency of the predicted class over the sampled ``frames`` (uint8 ``(T, H, W, 3)``, frame numbers
    ``indices``) by :func:`tubelet.tasks.explain.explain_video`, blended in with
    :func:`tubelet.tasks.explain.overlay`: ``([(overlay, "frame N")], note)``, or ``(None, why not)`` (an image model,
    a tubelet without :mod:`tubelet.tasks.explain`, a failure). Never raises: the prediction stands without it."""
    try:
        from .tasks.explain import explain_video, overlay
    except ImportError as e:
        return None, f"saliency is not available in this tubelet ({type(e).__name__}: {e})"
    if not model.pretrained_cfg.is_video:
        return None, "saliency: needs a video model"
    try:
        exp = explain_video(model, frames)
        images = overlay(exp.frames, exp.saliency)
    except TubeletError as e:
        return None, f"saliency: {e}"
    except Exception as e:  # noqa: BLE001 - an explanation must never take the prediction down
        traceback.print_exc(file=sys.stderr)
        return None, f"saliency failed ({type(e).__name__}: {e})"
    out = [(_shrink(np.asarray(im), THUMB_SIDE * 2), f"frame {i}") for i, im in zip(indices.tolist(), images)]
    if exp.target is None:  # rollout / attention: the same map for every class
        return out, f"saliency: {exp.method}, where the model looks (the same for every class)"
    return out, f"saliency: {exp.method}, for the top class"


# ------------------------------------------------------------------------------------------------ one request
def _top_table(rows: list[dict]) -> str:
    lines = ["| rank | class | index | probability |", "|---:|---|---:|---:|"]
    lines += [f"| {r + 1} | {row['label']} | {row['index']} | {row['score']:.6f} |" for r, row in enumerate(rows)]
    return "\n".join(lines)


def classify(state: ServeState, video: str | None, key: str | None, show_saliency: bool = True) -> dict:
    """One request: the page's outputs as a dict (``status``, ``label``, ``table``, ``frames``, ``timeline``,
    ``saliency``, ``topk``). User errors raise :class:`~tubelet.errors.TubeletError`."""
    from .engine.inference import predict_videos, resolve_labels, timeline, topk

    if not video:
        raise UsageError("upload a video or pick a sample clip first")
    t0 = time.perf_counter()
    check_video(video, state.max_duration, state.max_bytes)
    model = state.model(key)
    choice = state.choices[key or state.default_key]
    cfg = model.pretrained_cfg
    views = state.views_for(cfg)
    (pred,) = list(predict_videos(model, [video], views=views, batch_size=8, num_workers=0))
    if pred.error is not None:
        raise VideoDecodeError(pred.error.replace(video, os.path.basename(video)))
    labels = resolve_labels(None, cfg, model.num_classes)
    rows = topk(pred.probs, labels, TOP_K)
    indices, n, fps = sampled_indices(video, cfg)
    thumbs, frames = _thumbnails(video, indices)
    out = {"topk": rows, "label": {r["label"]: r["score"] for r in rows}, "table": _top_table(rows),
           "frames": thumbs, "timeline": None, "saliency": None}
    notes = []
    if cfg.is_video and n > 2 * _timeline_span(cfg, fps):
        span = _timeline_span(cfg, fps)
        stride = max(span / 2, n / MAX_TIMELINE_WINDOWS) / fps
        windows, probs = timeline(model, video, stride=stride)
        from .engine.plots import plot_timeline
        with tempfile.TemporaryDirectory(dir=state.work_dir) as tmp:
            png = plot_timeline([(w["start"] + w["end"]) / 2 for w in windows], probs, labels,
                                Path(tmp) / "timeline.png", topk=min(TOP_K, probs.shape[1]))
            from PIL import Image
            with Image.open(png) as im:
                out["timeline"] = np.asarray(im.convert("RGB"))
        notes.append(f"timeline: {len(windows)} windows")
    if show_saliency:
        out["saliency"], note = saliency_overlays(model, frames, indices)
        notes.append(note)
    seconds = time.perf_counter() - t0
    shape = tuple(cfg.input_size)
    what = "the middle frame" if not cfg.is_video else f"{views[0]}x{views[1]} view{'s' * (views != (1, 1))}"
    weights = choice.label
    warn = ("\n\n**Random weights**: nothing was trained, so the classes above mean nothing."
            if choice.random else "")
    if labels is None and model.num_classes and not choice.random:
        warn += "\n\nThe class names of these weights are not known to tubelet: classes are shown by index."
    out["status"] = (f"**{os.path.basename(video)}**: {n} frames at {fps:.3g} fps; model input {shape}, {what}; "
                     f"{pred.seconds * 1000:.0f} ms for the prediction, {seconds:.2f} s for this page.\n\n"
                     f"Weights: {weights}." + warn + ("\n\n" + "; ".join(notes) if notes else ""))
    return out


# ------------------------------------------------------------------------------------------------ the page
def _import_gradio():
    # no telemetry and no version check (some of Gradio's calls read the variable, not the Blocks' setting)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    try:
        import gradio as gr
    except ImportError as e:
        raise DependencyError(f"tubelet serve needs gradio ({e}): pip install \"tubelet[app]\"") from None
    if _version_tuple(getattr(gr, "__version__", "0")) < _version_tuple(GRADIO_MIN_VERSION):
        raise DependencyError(f"tubelet serve needs gradio>={GRADIO_MIN_VERSION}, this is gradio {gr.__version__}: "
                              f"pip install -U \"tubelet[app]\"")
    return gr


def _version_tuple(version: str) -> tuple[int, ...]:
    """``"6.0.2"`` -> (6, 0, 2); a pre-release tail (``"6.1.0b2"``) is dropped with the part it ends."""
    out = []
    for part in str(version).split(".")[:3]:
        if not part.isdigit():
            break
        out.append(int(part))
    return tuple(out)


def build_app(model: str | None = None, *, checkpoint: str | None = None, pretrained: bool | str = False,
              options: dict | None = None, device=None, views: tuple[int, int] | str = (1, 1),
              max_duration: float = DEFAULT_MAX_DURATION, max_file_size: str | int = DEFAULT_MAX_FILE_SIZE,
              released: bool = True, samples: bool = True, work_dir: str | None = None, load: bool = True):
    """The page as a :class:`gradio.Blocks` (launch it with :func:`launch`, which passes the upload limit and the
    sample folder to Gradio).

    Args:
        model, checkpoint, pretrained, options: the default weights, as ``tubelet predict --model/--checkpoint/
            --pretrained/--set``; none: a small random UniFormer (labelled so on the page).
        device: torch device (default cpu).
        views: (clips, crops) test views, 1x1 as ``tubelet predict``; ``"model"``: each model in the list is run with
            its own published test views.
        max_duration: longer videos are refused before decoding (seconds; None: no limit).
        max_file_size: larger uploads are refused (Gradio's grammar: ``"200mb"``, or bytes).
        released: also list the released classifiers (they are downloaded when picked).
        samples: write the sample clips (they need PyAV's H.264 encoder: a second or so).
        work_dir: the temporary folder of uploads, samples and plots; default: a new one (``GRADIO_TEMP_DIR`` is
            pointed at it while this process runs, and it is removed at exit or by :func:`close`).
        load: create the default model now (errors surface before the server starts).
    Raises:
        DependencyError: gradio is not installed. TubeletError: the default weights cannot be created.
    """
    if pretrained and model is None:
        raise UsageError("--pretrained needs --model NAME")
    gr = _import_gradio()
    import torch

    device = torch.device(device) if device is not None else torch.device("cpu")
    if model is not None or checkpoint is not None:
        choices = [cli_choice(model, checkpoint, pretrained, options or {})]
    else:
        choices = [random_choice()]
    if released:
        choices += [c for c in released_choices() if c.key != choices[0].model]
    state = ServeState(choices, device=device, views=views, max_duration=max_duration,
                       max_bytes=_parse_size(max_file_size))
    if load:
        state.model(state.default_key)
    if work_dir is None:
        work_dir = tempfile.mkdtemp(prefix="tubelet-serve-")
        atexit.register(shutil.rmtree, work_dir, ignore_errors=True)
    os.makedirs(work_dir, exist_ok=True)
    state.work_dir = work_dir
    # uploads and the files Gradio makes of the outputs: read by Gradio when the Blocks and its server are made
    os.environ["GRADIO_TEMP_DIR"] = os.path.join(work_dir, "gradio")
    sample_dir = os.path.join(work_dir, "samples")
    sample_paths = write_samples(sample_dir) if samples else []

    def run(video, key, want_saliency):
        empty = (None, "", None, gr.update(value=None, visible=False), None)
        try:
            out = classify(state, video, key, bool(want_saliency))
        except TubeletError as e:
            return (f"**Error:** {e}",) + empty
        except Exception as e:  # noqa: BLE001 - a bug: reported on the page and on stderr, the server goes on
            traceback.print_exc(file=sys.stderr)
            return (f"**Error (internal, please report):** {type(e).__name__}: {e}",) + empty
        plot = gr.update(value=out["timeline"], visible=out["timeline"] is not None)
        return (out["status"], out["label"], out["table"], out["frames"], plot, out["saliency"])

    def on_weights(video, key, want_saliency):
        """Another entry picked: classify the video again with it, or say which weights the next one gets."""
        if video:
            return run(video, key, want_saliency)
        choice = state.choices.get(key)
        text = f"Weights: {choice.label}." if choice else f"**Error:** unknown model {key!r}"
        return (text, gr.update(), gr.update(), gr.update(), gr.update(), gr.update())

    default = state.choices[state.default_key]
    with gr.Blocks(title="tubelet: video classification", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# tubelet: classify a video\nUpload a video (or pick a sample clip) and see the 5 most likely "
                    "classes, the frames the model saw and, for a long video, the class scores over time.")
        with gr.Row():
            with gr.Column(scale=1):
                weights = gr.Dropdown(choices=[(c.label, c.key) for c in choices], value=default.key,
                                      label="Model and weights", elem_id="tubelet-model")
                video = gr.Video(label="Video", sources=["upload"], elem_id="tubelet-video")
                with gr.Row():
                    go = gr.Button("Classify", variant="primary", elem_id="tubelet-classify")
                    want_saliency = gr.Checkbox(value=True, label="saliency")
                if sample_paths:
                    examples = gr.Examples([[p] for p in sample_paths], inputs=[video], label="Sample clips",
                                           example_labels=[_sample_label(p) for p in sample_paths])
            with gr.Column(scale=1):
                status = gr.Markdown(f"Weights: {default.label}.", elem_id="tubelet-status")
                label = gr.Label(num_top_classes=TOP_K, label="Top-5", elem_id="tubelet-label")
                table = gr.Markdown(elem_id="tubelet-top5")
        frames = gr.Gallery(label="The frames the model saw", columns=8, fit_columns=False, height=190,
                            object_fit="contain", elem_id="tubelet-frames")
        plot = gr.Image(label="Class scores along the video (sliding windows)", type="numpy", visible=False,
                        elem_id="tubelet-timeline")
        saliency = gr.Gallery(label="Saliency (where the model looks)", columns=8, fit_columns=False, height=190,
                              object_fit="contain", elem_id="tubelet-saliency")
        outputs = [status, label, table, frames, plot, saliency]
        inputs = [video, weights, want_saliency]
        go.click(run, inputs, outputs, concurrency_limit=1)
        weights.change(on_weights, inputs, outputs, concurrency_limit=1)
        video.upload(run, inputs, outputs, concurrency_limit=1)
        if sample_paths:
            examples.load_input_event.then(run, inputs, outputs, concurrency_limit=1)
    demo.tubelet_state = state
    demo.tubelet_work_dir = work_dir
    demo.tubelet_launch = {"max_file_size": max_file_size, "allowed_paths": [sample_dir] if sample_paths else None}
    return demo


def launch(demo, host: str = "127.0.0.1", port: int | None = None, block: bool = False, quiet: bool = False):
    """Start serving ``demo`` (from :func:`build_app`); returns the local URL. ``block``: serve until interrupted."""
    _, url, _ = demo.launch(server_name=host, server_port=port, prevent_thread_lock=not block, quiet=quiet,
                            share=False, inbrowser=False, show_error=True, ssr_mode=False, mcp_server=False,
                            footer_links=[], **demo.tubelet_launch)
    return url


def close(demo) -> None:
    """Stop the server and remove its temporary folder (uploads, samples, plots)."""
    try:
        demo.close()
    finally:
        shutil.rmtree(demo.tubelet_work_dir, ignore_errors=True)
