"""Ctrl-C while a command writes its outputs (issue 23, part 2): every command that writes files exits 130 with one
line, and each output file is written whole or not at all: the files written before the interruption are complete,
the one being written and those after it are still the earlier run's (or absent), and no temporary is left behind.

The interruption is a KeyboardInterrupt raised when the file under test is renamed into place (``os.replace`` of
:func:`tubelet.atomic.write_atomically`): a file written any other way (straight to its name) is not interrupted
at all, so the command then exits 0 and the test fails. Every output of every command is interrupted in turn, in
the order the command writes them."""
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import tubelet
import tubelet.atomic as atomic
from tubelet.cli import main
from tubelet.data.synthetic import synthetic_clip, write_video

#: a tiny video UniFormer (4 frames every 4, 64 px): seconds on a CPU
TINY_VIDEO = dict(depth=[1, 1, 1, 1], embed_dim=[16, 32, 64, 128], head_dim=16, num_frames=4, img_size=64)
#: a tiny top-down pose model, as tests/test_keypoints.py builds it
TINY_POSE = ["--model", "uniformer_small_pose", "--set", "depth=[1,1,1,1]", "--set", "embed_dim=[16,32,32,64]",
             "--set", "head_dim=32", "--set", "num_deconv_filters=[16,16,16]", "--device", "cpu"]
#: what an earlier run left in an output file (replaced only by a whole new file)
OLD = b"an earlier run's file\n"
TEMPORARY = re.compile(r"^\..+\.tmp\d+")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The inputs of every command: two short videos and a tiny video checkpoint, an ADE20K-style image and label
    map, a COCO keypoint annotation file of one image and person (and a keypoint and a detection results file), a tiny
    training recipe and checkpoint."""
    root = tmp_path_factory.mktemp("inputs")
    (root / "videos").mkdir()
    for i in range(2):
        write_video(root / "videos" / f"v{i}.mp4", synthetic_clip(num_frames=30, height=64, width=80, seed=i), fps=10)
    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_small", num_classes=10, **TINY_VIDEO)
    tubelet.save_model(model, root / "video.safetensors")
    # segmentation: one image and its label map (ADE20K: 0 = other, k = class k - 1)
    for sub in ("images", "annotations"):
        (root / "ade" / sub).mkdir(parents=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(
        root / "ade" / "images" / "a.jpg")
    Image.fromarray(np.full((32, 48), 3, np.uint8)).save(root / "ade" / "annotations" / "a.png")
    # pose: one image of one person, its keypoints spread over the person's box
    (root / "coco").mkdir()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(
        root / "coco" / "000000000001.png")
    box = [40.0, 10.0, 60.0, 100.0]
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 17), [0.5]), -1).reshape(17, 2) * box[2:] + box[:2]
    keypoints = np.concatenate([grid, np.full((17, 1), 2.0)], 1).reshape(-1).tolist()
    (root / "coco" / "ann.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "000000000001.png", "width": 160, "height": 120}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": box, "area": 6000.0,
                         "num_keypoints": 17, "keypoints": keypoints}],
        "categories": [{"id": 1, "name": "person"}]}))
    (root / "coco" / "results.json").write_text(json.dumps([{"image_id": 1, "category_id": 1, "score": 0.9,
                                                             "keypoints": keypoints}]))
    # detection: the person's box as a COCO detection result (the keypoint file is a valid instances file for boxes)
    (root / "coco" / "detections.json").write_text(json.dumps([{"image_id": 1, "category_id": 1, "score": 0.9,
                                                                "bbox": box}]))
    # eval: a tiny recipe on the synthetic dataset (made on the first run) and a checkpoint of its model
    from tests.engine.conftest import tiny_config
    from tubelet.config import save_config

    cfg = tiny_config(root / "syn")
    save_config(cfg, root / "recipe.yaml")
    tubelet.save_model(tubelet.create_model(cfg.model.name, num_classes=10, **cfg.model.options),
                       root / "recipe.safetensors")
    return root


# Each command: (arguments, the folder of its outputs, the outputs in the order the command writes them, whether an
# earlier run's files are kept until replaced). Features start over with --overwrite (it deletes what the index
# names), so they run in a fresh folder; index.jsonl is appended to, a line per finished video (a torn last line is
# cut off when read), so it is not one of the files written whole.
def _segment_eval(inputs, out):
    return (["segment-eval", "--images", str(inputs / "ade" / "images"), "--annotations",
             str(inputs / "ade" / "annotations"), "--model", "uniformer_xxs_fpn", "--device", "cpu", "--out",
             str(out), "--overwrite"], ["metrics.json", "report.txt"])


def _pose(inputs, out):
    return (["pose", str(inputs / "coco" / "000000000001.png"), *TINY_POSE, "--box", "40,10,60,100", "--no-flip",
             "--out", str(out), "--overwrite"], ["000000000001_keypoints.json", "000000000001_pose.png"])


def _pose_eval(inputs, out):
    return (["pose-eval", "--annotations", str(inputs / "coco" / "ann.json"), "--images", str(inputs / "coco"),
             "--gt-boxes", *TINY_POSE, "--no-flip", "--out", str(out), "--overwrite"],
            ["result_keypoints.json", "metrics.json"])


def _pose_eval_results(inputs, out):
    return (["pose-eval", "--annotations", str(inputs / "coco" / "ann.json"), "--results",
             str(inputs / "coco" / "results.json"), "--out", str(out), "--overwrite"], ["metrics.json"])


def _detect_eval_results(inputs, out):
    return (["detect-eval", "--annotations", str(inputs / "coco" / "ann.json"), "--results",
             str(inputs / "coco" / "detections.json"), "--out", str(out), "--overwrite"], ["metrics.json"])


def _features(inputs, out):
    return (["features", str(inputs / "videos"), "--checkpoint", str(inputs / "video.safetensors"), "--out", str(out),
             "--window", "1.6", "--stride", "1.6", "--workers", "0", "--no-progress"],
            ["features.json", "v0.npy", "v1.npy"])


def _timeline(inputs, out):
    return (["predict", str(inputs / "videos" / "v0.mp4"), "--checkpoint", str(inputs / "video.safetensors"),
             "--timeline", "--window", "1.6", "--stride", "0.8", "--out", str(out)],
            ["v0.timeline.json", "v0.timeline.png"])


def _export_onnx(inputs, out):
    return (["export", "uniformer_small", "--frames", "4", "--size", "64", "--set", "depth=[1,1,1,1]", "--set",
             "embed_dim=[16,32,64,128]", "--set", "head_dim=16", "--no-check", "--overwrite",
             "-o", str(out / "m.onnx")],
            ["m.onnx"])


def _export_onnx_external(inputs, out):
    args, _ = _export_onnx(inputs, out)
    return args, ["m.onnx.data", "m.onnx"]  # the weights are renamed into place first


def _export_pt2(inputs, out):
    args, _ = _export_onnx(inputs, out)
    return [*args[:-1], str(out / "m.pt2"), "--format", "pt2"], ["m.pt2"]


def _eval(inputs, out):
    return (["eval", str(inputs / "recipe.yaml"), "--checkpoint", str(inputs / "recipe.safetensors"), "--out",
             str(out), "--overwrite"], ["predictions.jsonl", "confusion.png", "report.txt", "metrics.json"])


COMMANDS = {"segment-eval": _segment_eval, "pose": _pose, "pose-eval": _pose_eval,
            "pose-eval --results": _pose_eval_results, "detect-eval --results": _detect_eval_results,
            "features": _features, "predict --timeline": _timeline,
            "export": _export_onnx, "export (weights beside the model)": _export_onnx_external,
            "export --format pt2": _export_pt2, "eval": _eval}
FRESH = {"features"}  # runs in an empty folder (see above)
CASES = [(name, target) for name, command in COMMANDS.items() for target in command(Path("in"), Path("out"))[1]]


def _check_whole(path: Path) -> None:
    """``path`` is a complete file of its kind, and not the earlier run's."""
    data = path.read_bytes()
    assert data != OLD, f"{path.name} was not replaced"
    kind = path.name.rsplit(".", 1)[-1]
    if kind == "json":
        json.loads(data)
    elif kind == "jsonl":
        assert [json.loads(line) for line in data.decode().splitlines()]
    elif kind == "png":
        with Image.open(path) as im:
            im.load()
    elif kind == "npy":
        assert np.load(path).ndim == 2
    elif kind == "txt":
        assert data.decode().strip()
    else:  # the weights of an ONNX model: read with the model
        assert kind == "data" and len(data) > 10_000


@pytest.mark.parametrize("name, target", CASES, ids=[f"{n}: {t}" for n, t in CASES])
def test_ctrl_c_while_writing_an_output_leaves_whole_files_or_the_earlier_ones(inputs, tmp_path, capsys, monkeypatch,
                                                                               name, target):
    if "weights beside" in name:
        import tubelet.export

        monkeypatch.setattr(tubelet.export, "SINGLE_FILE_LIMIT", 0)  # as a model of more than 1.5 GiB of weights
    out = tmp_path / "out"
    args, outputs = COMMANDS[name](inputs, out)
    out.mkdir()
    if name not in FRESH:
        for output in outputs:
            (out / output).write_bytes(OLD)
    real = os.replace
    renamed = []

    def replace(src, dst):
        if Path(dst).parent == out:  # not a rename inside a temporary folder (the ONNX exporter's own)
            if Path(dst).name == target:
                raise KeyboardInterrupt  # Ctrl-C just as the file is complete in its temporary
            renamed.append(Path(dst).name)
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 130, f"{target} was not interrupted: not written through tubelet.atomic? (exit {rc})\n{err}"
    lines = err.splitlines()
    command = args[0]
    assert lines[-1].startswith(f"tubelet {command}: interrupted"), err
    assert sum("interrupted" in line for line in lines) == 1 and "Traceback" not in err, err
    before = outputs[:outputs.index(target)]
    assert [n for n in renamed if n in outputs] == before  # the outputs are written in this order
    left = sorted(p.name for p in out.iterdir())
    assert not [n for n in left if TEMPORARY.match(n)], left  # nor a temporary folder of the ONNX export
    for output in before:
        _check_whole(out / output)
    if name in FRESH:
        assert set(left) - {"index.jsonl"} == set(before)
        index = (out / "index.jsonl").read_text().splitlines() if "index.jsonl" in left else []
        assert len(index) == sum(n.endswith(".npy") for n in before)  # a line per finished video, nothing torn
    else:
        assert left == sorted(outputs)
        for output in outputs[outputs.index(target):]:
            assert (out / output).read_bytes() == OLD, f"{output}: the earlier run's file was not kept"


def _interrupt_at(monkeypatch, name: str) -> None:
    """Ctrl-C when a file called ``name`` is renamed into place."""
    real = os.replace

    def replace(src, dst):
        if Path(dst).name == name:
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)


def test_ctrl_c_while_the_demo_writes_its_report(tmp_path, capsys, monkeypatch):
    """demo.json, written last, is whole or absent (the demo starts over in its folder, so no earlier one is kept);
    the files written before it are complete."""
    monkeypatch.setenv("TUBELET_CACHE", str(tmp_path / "cache"))
    _interrupt_at(monkeypatch, "demo.json")
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "tubelet demo: interrupted" and "Traceback" not in err
    left = sorted(p.name for p in out.iterdir())
    assert left == ["best.safetensors", "config.yaml", "confusion.png", "curves.png", "last.pt", "metrics.jsonl"]
    for name in ("confusion.png", "curves.png", "metrics.jsonl"):
        _check_whole(out / name)


def test_metrics_log_cut_back_on_resume_is_whole_or_none(tmp_path, monkeypatch):
    """A resumed run cuts metrics.jsonl back to the lines up to its checkpoint's step: rewritten whole or not at all
    (Ctrl-C during the rewrite keeps every line of the earlier run)."""
    from tubelet.engine.train import MetricsLog

    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"kind": "train", "step": s, "loss": 1.0 / s}) + "\n" for s in (1, 2, 3, 4)))
    before = path.read_bytes()
    _interrupt_at(monkeypatch, "metrics.jsonl")
    with pytest.raises(KeyboardInterrupt):
        MetricsLog(path, enabled=True, resume_step=2)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["metrics.jsonl"]
    monkeypatch.undo()
    log = MetricsLog(path, enabled=True, resume_step=2)
    assert [r["step"] for r in log.records] == [1, 2]
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]


def test_save_config_is_whole_or_none_and_leaves_no_temporary(tmp_path, monkeypatch):
    from tests.engine.conftest import tiny_config
    from tubelet.config import load_config, save_config

    path = tmp_path / "config.yaml"
    path.write_bytes(OLD)
    cfg = tiny_config(tmp_path / "syn", optim={"epochs": 3})
    _interrupt_at(monkeypatch, "config.yaml")
    with pytest.raises(KeyboardInterrupt):
        save_config(cfg, path)
    assert path.read_bytes() == OLD and os.listdir(tmp_path) == ["config.yaml"]
    monkeypatch.undo()
    assert save_config(cfg, path) == path
    assert load_config(path).optim.epochs == 3 and os.listdir(tmp_path) == ["config.yaml"]
