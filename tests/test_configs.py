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
from tubelet.config import load_config
from tubelet.models._registry import get_family

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
    """Options that change no weight's name or shape (``RUNTIME_ARGS`` of the model's family module)."""
    return getattr(get_family(name), "RUNTIME_ARGS", frozenset())


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


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_recipe_dry_run(path):
    """`tubelet train RECIPE --dry-run`: the recipe's model, optimiser groups, schedule, transforms, mixup, loss,
    AMP and scaler, for real on this CPU (one step on a generated clip; the full clip is shape-checked on meta)."""
    from tubelet.engine.train import dry_run

    cfg = load_config(path)
    result = dry_run(cfg)
    assert result["finite"], result
    assert result["full_clip"] == [3, cfg.data.num_frames, cfg.data.crop_size, cfg.data.crop_size]
    assert result["step_clip"][2] == min(2, cfg.data.num_frames)
    assert result["eval_logits"] == [1, cfg.model.num_classes] and result["trainable_params"] > 0
    assert result["grad_scaler"] == (cfg.train.amp == "fp16")
