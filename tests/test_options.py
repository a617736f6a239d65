"""Model options are checked against the constructors' annotations before anything is built: a wrong type names the
option, the type expected and the value (with the fix for YAML's usual slips), a mistyped name the closest valid
one; every variant's own defaults pass (no false alarms), in Python, YAML recipes and ``--set`` alike."""
from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Literal, Optional

import numpy as np
import pytest
import torch
from torch import nn

import tubelet
from tubelet.cli import main
from tubelet.errors import OptionError, TubeletError, UsageError
from tubelet.models._registry import _constructor_hints, _fits, check_options, get_entrypoint, get_pretrained_cfg


@pytest.mark.parametrize("name", tubelet.list_models())
def test_every_variant_passes_its_own_check(name):
    """The defaults of each constructor, the variant's options, and everything a build records in ``model_args``
    (what a tubelet checkpoint stores and rebuilds from) fit the annotations."""
    with torch.device("meta"):
        model = get_entrypoint(name)()
    cls = type(model)
    params = inspect.signature(cls).parameters
    hints = _constructor_hints(cls)
    assert set(hints) >= {k for k, p in params.items() if p.annotation is not inspect.Parameter.empty}
    for k, p in params.items():
        if p.default is not inspect.Parameter.empty and k in hints:
            assert _fits(p.default, hints[k]), f"{cls.__name__}.{k}: default {p.default!r} vs {hints[k]}"
    recorded = {k: v for k, v in model.model_args.items() if k in params}
    check_options(name, cls, recorded)
    with torch.device("meta"):  # and rebuilds from them, as from a checkpoint's metadata
        get_entrypoint(name)(**model.model_args)


# variant, options, what the message must say
WRONG = [
    ("uniformer_small", {"drop_path_rate": "1e-1"},
     r"option drop_path_rate expects a float, got the string '1e-1'; YAML 1\.1 reads 1e-1 \(no dot\) as a string: "
     r"write 0\.1 or 1\.0e-1"),
    ("uniformer_small", {"drop_path_rate": "abc"}, r"drop_path_rate expects a float, got the string 'abc'"),
    ("uniformer_small", {"drop_path_rate": "0.3"}, r"write the number without quotes: 0\.3"),
    ("uniformer_small", {"drop_path_rate": True}, r"drop_path_rate expects a float, got True; true/false is not a"),
    ("uniformer_small", {"qkv_bias": "false"}, r"qkv_bias expects a bool \(true or false\), got the string 'false'; "
                                               r"write true or false without quotes"),
    ("uniformer_small", {"qkv_bias": 1}, r"qkv_bias expects a bool"),
    ("uniformer_small", {"depth": 3}, r"depth expects a list of int, got 3"),
    ("uniformer_small", {"depth": [1, 1, "2", 1]}, r"depth expects a list of int, got \[1, 1, '2', 1\] "
                                                   r"\(item 2: '2'\); write the number without quotes: 2"),
    ("uniformer_small", {"embed_dim": "64,128,320,512"}, r"embed_dim expects a list of int"),
    ("uniformer_small", {"num_classes": True}, r"num_classes expects an int, got True"),
    ("uniformer_small", {"head_dim": 32.0}, r"head_dim expects an int, got 32\.0; write 32"),
    ("uniformer_small", {"qk_scale": "none"}, r"qk_scale expects a float or None"),
    ("uniformer_small", {"checkpoint_num": [1, 2, 3.5, 4]}, r"checkpoint_num expects a list of int or None.*item 2"),
    ("uniformer_small", {"num_frames": "8"}, r"num_frames expects an int, got the string '8'"),
    ("uniformer_small", {"img_size": 160.5}, r"img_size expects an int, got 160\.5"),
    ("uniformer_small", {"drop_depth_rate": "2e-1"}, r"drop_path_rate expects a float.*write 0\.2 or 2\.0e-1"),
    ("uniformer_small_2d", {"layer_scale_init": "1e-6"}, r"layer_scale_init expects a float.*1e-06 or 1\.0e-6"),
    ("uniformerv2_b16", {"mlp_dropout": [0.5, "x", 0.5, 0.5]}, r"mlp_dropout expects a float or a list of float.*"
                                                               r"item 1: 'x'"),
    ("uniformerv2_b16", {"fusion": 3}, r"fusion expects a string, got 3"),
    ("uniformerv2_b16", {"frozen": "yes"}, r"frozen expects a bool.*write true or false"),
    ("uniformerv2_b16", {"n_layers": 4.0}, r"n_layers expects an int or None, got 4\.0"),
    ("uniformerv2_b16", {"num_frames": True}, r"num_frames expects an int, got True"),
    ("uniformerv2_b16", {"backbone_drop_path_rate": [0.1]}, r"backbone_drop_path_rate expects a float, got \[0\.1\]"),
    ("swin3d_tiny", {"window_size": 8}, r"window_size expects a list of int, got 8"),
    ("swin3d_tiny", {"patch_size": [2, 4, "4"]}, r"patch_size expects a list of int.*item 2"),
    ("swin3d_tiny", {"drop_path_rate": None}, r"drop_path_rate expects a float, got None"),
    ("swin3d_tiny", {"frozen_stages": 1.5}, r"frozen_stages expects an int, got 1\.5"),
    ("swin3d_tiny", {"embed_dim": "96"}, r"embed_dim expects an int.*without quotes: 96"),
]


@pytest.mark.parametrize("name,options,message", WRONG, ids=[f"{n}-{next(iter(o))}={next(iter(o.values()))!r}"
                                                              for n, o, _ in WRONG])
def test_a_wrong_type_names_the_option_the_type_and_the_value(name, options, message):
    with torch.device("meta"), pytest.raises(OptionError, match=message) as e:
        tubelet.create_model(name, **options)
    assert isinstance(e.value, TubeletError) and isinstance(e.value, TypeError)
    assert str(e.value).startswith(f"{name}: option ")


@pytest.mark.parametrize("name,options", [
    ("uniformer_small", {"drop_path_rate": 1, "depth": (1, 1, 2, 1), "embed_dim": [16, 32, 64, 128],
                         "head_dim": np.int64(16), "qk_scale": None, "checkpoint_num": (1, 0, 0, 0)}),
    ("uniformer_small", {"drop_path_rate": np.float32(0.1), "num_frames": 8, "img_size": 160}),
    ("uniformerv2_b16", {"mlp_dropout": 0.5, "return_list": range(8, 12), "n_head": None, "dw_reduction": 2}),
    ("uniformerv2_b16", {"mlp_dropout": [0.5, 0.5, 0.5, 0.5], "fusion": "parallel"}),
    ("swin3d_tiny", {"window_size": (16, 7, 7), "patch_size": torch.Size([2, 4, 4]), "drop_path_rate": 0}),
])
def test_right_values_in_any_spelling_pass(name, options):
    """An int where a float is expected, tuples or any sequence for lists, numpy scalars."""
    with torch.device("meta"):
        model = tubelet.create_model(name, **options)
    assert model.model_args["drop_path_rate"] == options.get("drop_path_rate", model.model_args["drop_path_rate"])


def test_annotations_understood_and_skipped():
    class Net:
        def __init__(self, a: Sequence[int] = (1,), b: tuple[int, ...] = (), c: tuple[int, int] = (1, 2),
                     d: list[int] | None = None, e: Optional[float] = None, f: Literal["x", "y"] = "x",
                     g: Callable = print, h: type[nn.Module] = nn.Identity, i: dict[str, int] | None = None,
                     j: "NotDefinedAnywhere" = None, k: float = 0.0):  # noqa: F821 - an unresolvable annotation
            pass

    hints = _constructor_hints(Net)
    assert "j" not in hints and hints["k"] is float  # one unresolvable annotation: the others are still checked
    good = dict(a=[1, 2], b=(1, 2, 3), c=[3, 4], d=None, e=1, f="y", g=len, h=nn.Linear, i={"a": 1}, k=2)
    check_options("net", Net, good)
    check_options("net", Net, {"g": "not callable", "h": 3, "j": object()})  # not understood: not checked
    for key, value in [("a", [1, "2"]), ("a", "12"), ("b", [1.5]), ("c", [1, 2, 3]), ("c", [1, "2"]), ("d", 3),
                       ("e", "x"), ("e", False), ("f", "z"), ("f", True), ("i", {"a": "1"}), ("i", [1]), ("k", None)]:
        with pytest.raises(OptionError, match=f"option {key} expects"):
            check_options("net", Net, {key: value})
    assert _fits(True, Literal[True]) and not _fits(1, Literal[True]) and not _fits(True, Literal[1])
    assert _fits(None, typing.Union[int, None]) and _fits(3, typing.Union[int, None])


def test_a_mistyped_option_suggests_the_closest_name():
    for typo in ("drop_pth_rate", "DROP_PATH_RATE", "drop-path-rate", "Drop_Path_Rate"):
        with pytest.raises(OptionError, match=rf"unknown option {typo} \(did you mean drop_path_rate\?\)"):
            tubelet.create_model("uniformer_small", **{typo: 0.1})
    with pytest.raises(OptionError, match=r"unknown option DROP_DEPTH_RATE \(did you mean drop_depth_rate\?\)"):
        tubelet.create_model("uniformer_small", DROP_DEPTH_RATE=0.1)  # the official config's name, upper case
    with pytest.raises(OptionError, match=r"unknown options FROZN \(did you mean frozen\?\), xyz; valid options: "):
        tubelet.create_model("uniformerv2_b16", FROZN=True, xyz=1)


def test_frames_and_size_must_be_positive():
    with pytest.raises(UsageError, match="num_frames must be >= 1, got 0"):
        get_pretrained_cfg("uniformer_small", num_frames=0)
    with pytest.raises(OptionError, match="img_size expects an int"):
        get_pretrained_cfg("uniformer_small", img_size="224")


RECIPE = """\
model:
  name: uniformer_small
  options:
    depth: [1, 1, 1, 1]
    embed_dim: [16, 32, 64, 128]
    head_dim: 16
    drop_path_rate: 1e-1
data:
  format: synthetic
  crop_size: 32
  num_frames: 2
  synthetic: {num_train: 2, num_val: 2, num_frames: 2, height: 32, width: 32}
"""


def test_a_yaml_recipe_with_1e_1_says_how_to_write_it(tmp_path, capsys):
    """YAML 1.1 reads ``1e-1`` (no dot) as a string; model options are a free mapping, so the recipe loads and the
    model check names the option (not six lines of torch.linspace)."""
    from tubelet.config import load_config
    from tubelet.engine.build import build_model

    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE)
    cfg = load_config(path)
    if cfg.model.options["drop_path_rate"] != "1e-1":  # a loader that reads 1e-1 as YAML 1.2 does: nothing to fix
        assert build_model(cfg, num_classes=10).model_args["drop_path_rate"] == 0.1
        return
    with pytest.raises(OptionError, match=r"drop_path_rate expects a float, got the string '1e-1'.*write 0\.1 or "
                                          r"1\.0e-1"):
        build_model(cfg, num_classes=10)
    assert main(["train", str(path), "--dry-run", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tubelet train: error:") and "1.0e-1" in err and len(err.splitlines()) == 1
    path.write_text(RECIPE.replace("1e-1", "1.0e-1"))
    assert build_model(load_config(path), num_classes=10).model_args["drop_path_rate"] == 0.1


def test_set_reads_1e_1_as_a_number_and_reports_text(tmp_path, capsys):
    """``--set`` values are YAML with the 1e-4 spelling added: a number; text where a number belongs is one line."""
    from tubelet.config import parse_overrides

    options = parse_overrides(["model.options.drop_path_rate=1e-1"], within="model.options")
    assert options == {"drop_path_rate": 0.1}
    with torch.device("meta"):
        assert tubelet.create_model("uniformer_small", **options).model_args["drop_path_rate"] == 0.1
    assert main(["export", "uniformer_small", "--set", "model.options.drop_path_rate=abc",
                 "-o", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("tubelet export: error: uniformer_small: option drop_path_rate expects a float, got the string "
                   "'abc'")
    assert not (tmp_path / "x.onnx").exists()
