"""`tubelet predict` at scale and label lists that must fit (issue 15, points 5-7): --top-k, --labels of the wrong
length, a folder with a bad file (JSON lines, exit status, summary), --device / --batch-size / --workers (batched
results equal the one-video path), timeline files that cannot collide, and one `eval/` folder per checkpoint and
views."""
import json
import shutil

import pytest
import torch

import tubelet
from tubelet.cli import main
from tubelet.data import make_synthetic_dataset

#: a tiny 10-class UniFormer at 64 px: fast enough to run a folder of clips several times
TINY = dict(depth=[1, 1, 1, 1], embed_dim=[16, 32, 64, 128], head_dim=16, num_frames=4, img_size=64)
RANDOM_400 = ["--model", "uniformer_small", "--set", "depth=[1,1,1,1]", "--set", "embed_dim=[16,32,64,128]",
              "--set", "head_dim=16", "--set", "num_frames=4", "--set", "img_size=64"]  # random weights, 400 classes


def _save_tiny(path, class_names=None, cfg=None):
    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_small", num_classes=10, **TINY)
    if class_names is not None:
        model.pretrained_cfg = model.pretrained_cfg.replace(class_names=tuple(class_names))
    if cfg is not None:  # the run config's input settings, as training records them
        from tubelet.engine.build import data_cfg
        model.pretrained_cfg = data_cfg(model.pretrained_cfg, cfg)
    tubelet.save_model(model, path)
    return path


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    return str(_save_tiny(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Six real H.264 clips of the synthetic dataset (syn/val/000000.mp4 ...) and its val.txt."""
    root = tmp_path_factory.mktemp("syn")
    make_synthetic_dataset(root, num_train=0, num_val=6, num_frames=12, height=64, width=80, seed=0)
    return root


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def _error_line(capsys, command: str = "predict") -> str:
    err = capsys.readouterr().err
    assert err.startswith(f"tubelet {command}: error: ") and err.count("\n") == 1, err
    return err


# -- 5: --top-k ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", ["-3", "0"])
def test_top_k_below_one_is_a_usage_error(capsys, k):
    with pytest.raises(SystemExit) as info:
        main(["predict", "--top-k", k])
    assert info.value.code == 2
    assert f"argument --top-k/--topk: must be >= 1, got {k}" in capsys.readouterr().err


def test_top_k_above_the_number_of_classes_shows_them_all(tiny_ckpt, clips, capsys):
    assert main(["predict", str(clips / "val" / "000000.mp4"), "--checkpoint", tiny_ckpt, "--top-k", "50",
                 "--json"]) == 0
    (result,) = _lines(capsys.readouterr().out)
    assert sorted(r["index"] for r in result["topk"]) == list(range(10))


# -- 6: label lists that do not fit ----------------------------------------------------------------------------

def test_labels_of_another_length_are_a_usage_error(tiny_ckpt, clips, capsys):
    video = str(clips / "val" / "000000.mp4")
    assert main(["predict", video, "--checkpoint", tiny_ckpt, "--labels", "k400"]) == 2
    err = _error_line(capsys)
    assert "--labels k400: 400 class names for the 10 classes of uniformer_small" in err
    assert capsys.readouterr().out == ""
    assert main(["predict", *RANDOM_400, "--labels", "sthv2"]) == 2  # a 400-class model, 174 names
    err = _error_line(capsys)
    assert "--labels sthv2: 174 class names for the 400 classes" in err and "kinetics400" in err  # what would fit
    names = clips / "names.txt"
    names.write_text("\n".join(f"name{i}" for i in range(9)))
    assert main(["predict", video, "--checkpoint", tiny_ckpt, "--labels", str(names), "--timeline",
                 "--out", str(clips / "tl")]) == 2
    assert f"--labels {names}: 9 class names for the 10 classes" in _error_line(capsys)
    names.write_text("\n".join(f"name{i}" for i in range(10)))  # one per class: used
    assert main(["predict", video, "--checkpoint", tiny_ckpt, "--labels", str(names), "--json"]) == 0
    (result,) = _lines(capsys.readouterr().out)
    assert all(r["label"] == f"name{r['index']}" for r in result["topk"])


def test_the_models_own_labels_that_do_not_fit_warn_and_show_indices(tmp_path, clips, capsys):
    ckpt = _save_tiny(tmp_path / "odd.safetensors", class_names=["a", "b", "c"])  # 3 names, 10 classes
    with pytest.warns(UserWarning, match=r"label list has 3 names but the classifier has 10 classes"):
        assert main(["predict", str(clips / "val" / "000000.mp4"), "--checkpoint", str(ckpt), "--json",
                     "--top-k", "10"]) == 0
    (result,) = _lines(capsys.readouterr().out)
    assert [r["label"] for r in result["topk"]] == [f"class {r['index']}" for r in result["topk"]]


def test_eval_with_the_checkpoints_labels_that_do_not_fit(tmp_path, clips, capsys):
    """A recipe without class names falls back to the checkpoint's; a list of another length warns and the report
    shows class indices (before: a traceback from the confusion plot)."""
    from tests.test_cli import _tiny_recipe
    recipe = _tiny_recipe(tmp_path, data={"format": "list", "val": str(clips / "val.txt"), "root": str(clips),
                                          "crop_size": 64})
    ckpt = _save_tiny(tmp_path / "odd.safetensors", class_names=["a", "b", "c"])
    with pytest.warns(UserWarning, match="3 names but the classifier has 10 classes"):
        assert main(["eval", str(recipe), "--checkpoint", str(ckpt), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["out_dir"]
    preds = _lines(open(f"{out}/predictions.jsonl").read())
    assert len(preds) == 6 and all(p["label_name"] is None for p in preds)  # indices, never misnamed


# -- 7: a folder of videos ---------------------------------------------------------------------------------------

def test_a_folder_with_a_bad_file_reports_each_video_and_goes_on(tmp_path, tiny_ckpt, clips, capsys):
    folder = tmp_path / "videos"
    shutil.copytree(clips / "val", folder)
    (folder / "000002_broken.mp4").write_bytes(b"not a video at all")  # sorts third of seven
    argv = ["predict", str(folder), "--checkpoint", tiny_ckpt, "--json", "--top-k", "2", "--workers", "2",
            "--batch-size", "3"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    results = _lines(captured.out)  # one JSON object per line, in input order, the failure included
    videos = sorted(str(p) for p in folder.iterdir())
    assert [r["video"] for r in results] == videos
    bad = results[videos.index(str(folder / "000002_broken.mp4"))]
    assert set(bad) == {"video", "error"} and "000002_broken.mp4: cannot be opened as a video" in bad["error"]
    assert all(len(r["topk"]) == 2 for r in results if r is not bad)
    err = captured.err.splitlines()
    assert err[0].startswith("tubelet predict: error: ") and "000002_broken.mp4" in err[0]
    assert err[-1].startswith("tubelet predict: 7 videos, 1 failed") and len(err) == 2
    # --skip-bad: the same report, exit status 0; text output names each good video
    assert main(["predict", str(folder), "--checkpoint", tiny_ckpt, "--skip-bad", "--workers", "0"]) == 0
    captured = capsys.readouterr()
    assert sum(line.startswith("uniformer_small: ") for line in captured.out.splitlines()) == 6
    assert "7 videos, 1 failed" in captured.err


def test_batched_predictions_equal_one_video_at_a_time(tiny_ckpt, clips, capsys):
    """Views of several videos batched together (and split across batches) give the scores of the one-video path."""
    from tubelet.engine.inference import classify_video, predict_videos

    model = tubelet.create_model(checkpoint_path=tiny_ckpt).eval()
    videos = sorted(str(p) for p in (clips / "val").iterdir())
    for views, settings in [((1, 1), [(8, 2), (4, 0)]), ((2, 3), [(4, 2)])]:  # 4: a video's 6 views in 2 batches
        expected = [classify_video(model, v, views=views) for v in videos]
        for batch, workers in settings:
            got = list(predict_videos(model, videos, views=views, batch_size=batch, num_workers=workers))
            assert [p.video for p in got] == videos and all(p.num_views == views[0] * views[1] for p in got)
            for p, e in zip(got, expected):
                torch.testing.assert_close(p.probs, e, rtol=0, atol=1e-6)
    # and through the command line: --batch-size 1 --workers 0 equals --batch-size 8 --workers 2
    runs = []
    for batch, workers in [("1", "0"), ("8", "2")]:
        assert main(["predict", str(clips / "val"), "--checkpoint", tiny_ckpt, "--json", "--top-k", "3",
                     "--batch-size", batch, "--workers", workers]) == 0
        runs.append(_lines(capsys.readouterr().out))
    assert [r["video"] for r in runs[0]] == [r["video"] for r in runs[1]] == videos
    for a, b in zip(*runs):
        assert [t["index"] for t in a["topk"]] == [t["index"] for t in b["topk"]]
        assert [t["score"] for t in a["topk"]] == pytest.approx([t["score"] for t in b["topk"]], abs=2e-6)


def test_results_stream_as_each_video_is_done(monkeypatch, tiny_ckpt, clips):
    """The first result comes before the later videos are decoded (no waiting for the whole folder)."""
    import tubelet.engine.inference as inference

    decoded = []
    real = inference.video_views

    def recording(path, cfg, views=(1, 1)):
        decoded.append(path)
        return real(path, cfg, views)

    monkeypatch.setattr(inference, "video_views", recording)
    model = tubelet.create_model(checkpoint_path=tiny_ckpt).eval()
    videos = sorted(str(p) for p in (clips / "val").iterdir())
    results = inference.predict_videos(model, videos, batch_size=1, num_workers=0)
    assert next(results).video == videos[0] and decoded == videos[:1]
    assert len(list(results)) == 5 and decoded == videos


def test_device_batch_size_and_workers_are_checked(capsys):
    for argv, text in [(["--device", "tpu"], "--device 'tpu': expected cpu, cuda, cuda:N or mps"),
                       (["--device", "cuda:x"], "--device 'cuda:x'")]:
        assert main(["predict", *RANDOM_400, *argv]) == 2
        assert text in _error_line(capsys)
    if not torch.cuda.is_available():
        assert main(["predict", *RANDOM_400, "--device", "cuda"]) == 2
        assert "--device cuda: no CUDA device is available" in _error_line(capsys)
    else:
        n = torch.cuda.device_count()
        assert main(["predict", *RANDOM_400, "--device", f"cuda:{n}"]) == 2
        assert f"this machine has {n} CUDA device" in _error_line(capsys)
    if not torch.backends.mps.is_available():
        assert main(["predict", *RANDOM_400, "--device", "mps"]) == 2
        assert "--device mps: Apple's MPS backend is not available" in _error_line(capsys)
    assert main(["predict", *RANDOM_400, "--device", "cpu", "--json"]) == 0
    (result,) = _lines(capsys.readouterr().out)  # the generated clip: one JSON line
    assert result["video"].startswith("synthetic clip") and len(result["topk"]) == 5
    for flag, value, text in [("--batch-size", "0", "must be >= 1, got 0"), ("--workers", "-1", "must be >= 0")]:
        with pytest.raises(SystemExit):
            main(["predict", flag, value])
        assert f"argument {flag}: {text}" in capsys.readouterr().err


def test_output_names_cannot_collide():
    from tubelet.engine.inference import output_names

    assert [str(p) for p in output_names(["/v/a/clip.mp4", "/v/b/clip.mp4", "/v/b/c/d.mkv"])] == \
        ["a/clip", "b/clip", "b/c/d"]
    assert [str(p) for p in output_names(["/v/clip.mp4", "/v/clip.avi", "/v/Other.mp4"])] == \
        ["clip.mp4", "clip.avi", "Other"]
    assert [str(p) for p in output_names(["x/long.mp4"])] == ["long"]


def test_timelines_of_videos_with_the_same_name_do_not_overwrite_each_other(tmp_path, tiny_ckpt, clips, capsys):
    for folder in ("a", "b"):
        (tmp_path / "in" / folder).mkdir(parents=True)
        shutil.copy(clips / "val" / ("000000.mp4" if folder == "a" else "000001.mp4"),
                    tmp_path / "in" / folder / "clip.mp4")
    (tmp_path / "in" / "b" / "broken.mp4").write_bytes(b"junk")
    out = tmp_path / "tl"
    assert main(["predict", str(tmp_path / "in"), "--checkpoint", tiny_ckpt, "--timeline", "--window", "0.2",
                 "--out", str(out), "--json"]) == 2  # the broken file is reported; the others are written
    captured = capsys.readouterr()
    results = _lines(captured.out)
    assert [r["video"] for r in results] == [str(tmp_path / "in" / p) for p in ("a/clip.mp4", "b/broken.mp4",
                                                                                "b/clip.mp4")]
    assert "error" in results[1] and "3 videos, 1 failed" in captured.err
    a, b = (json.loads((out / f / "clip.timeline.json").read_text()) for f in ("a", "b"))
    assert a["video"].endswith("a/clip.mp4") and b["video"].endswith("b/clip.mp4")
    assert a["windows"] != b["windows"]  # two different clips, two files
    assert (out / "a" / "clip.timeline.png").is_file() and (out / "b" / "clip.timeline.png").is_file()
    assert results[0]["json"] == str(out / "a" / "clip.timeline.json")


def test_eval_keeps_one_folder_per_checkpoint_and_views(tmp_path, clips, capsys):
    from tests.test_cli import _tiny_recipe
    recipe = _tiny_recipe(tmp_path, data={"format": "list", "val": str(clips / "val.txt"), "root": str(clips),
                                          "crop_size": 64, "labels": str(clips / "classes.txt")})
    run = tmp_path / "run"
    run.mkdir()
    from tubelet.config import load_config
    ckpt = _save_tiny(run / "best.safetensors", cfg=load_config(recipe))
    assert main(["eval", str(recipe), "--checkpoint", str(ckpt)]) == 0
    assert f"files in {run / 'eval' / 'best_1x1'}" in capsys.readouterr().out
    assert main(["eval", str(recipe), "--checkpoint", str(ckpt), "--views", "2x3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["out_dir"] == str(run / "eval" / "best_2x3")
    assert main(["eval", str(recipe), "--checkpoint", str(ckpt), "--shuffle-frames", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["out_dir"] == str(run / "eval" / "best_1x1_shuffled")
    for name in ("best_1x1", "best_2x3", "best_1x1_shuffled"):
        metrics = json.loads((run / "eval" / name / "metrics.json").read_text())
        assert metrics["views"] == ([2, 3] if name == "best_2x3" else [1, 1])
        assert metrics["frame_order"] == ("shuffle" if "shuffled" in name else "keep")
