"""``tubelet models``, ``flops``, ``export``, ``benchmark`` and ``convert``: the model zoo and what to do with one
model."""
from __future__ import annotations

import collections
import difflib
import json
import os
import sys
from pathlib import Path

import torch

from ..errors import UsageError
from ..models import count_params, create_model, list_models, save_model
from ..models._registry import get_entrypoint, get_family
from .common import (OVERWRITE_HELP, SET_MODEL_HELP, add_model_arguments, check_new_files, count, merge_positional,
                     model_options, table)


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
    from ..models._pretrained import default_tag, list_pretrained

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
    return table(head, rows, markdown, right=(1,))


def pretrained_table(pattern: str = "*", markdown: bool = False, local: bool = True) -> str:
    """One row per released checkpoint: ``ARCH.TAG``, dataset, published top-1 with its views, input, GFLOPs per
    view, label list, and whether the file is cached (``local``: looked up on this machine), downloadable,
    manual-only or dead."""
    from ..hub import is_available_locally
    from ..models._pretrained import all_weights

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
    text = table(head, rows, markdown, right=(2, 5))
    if markdown:
        return text
    counts = collections.Counter(r[-1] for r in rows)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    return f"{text}\n{len(rows)} released checkpoints: {summary}"


_GLOB = "*?["


def _is_word(pattern: str) -> bool:
    return not any(c in pattern for c in _GLOB)


def _no_match(what: str, pattern: str, names: list[str], listing: str, examples: tuple[str, str]) -> UsageError:
    """"no model matches 'x'" with the closest words of the names (the pattern without its wildcards against every
    leading part of a name: 'unifomer' is close to 'uniformer', which then lists them all), else how patterns work."""
    word = "".join(c for c in pattern if c not in _GLOB + "]").lower()
    words = set()
    for name in names:
        for piece in name.split("."):  # ARCH.TAG
            parts = piece.split("_")
            words.update("_".join(parts[:i]) for i in range(1, len(parts) + 1))
    close = difflib.get_close_matches(word, sorted(words), n=3, cutoff=0.75) if word else []
    hint = (f"; did you mean {', '.join(close)}?" if close else
            f"; a word matches anywhere in a name (e.g. {examples[0]}), a shell pattern the whole name (e.g. "
            f"'{examples[1]}')")
    return UsageError(f"no {what} {pattern!r}{hint} (`{listing}` lists all)")


def cmd_models(args) -> int:
    """A word (no ``*``, ``?`` or ``[``) matches anywhere in a name, in any case (``uniformer``, ``2D``); anything
    else is a shell pattern on the whole name (``'uniformer_*_2d'``). With ``--pretrained``, a variant's name lists
    its weights (``uniformer_small``: ``uniformer_small.*``), any other word matches anywhere (``k400``)."""
    if args.pretrained:
        from ..models import list_pretrained
        pattern = args.pattern
        if _is_word(pattern) and not list_pretrained(pattern):
            pattern = f"*{pattern.lower()}*"
        if not list_pretrained(pattern):
            raise _no_match("released weights match", args.pattern, list_pretrained(), "tubelet models --pretrained",
                            ("k400", "uniformer_small.*"))
        print(pretrained_table(pattern, args.markdown, local=not args.markdown))
        return 0
    word = _is_word(args.pattern)
    pattern = f"*{args.pattern.lower()}*" if word else args.pattern
    names = list_models(pattern, family=args.family)
    if not names:
        others = list_models(pattern) if args.family else []
        if others:
            raise UsageError(f"no model of family {args.family} matches {args.pattern!r}; {len(others)} of other "
                             f"families do (e.g. {others[0]}): drop --family")
        raise _no_match("model matches", args.pattern, list_models(family=args.family), "tubelet models",
                        ("2d", "uniformer_*_2d"))
    print(model_table(pattern, args.markdown, family=args.family))
    if args.family is None and (word or (args.pattern.endswith("*") and _is_word(args.pattern[:-1]))):
        families = sorted({get_family(n).name for n in names})
        if len(families) > 1:  # 'uniformer' is also UniFormerV2 (fnmatch, as timm): say how to list one family
            print(f"note: {args.pattern!r} matches {len(families)} families ({', '.join(families)}); "
                  f"--family NAME lists one", file=sys.stderr)
    return 0


def published_flops_table() -> str:
    """Markdown: every published per-view figure next to our count (``tubelet flops --published``)."""
    from ..flops import PUBLISHED, model_cost

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
    from ..flops import model_cost, resolve_input

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


def _export_path(args) -> Path:
    """``-o`` as the file to write: a folder (one that exists, or a path ending in /) gets the default name, the
    checkpoint's (``best.safetensors`` -> ``best.onnx``) or else the model's with its tag, and the format's suffix.
    Checked before any work: a file where a folder must be is an error."""
    out = args.output
    path = Path(out)
    if out.endswith(("/", os.sep)) or path.is_dir():
        if args.checkpoint:
            stem = Path(args.checkpoint).stem
        elif args.model:
            tag = args.pretrained if isinstance(args.pretrained, str) and "." not in args.model else None
            stem = args.model + (f".{tag}" if tag else "")
        else:
            stem = "model"  # create_model refuses this call next, naming what is missing
        path = path / f"{stem}.{args.format}"
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"{path}: {folder} is a file, not a folder")
    return path


def _weights_name(args) -> str:
    """The ``weights`` metadata of an export: the released weights' ``ARCH.TAG``, the checkpoint's file name, or
    ``random``."""
    if args.checkpoint:
        return Path(args.checkpoint).name
    if args.pretrained and args.model:
        from ..models._pretrained import get_weights, split_name

        arch, tag = split_name(args.model)
        return get_weights(arch, args.pretrained if isinstance(args.pretrained, str) else tag or True).name
    return "random"


def cmd_export(args) -> int:
    from ..export import export_model
    from ..flops import resolve_input

    merge_positional(args)
    path = _export_path(args)
    check_new_files([path], args)
    model = create_model(args.model, pretrained=args.pretrained, checkpoint_path=args.checkpoint,
                         **model_options(args.set)).eval()
    shape = resolve_input(model.pretrained_cfg, args.frames, args.size)
    result = export_model(model, path, shape, args.format, opset=args.opset, check=not args.no_check,
                          metadata={"weights": _weights_name(args)})
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
    from ..benchmark import benchmark, format_result

    if args.threads:
        torch.set_num_threads(args.threads)
    r = benchmark(args.model, batch=args.batch, frames=args.frames, size=args.size, dtype=args.dtype,
                  device=args.device, compile=args.compile, train=args.train, warmup=args.warmup, runs=args.runs,
                  model_kwargs=model_options(args.set))
    print(json.dumps(r, indent=1) if args.json else format_result(r))
    return 0


def cmd_convert(args) -> int:
    merge_positional(args)
    if args.checkpoint is None and not args.pretrained:
        raise UsageError("give the checkpoint to convert, or --pretrained [TAG] with --model")
    overrides = model_options(args.set)
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


def add_parsers(sub) -> None:
    """Add ``models``, ``flops``, ``export``, ``benchmark`` and ``convert``."""
    m = sub.add_parser("models", help="list model variants with their parameter counts")
    m.add_argument("pattern", nargs="?", default="*",
                   help="a word found anywhere in the name, in any case (e.g. uniformer, 2d), or a shell pattern on "
                        "the whole name (e.g. 'uniformer_*_2d')")
    m.add_argument("--family", help="one family only: uniformer, uniformer_light, uniformer_dense, uniformer_seg, "
                                    "uniformer_pose, uniformerv2, video_swin")
    m.add_argument("--markdown", action="store_true", help="print a Markdown table")
    m.add_argument("--pretrained", action="store_true", help="list the released weights (ARCH.TAG) instead: "
                                                           "accuracy, views, labels, downloadable/cached/manual")
    m.set_defaults(func=cmd_models)

    fl = sub.add_parser("flops", help="parameters and GFLOPs (multiply-accumulates) per view, as the papers count")
    fl.add_argument("name", nargs="?", help="a model variant (tubelet models)")
    fl.add_argument("--frames", type=count, help="frames per clip (default: the variant's published input)")
    fl.add_argument("--size", type=count, help="square input side in pixels (default: the variant's)")
    fl.add_argument("--json", action="store_true", help="print JSON (fields params, gflops, input_shape, ...)")
    fl.add_argument("--published", action="store_true", help="a Markdown table of every published figure vs ours")
    fl.set_defaults(func=cmd_flops)

    ex = sub.add_parser("export", help="export to ONNX (checked in onnxruntime) or a torch.export program")
    add_model_arguments(ex, device=False, positional="model",
                        positional_help="a model variant (same as --model); optional with a tubelet checkpoint",
                        pretrained_help="released weights: the default tag of MODEL (or --model), or TAG (see "
                                        "`tubelet models --pretrained`); downloaded once into the cache and "
                                        "hash-checked")
    ex.add_argument("--format", choices=["onnx", "pt2"], default="onnx")
    ex.add_argument("--frames", type=count, help="frames per clip (default: the variant's)")
    ex.add_argument("--size", type=count, help="square input side (default: the variant's)")
    ex.add_argument("-o", "--output", required=True, metavar="FILE_OR_FOLDER",
                    help="file to write; a folder (one that exists, or a path ending in /) gets NAME.onnx / NAME.pt2, "
                         "NAME the checkpoint's or the model's")
    ex.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    ex.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    ex.add_argument("--no-check", action="store_true", help="skip running the export against PyTorch")
    ex.add_argument("--json", action="store_true")
    ex.set_defaults(func=cmd_export)

    bm = sub.add_parser("benchmark", help="clips/s, latency, memory, achieved FLOP/s (and MFU on a known GPU)")
    bm.add_argument("model", help="a model variant (random weights)")
    bm.add_argument("--batch", type=count, default=1)
    bm.add_argument("--frames", type=count, help="frames per clip (default: the variant's)")
    bm.add_argument("--size", type=count, help="square input side (default: the variant's)")
    bm.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32",
                    help="autocast dtype (on a CPU without native bf16, bf16/fp16 run as fp32 unless "
                         "TUBELET_FORCE_BF16=1)")
    bm.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    bm.add_argument("--compile", action="store_true", help="torch.compile the model (compiled in the warm-up)")
    bm.add_argument("--train", action="store_true", help="time a training step (forward, backward, fused AdamW)")
    bm.add_argument("--threads", type=count, help="torch CPU threads (default: torch's)")
    bm.add_argument("--warmup", type=int, default=2)
    bm.add_argument("--runs", type=count, default=5)
    bm.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_MODEL_HELP)
    bm.add_argument("--json", action="store_true")
    bm.set_defaults(func=cmd_benchmark)

    c = sub.add_parser("convert", help="convert a checkpoint to tubelet .safetensors (strict, verified load)")
    add_model_arguments(c, device=False, positional="checkpoint",
                        positional_help="source checkpoint (official, MMAction2, timm/DeiT or tubelet layout, a "
                                        "training run's last.pt; same as --checkpoint); optional with --pretrained",
                        model_help="variant name (optional for files tubelet wrote: .safetensors, last.pt)")
    c.add_argument("--out", required=True, help="output .safetensors file")
    c.add_argument("--num-classes", type=count)
    c.add_argument("--drop-head", action="store_true", help="start a new classifier of --num-classes rows")
    c.set_defaults(func=cmd_convert)
