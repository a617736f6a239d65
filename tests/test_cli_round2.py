"""The command line as a new user meets it, second round (issue 26): misspelled flags get the command's closest
flags, a closed pipe is a quiet exit, a command without a model says which flags to give, and the demo resumes where
Ctrl-C stopped it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tubelet.cli import main


@pytest.mark.parametrize("argv, wrong, right", [
    (["predict", "--chekpoint", "w.safetensors"], "--chekpoint", "--checkpoint"),
    (["predict", "--top_k", "3"], "--top_k", "--top-k"),
    (["train", "recipe.yaml", "--ovewrite"], "--ovewrite", "--overwrite"),
    (["data", "synthetic", "out", "--trian", "3"], "--trian", "--train"),
])
def test_a_misspelled_flag_names_the_closest_flag_of_its_command(argv, wrong, right, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    command = " ".join(a for a in argv[:2] if a in ("predict", "train", "data", "synthetic"))
    assert f"usage: tubelet {command}" in err  # the command's usage, not the program's
    assert f"tubelet {command}: error: unrecognized arguments:" in err
    assert f"{wrong}: did you mean {right}?" in err


def test_an_unknown_flag_without_a_close_one_points_to_the_commands_help(capsys):
    with pytest.raises(SystemExit):
        main(["models", "--xyzzy"])
    assert "see `tubelet models --help`" in capsys.readouterr().err


def test_a_closed_pipe_is_a_quiet_exit(tmp_path):
    """`tubelet models | head -2`: the reader closed the pipe before tubelet wrote (the deterministic case of it):
    no traceback, nothing on stderr, the shell's status of a closed pipe."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "tubelet", "models"], stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    finally:
        os.close(write)
    assert proc.returncode == 141
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr and "Exception" not in proc.stderr


def test_a_broken_pipe_in_process_is_quiet(monkeypatch, capsys):
    class Closed:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["models"]) == 141


@pytest.mark.parametrize("command", [["predict"], ["features", "--out", "f.npy"], ["pose"], ["segment"],
                                     ["detect"], ["explain"]])
def test_a_command_without_a_model_names_the_flags(command, tmp_path, capsys, monkeypatch):
    """The command line's words (--model, --checkpoint), never create_model's Python sentence."""
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    if command[0] in ("pose", "segment", "detect"):
        given = tmp_path / "person.jpg"
        Image.new("RGB", (64, 48), (90, 120, 150)).save(given)
    else:
        from tubelet.data import synthetic

        given = tmp_path / "v.mp4"
        synthetic.write_video(given, np.zeros((8, 32, 32, 3), np.uint8))
    assert main([command[0], str(given), *command[1:]]) == 2
    err = capsys.readouterr().err
    assert "give --model NAME" in err and "--checkpoint" in err and "create_model" not in err


def _interrupt_on_call(monkeypatch, n: int) -> None:
    """SIGINT (as Ctrl-C) to this process during the n-th training step's loss."""
    from tubelet.engine import objective

    loss, calls = objective._loss, []

    def hit(*a, **k):
        calls.append(1)
        if len(calls) == n:
            os.kill(os.getpid(), signal.SIGINT)
        return loss(*a, **k)

    monkeypatch.setattr(objective, "_loss", hit)


def test_ctrl_c_during_the_demo_says_how_to_resume_and_the_rerun_resumes(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TUBELET_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo"
    argv = ["demo", "--quick", "--out", str(out), "--set", "train.progress=false"]
    _interrupt_on_call(monkeypatch, 2)
    assert main(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert err[0].startswith("tubelet demo: interrupted (SIGINT) at step 2")
    assert f"run `tubelet demo --out {out}` again to resume (--restart starts over)" in err[0]
    assert not (out / "demo.json").exists()
    monkeypatch.undo()
    monkeypatch.setenv("TUBELET_CACHE", str(tmp_path / "cache"))
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f"resuming the interrupted demo in {out}" in text and "resumed from" in text
    steps = [json.loads(l)["step"] for l in (out / "metrics.jsonl").read_text().splitlines()
             if json.loads(l)["kind"] == "train"]
    assert steps == sorted(set(steps)) and steps[0] == 1  # one run, continued: no step twice
    report = json.loads((out / "demo.json").read_text())
    # a finished demo is started over, saying so
    assert main(argv) == 0
    assert f"note: starting over in {out} (it holds a finished demo)" in capsys.readouterr().out
    assert json.loads((out / "demo.json").read_text())["epochs"] == report["epochs"]


def test_a_demo_stopped_after_training_resumes_to_its_report(tmp_path, capsys, monkeypatch):
    """Ctrl-C after the last step (while evaluating): the rerun resumes a finished training and writes the report."""
    from tubelet.engine import demo

    monkeypatch.setenv("TUBELET_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo"
    argv = ["demo", "--quick", "--out", str(out), "--set", "train.progress=false"]
    real = demo.evaluate

    def stop(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "evaluate", stop)
    assert main(argv) == 130
    monkeypatch.setattr(demo, "evaluate", real)
    assert main(argv) == 0
    assert (out / "demo.json").exists()
    assert main(argv + ["--restart"]) == 0


def test_serve_prints_its_address_and_no_gradio_share_advice(tmp_path, capsys, monkeypatch):
    """Gradio's launch() prints "set `share=True` in `launch()`", which means nothing on the command line: serve runs
    it quiet and prints where the page is itself."""
    from tubelet import serve

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    seen = {}

    def launch(demo, host="127.0.0.1", port=None, block=False, quiet=False):
        seen.update(host=host, port=port, block=block, quiet=quiet)
        return f"http://{host}:{port}"

    monkeypatch.setattr(serve, "launch", launch)
    assert main(["serve", "--no-released", "--port", "7999"]) == 0
    assert seen == {"host": "127.0.0.1", "port": 7999, "block": True, "quiet": True}
    out = capsys.readouterr().out
    assert "open http://127.0.0.1:7999 in a browser (this machine only" in out and "share" not in out


def test_a_wrong_set_value_is_blamed_on_the_set_not_the_file(tmp_path, capsys):
    from tubelet.config import ConfigError, load_config

    recipe = Path(__file__).resolve().parents[1] / "configs" / "examples" / "class_folders.yaml"
    assert main(["train", str(recipe), "--set", "optim.lr=abc", "--dry-run"]) == 2
    assert capsys.readouterr().err.strip() == "tubelet train: error: --set optim.lr=abc: expected float, got 'abc'"
    assert main(["demo", "--set", "optim.epochs=x"]) == 2
    assert capsys.readouterr().err.strip() == "tubelet demo: error: --set optim.epochs=x: expected int, got 'x'"
    with pytest.raises(ConfigError, match=r"^--set data=\{num_frames: x\}: data.num_frames: expected int"):
        load_config(recipe, ["data={num_frames: x}"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(recipe.read_text() + "\noptim:\n  lr: fast\n")
    with pytest.raises(ConfigError, match=rf"^{bad}: optim.lr: expected float, got 'fast'"):
        load_config(bad, ["optim.epochs=3"])  # the file's value, not the --set's


def test_the_install_files_and_readme_name_one_torch_floor():
    """constraints.txt said torch>=2.1 where pyproject.toml and the README say >=2.5."""
    import re

    root = Path(__file__).resolve().parents[1]
    (floor,) = re.findall(r'"torch>=([\d.]+)"', (root / "pyproject.toml").read_text())
    for name in ("constraints.txt", "README.md"):
        said = set(re.findall(r"torch>=([\d.]+)", (root / name).read_text()))
        assert said == {floor}, f"{name} says torch>={said}, pyproject.toml torch>={floor}"


def test_the_readme_says_which_cpu_its_demo_time_is_from():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    intro = text[text.index("## Set-up"):text.index("```bash")]
    assert "AVX-512" in intro and "AVX2" in intro
