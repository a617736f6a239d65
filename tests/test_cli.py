"""The `tubelet` command, called through main(argv) as the console script does."""
import numpy as np
import pytest
import torch

import tubelet
from tubelet.cli import main, model_table
from tubelet.data import synthetic_clip


def test_models(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in tubelet.list_models():
        assert name in out
    assert "21,400,400" in out
    assert main(["models", "uniformer_*_2d", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| model |") and "uniformer_small " not in out.replace("uniformer_small_", "")
    assert main(["models", "zzz*"]) == 2


def test_predict_on_a_synthetic_clip(capsys):
    assert main(["predict", "--model", "uniformer_small", "--set", "depth=[1,1,1,1]", "--set", "num_frames=4",
                 "--top-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "synthetic clip" in out and "(1, 3, 4, 224, 224)" in out and "random" in out
    assert len([line for line in out.splitlines() if line.startswith("  ")]) == 3


def test_predict_a_video_with_a_checkpoint(tmp_path, capsys):
    from tests.data.test_data import write_video
    video = tmp_path / "clip.mp4"
    write_video(video, synthetic_clip(num_frames=12, height=64, width=80))
    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_small", depth=[1, 1, 1, 1], num_frames=4)
    ckpt = tmp_path / "m.safetensors"
    tubelet.save_model(model, ckpt)
    assert main(["predict", str(video), "--model", "uniformer_small", "--checkpoint", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "clip.mp4" in out and "random" not in out
    names = [line.split(None, 2)[2] for line in out.splitlines() if line.startswith("  ")]
    assert len(names) == 5 and all(not n.startswith("class ") for n in names)  # Kinetics names


def test_convert(tmp_path, capsys):
    torch.manual_seed(0)
    sd = tubelet.create_model("uniformer_small_2d").state_dict()
    src = tmp_path / "deit.pth"
    torch.save({"model": sd}, src)
    out = tmp_path / "out.safetensors"
    assert main(["convert", str(src), "--model", "uniformer_small_2d", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    again = tubelet.create_model(checkpoint_path=out)
    assert all(torch.equal(again.state_dict()[k], v) for k, v in sd.items())


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["predict", "--model", "uniformer_small", "--checkpoint", str(tmp_path / "x.pth")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tubelet predict: error:") and "x.pth: no such checkpoint file" in err
    assert main(["predict", str(tmp_path / "v.mp4"), "--model", "uniformer_small_2d"]) == 2
    assert "v.mp4: no such file or folder" in capsys.readouterr().err
    assert main(["predict", "--model", "uniformer_small", "--set", "depth"]) == 2
    assert "key=value" in capsys.readouterr().err


def test_model_table_matches_params():
    table = model_table("uniformer_small")
    assert "21,400,400" in table and np.all([len(line) > 0 for line in table.splitlines()])


def test_data_synthetic(tmp_path, capsys):
    assert main(["data", "synthetic", str(tmp_path / "syn"), "--train", "3", "--val", "2", "--frames", "4",
                 "--height", "32", "--width", "48"]) == 0
    assert "wrote 3 train + 2 val clips" in capsys.readouterr().out
    assert len((tmp_path / "syn" / "train.txt").read_text().splitlines()) == 3
    assert main(["data", "synthetic", str(tmp_path / "odd"), "--height", "33"]) == 2
    assert "even frame sizes" in capsys.readouterr().err


def _tiny_recipe(tmp_path, **sections):
    from tests.engine.conftest import tiny_config
    from tubelet.config import save_config
    path = tmp_path / "tiny.yaml"
    save_config(tiny_config(tmp_path / "syn", **sections), path)
    return path


def test_train_eval_predict_from_the_command_line(tmp_path, capsys):
    import json
    recipe = _tiny_recipe(tmp_path, optim={"epochs": 1})
    run = tmp_path / "run"
    assert main(["train", str(recipe), "--out", str(run), "--set", "train.log_every=2"]) == 0
    assert "best val top-1" in capsys.readouterr().out
    assert (run / "best.safetensors").is_file()
    # eval: multi-view test (2 clips x 3 crops), files and JSON
    assert main(["eval", str(recipe), "--checkpoint", str(run / "best.safetensors"), "--views", "2x3", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["num_samples"] == 10 and summary["views"] == [2, 3] and 0 <= summary["top1"] <= 100
    for name in ("report.txt", "confusion.png", "predictions.jsonl", "metrics.json"):
        assert (run / "eval" / name).is_file(), name
    preds = [json.loads(line) for line in (run / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 10 and preds[0]["label_name"] in tubelet.data.SYNTHETIC_CLASSES
    # eval also reads the training checkpoint (last.pt)
    assert main(["eval", str(recipe), "--checkpoint", str(run / "last.pt"), "--out", str(tmp_path / "e2")]) == 0
    assert "mean class" in capsys.readouterr().out
    # predict: a folder of videos with the trained checkpoint (class names come from the checkpoint)
    videos = tmp_path / "syn" / "val"
    assert main(["predict", str(videos), "--checkpoint", str(run / "best.safetensors"), "--json", "--top-k", "2"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 10 and all(len(r["topk"]) == 2 for r in results)
    assert results[0]["topk"][0]["label"] in tubelet.data.SYNTHETIC_CLASSES
    # --labels replaces the names
    names = tmp_path / "names.txt"
    names.write_text("\n".join(f"name{i}" for i in range(10)))
    assert main(["predict", str(videos / "000000.mp4"), "--checkpoint", str(run / "best.safetensors"),
                 "--labels", str(names)]) == 0
    assert "name" in capsys.readouterr().out


def test_predict_timeline(tmp_path, capsys):
    import json
    from tests.data.test_data import write_video
    video = tmp_path / "long.mp4"
    write_video(video, synthetic_clip(num_frames=60, height=64, width=80), fps=10)
    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_small", depth=[1, 1, 1, 1], num_frames=4)
    ckpt = tmp_path / "m.safetensors"
    tubelet.save_model(model, ckpt)
    assert main(["predict", str(video), "--checkpoint", str(ckpt), "--timeline", "--window", "2", "--stride", "1",
                 "--out", str(tmp_path / "tl"), "--labels", "k400"]) == 0
    assert "windows" in capsys.readouterr().out
    data = json.loads((tmp_path / "tl" / "long.timeline.json").read_text())
    starts = [w["start"] for w in data["windows"]]
    assert starts[0] == 0 and data["windows"][-1]["end"] == pytest.approx(6.0)  # 60 frames at 10 fps, tail covered
    assert all(b - a == pytest.approx(1.0) for a, b in zip(starts[:-2], starts[1:-1]))
    assert len(data["windows"][0]["topk"]) == 5 and (tmp_path / "tl" / "long.timeline.png").is_file()


def test_train_config_errors_name_the_key(tmp_path, capsys):
    recipe = _tiny_recipe(tmp_path)
    assert main(["train", str(recipe), "--set", "optim.lrr=1", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "tiny.yaml" in err and "optim.lrr" in err and "optim.lr" in err
    assert main(["train", str(recipe), "--set", "train.amp=fp8", "--out", str(tmp_path / "x")]) == 2
    assert "train.amp" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    assert main(["train", str(bad)]) == 2
    assert "bad.yaml: not valid YAML" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "none.yaml")]) == 2
    assert main(["train", str(recipe), "--resume", "--out", str(tmp_path / "fresh")]) == 2
    assert "no checkpoint to resume from" in capsys.readouterr().err


def test_dry_run_from_the_command_line(tmp_path, capsys):
    recipe = _tiny_recipe(tmp_path, train={"amp": "fp16", "mixup": 0.8})
    assert main(["train", str(recipe), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run OK" in out and "shape-checked" in out


def test_demo_quick(tmp_path, capsys, monkeypatch):
    import json
    monkeypatch.setenv("TUBELET_CACHE", str(tmp_path / "cache"))
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "validation top-1" in out and "frame-shuffled top-1" in out
    report = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert report["quick"] and 0 <= report["val_top1"] <= 100 and report["prediction"]["top3"]
    for name in ("curves.png", "confusion.png", "best.safetensors", "metrics.jsonl"):
        assert (tmp_path / "demo" / name).is_file()
