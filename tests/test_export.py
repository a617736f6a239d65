"""ONNX (onnxruntime) and torch.export for a small config of every family; the CLI."""
import json

import pytest
import torch

import tubelet
from tubelet.cli import main
from tubelet.export import export_model
from tests.small_models import SMALL

pytest.importorskip("onnxruntime")



@pytest.mark.parametrize("family", SMALL)
def test_onnx_matches_pytorch_with_a_dynamic_batch(family, tmp_path):
    build, shape = SMALL[family]
    torch.manual_seed(0)
    model = build()
    result = export_model(model, tmp_path / f"{family}.onnx", shape)
    assert (tmp_path / f"{family}.onnx").stat().st_size > 10_000
    assert result["max_rel_error"] < 1e-4  # checked on batches of 1 and 3 (exported with 2)


def test_torch_export_program_round_trip(tmp_path):
    build, shape = SMALL["swin"]
    result = export_model(build(), tmp_path / "swin.pt2", shape, "pt2")
    assert result["max_rel_error"] < 1e-5


def test_export_errors(tmp_path, monkeypatch):
    build, shape = SMALL["uniformer"]
    with pytest.raises(ValueError, match="unknown export format"):
        export_model(build(), tmp_path / "m.x", shape, "torchscript")
    import tubelet.export as ex
    monkeypatch.setattr(ex, "_missing", lambda name: True)
    with pytest.raises(ImportError, match=r"tubelet\[export\]"):
        export_model(build(), tmp_path / "m.onnx", shape)


def test_cli_export(tmp_path, capsys):
    args = ["export", "uniformer_small", "--frames", "4", "--size", "64", "--set", "depth=[1,1,1,1]",
            "--set", "embed_dim=[16,32,64,128]", "--set", "head_dim=16", "-o", str(tmp_path / "u.onnx"), "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["input_shape"] == [3, 4, 64, 64] and out["max_rel_error"] < 1e-4
    assert main(["export", "uniformer_small_2d", "--frames", "4", "-o", str(tmp_path / "x.onnx")]) == 2
    assert "image model" in capsys.readouterr().err


def test_onnx_is_one_file_that_loads_alone(tmp_path, caplog):
    """The weights are inside the .onnx (no .onnx.data beside it), a copy in another folder runs, and the exporter's
    "torchvision is not installed" notices are not printed."""
    import onnxruntime as ort

    build, shape = SMALL["uniformer_2d"]
    torch.manual_seed(0)
    model = build().eval()
    stale = tmp_path / "out" / "m.onnx.data"
    stale.parent.mkdir()
    stale.write_bytes(b"weights of an earlier export")
    result = export_model(model, tmp_path / "out" / "m.onnx", shape)
    assert result["files"] == [str(tmp_path / "out" / "m.onnx")]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m.onnx"]  # the stale .data is gone too
    assert not [m for m in caplog.messages if "torchvision is not installed" in m]
    alone = tmp_path / "elsewhere.onnx"
    alone.write_bytes((tmp_path / "out" / "m.onnx").read_bytes())
    session = ort.InferenceSession(str(alone), providers=["CPUExecutionProvider"])
    x = torch.randn(2, *shape)
    with torch.no_grad():
        ref = model(x)
    out = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])
    assert (out - ref).abs().max() / ref.abs().max() < 1e-4


def test_weights_over_the_single_file_limit_are_reported_with_their_file(tmp_path, capsys, monkeypatch):
    """Weights too large for one protobuf go to NAME.onnx.data (tested with the limit lowered): the export still
    checks, the result lists both files and the command prints both."""
    import tubelet.export as ex

    monkeypatch.setattr(ex, "SINGLE_FILE_LIMIT", 0)
    args = ["export", "uniformer_small_2d", "--size", "64", "--set", "depth=[1,1,1,1]",
            "--set", "embed_dim=[16,32,64,128]", "--set", "head_dim=16", "--set", "num_classes=5",
            "-o", str(tmp_path / "m.onnx")]
    assert main(args) == 0
    line = capsys.readouterr().out.strip()
    model, data = tmp_path / "m.onnx", tmp_path / "m.onnx.data"
    assert model.exists() and data.stat().st_size > model.stat().st_size
    assert line.startswith(f"wrote {model} (") and f" + {data} (" in line and "keep it next to the model" in line
    assert "max relative difference to PyTorch" in line  # onnxruntime found the weights beside the model
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]


def test_quiet_exporter_drops_only_the_torchvision_notices(caplog):
    import logging

    from tubelet.export import _quiet_exporter

    log = logging.getLogger("torch.onnx._internal.exporter._registration")
    with caplog.at_level(logging.WARNING):
        with _quiet_exporter():
            log.warning("torchvision is not installed. Skipping %s", "torchvision::nms")
            log.warning("'%s' does not have a 'default' overload", "x::y")
        log.warning("torchvision is not installed. Skipping %s", "torchvision::roi_align")
    text = "\n".join(caplog.messages)
    assert "torchvision::nms" not in text and "x::y" in text and "torchvision::roi_align" in text


def _light(**kw):
    """A small light UniFormer (token pruning in stages 3-4) whose class token is not zero: at initialisation the
    class token is zero, so every token score ties and the kept set is whatever the sort returns at a tie (ONNX's
    TopK and torch's argsort break ties differently); trained weights have no such ties."""
    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_xxs", depth=[1, 1, 3, 2], embed_dim=[16, 32, 64, 128], head_dim=16,
                                 prune_ratio=[[1, 0.5, 0.5], [0.5, 0.5]], trade_off=[[1, 0.5, 0.5], [0.5, 0.5]],
                                 num_classes=5, **kw)
    with torch.no_grad():
        model.cls_token.normal_()
    return model


def test_token_pruning_exports_exactly(tmp_path):
    result = export_model(_light(), tmp_path / "light.onnx", (3, 4, 64, 64))
    assert result["max_rel_error"] < 1e-4


@pytest.mark.parametrize("name,shape", [("uniformer_small_fpn", (3, 64, 96)), ("uniformer_small_upernet", (3, 64, 96)),
                                        ("uniformer_small_pose", (3, 64, 48)), ("uniformer_small_dense", (3, 64, 96))])
def test_dense_prediction_models_export(name, shape, tmp_path):
    torch.manual_seed(0)
    small = dict(depth=[1, 1, 2, 1], embed_dim=[16, 32, 64, 128], head_dim=16)
    model = tubelet.create_model(name, **small)
    result = export_model(model, tmp_path / f"{name}.onnx", shape)
    assert result["max_rel_error"] < 1e-4
