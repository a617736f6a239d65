"""The ``tubelet`` command: ``demo``, ``train``, ``eval``, ``predict``, ``models``, ``convert`` and ``data synthetic``.

``main(argv)`` returns an exit code, so tests call it directly. Errors a user can fix (a bad file, checkpoint, option
or value: every :class:`~tubelet.errors.TubeletError`) print one line, ``tubelet CMD: error: MESSAGE``, and exit with
status 2. Anything else is a bug in tubelet and keeps its traceback.

``--set KEY=VALUE`` has one grammar everywhere (:func:`tubelet.config.parse_overrides`): keys are dotted paths into
the run config, values are YAML. ``train``, ``eval`` and ``demo`` take any config key (``optim.lr=1e-4``); the commands
that only build a model (``predict``, ``export``, ``benchmark``, ``convert``) take ``model.options.KEY=VALUE``, with
``KEY=VALUE`` as its short form.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

import torch

from . import __version__
from .config import parse_overrides
from .data import eval_clip, synthetic_clip
from .data.presets import eval_indices
from .errors import TubeletError, UsageError
from .models import count_params, create_model, list_models, save_model
from .models._pretrained import split_name
from .models._registry import check_task, get_entrypoint, get_family

#: ``--set`` of the commands that only build a model: model options, ``model.options.KEY=VALUE`` or ``KEY=VALUE``
MODEL_OPTIONS = "model.options"


#: --help of --set: one grammar (dotted keys into the run config, YAML values), two scopes
SET_CONFIG_HELP = ("override a run config key (repeatable): dotted KEY, YAML VALUE, e.g. optim.lr=1e-4 or "
                   "model.options.depth=[1,1,2,1]")
SET_MODEL_HELP = ("model option (repeatable): model.options.KEY=VALUE, or KEY=VALUE for short; YAML VALUE, e.g. "
                  "depth=[1,1,2,1] or model.options.num_frames=8")


PRETRAINED_HELP = ("released weights: the default tag of --model, or TAG (see `tubelet models --pretrained`); "
                   "downloaded once into the cache and hash-checked")


def _model_options(pairs: list[str] | None) -> dict:
    return parse_overrides(pairs, within=MODEL_OPTIONS)


def _whole_number(minimum: int):
    """argparse type of the sizes and counts that must be whole numbers >= ``minimum`` (argparse reports a bad one
    as a usage error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value
    return parse


_count = _whole_number(1)  # sizes, counts, --top-k
_workers = _whole_number(0)  # --workers: 0 decodes in the main process


def model_from_args(args, task: str, command: str | None = None):
    """The model of a command's ``--model`` / ``--pretrained`` / ``--checkpoint`` / ``--set`` (those it has), in eval
    mode on ``--device``; a model of another ``task`` is refused before it is built when named, after otherwise (a
    tubelet checkpoint names its architecture), naming the command that takes it (:func:`check_task`)."""
    from .engine.inference import resolve_device

    command = command or f"tubelet {args.command}"
    device = resolve_device(getattr(args, "device", None))
    if args.model is not None:
        check_task(split_name(args.model)[0], task, command)
    model = create_model(args.model, pretrained=args.pretrained, checkpoint_path=args.checkpoint,
                         **_model_options(getattr(args, "set", None)))
    check_task(model.pretrained_cfg.architecture, task, command)
    return model.eval().to(device)


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


def _output(name: str, num_classes: int) -> str:
    """What a variant outputs, in a few words (the model table's column)."""
    family = get_family(name).name
    if family == "uniformer_seg":
        return f"{num_classes} classes per pixel"
    if family == "uniformer_pose":
        return f"{num_classes} keypoint heatmaps"
    if num_classes == 0:
        return "4 feature maps"
    return f"{num_classes} classes"


def model_table(pattern: str = "*", markdown: bool = False, family: str | None = None) -> str:
    """One row per variant: name, parameters (exact, default classifier), output, input, released weights, source.
    Built on the meta device."""
    from .models._pretrained import default_tag, list_pretrained

    rows = []
    for name in list_models(pattern, family=family):
        with torch.device("meta"):
            model = get_entrypoint(name)()
        cfg = model.pretrained_cfg
        shape = "x".join(map(str, cfg.input_size[1:]))
        kind = f"video {shape}" if cfg.is_video else f"image {shape}"
        tags, default = list_pretrained(name), default_tag(name)
        released = (f"{default}" if default else "-") + (f" (+{len(tags) - bool(default)})" if len(tags) > 1 else "")
        rows.append((name, f"{count_params(model):,}", _output(name, cfg.num_classes), kind, released, cfg.source))
    head = ("model", "params", "output", "input (TxHxW / HxW)", "released weights: default (+others)", "source")
    return _table(head, rows, markdown, right=(1,))


def _table(head: tuple, rows: list[tuple], markdown: bool, right: tuple[int, ...] = ()) -> str:
    """A Markdown table, or aligned text columns (the ``right`` ones right-aligned)."""
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    fmt = "  ".join(f"{{:{'>' if i in right else '<'}{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*r) for r in [head] + rows)


def pretrained_table(pattern: str = "*", markdown: bool = False, local: bool = True) -> str:
    """One row per released checkpoint: ``ARCH.TAG``, dataset, published top-1 with its views, input, GFLOPs per
    view, label list, and whether the file is cached (``local``: looked up on this machine), downloadable,
    manual-only or dead."""
    from .hub import is_available_locally
    from .models._pretrained import all_weights

    rows = []
    for w in all_weights(pattern):
        name = w.name
        cfg = w.cfg()
        shape = "x".join(map(str, cfg.input_size[1:]))
        views = f"{w.test_views[0]}x{w.test_views[1]}" if w.test_views else ""
        top1 = w.result
        gflops = f"{w.gflops:g}" if w.gflops is not None else ""
        state = "cached" if local and is_available_locally(w) else w.availability
        labels = ("(initialises training)" if w.init_only else w.labels or
                  ("-" if w.num_classes is None else "indices"))
        if w.init_only:
            shape = ("" if not w.img_size else f"{w.img_size}x{w.img_size}" if isinstance(w.img_size, int)
                     else "x".join(map(str, w.img_size)))
        mark = (" (default)" if markdown else " *") if w.default else ""
        rows.append((name + mark, w.dataset or "", top1, views, shape, gflops, labels, state))
    head = ("weights" if markdown else "weights (* default)", "dataset", "top-1 / result", "views", "input", "GFLOPs/view",
            "labels", "file")
    table = _table(head, rows, markdown, right=(2, 5))
    if markdown:
        return table
    counts = collections.Counter(r[-1] for r in rows)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    return f"{table}\n{len(rows)} released checkpoints: {summary}"


def cmd_models(args) -> int:
    if args.pretrained:
        from .models import list_pretrained
        if not list_pretrained(args.pattern):
            raise UsageError(f"no released weights match {args.pattern!r} (`tubelet models --pretrained` lists all)")
        print(pretrained_table(args.pattern, args.markdown, local=not args.markdown))
        return 0
    names = list_models(args.pattern, family=args.family)
    if not names:
        raise UsageError(f"no model matches {args.pattern!r}" + (f" in family {args.family}" if args.family else ""))
    print(model_table(args.pattern, args.markdown, family=args.family))
    prefix = args.pattern[:-1]
    if args.family is None and args.pattern.endswith("*") and not any(c in prefix for c in "*?["):
        families = sorted({get_family(n).name for n in names})
        if len(families) > 1:  # fnmatch, as timm ('uniformer*' is also UniFormerV2): say how to list one family
            print(f"note: {args.pattern!r} matches {len(families)} families ({', '.join(families)}); "
                  f"--family NAME lists one", file=sys.stderr)
    return 0


def published_flops_table() -> str:
    """Markdown: every published per-view figure next to our count (``tubelet flops --published``)."""
    from .flops import PUBLISHED, model_cost

    lines = ["| model | input (C, T, H, W) | params | GFLOPs (ours) | GFLOPs (published) | difference | source |",
             "|---|---|---|---|---|---|---|"]
    for pub in PUBLISHED:
        cost = model_cost(pub.name, pub.input_shape, **(pub.kwargs or {}))
        diff = (cost.gflops - pub.value) / pub.value
        mark = (" (see note)" if abs(cost.gflops - pub.value) > pub.tolerance else
                " (within the figure's rounding)" if abs(diff) > 0.02 else "")
        extra = " SSv2 window 16" if pub.kwargs else ""
        lines.append(f"| {pub.name}{extra} | {tuple(pub.input_shape)} | {cost.params / 1e6:.1f}M | "
                     f"{cost.gflops:.1f} | {pub.gflops} | {diff:+.1%}{mark} | {pub.source} |")
    notes = sorted({p.note for p in PUBLISHED if p.note})
    return "\n".join(lines + [""] + [f"Note: {n}." for n in notes])


def cmd_flops(args) -> int:
    from .flops import model_cost, resolve_input

    if args.published:
        print(published_flops_table())
        return 0
    if args.name is None:
        raise UsageError("give a model name (tubelet models lists them) or --published")
    cost = model_cost(args.name, resolve_input(args.name, args.frames, args.size))
    if args.json:
        print(json.dumps(cost.to_dict(), indent=2))
    else:
        print(f"{cost.name} at {tuple(cost.input_shape)}: {cost.params:,} parameters, {cost.gflops:.2f} GFLOPs per "
              f"view (multiply-accumulates, the papers' convention)")
        for op, g in sorted(cost.by_operator.items(), key=lambda kv: -kv[1]):
            print(f"  {op:<40} {g:10.2f} G")
    return 0


def cmd_export(args) -> int:
    from .export import export_model
    from .flops import resolve_input

    model = create_model(args.model, pretrained=args.pretrained, checkpoint_path=args.checkpoint,
                         **_model_options(args.set)).eval()
    shape = resolve_input(model.pretrained_cfg, args.frames, args.size)
    result = export_model(model, args.output, shape, args.format, opset=args.opset, check=not args.no_check)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        err = result["max_rel_error"]
        checked = "not checked" if err is None else f"max relative difference to PyTorch {err:.1e}"
        files = [f"{f} ({Path(f).stat().st_size / 1e6:.1f} MB)" for f in result["files"]]
        if len(files) > 1:  # weights over the single-file limit: the model needs its .data file beside it
            files[-1] += ": its weights, keep it next to the model"
        print(f"wrote {' + '.join(files)}: {args.format}, input (batch, {', '.join(map(str, shape))}), "
              f"batch dynamic; {checked}")
    if (get_family(model.pretrained_cfg.architecture).name == "uniformer_light" and not args.checkpoint
            and not args.pretrained):
        print("note: random weights: the light models' class token starts at zero, so every token score ties and "
              "the kept tokens are whatever the sort returns at a tie (onnxruntime's TopK and torch's argsort differ "
              "there); exported trained weights agree to float rounding", file=sys.stderr)
    return 0


def cmd_benchmark(args) -> int:
    from .benchmark import benchmark, format_result

    if args.threads:
        torch.set_num_threads(args.threads)
    r = benchmark(args.model, batch=args.batch, frames=args.frames, size=args.size, dtype=args.dtype,
                  device=args.device, compile=args.compile, train=args.train, warmup=args.warmup, runs=args.runs,
                  model_kwargs=_model_options(args.set))
    print(json.dumps(r, indent=1) if args.json else format_result(r))
    return 0


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
    from .engine.inference import output_names, timeline, topk
    from .engine.plots import plot_timeline

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
        json_path.write_text(json.dumps({"video": video, "model": name, "windows": windows}, indent=1))
        png = plot_timeline([(w["start"] + w["end"]) / 2 for w in windows], probs, labels,
                            stem.parent / f"{stem.name}.timeline.png", topk=min(args.top_k, probs.shape[1]))
        _emit(args, {"video": video, "windows": len(windows), "json": str(json_path), "png": str(png)})
        if not args.json:
            print(f"{video}: {len(windows)} windows -> {json_path}, {png}", flush=True)
    return _finish(args, len(videos), failed, t0)


def _parse_views(text: str | None, cfg) -> tuple[int, int]:
    if text is None:
        return 1, 1
    if text == "model":
        return tuple(cfg.test_views)
    clips, sep, crops = text.lower().partition("x")
    if not sep or not clips.isdigit() or not crops.isdigit() or int(clips) < 1 or int(crops) not in (1, 3):
        raise UsageError(f"--views expects CLIPSxCROPS with CROPS 1 or 3 (e.g. 4x3) or 'model', got {text!r}")
    return int(clips), int(crops)


def cmd_predict(args) -> int:
    from .engine.inference import Prediction, default_workers, expand_videos, predict_videos, resolve_labels, topk

    videos = expand_videos(args.video) if args.video else []
    model = model_from_args(args, "classification")
    cfg = model.pretrained_cfg
    labels = resolve_labels(args.labels, cfg, model.num_classes)
    views = _parse_views(args.views, cfg)
    if not cfg.is_video:  # image models classify the middle frame
        views = (1, 1)
    name = args.model or cfg.architecture
    if args.timeline:
        return _predict_timeline(args, model, videos, labels, name)
    shape = tuple(cfg.input_size) if cfg.is_video else (1, *cfg.input_size)
    t0, failed = time.perf_counter(), 0
    if videos:
        workers = default_workers() if args.workers is None else args.workers
        predictions = predict_videos(model, videos, views=views, batch_size=args.batch_size, num_workers=workers)
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
        if args.checkpoint is None and not args.pretrained:
            print("note: no --checkpoint or --pretrained given, so the weights are random and the classes above "
                  "mean nothing")
        elif labels is None and model.num_classes:
            print(f"note: the class names of these weights are not known to tubelet ({cfg.notes.strip()}); pass "
                  f"--labels")
    return _finish(args, len(videos), failed, t0)


def cmd_convert(args) -> int:
    if args.checkpoint is None and not args.pretrained:
        raise UsageError("give the checkpoint to convert, or --pretrained [TAG] with --model")
    overrides = _model_options(args.set)
    if args.num_classes is not None:
        overrides["num_classes"] = args.num_classes
    model = create_model(args.model, pretrained=args.pretrained, checkpoint_path=args.checkpoint,
                         drop_head=args.drop_head, **overrides)
    save_model(model, args.out)
    report = model.load_report
    if not (report.dropped or report.new):  # otherwise the loader has already warned with the same report
        print(report)
    print(f"wrote {args.out} ({model.pretrained_cfg.architecture}, {count_params(model):,} parameters)")
    return 0


def cmd_train(args) -> int:
    import shlex

    from .config import load_config
    from .engine import distributed
    from .engine.dry_run import dry_run
    from .engine.train import TrainingInterrupted, train

    if args.config is None:  # --out OUT --resume: the run's own config
        if not (args.resume and args.out):
            raise UsageError("give the YAML recipe to train (tubelet train CONFIG.yaml), or --out OUT --resume to "
                             "continue the run in OUT")
        saved = Path(args.out) / "config.yaml"
        if not saved.is_file():
            raise UsageError(f"--resume: {saved}: no such file, so {args.out} holds no run to resume")
        cfg = load_config(saved, args.set)
        if "stop_at_step" not in parse_overrides(args.set).get("train", {}):
            cfg.train.stop_at_step = None  # where the last launch was asked to stop, not this one
    else:
        cfg = load_config(args.config, args.set)
    if args.dry_run:
        result = dry_run(cfg)
        print(json.dumps(result) if args.json else
              f"dry run OK: {result['model']} ({result['trainable_params']:,} trainable parameters, "
              f"{result['param_groups']} parameter groups); full clip {result['full_clip']} shape-checked; one step "
              f"on {result['step_clip']} -> loss {result['loss']:.4f}; checkpoint "
              f"{'loaded' if result['checkpoint_loaded'] else 'not loaded'}; {result['seconds']} s"
              + (f"\nnote: {result['amp_fallback']}" if result.get("amp_fallback") else ""))
        return 0 if result["finite"] else 1
    out = args.out or str(Path("runs") / Path(args.config).stem)
    resume_with = f"tubelet train --out {shlex.quote(out)} --resume"
    try:
        result = train(cfg, out, resume=args.resume, overwrite=args.overwrite, allow_changes=args.allow_changes)
    except TrainingInterrupted as e:  # SIGINT / SIGTERM: last.pt saved where training stopped
        if distributed.is_main():
            print(f"tubelet train: {e}; resume with: {resume_with}", file=sys.stderr)
        distributed.cleanup()
        return e.exit_code
    except KeyboardInterrupt:  # Ctrl-C while setting up: nothing was written yet
        print(f"tubelet train: interrupted before training started; nothing was written to {out}", file=sys.stderr)
        return 130
    if distributed.is_main():
        if args.json:
            print(json.dumps(result))
        elif result.get("stopped"):
            print(f"stopped at step {result['step']} (train.stop_at_step); resume with: {resume_with}")
        else:
            print(f"done in {result['seconds']:.0f} s: best val top-1 {result['best_top1']:.2f}%; files in {out}")
    distributed.cleanup()
    return 0


def cmd_eval(args) -> int:
    from .config import load_config
    from .engine import distributed
    from .engine.evaluate import evaluate_checkpoint

    extra = list(args.set or [])
    if args.views and args.views != "model":
        clips, crops = _parse_views(args.views, None)
        extra += [f"data.test_clips={clips}", f"data.test_crops={crops}"]
    cfg = load_config(args.config, extra)
    summary = evaluate_checkpoint(cfg, args.checkpoint, args.out, shuffle_frames=args.shuffle_frames)
    if distributed.is_main():
        out = Path(summary["out_dir"])
        if args.json:
            print(json.dumps(summary))
        else:
            print((out / "report.txt").read_text(), end="")
            clips, crops = summary["views"]
            print(f"top-1 {summary['top1']:.2f}%  top-5 {summary['top5']:.2f}%  mean class "
                  f"{summary['mean_class_accuracy']:.2f}%  ({summary['num_samples']} videos, {clips}x{crops} views); "
                  f"files in {out}")
    distributed.cleanup()
    return 0


def cmd_demo(args) -> int:
    from .engine.demo import run_demo

    result = run_demo(out=args.out, overrides=args.set, quick=args.quick)
    if args.json:
        print(json.dumps(result))
    return 0 if result["passed"] or args.quick else 1


def cmd_data_synthetic(args) -> int:
    from .data import make_synthetic_dataset

    t0 = time.perf_counter()
    files = make_synthetic_dataset(args.root, num_train=args.train, num_val=args.val, num_frames=args.frames,
                                   height=args.height, width=args.width, seed=args.seed)
    print(f"wrote {args.train} train + {args.val} val clips to {args.root} in {time.perf_counter() - t0:.1f} s")
    for name, path in files.items():
        print(f"  {name}: {path}")
    # a recipe for these files: the demo's small UniFormer (tubelet demo), reading them as a "list" dataset
    import copy
    from .config import load_config, save_config
    from .engine.demo import DEMO_CONFIG

    values, root = copy.deepcopy(DEMO_CONFIG), Path(args.root).resolve()
    d = values["data"]
    del d["synthetic"]
    d.update(format="list", root=str(root), train=str(root / "train.txt"), val=str(root / "val.txt"),
             labels=str(root / "classes.txt"), num_frames=min(d["num_frames"], args.frames),
             batch_size=min(d["batch_size"], max(args.train, 1)),
             eval_batch_size=min(d["eval_batch_size"], max(args.val, 1)))
    values["notes"] = (f"written by `tubelet data synthetic {args.root}`: the model and schedule of `tubelet demo` "
                       f"on these clips")
    recipe = save_config(load_config(None, values), Path(args.root) / "recipe.yaml")
    print(f"  recipe: {recipe}\nnext: tubelet train {recipe} --out runs/synthetic   "
          f"# `tubelet demo`'s small UniFormer on these clips; --dry-run checks it in seconds")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tubelet", description="Video recognition with UniFormer, UniFormerV2 and "
                                                            "Video Swin Transformer.")
    p.add_argument("--version", action="version", version=f"tubelet {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("models", help="list model variants with their parameter counts")
    m.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'uniformer_*_2d'")
    m.add_argument("--family", help="one family only: uniformer, uniformer_light, uniformer_dense, uniformer_seg, "
                                    "uniformer_pose, uniformerv2, video_swin")
    m.add_argument("--markdown", action="store_true", help="print a Markdown table")
    m.add_argument("--pretrained", action="store_true", help="list the released weights (ARCH.TAG) instead: "
                                                           "accuracy, views, labels, downloadable/cached/manual")
    m.set_defaults(func=cmd_models)

    fl = sub.add_parser("flops", help="parameters and GFLOPs (multiply-accumulates) per view, as the papers count")
    fl.add_argument("name", nargs="?", help="a model variant (tubelet models)")
    fl.add_argument("--frames", type=_count, help="frames per clip (default: the variant's published input)")
    fl.add_argument("--size", type=_count, help="square input side in pixels (default: the variant's)")
    fl.add_argument("--json", action="store_true", help="print JSON (fields params, gflops, input_shape, ...)")
    fl.add_argument("--published", action="store_true", help="a Markdown table of every published figure vs ours")
    fl.set_defaults(func=cmd_flops)

    ex = sub.add_parser("export", help="export to ONNX (checked in onnxruntime) or a torch.export program")
    ex.add_argument("model", nargs="?", help="a model variant; optional with a tubelet .safetensors checkpoint")
    ex.add_argument("--checkpoint", help="weights (any supported layout)")
    ex.add_argument("--pretrained", nargs="?", const=True, default=False, metavar="TAG", help=PRETRAINED_HELP)
    ex.add_argument("--format", choices=["onnx", "pt2"], default="onnx")
    ex.add_argument("--frames", type=_count, help="frames per clip (default: the variant's)")
    ex.add_argument("--size", type=_count, help="square input side (default: the variant's)")
    ex.add_argument("-o", "--output", required=True, help="file to write")
    ex.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    ex.add_argument("--no-check", action="store_true", help="skip running the export against PyTorch")
    ex.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_MODEL_HELP)
    ex.add_argument("--json", action="store_true")
    ex.set_defaults(func=cmd_export)

    bm = sub.add_parser("benchmark", help="clips/s, latency, memory, achieved FLOP/s (and MFU on a known GPU)")
    bm.add_argument("model", help="a model variant (random weights)")
    bm.add_argument("--batch", type=_count, default=1)
    bm.add_argument("--frames", type=_count, help="frames per clip (default: the variant's)")
    bm.add_argument("--size", type=_count, help="square input side (default: the variant's)")
    bm.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32",
                    help="autocast dtype (on a CPU without native bf16, bf16/fp16 run as fp32 unless "
                         "TUBELET_FORCE_BF16=1)")
    bm.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    bm.add_argument("--compile", action="store_true", help="torch.compile the model (compiled in the warm-up)")
    bm.add_argument("--train", action="store_true", help="time a training step (forward, backward, fused AdamW)")
    bm.add_argument("--threads", type=_count, help="torch CPU threads (default: torch's)")
    bm.add_argument("--warmup", type=int, default=2)
    bm.add_argument("--runs", type=_count, default=5)
    bm.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_MODEL_HELP)
    bm.add_argument("--json", action="store_true")
    bm.set_defaults(func=cmd_benchmark)

    dm = sub.add_parser("demo", help="the main job: generate the synthetic dataset, train, evaluate, predict",
                        description="Generates the built-in synthetic dataset (classes that differ only in the "
                                    "direction of time), trains a small UniFormer on it, evaluates it on normal and "
                                    "frame-shuffled clips, plots the curves and predicts one clip.")
    dm.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    dm.add_argument("--set", action="append", metavar="KEY=VALUE", help=SET_CONFIG_HELP.replace("optim.lr=1e-4",
                                                                                                 "optim.epochs=5"))
    dm.add_argument("--quick", action="store_true", help="a few-step smoke run (no accuracy target)")
    dm.add_argument("--json", action="store_true", help="print the result as JSON")
    dm.set_defaults(func=cmd_demo)

    tr = sub.add_parser("train", help="train from a YAML recipe (configs/), single process or under torchrun")
    tr.add_argument("config", nargs="?", help="YAML recipe (see configs/README.md); optional with --out OUT --resume "
                                              "(then OUT/config.yaml)")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE", help=SET_CONFIG_HELP)
    tr.add_argument("--out", help="run folder (default: runs/<config name>)")
    tr.add_argument("--resume", action="store_true", help="continue the run in OUT from OUT/last.pt exactly where it "
                                                          "stopped, with the config it was started with")
    tr.add_argument("--overwrite", action="store_true", help="start over in a folder that holds a run: deletes its "
                                                             "files (last.pt, best.safetensors, metrics.jsonl, "
                                                             "config.yaml, plots, eval/), nothing else")
    tr.add_argument("--allow-changes", action="store_true", help="with --resume: continue with the values of a "
                                                                 "config or --set that differ from the run's")
    tr.add_argument("--dry-run", action="store_true", help="build everything and run one step on a generated clip")
    tr.add_argument("--json", action="store_true", help="print the result as JSON")
    tr.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval", help="multi-view test of a checkpoint on a recipe's validation set")
    ev.add_argument("config", help="YAML recipe naming the model and the validation data")
    ev.add_argument("--checkpoint", required=True, help="weights (tubelet .safetensors, last.pt, or any supported)")
    ev.add_argument("--views", help="CLIPSxCROPS test views, e.g. 4x3 (default: the recipe's)")
    ev.add_argument("--set", action="append", metavar="KEY=VALUE", help=SET_CONFIG_HELP)
    ev.add_argument("--out", help="folder for report.txt, confusion.png, predictions.jsonl, metrics.json "
                                  "(default: eval/STEM_CLIPSxCROPS[_shuffled]/ next to the checkpoint, one per "
                                  "checkpoint and views)")
    ev.add_argument("--shuffle-frames", action="store_true", help="shuffle each clip's frames (temporal-order test)")
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ev.set_defaults(func=cmd_eval)

    pr = sub.add_parser("predict", help="classify videos (or a synthetic clip when none is given)")
    pr.add_argument("video", nargs="*", help="video files or folders; none: a clip that tubelet generates")
    pr.add_argument("--model", help="variant name (see `tubelet models`); optional with a tubelet checkpoint")
    pr.add_argument("--checkpoint", help="weights in any supported layout")
    pr.add_argument("--pretrained", nargs="?", const=True, default=False, metavar="TAG", help=PRETRAINED_HELP)
    pr.add_argument("--labels", help="class names: k400, k600, k700, k710, sthv2 or a text file, one name per class "
                                     "of the model (default: the model's)")
    pr.add_argument("--top-k", "--topk", dest="top_k", type=_count, default=5,
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
    pr.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: cuda when available, else cpu)")
    pr.add_argument("--batch-size", type=_count, default=8,
                    help="clips per forward pass; the views of several videos go together (default 8)")
    pr.add_argument("--workers", type=_workers, help="processes that decode and transform the videos (default: "
                                                     "min(4, CPUs); 0: the main process)")
    pr.add_argument("--skip-bad", action="store_true", help="exit 0 even when some videos cannot be decoded (they "
                                                            "are reported either way; default: exit status 2)")
    pr.add_argument("--seed", type=int, default=0, help="seed of the synthetic clip")
    pr.add_argument("--set", action="append", metavar="KEY=VALUE", help=SET_MODEL_HELP)
    pr.set_defaults(func=cmd_predict)

    c = sub.add_parser("convert", help="convert a checkpoint to tubelet .safetensors (strict, verified load)")
    c.add_argument("checkpoint", nargs="?", help="source checkpoint (official, MMAction2, timm/DeiT or tubelet "
                                                 "layout, a training run's last.pt); optional with --pretrained")
    c.add_argument("--model", help="variant name (optional for files tubelet wrote: .safetensors, last.pt)")
    c.add_argument("--pretrained", nargs="?", const=True, default=False, metavar="TAG", help=PRETRAINED_HELP)
    c.add_argument("--out", required=True, help="output .safetensors file")
    c.add_argument("--num-classes", type=_count)
    c.add_argument("--drop-head", action="store_true", help="start a new classifier of --num-classes rows")
    c.add_argument("--set", action="append", metavar="KEY=VALUE", help=SET_MODEL_HELP)
    c.set_defaults(func=cmd_convert)
    d = sub.add_parser("data", help="dataset utilities")
    dsub = d.add_subparsers(dest="data_command", required=True)
    syn = dsub.add_parser("synthetic", help="write the built-in synthetic dataset (real H.264 files + lists)")
    syn.add_argument("root", help="output folder")
    syn.add_argument("--train", type=int, default=200, help="training clips")
    syn.add_argument("--val", type=int, default=50, help="validation clips")
    syn.add_argument("--frames", type=_count, default=32)
    syn.add_argument("--height", type=_count, default=128)
    syn.add_argument("--width", type=_count, default=160)
    syn.add_argument("--seed", type=int, default=0)
    syn.set_defaults(func=cmd_data_synthetic)
    # dense prediction (image models) and the applications: each module adds its own commands
    # (imported by name: ``tubelet.explain`` is also the function of that name, see tubelet/__init__.py)
    from .explain import add_parsers as explain_parsers
    from .features import add_parsers as features_parsers
    from .pose import add_parsers as pose_parsers
    from .segmentation import add_parsers as segmentation_parsers
    from .serve import add_parsers as serve_parsers
    for add in (segmentation_parsers, pose_parsers, explain_parsers, features_parsers, serve_parsers):
        add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """The ``tubelet`` program. Run as a program (``argv`` None), it first applies :mod:`tubelet.runtime`'s process
    settings (glibc keeps freed memory); called with an argument list (tests, notebooks) it leaves the process alone."""
    args = build_parser().parse_args(argv)
    if argv is None:
        from .runtime import apply_cli_defaults
        apply_cli_defaults()
    try:
        return args.func(args)
    except TubeletError as e:  # only problems the user can fix: anything else is a bug and keeps its traceback
        print(f"tubelet {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line, no traceback; every output file is written whole or not at all
        print(f"tubelet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
