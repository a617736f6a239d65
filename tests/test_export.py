"""ONNX (onnxruntime) and torch.export for a small config of every family; the CLI."""
import json

import pytest
import torch

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
