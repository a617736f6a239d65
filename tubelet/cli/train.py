"""``tubelet train``, ``eval``, ``demo``, ``data synthetic`` and ``data split``: runs from YAML recipes
(:mod:`tubelet.engine`) and the lists they read."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..config import parse_overrides
from ..errors import UsageError
from .common import SET_CONFIG_HELP, count, parse_views


def cmd_train(args) -> int:
    import shlex

    from ..config import load_config
    from ..engine import distributed
    from ..engine.dry_run import dry_run
    from ..engine.train import TrainingInterrupted, train

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
            metric, best = next((k[5:], v) for k, v in result.items() if k.startswith("best_"))
            shown = f"top-1 {best:.2f}%" if metric == "top1" else f"{metric} {best:.2f}"
            print(f"done in {result['seconds']:.0f} s: best val {shown}; files in {out}")
    distributed.cleanup()
    return 0


def cmd_eval(args) -> int:
    from ..config import load_config
    from ..engine import distributed
    from ..engine.evaluate import evaluate_checkpoint

    extra = list(args.set or [])
    given = {}  # the data keys the command line sets (they win over the checkpoint's), each as it was spelled
    for pair in extra:
        data = parse_overrides([pair]).get("data")
        for key in data if isinstance(data, dict) else ():
            given[f"data.{key}"] = f"--set {pair}"
    if args.views:
        clips, crops = (None, None) if args.views == "model" else parse_views(args.views, None)
        extra += [f"data.test_clips={'null' if clips is None else clips}",
                  f"data.test_crops={'null' if crops is None else crops}"]
        given["data.test_clips"] = given["data.test_crops"] = f"--views {args.views}"
    cfg = load_config(args.config, extra)
    from ..models._registry import get_task
    task = get_task(cfg.model.name)
    if task != "classification":
        command = {"segmentation": "tubelet segment-eval --images DIR --annotations DIR",
                   "pose": "tubelet pose-eval --images DIR --annotations FILE"}[task]
        raise UsageError(f"tubelet eval tests video classifiers; {cfg.model.name} is a {task} model: evaluate its "
                         f"checkpoint with `{command} --checkpoint {args.checkpoint}` (training reports the "
                         f"validation metric in metrics.jsonl)")

    def note(text: str) -> None:  # stdout holds only the JSON object with --json
        print(f"note: {text}", file=sys.stderr if args.json else sys.stdout, flush=True)

    summary = evaluate_checkpoint(cfg, args.checkpoint, args.out, shuffle_frames=args.shuffle_frames, given=given,
                                  overwrite=args.overwrite, notify=note)
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
            i = summary["input"]
            every = f" every {i['frame_interval']}" if i["sampler"] in ("dense", "sample_frames") else ""
            source = ("the checkpoint's" + (" except as noted" if summary["notes"] else "")
                      if summary["input_from"] == "checkpoint" else "the recipe's, else the model's")
            print(f"input: {i['num_frames']} frames ({i['sampler']}{every}), {i['crop_size']} px crops of a "
                  f"{i['resize_size']} px short side, mean {i['mean']}, std {i['std']} ({source}; in metrics.json)")
    distributed.cleanup()
    return 0


def cmd_demo(args) -> int:
    from ..engine.train import TrainingInterrupted

    again = "tubelet demo" + (f" --task {args.task}" if args.task != "classification" else "") \
        + (f" --out {args.out}" if args.out else "")
    try:
        if args.task != "classification":
            from ..engine.dense_demo import run_dense_demo

            result = run_dense_demo(args.task, out=args.out, overrides=args.set, quick=args.quick,
                                    restart=args.restart)
        else:
            from ..engine.demo import run_demo

            result = run_demo(out=args.out or "runs/demo", overrides=args.set, quick=args.quick, restart=args.restart)
    except TrainingInterrupted as e:  # Ctrl-C / SIGTERM while training: last.pt is saved, the next demo resumes it
        print(f"tubelet demo: {e}; run `{again}` again to resume (--restart starts over)", file=sys.stderr)
        return e.exit_code
    if args.json:
        print(json.dumps(result))
    return 0 if result["passed"] or args.quick else 1


def cmd_data_synthetic(args) -> int:
    from ..data import make_synthetic_dataset

    t0 = time.perf_counter()
    files = make_synthetic_dataset(args.root, num_train=args.train, num_val=args.val, num_frames=args.frames,
                                   height=args.height, width=args.width, seed=args.seed)
    print(f"wrote {args.train} train + {args.val} val clips to {args.root} in {time.perf_counter() - t0:.1f} s")
    for name, path in files.items():
        print(f"  {name}: {path}")
    # a recipe for these files: the demo's small UniFormer (tubelet demo), reading them as a "list" dataset
    import copy
    from ..config import load_config, save_config
    from ..engine.demo import DEMO_CONFIG

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


#: the from-scratch recipe that `tubelet data split` points at (a file of the source tree, not of the package)
OWN_VIDEOS_RECIPE = "configs/examples/own_videos_from_scratch.yaml"


def _set_flag(key: str, value: str) -> str:
    """``--set key=value`` for the shell, the value quoted for YAML where it would not read back as itself (a folder
    named ``2024`` or ``null``, a ``#`` after a space)."""
    import shlex

    from ..config import parse_value

    text = value if parse_value(value) == value else json.dumps(value)
    return f"--set {shlex.quote(f'{key}={text}')}"


def cmd_data_split(args) -> int:
    import shlex

    from ..data.datasets import split_class_folders, write_split_lists

    split = split_class_folders(args.root, val=args.val, seed=args.seed)
    files = write_split_lists(split, args.out, overwrite=args.overwrite)
    if split.skipped:
        print(f"note: {split.skipped}", file=sys.stderr)
    per_class = split.per_class()
    print(f"wrote {files['train']} ({len(split.train)} videos), {files['val']} ({len(split.val)} videos) and "
          f"{files['classes']} ({len(split.classes)} classes): {args.val * 100:g}% of each class for validation, seed "
          f"{args.seed}; paths relative to {args.root}")
    shown = 30
    for name, (n_train, n_val) in list(zip(split.classes, per_class))[:shown]:
        print(f"  {n_train:5d} train {n_val:5d} val  {name}")
    if len(split.classes) > shown:
        print(f"  ... and {len(split.classes) - shown} more classes")
    lonely = [name for name, (n_train, n_val) in zip(split.classes, per_class) if n_train + n_val < 2]
    if lonely:
        print(f"note: {len(lonely)} class{'es' * (len(lonely) > 1)} with fewer than 2 videos, none in the validation "
              f"list: {', '.join(repr(n) for n in lonely[:5])}{', ...' * (len(lonely) > 5)}", file=sys.stderr)
    recipe = OWN_VIDEOS_RECIPE
    source = Path(__file__).resolve().parents[2] / recipe  # a checkout: the path from anywhere
    if not Path(recipe).is_file() and source.is_file():
        recipe = str(source)
    name = Path(args.root).resolve().name or "my_videos"
    command = " ".join([f"tubelet train {shlex.quote(recipe)}", _set_flag("data.root", str(Path(args.root))),
                        _set_flag("data.train", str(files["train"])), _set_flag("data.val", str(files["val"])),
                        _set_flag("data.labels", str(files["classes"])), f"--out {shlex.quote(f'runs/{name}')}"])
    print(f"next: {command}\n      (add --dry-run to check the recipe in seconds first; the recipe's header says "
          f"what to change)")
    return 0


def add_parsers(sub) -> None:
    """Add ``demo``, ``train``, ``eval`` and ``data``."""
    dm = sub.add_parser("demo", help="the main job: generate the synthetic dataset, train, evaluate, predict",
                        description="Generates the built-in synthetic dataset (classes that differ only in the "
                                    "direction of time), trains a small UniFormer on it, evaluates it on normal and "
                                    "frame-shuffled clips, plots the curves and predicts one clip.")
    dm.add_argument("--task", choices=("classification", "segmentation", "pose"), default="classification",
                    help="classification (default): the video demo; segmentation: a Semantic FPN UniFormer on "
                         "images of shapes; pose: a top-down UniFormer on stick figures (each from scratch, with a "
                         "baseline that ignores the image)")
    dm.add_argument("--out", default=None, help="run folder (default: runs/demo, runs/demo_segmentation, "
                                                "runs/demo_pose)")
    dm.add_argument("--set", action="append", metavar="KEY=VALUE", help=SET_CONFIG_HELP.replace("optim.lr=1e-4",
                                                                                                 "optim.epochs=5"))
    dm.add_argument("--quick", action="store_true", help="a few-step smoke run (no accuracy target)")
    dm.add_argument("--restart", action="store_true", help="start over even when the folder holds an interrupted "
                                                           "demo (default: resume it where Ctrl-C stopped it)")
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

    ev = sub.add_parser("eval", help="multi-view test of a checkpoint on a recipe's validation set",
                        description="Tests a checkpoint on the recipe's validation set. A tubelet checkpoint "
                                    "(best.safetensors, last.pt) records the input settings it was trained with "
                                    "(frames, sampling, crop, test short side, test views, mean/std): eval uses "
                                    "those, not the recipe's (a note names each recipe value it ignores); --set "
                                    "data.KEY=VALUE and --views override them, with a note naming both values. "
                                    "metrics.json records the settings used. Only the validation data is read.")
    ev.add_argument("config", help="YAML recipe naming the model and the validation data")
    ev.add_argument("--checkpoint", required=True, help="weights (tubelet .safetensors, last.pt, or any supported)")
    ev.add_argument("--views", help="CLIPSxCROPS test views, e.g. 4x3 (default: those a tubelet checkpoint "
                                    "records, else the recipe's; 'model': the checkpoint's, else the model's)")
    ev.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help=SET_CONFIG_HELP + ". The input settings (data.num_frames, sampler, frame_interval, "
                    "crop_size, test_resize, test_clips, test_crops) are those a tubelet checkpoint records, not the "
                    "recipe's; --set overrides them, with a note")
    ev.add_argument("--out", help="folder for report.txt, confusion.png, predictions.jsonl, metrics.json "
                                  "(default: eval/STEM_CLIPSxCROPS[_shuffled]/ next to the checkpoint, one per "
                                  "checkpoint and views)")
    ev.add_argument("--overwrite", action="store_true", help="replace the files of an earlier evaluation in the "
                                                             "folder (default: an error naming it, before any work)")
    ev.add_argument("--shuffle-frames", action="store_true", help="shuffle each clip's frames (temporal-order test)")
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ev.set_defaults(func=cmd_eval)

    d = sub.add_parser("data", help="dataset utilities")
    dsub = d.add_subparsers(dest="data_command", required=True)
    syn = dsub.add_parser("synthetic", help="write the built-in synthetic dataset (real H.264 files + lists)")
    syn.add_argument("root", help="output folder")
    syn.add_argument("--train", type=int, default=200, help="training clips")
    syn.add_argument("--val", type=int, default=50, help="validation clips")
    syn.add_argument("--frames", type=count, default=32)
    syn.add_argument("--height", type=count, default=128)
    syn.add_argument("--width", type=count, default=160)
    syn.add_argument("--seed", type=int, default=0)
    syn.set_defaults(func=cmd_data_synthetic)
    spl = dsub.add_parser("split", help="stratified train/val lists and classes.txt from one folder of class folders",
                          description="Writes train.txt and val.txt (PATH LABEL lines, paths relative to ROOT) and "
                                      "classes.txt (the sorted class folder names) from ROOT/<class>/**/<video>: "
                                      "VAL of each class for validation, chosen at random but the same for the same "
                                      "files and seed; then prints the `tubelet train` command for them.")
    spl.add_argument("root", help="the folder of class folders (one sub-folder of videos per class)")
    spl.add_argument("--val", type=float, default=0.2, help="fraction of each class for validation (default 0.2; a "
                                                            "class of one video trains only)")
    spl.add_argument("--seed", type=int, default=0, help="seed of the random choice (default 0)")
    spl.add_argument("--out", help="folder for train.txt, val.txt and classes.txt (default: ROOT)")
    spl.add_argument("--overwrite", action="store_true", help="replace lists that exist (default: refuse)")
    spl.set_defaults(func=cmd_data_split)
