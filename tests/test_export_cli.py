"""The commands of ``tubelet/cli/models.py`` a new user meets first: ``tubelet export`` (its output path, checked
before any work; its help; the ONNX metadata a deployment reads back) and ``tubelet models PATTERN``."""
from __future__ import annotations

import json

import pytest
import torch

import tubelet
import tubelet.cli.models as cli_models
from tubelet.cli import main
from tubelet.export import export_model

#: a small UniFormer-S: seconds to export on a CPU
TINY = ["--frames", "4", "--size", "64", "--set", "depth=[1,1,1,1]", "--set", "embed_dim=[16,32,64,128]", "--set",
        "head_dim=16"]


def _no_work(*args, **kwargs):
    raise AssertionError("the model was built: the output path must be checked before any work")


def _fake_exporter(monkeypatch) -> list:
    """``tubelet.export.export_model`` replaced by one that writes a few bytes (the command's path handling is under
    test, not the exporter): the paths it was given."""
    import tubelet.export

    paths = []

    def export(model, path, input_shape, fmt="onnx", **kwargs):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"exported")
        paths.append(path)
        return {"path": str(path), "files": [str(path)], "format": fmt, "input_shape": list(input_shape),
                "max_rel_error": None}

    monkeypatch.setattr(tubelet.export, "export_model", export)
    return paths


@pytest.fixture
def fake_export(monkeypatch):
    return _fake_exporter(monkeypatch)


# ------------------------------------------------------------------------------------------------ export: the output
def test_export_into_a_folder_writes_the_default_name(tmp_path, capsys, monkeypatch):
    """``-o FOLDER`` (an existing one, or a path ending in /) puts the file in it: the checkpoint's name, else the
    model's."""
    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_small", depth=[1, 1, 1, 1], embed_dim=[16, 32, 64, 128], head_dim=16,
                                 num_classes=5)
    tubelet.save_model(model, tmp_path / "tiny.safetensors")
    folder = tmp_path / "exports"
    folder.mkdir()
    args = ["export", "--checkpoint", str(tmp_path / "tiny.safetensors"), "--frames", "4", "--size", "64",
            "--format", "pt2", "--no-check"]
    assert main([*args, "-o", str(folder)]) == 0
    assert [p.name for p in folder.iterdir()] == ["tiny.pt2"]
    assert f"wrote {folder / 'tiny.pt2'} (" in capsys.readouterr().out
    new = tmp_path / "new"
    with monkeypatch.context() as m:
        m.setattr(cli_models, "create_model", lambda *a, **k: model)  # the name comes from the arguments
        _fake_exporter(m)
        assert main(["export", "uniformer_small", *TINY, "-o", f"{new}/"]) == 0
        assert main(["export", "uniformer_small", *TINY, "--pretrained", "k400_16x4", "-o", str(new)]) == 0
    assert sorted(p.name for p in new.iterdir()) == ["uniformer_small.k400_16x4.onnx", "uniformer_small.onnx"]


def test_export_refuses_an_existing_file_before_any_work(tmp_path, capsys, monkeypatch, fake_export):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"an earlier export")
    with monkeypatch.context() as m:
        m.setattr(cli_models, "create_model", _no_work)
        assert main(["export", "uniformer_small", *TINY, "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"tubelet export: error: {out}: exists") and "--overwrite" in err and \
            err.count("\n") == 1, err
        (tmp_path / "exports").mkdir()
        (tmp_path / "exports" / "uniformer_small.onnx").write_bytes(b"old")  # the default name, in a folder
        assert main(["export", "uniformer_small", "-o", str(tmp_path / "exports")]) == 2
        assert f"{tmp_path / 'exports' / 'uniformer_small.onnx'}: exists" in capsys.readouterr().err
        assert main(["export", "uniformer_small", "-o", str(out / "x.onnx")]) == 2  # a file where a folder must be
        assert f"{out} is a file, not a folder" in capsys.readouterr().err
    assert out.read_bytes() == b"an earlier export" and not fake_export
    assert main(["export", "uniformer_small", *TINY, "--overwrite", "-o", str(out)]) == 0
    assert fake_export == [out] and out.read_bytes() == b"exported"


def test_export_help_speaks_of_its_positional_model(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the default tag of MODEL (or --model)" in text and "the default tag of --model," not in text
    assert "--overwrite" in text and "FILE_OR_FOLDER" in text


# ------------------------------------------------------------------------------------------------ ONNX metadata
def _metadata(path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def test_onnx_file_carries_names_normalisation_and_layout(tmp_path):
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_small", depth=[1, 1, 1, 1], embed_dim=[16, 32, 64, 128], head_dim=16,
                                 num_classes=3)
    model.pretrained_cfg = model.pretrained_cfg.replace(class_names=("abseiling", "zumba", "café"))
    export_model(model, tmp_path / "m.onnx", (3, 4, 64, 64), check=False, metadata={"weights": "mine.pth"})
    meta = _metadata(tmp_path / "m.onnx")
    assert meta["model"] == "uniformer_small" and meta["task"] == "classification"
    assert meta["input_name"] == "video" and meta["input_layout"] == "NCTHW"
    assert json.loads(meta["input_shape"]) == [3, 4, 64, 64]  # the exported size, not the variant's 16x224
    assert meta["num_frames"] == "4" and json.loads(meta["image_size"]) == [64, 64]
    assert json.loads(meta["mean"]) == list(model.pretrained_cfg.mean)
    assert json.loads(meta["std"]) == list(model.pretrained_cfg.std)
    assert "/ 255" in meta["normalization"]
    assert meta["sampler"] == "dense" and meta["frame_interval"] == "4" and meta["resize_size"] == "224"
    assert meta["num_classes"] == "3" and json.loads(meta["labels"]) == ["abseiling", "zumba", "café"]
    assert meta["weights"] == "mine.pth" and meta["tubelet_version"] == tubelet.__version__


def test_cli_export_names_the_weights_and_an_image_layout(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    assert main(["export", "uniformer_small_2d", "--size", "64", "--set", "depth=[1,1,1,1]", "--set",
                 "embed_dim=[16,32,64,128]", "--set", "head_dim=16", "-o", str(out)]) == 0
    meta = _metadata(out)
    assert meta["weights"] == "random" and meta["model"] == "uniformer_small_2d"
    assert meta["input_name"] == "images" and meta["input_layout"] == "NCHW" and "num_frames" not in meta
    assert json.loads(meta["input_shape"]) == [3, 64, 64]
    assert meta["num_classes"] == "1000" and "labels" not in meta  # no ImageNet list ships: no names, not made up
    import onnxruntime as ort  # what a deployment reads: the same map

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_modelmeta().custom_metadata_map["input_layout"] == "NCHW"


# ------------------------------------------------------------------------------------------------ models PATTERN
def _listed(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines()[1:] if line.strip()]


def test_models_word_matches_anywhere_in_any_case(capsys):
    assert main(["models", "uniformer"]) == 0
    captured = capsys.readouterr()
    names = _listed(captured.out)
    assert {"uniformer_small", "uniformer_small_2d", "uniformerv2_b16", "uniformer_xxs"} <= set(names)
    assert all("uniformer" in n for n in names) and "families" in captured.err  # the note on --family
    assert main(["models", "UniFormerV2"]) == 0
    assert _listed(capsys.readouterr().out) == ["uniformerv2_b16", "uniformerv2_l14", "uniformerv2_l14_336"]
    assert main(["models", "uniformer_*_2d"]) == 0  # a glob still matches the whole name
    assert all(n.startswith("uniformer_") and n.endswith("_2d") for n in _listed(capsys.readouterr().out))
    assert main(["models", "--pretrained", "k400"]) == 0  # any word among the weights too
    rows = [line for line in capsys.readouterr().out.splitlines()[1:-1]]
    assert rows and all("k400" in r.split()[0] for r in rows)


def test_models_that_match_nothing_say_what_would(capsys):
    assert main(["models", "unifomer"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tubelet models: error: no model matches 'unifomer'; did you mean uniformer"), err
    assert main(["models", "swim3d"]) == 2
    assert "did you mean swin3d?" in capsys.readouterr().err
    assert main(["models", "zzz*"]) == 2
    err = capsys.readouterr().err
    assert "no model matches 'zzz*'" in err and "a word matches anywhere in a name" in err and "shell pattern" in err
    assert main(["models", "--family", "video_swin", "uniformerv2"]) == 2
    assert "no model of family video_swin matches 'uniformerv2'" in capsys.readouterr().err
