"""The shipped training recipes (``configs/*.yaml``): they load, name registered models that build with their
options, follow the file-name convention, agree with their own names, and are all listed in ``configs/README.md``."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest
import torch
import yaml

import tubelet
from tubelet.config import config_to_dict, load_config
from tubelet.models._registry import get_family
from tubelet.runtime import cpu_has_native_bf16

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
FILES = sorted(CONFIGS.glob("*.yaml"))
IDS = [p.name for p in FILES]

#: {variant}_{init}_{sampler}{frames}x{interval}x{views}_{dataset}.yaml
NAME = re.compile(r"^(?P<variant>uniformer_(?:small|base)|uniformerv2_(?:b16|l14_336|l14)(?:_frozen)?"
                  r"|swin3d_(?:tiny|small|base|large))"
                  r"_(?P<init>[a-z0-9]+(?:-[a-z0-9]+)*)"
                  r"_(?P<sampler>dense|seg)(?P<frames>\d+)x(?P<interval>\d+)x(?P<views>\d+)"
                  r"_(?P<dataset>k400|k600|k700|k710|sthv1|sthv2|ucf101|hmdb51|mit|anet|hacs)\.yaml$")

#: classes of each dataset token
CLASSES = {"k400": 400, "k600": 600, "k700": 700, "k710": 710, "sthv1": 174, "sthv2": 174, "ucf101": 101,
           "hmdb51": 51, "mit": 339, "anet": 200, "hacs": 200}

#: fields every recipe writes explicitly, even where they equal the defaults
REQUIRED = {
    "model": ("name", "num_classes", "checkpoint"),
    "data": ("format", "train", "val", "num_frames", "sampler", "crop_size", "batch_size", "test_clips",
             "test_crops", "view_average"),
    "optim": ("lr", "epochs", "warmup_epochs", "weight_decay"),
}


@lru_cache(maxsize=None)
def _load(path: Path):
    """(resolved config, the YAML as written, its text): each file is read once for all the tests."""
    text = path.read_text(encoding="utf-8")
    return load_config(path), yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)), text


def test_there_are_recipes_for_every_family():
    names = [p.name for p in FILES]
    for family in ("uniformer_", "uniformerv2_", "swin3d_"):
        assert any(n.startswith(family) for n in names), family
    assert len(names) >= 80


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_recipe_loads_and_is_complete(path):
    cfg, raw, text = _load(path)
    assert text.startswith("#"), "a recipe starts with comments: what it reproduces, batch, init checkpoint"
    for section, keys in REQUIRED.items():
        missing = [k for k in keys if k not in raw.get(section, {})]
        assert not missing, f"{section}: write {missing} explicitly"
    assert cfg.notes.strip()
    assert cfg.model.name in tubelet.list_models()
    assert cfg.model.checkpoint and cfg.model.checkpoint.startswith("checkpoints/")
    assert not (cfg.model.drop_head and cfg.model.label_map)
    assert cfg.data.sampler is not None and cfg.data.test_clips is not None and cfg.data.test_crops is not None
    assert cfg.optim.reference_batch is not None


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_file_name_matches_recipe(path):
    m = NAME.match(path.name)
    assert m, f"{path.name} does not follow {{variant}}_{{init}}_{{sampler}}{{F}}x{{I}}x{{V}}_{{dataset}}.yaml"
    cfg = _load(path)[0]
    variant = m["variant"]
    assert cfg.model.name == variant.removesuffix("_frozen")
    assert bool(cfg.model.options.get("frozen", False)) == variant.endswith("_frozen")
    assert cfg.model.num_classes == CLASSES[m["dataset"]]
    assert int(m["frames"]) == cfg.data.num_frames
    assert int(m["views"]) == cfg.data.test_clips * cfg.data.test_crops
    if m["sampler"] == "dense":
        assert cfg.data.sampler in ("dense", "sample_frames")
        assert int(m["interval"]) == cfg.data.frame_interval
    else:
        assert cfg.data.sampler in ("segment", "segment_middle")
        assert int(m["interval"]) == 1 and cfg.data.frame_interval is None


#: (model, num_classes, structural options, names of runtime options) -> (input_size, num_classes) of a meta build
_BUILT: dict[tuple, tuple] = {}


def _runtime_args(name: str) -> frozenset:
    """Options that change no weight's name or shape (the family's ``runtime_args``)."""
    return get_family(name).runtime_args


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_model_builds_with_recipe_options(path):
    cfg = _load(path)[0]
    options = cfg.model.options
    runtime = _runtime_args(cfg.model.name)
    # Recipes that differ only in runtime values (drop-path rates, frames) share one meta build: ~2x fewer builds.
    key = (cfg.model.name, cfg.model.num_classes,
           tuple(sorted((k, (None if k in runtime else _hashable(v))) for k, v in options.items())))
    if key not in _BUILT:
        with torch.device("meta"):
            model = tubelet.create_model(cfg.model.name, num_classes=cfg.model.num_classes, **options)
        _BUILT[key] = (model.pretrained_cfg.input_size, model.num_classes)
    input_size, num_classes = _BUILT[key]
    assert num_classes == cfg.model.num_classes
    frames = options.get("num_frames", input_size[1])
    assert frames == cfg.data.num_frames, "model.options.num_frames must agree with data.num_frames"
    assert input_size[-1] == cfg.data.crop_size


def test_readme_lists_exactly_the_recipes():
    readme = (CONFIGS / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\|\s*\[`?([^`\]]+\.yaml)`?\]", readme, flags=re.MULTILINE)
    assert len(rows) == len(set(rows)), "a recipe is listed twice"
    assert set(rows) == {p.name for p in FILES}


#: The dry run's real step, per family: the recipe model's constructor arguments with fewer blocks and narrower
#: ones, every structural switch of the recipe kept (patch and window sizes, local MHRA, temporal downsampling,
#: frozen parts, the stages). The recipe's own model is still built on the meta device and its full clip checked.
STEP_OPTIONS = {
    # one block per stage: two conv stages, two attention stages
    "uniformer_": {"depth": [1, 1, 1, 1], "embed_dim": [16, 32, 64, 128], "head_dim": 16},
    # per stage a regular and a shifted-window block
    "swin3d_": {"depths": [2, 2, 2, 2], "embed_dim": 16, "num_heads": [1, 1, 2, 2]},
    # two CLIP blocks, each feeding a global block (UniFormerV2 steps at the recipe's resolution: its positional
    # embedding is fixed)
    "uniformerv2_": {"layers": 2, "return_list": [0, 1], "n_layers": 2, "mlp_dropout": 0.5, "width": 64,
                     "heads": 2, "n_dim": 64, "n_head": 2},
}

#: fields the real step does not use: the files of the dataset and checkpoint (not on disk), and what only
#: applies to a loaded checkpoint or the full data (label space, label maps)
_NOT_IN_STEP = {("notes",), ("model", "checkpoint"), ("model", "num_classes"), ("model", "drop_head"),
                ("model", "label_map"), ("data", "train"), ("data", "val"), ("data", "root"), ("data", "labels")}
#: numbers that decide the step's clip size
_STEP_SIZE = {("data", "crop_size"), ("train", "dry_run_frames"), ("train", "dry_run_size")}


def _step_key(cfg, value=None, path=()):
    """What decides which code a dry-run step runs: the recipe with the model's runtime options (drop-path rates,
    frames) left out, and every other number (rates, epochs, crops per view) reduced to zero / non-zero (None, a
    string or a bool is kept). Recipes with the same key run the same step code, with other numbers."""
    if value is None and not path:
        value = config_to_dict(cfg)
        runtime = _runtime_args(cfg.model.name)
        value["model"]["options"] = {k: v for k, v in value["model"]["options"].items() if k not in runtime}
    if path in _STEP_SIZE:
        return _hashable(value)
    if isinstance(value, dict):
        return tuple(sorted((k, _step_key(cfg, v, path + (k,))) for k, v in value.items()
                            if path + (k,) not in _NOT_IN_STEP))
    if isinstance(value, (list, tuple)):
        return tuple(_step_key(cfg, v, path) for v in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "zero" if value == 0 else "non-zero"
    return value


#: step key -> the dry-run result of the first recipe with it (in this test session)
_STEPPED: dict[tuple, dict] = {}


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_recipe_dry_run(path):
    """`tubelet train RECIPE --dry-run`: the recipe's model, optimiser groups, schedule, transforms, mixup, loss,
    AMP and scaler, for real on this CPU (one step on a generated clip; the full clip is shape-checked on meta).

    The full recipe model is built and shape-checked on meta for every recipe; the real step runs on a copy with
    fewer blocks (``STEP_OPTIONS``), once per group of recipes that differ only in numbers (``_step_key``)."""
    from tubelet.engine.dry_run import check_shapes, dry_run

    cfg = _load(path)[0]
    key = _step_key(cfg)
    if key in _STEPPED:
        result = {**_STEPPED[key], **check_shapes(cfg)}
    else:
        step_options = next(v for k, v in STEP_OPTIONS.items() if cfg.model.name.startswith(k))
        # the recipes' checkpoints are downloaded by hand (configs/README.md), so not on a CI machine: skipping them
        # is explicit (without check_weights=False the dry run fails on them, as the real run would)
        result = _STEPPED[key] = dry_run(cfg, step_options=step_options, check_weights=False)
        assert result["step_options"] == step_options and 0 < result["step_trainable_params"]
        assert result["step_clip"][2] == min(2, cfg.data.num_frames)
        assert result["eval_logits"] == [1, cfg.model.num_classes]
    assert result["finite"], result
    assert result["model"] == cfg.model.name and result["num_classes"] == cfg.model.num_classes
    assert result["full_clip"] == [3, cfg.data.num_frames, cfg.data.crop_size, cfg.data.crop_size]
    assert result["batch"] == cfg.data.batch_size * cfg.data.num_samples  # the recipe's batch, checked on meta
    assert result["trainable_params"] > 0 and result["param_groups"] >= 1
    assert result["grad_scaler"] == (cfg.train.amp == "fp16")
    assert not result["checkpoint_loaded"] and result["weights"].startswith("not checked (check_weights=False)")
    if cfg.train.amp != "none" and not torch.cuda.is_available():
        # a CPU step: bf16 where the CPU has it natively, else fp32 (emulated bf16 is ~50x slower), and why
        assert result["amp"] == ("bf16" if cpu_has_native_bf16() else "none") and result["amp_fallback"]
