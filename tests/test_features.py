"""`tubelet features` (issue 17, part 3): pooled pre-logits features of sliding windows over untrimmed videos, one
.npy per video plus index.jsonl; equal to the model's own forward on the same frames; resumable after SIGKILL;
broken videos, list files, stale temporaries and settings changes."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import tubelet
from tubelet.cli import main
from tubelet.data import EvalTransform, VideoReader
from tubelet.data.synthetic import synthetic_clip, write_video
from tubelet.tasks.features import extract_features, load_index, plan_windows, read_video_list
from tubelet.errors import AnnotationError

#: a tiny UniFormer (dense sampler, 4 frames every 4: a 16-frame clip span) at 64 px
TINY = dict(depth=[1, 1, 1, 1], embed_dim=[16, 32, 64, 128], head_dim=16, num_frames=4, img_size=64)
FRAMES = (60, 37, 50)  # 25 fps: 2.4 s, 1.48 s, 2.0 s


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("features")
    (root / "videos" / "sub").mkdir(parents=True)
    paths = []
    for i, n in enumerate(FRAMES):
        path = root / "videos" / ("sub" if i == 1 else "") / f"clip{i}.mp4"
        write_video(path, synthetic_clip(num_frames=n, height=64, width=80, seed=i))
        paths.append(str(path))
    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_small", num_classes=10, **TINY).eval()
    ckpt = root / "tiny.safetensors"
    tubelet.save_model(model, ckpt)
    return {"root": root, "videos": paths, "ckpt": str(ckpt), "model": model}


def _run(args, capsys=None):
    threads = torch.get_num_threads()
    rc = main(["features", *args, "--no-progress"])
    assert torch.get_num_threads() == threads  # lowered for the decoding workers while it runs, then restored
    return rc, (capsys.readouterr().err if capsys else "")


def _index(out):
    return {json.loads(line)["video"]: json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()}


def test_features_equal_the_model_on_the_same_frames(data):
    model, video = data["model"], data["videos"][0]
    feats, windows = extract_features(model, video, window=1.0, stride=0.5, batch_size=3)
    # 60 frames at 25 fps: windows of 25 frames every round(12.5) = 12 frames, the last one moved to end the video
    starts = [0, 12, 24, 35]
    assert windows == [(s / 25, round((s + 25) / 25, 3)) for s in starts]
    assert feats.shape == (4, 128) and feats.dtype == np.float32
    cfg = model.pretrained_cfg
    with VideoReader(video) as reader:
        frames = reader.get_frames(range(reader.num_frames))
    transform = EvalTransform.from_cfg(cfg)
    for row, s in zip(feats, starts):
        idx = s + np.arange(4) * 4  # dense: 4 frames, interval 4, from the window's start
        x = transform(frames[idx])
        with torch.no_grad():
            want = model.forward_head(model.forward_features(x), pre_logits=True)[0]
        torch.testing.assert_close(torch.from_numpy(row), want, rtol=1e-5, atol=1e-5)
    # a segment-sampled model: one frame from the middle of each of T segments of the window; 6 frames per window
    seg = tubelet.create_model("uniformer_small", num_classes=10, **TINY).eval()
    seg.load_state_dict(model.state_dict())
    seg.pretrained_cfg = cfg.replace(sampler="segment")
    feats, windows = extract_features(seg, video, window=1.0, stride=1.0, frames=6)
    assert windows == [(0.0, 1.0), (1.0, 2.0), (1.4, 2.4)]
    for row, s in zip(feats, [0, 25, 35]):
        x = transform(frames[s + ((np.arange(6) + 0.5) * 25 / 6).astype(int)])
        with torch.no_grad():
            want = seg.forward_head(seg.forward_features(x), pre_logits=True)[0]
        torch.testing.assert_close(torch.from_numpy(row), want, rtol=1e-5, atol=1e-5)
    # bf16 autocast: the same features to bf16 precision, returned as float32
    half, _ = extract_features(model, video, window=1.0, stride=0.5, dtype="bf16")
    full, _ = extract_features(model, video, window=1.0, stride=0.5)
    assert half.dtype == np.float32 and np.abs(half - full).max() < 0.1 * np.abs(full).max()
    # defaults: the model's clip span (16 frames), windows that touch
    feats, windows = extract_features(model, video)
    assert windows == [(0.0, 0.64), (0.64, 1.28), (1.28, 1.92), (1.76, 2.4)]
    assert plan_windows(cfg, 60, 25.0) == ([0, 16, 32, 44], 16)
    assert plan_windows(cfg.replace(sampler="segment"), 300, 25.0) == ([0, 100, 200], 100)  # 4 s
    assert plan_windows(cfg, 10, 25.0, window=2.0) == ([0], 10)  # a window longer than the video shrinks to it


def test_cli_writes_arrays_and_index_with_the_requested_windows(data, tmp_path, capsys):
    out = tmp_path / "out"
    rc, err = _run([str(data["root"] / "videos"), "--checkpoint", data["ckpt"], "--out", str(out), "--window",
                    "0.8", "--stride", "0.4", "--workers", "0", "--batch-size", "5", "--classify"], capsys)
    assert rc == 0, err
    index = _index(out)
    assert sorted(index) == sorted(data["videos"])
    for video, n in zip(data["videos"], FRAMES):
        entry = index[video]
        assert entry["fps"] == 25.0 and entry["num_frames"] == n and entry["dim"] == 128
        span, step = 20, 10  # 0.8 s and 0.4 s at 25 fps
        starts = list(range(0, n - span + 1, step))
        starts += [n - span] if starts[-1] + span < n else []
        assert entry["windows"] == [[round(s / 25, 3), round((s + span) / 25, 3)] for s in starts]
        ends = [e for _, e in entry["windows"]]
        assert ends[-1] == pytest.approx(n / 25) and entry["duration"] == pytest.approx(n / 25)
        feats = np.load(out / entry["features"])
        assert feats.shape == (len(starts), 128)
        want, windows = extract_features(data["model"], video, window=0.8, stride=0.4)
        np.testing.assert_allclose(feats, want, rtol=1e-5, atol=1e-6)
        scores = np.load(out / entry["scores"])
        assert scores.shape == (len(starts), 10) and np.allclose(scores.sum(1), 1, atol=1e-5)
        assert entry["top5"][0]["score"] == pytest.approx(scores.mean(0).max(), abs=1e-5)
    # names mirror the paths below the common folder
    assert index[data["videos"][1]]["features"] == "sub/clip1.npy"
    # a rerun with the same settings skips every video; other settings are refused; --overwrite starts over
    rc, err = _run([str(data["root"] / "videos"), "--checkpoint", data["ckpt"], "--out", str(out), "--window",
                    "0.8", "--stride", "0.4", "--workers", "0", "--classify"], capsys)
    assert rc == 0 and "0 written, 3 already done" in err
    rc, err = _run([str(data["root"] / "videos"), "--checkpoint", data["ckpt"], "--out", str(out), "--workers", "0"],
                   capsys)
    assert rc == 2 and "holds features of other settings" in err and "stride" in err and "--overwrite" in err
    rc, err = _run([data["videos"][0], "--checkpoint", data["ckpt"], "--out", str(out), "--workers", "0",
                    "--overwrite"], capsys)
    assert rc == 0 and "1 written" in err
    assert list(_index(out)) == [data["videos"][0]] and not (out / "sub" / "clip1.npy").exists()


def test_broken_video_is_skipped_and_counted(data, tmp_path, capsys):
    folder = tmp_path / "videos"
    folder.mkdir()
    for v in data["videos"][:2]:
        os.link(v, folder / os.path.basename(v))
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(300))
    out = tmp_path / "out"
    args = [str(folder), "--checkpoint", data["ckpt"], "--out", str(out), "--workers", "2", "--batch-size", "3"]
    rc, err = _run(args, capsys)
    assert rc == 2
    errors = [line for line in err.splitlines() if line.startswith("tubelet features: error:")]
    assert len(errors) == 1 and "broken.mp4" in errors[0], err
    assert "2 written, 0 already done, 1 failed" in err
    assert sorted(os.path.basename(v) for v in _index(out)) == ["clip0.mp4", "clip1.mp4"]
    rc, err = _run(args + ["--skip-bad"], capsys)
    assert rc == 0 and "0 written, 2 already done, 1 failed" in err


def test_list_file(data, tmp_path, capsys):
    lst = tmp_path / "list.txt"
    rel = os.path.relpath(data["videos"][1], tmp_path)
    lst.write_bytes(("\ufeff# ActivityNet val\n" + data["videos"][0] + "\n\n  " + rel + "  \n").encode())
    assert read_video_list(lst) == [data["videos"][0], os.path.join(str(tmp_path), rel)]
    lst.write_text(f"{data['videos'][0]}\n# comment\n{data['videos'][1]}\nmissing/video.mp4\n")
    with pytest.raises(AnnotationError, match=r"list\.txt:4: 'missing/video\.mp4': no such file"):
        read_video_list(lst)
    rc, err = _run([str(lst), "--checkpoint", data["ckpt"], "--out", str(tmp_path / "out"), "--workers", "0"],
                   capsys)
    assert rc == 2 and err.count("\n") == 1 and f"{lst}:4: 'missing/video.mp4'" in err
    lst.write_text(f"{data['videos'][0]} 3\n{rel},0\n")  # a training list: the labels are dropped
    assert read_video_list(lst) == [data["videos"][0], os.path.join(str(tmp_path), rel)]
    lst.write_bytes("a.mp4\n".encode("utf-16"))
    with pytest.raises(AnnotationError, match="UTF-16"):
        read_video_list(lst)


def test_stale_temporaries_and_torn_index_line(data, tmp_path, capsys):
    out = tmp_path / "out"
    args = [*data["videos"][:2], "--checkpoint", data["ckpt"], "--out", str(out), "--workers", "0"]
    assert _run(args, capsys)[0] == 0
    full = _index(out)
    lines = (out / "index.jsonl").read_bytes().splitlines(keepends=True)
    # a run killed mid-append (torn last line) and mid-save (temporaries of a dead process, in subfolders too)
    (out / "index.jsonl").write_bytes(lines[0] + lines[1][:25])
    dead = 2**31 - 2
    stale = [out / f".clip1.npy.tmp{dead}", out / "sub" / f".x.npy.tmp{dead}"]
    stale[1].parent.mkdir(exist_ok=True)
    for f in stale:
        f.write_bytes(b"\x93NUMPY half")
    assert len(load_index(out)) == 1
    assert (out / "index.jsonl").read_bytes() == lines[0]
    rc, err = _run(args, capsys)
    assert rc == 0 and "1 written, 1 already done" in err
    assert not any(f.exists() for f in stale)
    assert _index(out) == full


def _cli(videos, out, *extra):
    return [sys.executable, "-m", "tubelet", "features", *videos, "--out", str(out), "--workers", "1",
            "--batch-size", "4", "--no-progress", *extra]


def test_sigkill_mid_run_then_rerun_gives_the_same_files(data, tmp_path):
    """Killed (SIGKILL, the whole process group) after the first video's index line, then rerun: the arrays are
    bytewise those of an uninterrupted run and the index holds the same entries."""
    videos = []
    for i in range(4):  # dense windows (stride 1 frame): ~1 s per video, so the kill lands mid-run
        path = tmp_path / "v" / f"long{i}.mp4"
        path.parent.mkdir(exist_ok=True)
        write_video(path, synthetic_clip(num_frames=48, height=64, width=80, seed=10 + i))
        videos.append(str(path))
    extra = ("--checkpoint", data["ckpt"], "--window", "0.64", "--stride", "0.04")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(_cli(videos, whole, *extra), check=True, env=env, capture_output=True, timeout=120)
    proc = subprocess.Popen(_cli(videos, killed, *extra), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    index = killed / "index.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if index.is_file() and index.read_bytes().count(b"\n") >= 1:
            break
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = index.read_bytes().count(b"\n")
    assert 1 <= done < len(videos), f"the run was not killed mid-way ({done} of {len(videos)} videos done)"
    rerun = subprocess.run(_cli(videos, killed, *extra), env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{done} already done" in rerun.stderr
    assert _index(killed) == _index(whole)
    for entry in _index(whole).values():
        assert (killed / entry["features"]).read_bytes() == (whole / entry["features"]).read_bytes()
    leftovers = [f for f in os.listdir(killed) if ".tmp" in f]
    assert not leftovers


def _earlier_index(out, names):
    """An index.jsonl (and settings) of an earlier run in ``out`` whose entries name ``names`` as their arrays."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.jsonl").write_text("".join(json.dumps({"video": f"/videos/v{i}.mp4", "features": name})
                                             + "\n" for i, name in enumerate(names)))
    (out / "features.json").write_text("{}\n")


def test_overwrite_deletes_only_the_files_inside_out(data, tmp_path, capsys):
    """issue 23: --overwrite deletes the arrays that the folder's index names, but only those inside --out: an
    absolute path, a ../ path and a symlink leading out of --out are left alone (and the command says so)."""
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    outside = {name: tmp_path / name for name in ("absolute.npy", "dotdot.npy", "linked.npy")}
    for path in outside.values():
        path.write_bytes(b"not tubelet's to delete")
    inside = [out / "a.npy", out / "sub" / "b.npy", out / "sub" / "b.scores.npy"]
    for path in inside:
        path.write_bytes(b"an earlier run's array")
    (out / "link.npy").symlink_to(outside["linked.npy"])
    (out / "c.npy").write_bytes(b"not named in the index")
    (out / "sub" / "inner_link.npy").symlink_to(out / "c.npy")  # a link inside --out: the link goes, not its file
    _earlier_index(out, [str(outside["absolute.npy"]), "../dotdot.npy", "link.npy", "a.npy", "sub/b.npy",
                         "sub/../sub/inner_link.npy"])
    with (out / "index.jsonl").open("a") as f:  # the scores of an entry go the same way
        f.write(json.dumps({"video": "/videos/s.mp4", "features": "sub/b.scores.npy", "scores": "../dotdot.npy"})
                + "\n")
    rc, err = _run([data["videos"][0], "--checkpoint", data["ckpt"], "--out", str(out), "--workers", "0",
                    "--overwrite"], capsys)
    assert rc == 0, err
    note = [line for line in err.splitlines() if "left alone" in line]
    assert note == [f"tubelet features: note: {out / 'index.jsonl'} named 4 file(s) outside {out} (e.g. "
                    f"{outside['absolute.npy']}); they were left alone"]
    for path in outside.values():
        assert path.read_bytes() == b"not tubelet's to delete"
    assert (out / "link.npy").is_symlink()  # a link leading out is not followed, nor removed
    assert not any(p.exists() or p.is_symlink() for p in inside + [out / "sub" / "inner_link.npy"])
    assert (out / "c.npy").read_bytes() == b"not named in the index"
    assert list(_index(out)) == [data["videos"][0]]  # the new run's index only
    assert (out / "clip0.npy").is_file()


def test_clear_output_returns_what_it_left_alone(tmp_path):
    from tubelet.tasks.features import clear_output

    out = tmp_path / "out"
    (tmp_path / "elsewhere").mkdir()
    victim = tmp_path / "elsewhere" / "x.npy"
    victim.write_bytes(b"keep")
    (out / "d").mkdir(parents=True)
    (out / "d" / "up").symlink_to(tmp_path / "elsewhere", target_is_directory=True)  # a folder link leading out
    (out / "mine.npy").write_bytes(b"go")
    _earlier_index(out, [str(victim), "../elsewhere/x.npy", "d/up/x.npy", "d/../../elsewhere/x.npy", "mine.npy", "",
                         "."])
    refused = clear_output(out)
    assert refused == [str(victim), "../elsewhere/x.npy", "d/up/x.npy", "d/../../elsewhere/x.npy", "."]
    assert victim.read_bytes() == b"keep"
    assert not (out / "mine.npy").exists()
    assert sorted(p.name for p in out.iterdir()) == ["d"]  # the index and the settings are gone
    assert clear_output(out) == []  # nothing left to clear
