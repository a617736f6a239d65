"""``tubelet eval`` follows the checkpoint (issue 26, points 1 and 2): the input settings a tubelet checkpoint was
trained with win over the recipe file's, each ignored recipe value and each command-line override is a ``note:``
naming both values, ``metrics.json`` records what was used, an earlier evaluation is not replaced without
``--overwrite``, and only the validation data is needed (class names come from the checkpoint)."""
import json
import shutil

import pytest
import torch

import tubelet
import tubelet.cli.predict as predict_cli
import tubelet.engine.evaluate as evaluate_module
from tubelet.cli import main
from tubelet.config import save_config

from .conftest import tiny_config

#: the recipe says 4 frames at 32 px and 2 test clips; the run was trained with 6 frames at 48 px and 1 clip
RECIPE = {"test_clips": 2}
TRAINED = ["--set", "data.num_frames=6", "--set", "data.crop_size=48", "--set", "data.test_clips=1"]


@pytest.fixture(scope="module")
def run(synthetic_root, tmp_path_factory):
    """A one-epoch run trained from the recipe with other frames, crop and test clips on the command line."""
    folder = tmp_path_factory.mktemp("ckpt")
    recipe = save_config(tiny_config(synthetic_root, data=RECIPE, optim={"epochs": 1}), folder / "recipe.yaml")
    assert main(["train", str(recipe), "--out", str(folder / "run"), *TRAINED]) == 0
    return folder


@pytest.fixture
def seen(monkeypatch):
    """The shapes ``(C, T, H, W)`` of the clips every model ``tubelet eval`` or ``predict`` builds is fed with."""
    shapes = set()
    real_evaluate, real_model = evaluate_module.evaluate, predict_cli.model_from_args

    def watch(model):
        model.register_forward_pre_hook(lambda m, args: shapes.add(tuple(args[0].shape[1:])))
        return model

    monkeypatch.setattr(evaluate_module, "evaluate", lambda model, loader, **kw: real_evaluate(watch(model), loader,
                                                                                                 **kw))
    monkeypatch.setattr(predict_cli, "model_from_args", lambda *a, **kw: watch(real_model(*a, **kw)))
    return shapes


def _checkpoint(run, tmp_path, name="best.safetensors"):
    """A copy of the run's checkpoint in a folder of its own (its default eval folders are this test's)."""
    (tmp_path / "ckpt").mkdir(exist_ok=True)
    return str(shutil.copy(run / "run" / name, tmp_path / "ckpt" / name))


def _notes(text: str) -> list[str]:
    return [line[len("note: "):] for line in text.splitlines() if line.startswith("note: ")]


def test_eval_uses_the_settings_the_checkpoint_was_trained_with(run, tmp_path, capsys, seen):
    """The recipe's 4 frames, 32 px and 2 clips lose to the checkpoint's 6 frames, 48 px and 1 clip, a note for each;
    metrics.json records the settings used (before: the recipe's, silently)."""
    ckpt = _checkpoint(run, tmp_path)
    assert main(["eval", str(run / "recipe.yaml"), "--checkpoint", ckpt]) == 0
    out = capsys.readouterr().out
    assert _notes(out) == [
        "frames: the checkpoint's 6, not the recipe's data.num_frames=4 (override with --set data.num_frames=4)",
        "crop size: the checkpoint's 48, not the recipe's data.crop_size=32 (override with --set data.crop_size=32)",
        "test clips: the checkpoint's 1, not the recipe's data.test_clips=2 (override with --set data.test_clips=2)"]
    assert seen == {(3, 6, 48, 48)}
    folder = tmp_path / "ckpt" / "eval" / "best_1x1"  # the checkpoint's views name the folder
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["views"] == [1, 1] and metrics["input_from"] == "checkpoint" and metrics["notes"] == _notes(out)
    assert metrics["input"] == {"num_frames": 6, "sampler": "segment", "frame_interval": 4, "crop_size": 48,
                                "resize_size": 48, "mean": [0.45, 0.45, 0.45], "std": [0.225, 0.225, 0.225],
                                "interpolation": "bilinear", "view_average": "prob"}
    assert "input: 6 frames (segment), 48 px crops of a 48 px short side" in out
    # the run's own config agrees with its checkpoint: nothing to say
    assert main(["eval", str(run / "run" / "config.yaml"), "--checkpoint", ckpt, "--out", str(tmp_path / "own")]) == 0
    assert _notes(capsys.readouterr().out) == []


def test_a_setting_given_on_the_command_line_overrides_the_checkpoint_with_a_note(run, tmp_path, capsys, seen):
    """--set data.num_frames and --views win over the checkpoint (last.pt here), each with a note naming both values;
    with --json the notes go to stderr and stdout stays one JSON object."""
    ckpt = _checkpoint(run, tmp_path, "last.pt")
    assert main(["eval", str(run / "recipe.yaml"), "--checkpoint", ckpt, "--set", "data.num_frames=8", "--views",
                 "1x3", "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert "frames: 8 (--set data.num_frames=8) overrides the checkpoint's 6" in _notes(captured.err)
    assert "test crops: 3 (--views 1x3) overrides the checkpoint's 1" in _notes(captured.err)
    assert seen == {(3, 8, 48, 48)}  # the crop is still the checkpoint's
    assert summary["views"] == [1, 3] and summary["input"]["num_frames"] == 8 and summary["input"]["crop_size"] == 48
    assert summary["notes"] == _notes(captured.err) and summary["out_dir"] == str(tmp_path / "ckpt" / "eval" /
                                                                                  "last_1x3")
    # --views model: the checkpoint's views, not the recipe's 2 clips
    assert main(["eval", str(run / "recipe.yaml"), "--checkpoint", ckpt, "--views", "model", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["views"] == [1, 1]


def test_a_checkpoint_that_records_nothing_is_evaluated_with_the_recipe(run, tmp_path, capsys, seen):
    """A bare state dict (another program's file) says nothing about its input: the recipe's settings, no notes."""
    model = tubelet.create_model(checkpoint_path=str(run / "run" / "best.safetensors"))
    torch.save(model.state_dict(), tmp_path / "plain.pt")
    assert main(["eval", str(run / "recipe.yaml"), "--checkpoint", str(tmp_path / "plain.pt"), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["input_from"] == "recipe" and summary["notes"] == [] and "note:" not in captured.err
    assert summary["views"] == [2, 1] and seen == {(3, 4, 32, 32)}


def test_eval_does_not_replace_an_earlier_evaluation_without_overwrite(run, tmp_path, capsys):
    """A second evaluation into the same default folder is refused before any work (before: replaced)."""
    ckpt, recipe = _checkpoint(run, tmp_path), str(run / "run" / "config.yaml")
    folder = tmp_path / "ckpt" / "eval" / "best_1x1"
    assert main(["eval", recipe, "--checkpoint", ckpt]) == 0
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    capsys.readouterr()
    assert main(["eval", recipe, "--checkpoint", ckpt]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"tubelet eval: error: {folder}: holds an earlier evaluation") \
        and captured.err.count("\n") == 1 and "--overwrite" in captured.err, captured.err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert main(["eval", recipe, "--checkpoint", ckpt, "--overwrite", "--shuffle-frames", "--out", str(folder)]) == 0
    assert json.loads((folder / "metrics.json").read_text())["frame_order"] == "shuffle"


def test_eval_needs_only_the_validation_data(run, synthetic_root, tmp_path, capsys):
    """data.train may be missing: class names come from the checkpoint. A folders recipe's validation videos are
    labelled by their class folder's name in the checkpoint's class order (sorted folder names are another order),
    so it scores exactly as the list of the same videos."""
    classes = (synthetic_root / "classes.txt").read_text().splitlines()
    val = tmp_path / "val"
    for line in (synthetic_root / "val.txt").read_text().splitlines():
        path, label = line.split()
        (val / classes[int(label)]).mkdir(parents=True, exist_ok=True)
        shutil.copy(synthetic_root / path, val / classes[int(label)] / path.split("/")[-1])
    assert sorted(p.name for p in val.iterdir()) != classes  # the folders' order is not the checkpoint's
    ckpt = str(run / "run" / "best.safetensors")
    trained = {"num_frames": 6, "crop_size": 48, "labels": None}
    results = {}
    for fmt, data in (("folders", {"train": str(tmp_path / "no-such-folder"), "val": str(val)}),
                      ("list", {"train": str(tmp_path / "no-such.txt"), "val": str(synthetic_root / "val.txt"),
                                "root": str(synthetic_root)})):
        recipe = save_config(tiny_config(synthetic_root, data={"format": fmt, **trained, **data}),
                             tmp_path / f"{fmt}.yaml")
        assert main(["eval", str(recipe), "--checkpoint", ckpt, "--out", str(tmp_path / fmt), "--json"]) == 0, \
            capsys.readouterr().err
        results[fmt] = json.loads(capsys.readouterr().out)
        predictions = [json.loads(line) for line in (tmp_path / fmt / "predictions.jsonl").read_text().splitlines()]
        assert len(predictions) == 10 and all(p["label_name"] in classes for p in predictions)
        if fmt == "folders":
            assert all(p["video"].split("/")[-2] == p["label_name"] for p in predictions)
    for key in ("top1", "top5", "loss", "num_samples"):
        assert results["folders"][key] == pytest.approx(results["list"][key]), key


def test_predict_feeds_the_checkpoints_frames_and_crop(run, synthetic_root, capsys, seen):
    video = str(synthetic_root / "val" / "000000.mp4")
    assert main(["predict", video, "--checkpoint", str(run / "run" / "best.safetensors"), "--workers", "0",
                 "--views", "model"]) == 0
    assert "input (1, 3, 6, 48, 48), 1x1 views" in capsys.readouterr().out
    assert seen == {(3, 6, 48, 48)}
