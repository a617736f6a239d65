"""The `tubelet` command, called through main(argv) as the console script does."""
import json

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


def test_convert_states_the_load_report_once(tmp_path, capsys, caplog):
    torch.manual_seed(0)
    src = tmp_path / "m.safetensors"
    tubelet.save_model(tubelet.create_model("uniformer_small_2d", depth=[1, 1, 1, 1], embed_dim=[16, 32, 64, 128],
                                            head_dim=16, num_classes=5), src)
    with caplog.at_level("INFO", logger="tubelet"):
        assert main(["convert", str(src), "--num-classes", "3", "--drop-head", "--out", str(tmp_path / "o.safetensors")]) == 0
    out = capsys.readouterr().out
    warned = [r for r in caplog.records if "newly initialised" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelname == "WARNING" and "newly initialised" not in out
    assert "wrote" in out


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
    for name in ("report.txt", "confusion.png", "predictions.jsonl", "metrics.json"):  # one folder per checkpoint+views
        assert (run / "eval" / "best_2x3" / name).is_file(), name
    preds = [json.loads(line) for line in (run / "eval" / "best_2x3" / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 10 and preds[0]["label_name"] in tubelet.data.SYNTHETIC_CLASSES
    # eval also reads the training checkpoint (last.pt)
    assert main(["eval", str(recipe), "--checkpoint", str(run / "last.pt"), "--out", str(tmp_path / "e2")]) == 0
    assert "mean class" in capsys.readouterr().out
    # predict: a folder of videos with the trained checkpoint (class names come from the checkpoint)
    videos = tmp_path / "syn" / "val"
    assert main(["predict", str(videos), "--checkpoint", str(run / "best.safetensors"), "--json", "--top-k", "2"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]  # JSON lines: one per video
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


# -- one way to say things: user errors are one line (exit 2), bugs keep their traceback ---------------------------

TINY_UNIFORMER = ["--set", "depth=[1,1,1,1]", "--set", "embed_dim=[16,32,64,128]", "--set", "head_dim=16",
                  "--set", "num_frames=4"]


@pytest.mark.parametrize("exc", [TypeError("a bug: bad argument"), ValueError("a bug: bad value"),
                                 FileNotFoundError("a bug: /tmp/missing")])
def test_a_library_bug_is_not_reported_as_a_user_error(monkeypatch, capsys, exc):
    import tubelet.models._builder as builder  # every command builds its model through create_task_model

    def broken(*args, **kwargs):
        raise exc

    monkeypatch.setattr(builder, "create_model", broken)
    with pytest.raises(type(exc), match="a bug"):
        main(["predict", "--model", "uniformer_small"])
    assert capsys.readouterr().err == ""  # no "tubelet predict: error:" line: the traceback is the report


def test_a_bug_deep_in_a_command_keeps_its_traceback(monkeypatch):
    import tubelet.engine.inference as inference

    def broken(probs, labels, k):
        raise ValueError("a bug in topk")

    monkeypatch.setattr(inference, "topk", broken)
    with pytest.raises(ValueError, match="a bug in topk"):
        main(["predict", "--model", "uniformer_small", *TINY_UNIFORMER])


def _error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith(f"tubelet {command}: error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("argv,expected", [
    (["predict", "--model", "uniformer_smal"], ["'uniformer_smal'", "did you mean uniformer_small"]),
    (["predict", "--model", "uniformer_small", "--set", "dpeth=[1,1,1,1]"], ["dpeth", "did you mean depth"]),
    (["predict", "--model", "uniformer_small", "--set", "optim.lr=1e-4"], ["--set optim.lr", "model.options.KEY"]),
    (["predict", "--model", "uniformer_small", "--set", "model.depth=[1]"], ["--set model.depth", "model.options"]),
    (["predict", "--model", "uniformer_small", *TINY_UNIFORMER, "--views", "2x2"], ["--views", "'2x2'"]),
    (["predict", "--model", "uniformer_small", *TINY_UNIFORMER, "--labels", "k401"], ["--labels", "'k401'"]),
    (["export", "uniformer_small", "--set", "train.amp=bf16", "-o", "x.onnx"], ["--set train.amp"]),
    (["benchmark", "uniformer_small", "--set", "data.num_frames=4"], ["--set data.num_frames"]),
    (["benchmark", "uniformer_small", "--device", "nonsense"], ["--device 'nonsense'"]),
    (["convert", "x.pth", "--out", "y.safetensors", "--set", "a.b=1"], ["--set a.b"]),
    (["flops"], ["give a model name"]),
    (["flops", "uniformer_small_2d", "--frames", "8"], ["image model", "--frames"]),
    (["models", "zzz*"], ["no model matches 'zzz*'"]),
])
def test_user_errors_are_one_line_naming_the_thing(capsys, argv, expected):
    assert main(argv) == 2
    err = _error_line(capsys, argv[0])
    for text in expected:
        assert text in err


@pytest.mark.parametrize("argv,flag,text", [
    (["predict", "--top-k", "0"], "--top-k", "must be >= 1, got 0"),
    (["flops", "uniformer_small", "--frames", "0"], "--frames", "must be >= 1, got 0"),
    (["export", "uniformer_small", "--size", "-3", "-o", "x.onnx"], "--size", "must be >= 1, got -3"),
    (["benchmark", "uniformer_small", "--batch", "x"], "--batch", "expected a whole number, got 'x'"),
])
def test_sizes_and_counts_below_one_are_usage_errors(capsys, argv, flag, text):
    with pytest.raises(SystemExit) as info:  # argparse's own one-line error, before anything runs
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"tubelet {argv[0]}: error: argument {flag}" in err and text in err


def test_user_errors_about_files_name_the_file(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "missing.mp4"), "--model", "uniformer_small", *TINY_UNIFORMER]) == 2
    assert "missing.mp4: no such file or folder" in _error_line(capsys, "predict")
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(tmp_path / "empty"), "--model", "uniformer_small", *TINY_UNIFORMER]) == 2
    assert "empty: no video files" in _error_line(capsys, "predict")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    assert main(["predict", str(broken), "--model", "uniformer_small", *TINY_UNIFORMER]) == 2
    assert "broken.mp4: cannot be opened as a video" in _error_line(capsys, "predict")
    labels = tmp_path / "labels.json"
    labels.write_text("{not json")
    assert main(["predict", "--model", "uniformer_small", *TINY_UNIFORMER, "--labels", str(labels)]) == 2
    assert f"--labels: {labels}:" in _error_line(capsys, "predict")
    assert main(["train", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml: no such config file" in _error_line(capsys, "train")
    # an annotation file that is not there (data.train), one that is a folder (data.val)
    recipe = _tiny_recipe(tmp_path)
    missing = tmp_path / "train_list.txt"
    assert main(["train", str(recipe), "--out", str(tmp_path / "run"), "--set", "data.format=list",
                 "--set", f"data.train={missing}", "--set", f"data.val={tmp_path}"]) == 2
    assert f"data.train: {missing}: no such file or folder" in _error_line(capsys, "train")
    missing.write_text("a.mp4 0\n")
    assert main(["train", str(recipe), "--out", str(tmp_path / "run"), "--set", "data.format=list",
                 "--set", f"data.train={missing}", "--set", f"data.val={tmp_path}"]) == 2
    assert f"{tmp_path}: cannot read the annotation file" in _error_line(capsys, "train")
    # a class-folder dataset whose folder holds no videos
    (tmp_path / "classes" / "a").mkdir(parents=True)
    assert main(["train", str(recipe), "--out", str(tmp_path / "run"), "--set", "data.format=folders",
                 "--set", f"data.train={tmp_path / 'classes'}", "--set", f"data.val={tmp_path / 'classes'}"]) == 2
    assert "classes: no video files" in _error_line(capsys, "train")


def test_timeline_needs_a_video_model_and_matching_labels(tmp_path, capsys):
    from tests.data.test_data import write_video
    video = tmp_path / "v.mp4"
    write_video(video, synthetic_clip(num_frames=8, height=64, width=80))
    assert main(["predict", str(video), "--model", "uniformer_small_2d", "--timeline"]) == 2
    assert "--timeline needs a video model, uniformer_small_2d is an image model" in _error_line(capsys, "predict")
    names = tmp_path / "names.txt"
    names.write_text("a\nb\nc\n")
    assert main(["predict", str(video), "--model", "uniformer_small", *TINY_UNIFORMER, "--timeline",
                 "--labels", str(names), "--out", str(tmp_path / "tl")]) == 2
    assert "3 class names for the 400 classes" in _error_line(capsys, "predict")


def test_set_has_one_grammar_for_every_command(monkeypatch, capsys, tmp_path):
    """predict takes model.options.KEY or the short KEY, with YAML values, exactly as train's config keys."""
    import tubelet.models._builder as builder
    from tubelet.config import load_config, parse_overrides

    seen = []

    def recording(*args, **kwargs):
        seen.append(kwargs)
        return tubelet.create_model(*args, **kwargs)

    monkeypatch.setattr(builder, "create_model", recording)
    long = ["--set", "model.options.depth=[1, 1, 1, 1]", "--set", "model.options.embed_dim=[16,32,64,128]",
            "--set", "model.options.head_dim=16", "--set", "model.options.num_frames=4",
            "--set", "model.options.drop_path_rate=1e-4", "--set", "model.options.qkv_bias=true"]
    short = [s.replace("model.options.", "") for s in long]
    outputs = []
    for sets in (long, short):
        torch.manual_seed(0)  # random weights: the same seed, the same model
        assert main(["predict", "--model", "uniformer_small", *sets, "--json"]) == 0
        outputs.append([json.loads(line) for line in capsys.readouterr().out.splitlines()])
    options = {"depth": [1, 1, 1, 1], "embed_dim": [16, 32, 64, 128], "head_dim": 16, "num_frames": 4,
               "drop_path_rate": 1e-4, "qkv_bias": True}
    assert seen[0] == seen[1] == {"checkpoint_path": None, "pretrained": False, **options}
    assert isinstance(seen[0]["drop_path_rate"], float)  # 1e-4 is a number, as in JSON (YAML 1.1 reads a string)
    assert [r["topk"] for r in outputs[0]] == [r["topk"] for r in outputs[1]]
    # the same pairs, read as a run config, give the same model options
    assert load_config(None, long[1::2]).model.options == options
    assert parse_overrides(short[1::2], within="model.options") == options
    assert parse_overrides(long[1::2], within="model.options") == options
    # and train --dry-run reads them in that grammar
    recipe = _tiny_recipe(tmp_path)
    assert main(["train", str(recipe), "--dry-run", "--json", "--set", "model.options.depth=[1, 1, 1, 1]",
                 "--set", "optim.lr=2e-4", "--set", "model.options.drop_path_rate=1e-4",
                 "--set", "data.crop_size=64"]) == 0  # batch 1 of 32 px ends in 1x1 maps: BatchNorm refuses those
    assert json.loads(capsys.readouterr().out)["finite"]
    assert main(["train", str(recipe), "--dry-run", "--set", "depth=[1,1,1,1]"]) == 2
    assert "unknown key 'depth'" in _error_line(capsys, "train")


def test_eval_writes_its_files_through_evaluate_checkpoint(tmp_path, capsys):
    """cmd_eval only parses and prints: the files and the summary come from engine.evaluate.evaluate_checkpoint."""
    from tests.engine.conftest import tiny_config
    from tubelet.engine.build import data_cfg
    torch.manual_seed(0)
    cfg = tiny_config(tmp_path / "syn")
    model = tubelet.create_model(cfg.model.name, num_classes=10, **cfg.model.options)
    model.pretrained_cfg = data_cfg(model.pretrained_cfg, cfg)  # the recipe's settings, as training records them
    ckpt = tmp_path / "m.safetensors"
    tubelet.save_model(model, ckpt)
    recipe = _tiny_recipe(tmp_path)
    assert main(["eval", str(recipe), "--checkpoint", str(ckpt), "--views", "1x3", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    out = tmp_path / "eval" / "m_1x3"  # eval/<checkpoint stem>_<clips>x<crops>
    assert sorted(p.name for p in out.iterdir()) == ["confusion.png", "metrics.json", "predictions.jsonl",
                                                     "report.txt"]
    assert json.loads((out / "metrics.json").read_text()) == summary
    assert summary["views"] == [1, 3] and summary["checkpoint"] == str(ckpt) and summary["out_dir"] == str(out)
    assert summary["frame_order"] == "keep" and summary["num_samples"] == 10
    assert set(summary) == {"top1", "top5", "mean_class_accuracy", "loss", "num_samples", "views", "input",
                            "input_from", "notes", "checkpoint", "seconds", "frame_order", "out_dir"}
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 10
    # the text output: the report, then one summary line
    assert main(["eval", str(recipe), "--checkpoint", str(ckpt), "--out", str(tmp_path / "e2"),
                 "--shuffle-frames"]) == 0
    text = capsys.readouterr().out
    report = (tmp_path / "e2" / "report.txt").read_text()
    assert text.startswith(report) and text[len(report):].startswith("top-1 ")
    assert f"(10 videos, 1x1 views); files in {tmp_path / 'e2'}" in text
    assert json.loads((tmp_path / "e2" / "metrics.json").read_text())["frame_order"] == "shuffle"
    # a checkpoint whose classifier does not fit the recipe's classes is a user error naming both
    small = tubelet.create_model(cfg.model.name, num_classes=3, **cfg.model.options)
    tubelet.save_model(small, tmp_path / "small.safetensors")
    assert main(["eval", str(recipe), "--checkpoint", str(tmp_path / "small.safetensors")]) == 2
    err = _error_line(capsys, "eval")
    assert "10 classes" in err and "small.safetensors has 3" in err
