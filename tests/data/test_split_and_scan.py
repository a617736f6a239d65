"""Folder scans and ``tubelet data split`` on real files: class folders of H.264 videos written with PyAV, next to
files a user's folder holds (notes, a copy of a video without an extension, an MPEG transport stream).

- ``.ts`` (and the other containers PyAV decodes) are videos by their extension;
- every other file a scan skips is counted, and the count reaches the user: one note per folder from ``predict``,
  once per run from ``train`` (also in a real process, where no logging is configured), and from ``data split``;
- ``data split`` writes stratified, deterministic lists that read back as the videos and classes of the folder,
  refuses to overwrite them, and prints a ``tubelet train`` command whose ``--set`` values read back as the paths.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from tubelet.cli import main
from tubelet.config import load_config
from tubelet.data import VideoReader, read_class_folders, read_list_file, synthetic_clip
from tubelet.data.datasets import (VIDEO_EXTENSIONS, SkippedFiles, find_videos, read_class_names, scan_class_folders,
                                   split_class_folders, write_split_lists)
from tubelet.engine.inference import expand_videos
from tubelet.errors import AnnotationError, UsageError, VideoDecodeError

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "configs" / "examples" / "own_videos_from_scratch.yaml"
TINY_UNIFORMER = ["--set", "depth=[1,1,1,1]", "--set", "embed_dim=[16,32,64,128]", "--set", "head_dim=16",
                  "--set", "num_frames=4"]


def write_h264(path: Path, seed: int = 0, num_frames: int = 8) -> Path:
    """A small real H.264 video; the container follows the extension (``.ts``: MPEG-TS, ``.3gp``: 3GPP, ...)."""
    frames = synthetic_clip(num_frames=num_frames, height=32, width=48, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def user_folder(root: Path) -> Path:
    """``root/<class>/`` with real videos (one a ``.ts``), plus a notes file and a copy of a video that lost its
    extension: two files that are not videos by their extension. A hidden file is not counted."""
    write_h264(root / "jump" / "a.mp4", 0)
    write_h264(root / "jump" / "b.mp4", 1)
    write_h264(root / "run" / "c.mp4", 2)
    write_h264(root / "run" / "d.ts", 3)
    (root / "jump" / "notes.txt").write_text("where these came from\n")
    shutil.copy(root / "run" / "c.mp4", root / "run" / "c_copy")
    (root / "run" / ".DS_Store").write_bytes(b"\0")
    return root


# -- which files are videos ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", [".ts", ".m2ts", ".mts", ".3gp"])
def test_transport_streams_and_3gp_are_videos(tmp_path, ext):
    """Camcorder and broadcast files (MPEG-TS) and phone videos (3GPP) are found in class folders and decode."""
    assert ext in VIDEO_EXTENSIONS
    path = write_h264(tmp_path / "cls" / f"clip{ext}", num_frames=10)
    samples, classes = read_class_folders(tmp_path)
    assert samples == [(str(path), 0)] and classes == ["cls"]
    with VideoReader(str(path)) as r:
        assert len(r) == 10 and r.get_frames([0, 9]).shape == (2, 32, 48, 3)


def test_class_folders_count_the_files_they_skip(tmp_path, caplog):
    root = user_folder(tmp_path / "videos")
    samples, classes, skipped = scan_class_folders(root)
    assert classes == ["jump", "run"]
    assert [Path(p).name for p, _ in samples] == ["a.mp4", "b.mp4", "c.mp4", "d.ts"]
    assert skipped.counts == {".txt": 1, "": 1} and len(skipped) == 2
    text = str(skipped)
    assert text.startswith(f"skipped 2 files in {root} that are not videos by their extension (")
    assert ".txt x1" in text and "no extension x1" in text and "known: .mp4 .avi" in text and " .ts " in text
    # read_class_folders says it once per folder, however often a run reads the folder (classes, train, val)
    with caplog.at_level("WARNING", logger="tubelet.data"):
        for _ in range(3):
            assert read_class_folders(root) == (samples, classes)
    notes = [r.getMessage() for r in caplog.records if "not videos by their extension" in r.getMessage()]
    assert notes == [f"note: {text}"]


def test_the_note_is_one_readable_line():
    one = SkippedFiles("v", {".txt": 1})
    assert str(one).startswith("skipped 1 file in v that is not a video by its extension (.txt x1); known: .mp4")
    many = SkippedFiles("v", {"": 2, ".g": 3, ".txt": 2, **{f".{c}": 1 for c in "abcdef"}})
    assert len(many) == 13 and "\n" not in str(many)
    # the most frequent first, the rest counted together, files without an extension always named (and last)
    assert many.kinds() == ".g x3, .txt x2, .a x1, .b x1, .c x1, .d x1, 2 more extensions x2, no extension x2"
    assert "a video needs its extension (clip.mp4)" in str(many) and "clip.mp4" not in str(one)


def test_a_folder_without_videos_says_what_it_holds(tmp_path):
    (tmp_path / "classes" / "a").mkdir(parents=True)
    shutil.copy(write_h264(tmp_path / "clip.mp4"), tmp_path / "classes" / "a" / "clip")  # renamed without .mp4
    (tmp_path / "classes" / "a" / "clip2").write_bytes(b"")
    with pytest.raises(AnnotationError, match=r"classes: no video files \(.*\) in its class folders \(only 2 other "
                                              r"files: no extension x2\)"):
        read_class_folders(tmp_path / "classes")
    with pytest.raises(VideoDecodeError, match=r"a: no video files .* in this folder \(only 2 other files"):
        expand_videos([str(tmp_path / "classes" / "a")])


def test_expand_videos_hands_back_or_logs_the_skipped_files(tmp_path, caplog):
    root = user_folder(tmp_path / "videos")
    skipped = []
    videos = expand_videos([str(root)], skipped)
    assert [Path(v).name for v in videos] == ["a.mp4", "b.mp4", "c.mp4", "d.ts"]
    assert [s.counts for s in skipped] == [{".txt": 1, "": 1}] and skipped[0].folder == str(root)
    assert find_videos(root) == (videos, skipped[0])
    with caplog.at_level("WARNING", logger="tubelet.engine"):
        assert expand_videos([str(root)]) == videos
    assert [r.getMessage() for r in caplog.records] == [f"note: {skipped[0]}"]


# -- the note reaches the user on the command line -------------------------------------------------------------------
def test_predict_over_a_folder_notes_the_skipped_files(tmp_path, capsys):
    root = user_folder(tmp_path / "videos")
    assert main(["predict", str(root), "--model", "uniformer_small", *TINY_UNIFORMER, "--workers", "0",
                 "--top-k", "1"]) == 0
    out, err = capsys.readouterr()
    notes = [line for line in err.splitlines() if line.startswith("note: skipped")]
    assert notes == [f"note: skipped 2 files in {root} that are not videos by their extension (.txt x1, no "
                     f"extension x1); a video needs its extension (clip.mp4) to be found; known: "
                     f"{' '.join(VIDEO_EXTENSIONS)}"]
    assert "d.ts" in out and "c_copy" not in out and "notes.txt" not in out


def _folders_run(root: Path) -> list[str]:
    return [str(RECIPE), "--set", "data.format=folders", "--set", f"data.train={root}", "--set", f"data.val={root}",
            "--set", "data.labels=null", "--set", "data.root=", "--set", "data.num_workers=0",
            "--set", "data.batch_size=2", "--set", "data.eval_batch_size=4", "--set", "data.crop_size=32",
            "--set", "data.short_side=36", "--set", "data.test_resize=36", "--set", "data.num_frames=4"]


def test_training_on_class_folders_notes_the_skipped_files_once(tmp_path, caplog):
    root = user_folder(tmp_path / "videos")
    argv = ["train", *_folders_run(root), "--out", str(tmp_path / "run"), "--set", "optim.epochs=1",
            "--set", "optim.warmup_epochs=0",
            "--set", "train.steps_per_epoch=1", "--set", "train.progress=false"]
    with caplog.at_level("WARNING", logger="tubelet.data"):
        assert main(argv) == 0
    notes = [r.getMessage() for r in caplog.records if "not videos by their extension" in r.getMessage()]
    assert notes == [f"note: skipped 2 files in {root} that are not videos by their extension (.txt x1, no "
                     f"extension x1); a video needs its extension (clip.mp4) to be found; known: "
                     f"{' '.join(VIDEO_EXTENSIONS)}"]


def test_the_training_note_reaches_a_terminal(tmp_path):
    """In a real ``tubelet`` process no logging is configured: the note must still reach stderr, once."""
    root = user_folder(tmp_path / "videos")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "tubelet", "train", *_folders_run(root), "--dry-run"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(f"note: skipped 2 files in {root} that are not videos by their extension") == 1
    assert "dry run OK" in done.stdout


# -- data split ------------------------------------------------------------------------------------------------------
def _empty_videos(root: Path, sizes: dict[str, int]) -> None:
    """The split reads no video: empty files of each class (``name: count``)."""
    for name, n in sizes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (root / name / f"v{i:02d}.mp4").write_bytes(b"")


def test_split_is_stratified_deterministic_and_reads_back(tmp_path):
    root = tmp_path / "videos"
    _empty_videos(root, {"big": 10, "mid": 5, "pair": 2, "single": 1})
    split = split_class_folders(root, val=0.2, seed=0)
    assert split.classes == ["big", "mid", "pair", "single"]
    assert split.per_class() == [(8, 2), (4, 1), (1, 1), (1, 0)]  # rounded; both sides from two videos; one trains
    assert split_class_folders(root, val=0.2, seed=0) == split  # the same files and seed: the same split
    assert split_class_folders(root, val=0.5, seed=0).per_class() == [(5, 5), (2, 3), (1, 1), (1, 0)]
    other_seeds = [sorted(split_class_folders(root, val=0.2, seed=s).val) for s in range(1, 6)]
    assert any(v != sorted(split.val) for v in other_seeds)
    # every video once, on one side
    everything = sorted(p for p, _ in read_class_folders(root)[0])
    assert sorted(str(root / p) for p, _ in split.train + split.val) == everything
    # the written lists read back as those videos and labels, and classes.txt as the classes
    files = write_split_lists(split)
    assert files == {"train": root / "train.txt", "val": root / "val.txt", "classes": root / "classes.txt"}
    assert read_list_file(files["train"], root) == [(str(root / p), y) for p, y in split.train]
    assert read_list_file(files["val"], root) == [(str(root / p), y) for p, y in split.val]
    assert read_class_names(str(files["classes"])) == split.classes
    # lists in the folder are no class: a second split of it sees the same classes and videos
    assert split_class_folders(root, val=0.2, seed=0) == split
    # adding videos to one class moves none of another's
    _empty_videos(root, {"mid": 9})
    grown = split_class_folders(root, val=0.2, seed=0)
    assert [s for s in grown.val if s[1] != 1] == [s for s in split.val if s[1] != 1]


def test_split_refuses_to_overwrite_and_bad_values(tmp_path):
    root = tmp_path / "videos"
    _empty_videos(root, {"a": 3, "b": 3})
    split = split_class_folders(root)
    write_split_lists(split)
    (root / "val.txt").write_text("kept\n")
    with pytest.raises(UsageError, match=rf"{root / 'train.txt'} already exists \(and 2 more of the lists\): "
                                         r"--overwrite"):
        write_split_lists(split)
    assert (root / "val.txt").read_text() == "kept\n"
    write_split_lists(split, overwrite=True)
    assert (root / "val.txt").read_text() != "kept\n"
    out = write_split_lists(split, tmp_path / "lists" / "v1")  # elsewhere: the paths stay relative to the root
    assert read_list_file(out["train"], root) == read_list_file(root / "train.txt", root)
    for val in (0, 1, 1.5, -0.2, float("nan")):
        with pytest.raises(UsageError, match="not a fraction between 0 and 1"):
            split_class_folders(root, val=val)
    with pytest.raises(UsageError, match="seed: -1 is not a non-negative integer"):
        split_class_folders(root, seed=-1)
    with pytest.raises(AnnotationError, match="no such folder"):
        split_class_folders(tmp_path / "missing")


def test_split_writes_names_that_a_list_file_would_misread(tmp_path):
    root = tmp_path / "videos"
    _empty_videos(root, {"#1 best": 2, " spaced": 2})
    split = split_class_folders(root)
    assert all(p.startswith("./") for p, _ in split.train + split.val)  # not a comment, no space lost
    files = write_split_lists(split)
    listed = read_list_file(files["train"], root) + read_list_file(files["val"], root)
    assert sorted(os.path.normpath(p) for p, _ in listed) == sorted(p for p, _ in read_class_folders(root)[0])
    (root / "bad\nname").mkdir()
    (root / "bad\nname" / "x.mp4").write_bytes(b"")
    with pytest.raises(AnnotationError, match="control character .* cannot be written to a list file; rename it"):
        split_class_folders(root)
    if sys.platform == "linux":  # a Latin-1 file name (bytes that are not UTF-8), named with the bytes escaped
        shutil.rmtree(root / "bad\nname")
        open(os.fsencode(root / "#1 best") + b"/caf\xe9.mp4", "wb").close()
        with pytest.raises(AnnotationError, match=r"caf\\udce9\.mp4': the file name is not UTF-8 text"):
            split_class_folders(root)


def test_data_split_command(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    user_folder(tmp_path / "2024")  # a folder name that YAML would read as a number
    assert main(["data", "split", "2024", "--val", "0.5"]) == 0
    out, err = capsys.readouterr()
    assert "note: skipped 2 files in 2024 that are not videos by their extension (.txt x1, no extension x1)" in err
    assert "wrote 2024/train.txt (2 videos), 2024/val.txt (2 videos) and 2024/classes.txt (2 classes)" in out
    command = next(line for line in out.splitlines() if line.startswith("next: "))[len("next: "):]
    tokens = shlex.split(command)
    assert tokens[:3] == ["tubelet", "train", "configs/examples/own_videos_from_scratch.yaml"
                          if Path("configs").is_dir() else str(RECIPE)]
    sets = [tokens[i + 1] for i, t in enumerate(tokens) if t == "--set"]
    cfg = load_config(RECIPE, sets)  # the printed values read back as the paths, not as the number 2024
    assert (cfg.data.root, cfg.data.train, cfg.data.val, cfg.data.labels) == \
        ("2024", "2024/train.txt", "2024/val.txt", "2024/classes.txt")
    assert tokens[-2:] == ["--out", "runs/2024"]
    # a second split does not replace the lists: one line naming the file
    assert main(["data", "split", "2024"]) == 2
    assert "tubelet data: error: 2024/train.txt already exists" in capsys.readouterr().err
    assert main(["data", "split", "2024", "--overwrite", "--seed", "3", "--out", "lists"]) == 0
    assert (tmp_path / "lists" / "classes.txt").read_text() == "jump\nrun\n"
    assert main(["data", "split", "2024", "--val", "1"]) == 2
    assert "not a fraction between 0 and 1" in capsys.readouterr().err
