"""What every command shares: the model argument group and the one function that builds its model, the number types
of the options, the help texts, the output-file guard and the table formatter.

Nothing here does a task: the commands call the libraries (:mod:`tubelet.models`, :mod:`tubelet.engine`,
:mod:`tubelet.tasks`), which never import the command line.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

from ..config import parse_overrides
from ..errors import UsageError

#: ``--set`` of the commands that only build a model: model options, ``model.options.KEY=VALUE`` or ``KEY=VALUE``
MODEL_OPTIONS = "model.options"

#: --help of --set: one grammar (dotted keys into the run config, YAML values), two scopes
SET_CONFIG_HELP = ("override a run config key (repeatable): dotted KEY, YAML VALUE, e.g. optim.lr=1e-4 or "
                   "model.options.depth=[1,1,2,1]")
SET_MODEL_HELP = ("model option (repeatable): model.options.KEY=VALUE, or KEY=VALUE for short; YAML VALUE, e.g. "
                  "depth=[1,1,2,1] or model.options.num_frames=8")
PRETRAINED_HELP = ("released weights: the default tag of --model, or TAG (see `tubelet models --pretrained`); "
                   "downloaded once into the cache and hash-checked")
DEVICE_HELP = "cpu, cuda, cuda:N or mps (default: cuda when available, else cpu)"
OVERWRITE_HELP = "replace output files that already exist (default: an error naming them, before any work)"


# ------------------------------------------------------------------------------------------------ option types
def whole_number(minimum: int):
    """argparse type of a count or size: a whole number >= ``minimum`` (a bad one is a usage error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value
    return parse


def real_number(low: float = -math.inf, high: float = math.inf, *, above: bool = False, unit: str = ""):
    """argparse type of a finite number in ``[low, high]`` (``(low, high]`` with ``above``); ``unit`` names it in the
    message ("seconds")."""
    what = unit or "a number"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value) or value < low or value > high or (above and value == low):
            if high == math.inf:
                bound = f"> {low:g}" if above else f">= {low:g}"
            else:
                bound = f"from {low:g} to {high:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}{' ' + unit if unit else ''}, got {text}")
        return value
    return parse


count = whole_number(1)  # sizes, counts, --top-k
workers = whole_number(0)  # --workers: 0 decodes in the main process
probability = real_number(0.0, 1.0)  # thresholds
seconds = real_number(0.0, above=True, unit="seconds")  # windows, strides, durations
rate = real_number(0.0, above=True, unit="frames per second")  # --fps


def model_options(pairs: list[str] | None) -> dict:
    """``--set`` of a command that only builds a model, as constructor options."""
    return parse_overrides(pairs, within=MODEL_OPTIONS)


# ------------------------------------------------------------------------------------------------ the model
def add_model_arguments(p: argparse.ArgumentParser, *, model_help: str = "variant name (see `tubelet models`); "
                        "optional with a tubelet checkpoint", checkpoint_help: str = "weights in any supported layout",
                        options: bool = True, device: bool = True, positional: str | None = None,
                        positional_help: str | None = None, pretrained_help: str = PRETRAINED_HELP) -> None:
    """The one ``--model / --checkpoint / --pretrained [/ --set] [/ --device]`` group of every command that takes a
    model (read back by :func:`model_from_args`). ``positional="model"`` (or ``"checkpoint"``) also takes that one
    as an optional positional argument, the older spelling of ``export`` and ``convert``; ``pretrained_help`` then
    says where the default tag comes from."""
    if positional is not None:
        p.add_argument(f"{positional}_positional", nargs="?", metavar=positional.upper(), help=positional_help)
    g = p.add_argument_group("model")
    g.add_argument("--model", help=model_help)
    g.add_argument("--checkpoint", help=checkpoint_help)
    g.add_argument("--pretrained", nargs="?", const=True, default=False, metavar="TAG", help=pretrained_help)
    if options:
        g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_MODEL_HELP)
    if device:
        g.add_argument("--device", help=DEVICE_HELP)


def merge_positional(args) -> None:
    """Fold a positional MODEL / CHECKPOINT (:func:`add_model_arguments`) into ``--model`` / ``--checkpoint``."""
    for name in ("model", "checkpoint"):
        given = getattr(args, f"{name}_positional", None)
        if given is None:
            continue
        flag = getattr(args, name, None)
        if flag is not None and flag != given:
            raise UsageError(f"two {name}s given: {given} and --{name} {flag}; give one")
        setattr(args, name, given)
        setattr(args, f"{name}_positional", None)


def command_name(args) -> str:
    return f"tubelet {args.command}"


#: the model names a command of each task suggests when none is given
MODEL_EXAMPLES = {"segmentation": "e.g. uniformer_small_fpn; `tubelet models '*_fpn'` lists them",
                  "detection": "e.g. uniformer_small_maskrcnn; `tubelet models '*maskrcnn'` lists them",
                  "pose": "uniformer_small_pose or uniformer_base_pose"}


def model_from_args(args, task: str, command: str | None = None):
    """The model of a command's model group (:func:`add_model_arguments`), in eval mode on ``--device``, built by
    :func:`tubelet.models.create_task_model` (a model of another task is refused, naming the command that runs it)."""
    from ..engine.inference import resolve_device
    from ..models import create_task_model

    merge_positional(args)
    if args.model is None and args.checkpoint is None:  # the command line's words, not create_model's
        raise UsageError(f"give --model NAME ({MODEL_EXAMPLES.get(task, 'see `tubelet models`')}) with --pretrained "
                         f"or --checkpoint F, or --checkpoint F alone (a tubelet checkpoint names its model)")
    return create_task_model(args.model, task, pretrained=args.pretrained, checkpoint_path=args.checkpoint,
                             device=resolve_device(getattr(args, "device", None)),
                             command=command or command_name(args), **model_options(getattr(args, "set", None)))


def random_weights(args) -> bool:
    return args.checkpoint is None and not args.pretrained


def random_weights_note(args, meaning: str, stream=None) -> None:
    """The note of a command run without weights: ``no --checkpoint or --pretrained given, so the weights are random
    and MEANING`` (e.g. "the classes above mean nothing"), on ``stream`` (default stdout)."""
    if random_weights(args):
        print(f"note: no --checkpoint or --pretrained given, so the weights are random and {meaning}",
              file=stream or sys.stdout)


# ------------------------------------------------------------------------------------------------ outputs
def check_new_files(paths, args, command: str | None = None) -> None:
    """Refuse to replace a file the user did not ask to replace: the outputs of a command that already exist are an
    error naming the first one, unless ``--overwrite``. Checked before any work, so nothing is half-replaced."""
    if getattr(args, "overwrite", False):
        return
    existing = [str(p) for p in paths if os.path.lexists(p)]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise UsageError(f"{existing[0]}{more}: exists (from an earlier run?); pass --overwrite to replace it, or "
                         f"choose another --out")


def parse_views(text: str | None, cfg) -> tuple[int, int]:
    """``--views CLIPSxCROPS`` (or ``model``: the published protocol of ``cfg``); None: one view."""
    if text is None:
        return 1, 1
    if text == "model":
        if cfg is None:
            raise UsageError("--views model needs a model")
        return tuple(cfg.test_views)
    clips, sep, crops = text.lower().partition("x")
    if not sep or not clips.isdigit() or not crops.isdigit() or int(clips) < 1 or int(crops) not in (1, 3):
        raise UsageError(f"--views expects CLIPSxCROPS with CROPS 1 or 3 (e.g. 4x3) or 'model', got {text!r}")
    return int(clips), int(crops)


def table(head: tuple, rows: list[tuple], markdown: bool, right: tuple[int, ...] = ()) -> str:
    """A Markdown table, or aligned text columns (the ``right`` ones right-aligned)."""
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    fmt = "  ".join(f"{{:{'>' if i in right else '<'}{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*r) for r in [head] + rows)


# ------------------------------------------------------------------------------------------------ per-image commands
def add_image_arguments(p: argparse.ArgumentParser) -> None:
    """``IMAGE...`` of the commands that run a model on each image (``segment``, ``detect``)."""
    p.add_argument("image", nargs="+", help="image files (jpg, png, bmp, webp, tif) or folders of them")


def add_image_output_arguments(p: argparse.ArgumentParser, json_help: str, *, short_out: bool = False) -> None:
    """``--out [--overwrite] --json --skip-bad`` of the per-image commands (:func:`each_image`)."""
    p.add_argument(*(("--out", "-o") if short_out else ("--out",)), default=".",
                   help="output folder (default: the current folder)")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("--skip-bad", action="store_true", help="exit 0 even when some images cannot be read (they are "
                                                           "reported either way; default: exit status 2)")


def expand_images(items: list[str]) -> list[str]:
    """Files as given (checked when read); folders expanded to their image files (recursively, sorted); a folder
    without images stays as given, to be reported by :func:`each_image`."""
    from ..tasks.segmentation import list_images

    out = []
    for item in items:
        if os.path.isdir(item):
            found = [os.path.join(item, rel) for rel in list_images(item)]
            out += found or [item]
        else:
            out.append(item)
    return out


def each_image(args, images: list[str], work) -> tuple[int, float]:
    """Run ``work(index, path, out_name)`` on each of ``images`` (``out_name``: the output stem of
    :func:`tubelet.engine.inference.output_names`); ``work`` prints its own results. An image that cannot be read
    (ImageReadError, AnnotationError, a folder without images) is reported, ``tubelet CMD: error: ...`` on stderr and
    ``{"image", "error"}`` with ``--json``, and skipped. Returns ``(failures, seconds)``."""
    import json
    import time

    from ..data.images import IMAGE_EXTENSIONS, ImageReadError
    from ..engine.inference import output_names
    from ..errors import AnnotationError

    t0, failed = time.perf_counter(), 0
    for index, (path, out_name) in enumerate(zip(images, output_names(images))):
        try:
            if os.path.isdir(path):
                raise ImageReadError(f"{path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
            work(index, path, str(out_name))
        except (ImageReadError, AnnotationError) as e:  # this image only: report it and go on
            failed += 1
            print(f"tubelet {args.command}: error: {e}", file=sys.stderr, flush=True)
            if args.json:
                print(json.dumps({"image": path, "error": str(e)}), flush=True)
    return failed, time.perf_counter() - t0


def images_summary(args, images: list[str], failed: int, seconds: float) -> int:
    """The closing line of a per-image command over several images (on stderr) and its exit status: 2 when an image
    failed, unless ``--skip-bad``."""
    if len(images) > 1:
        print(f"tubelet {args.command}: {len(images)} images, {failed} failed, {seconds:.1f} s", file=sys.stderr,
              flush=True)
    return 2 if failed and not args.skip_bad else 0


def report_coco_eval(args, title: str, metrics: dict, results_path: str, num: int, out, seconds: float,
                     formatted: str) -> int:
    """The end of ``detect-eval`` / ``pose-eval``: one JSON object with ``--json``, else ``TITLE of N results (FILE)
    on ANNOTATIONS:``, the formatted COCO numbers and where metrics.json is."""
    import json

    if args.json:
        print(json.dumps({"metrics": metrics, "results": results_path, "num_results": num,
                          "metrics_file": str(out / "metrics.json"), "seconds": round(seconds, 1)}))
        return 0
    print(f"{title} of {num} results ({results_path}) on {args.annotations}:")
    print(formatted)
    print(f"-> {out / 'metrics.json'}")
    return 0
