"""A run's folder is safe (issue 15, points 1-3): a finished run is never overwritten by accident and nothing is
touched before a launch's checks pass; SIGINT / SIGTERM save a resumable last.pt where training stopped; --resume
keeps the run's own config; last.pt and every converted file say which model they hold and what it is fed."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

import tubelet
from tubelet.cli import main
from tubelet.config import config_differences, config_to_dict, load_config, save_config
from tubelet.engine import train as train_module
from tubelet.engine.checkpoint import load_checkpoint, save_checkpoint
from tubelet.engine.train import train

from .conftest import tiny_config

#: one epoch of 4 steps; drop path makes the RNG state matter for an exact resume
OPTIONS = {"depth": [1, 1, 1, 1], "embed_dim": [16, 32, 64, 128], "head_dim": 16, "drop_path_rate": 0.1}


def _config(root, **train_section):
    return tiny_config(root, optim={"epochs": 1}, model={"name": "uniformer_small", "options": OPTIONS},
                       train={"log_every": 1, "progress": False, **train_section})


@pytest.fixture(scope="module")
def finished_run(synthetic_root, tmp_path_factory):
    """A finished run (4 steps, one evaluation) that the tests read but never change."""
    run = tmp_path_factory.mktemp("finished") / "run"
    train(_config(synthetic_root), run)
    return run


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tubelet train: error: "), err
    return err[0]


def _first_result(stdout: str) -> dict:
    """The first video's result of `predict --json` (a JSON list, or one JSON object per line)."""
    try:
        parsed = json.loads(stdout)
    except ValueError:
        parsed = json.loads(stdout.strip().splitlines()[0])
    return parsed[0] if isinstance(parsed, list) else parsed


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# -- 1. a run is never destroyed silently -------------------------------------------------------------------------

def test_a_folder_that_holds_a_run_is_refused_and_left_untouched(synthetic_root, finished_run, tmp_path, capsys):
    cfg = _config(synthetic_root)
    before = _snapshot(finished_run)
    with pytest.raises(tubelet.ConfigError) as e:
        train(cfg, finished_run)
    for word in (str(finished_run), "last.pt", "best.safetensors", "metrics.jsonl", "--resume", "--overwrite"):
        assert word in str(e.value)
    save_config(cfg, tmp_path / "recipe.yaml")
    assert main(["train", str(tmp_path / "recipe.yaml"), "--out", str(finished_run)]) == 2
    assert "holds a training run" in _error_line(capsys)
    with pytest.raises(tubelet.UsageError, match="pass one of them"):
        train(cfg, finished_run, resume=True, overwrite=True)
    assert _snapshot(finished_run) == before


def test_nothing_is_written_before_the_launch_checks_pass(synthetic_root, finished_run, tmp_path):
    """A launch that fails (here: the model cannot be built) leaves the folder as it was, even with --overwrite;
    a new folder is not even created."""
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    before = _snapshot(run)
    bad = tiny_config(synthetic_root, model={"options": {**OPTIONS, "no_such_option": 1}})
    with pytest.raises(tubelet.OptionError):
        train(bad, run, overwrite=True)
    assert _snapshot(run) == before
    with pytest.raises(tubelet.OptionError):
        train(bad, tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_overwrite_removes_the_previous_runs_files_and_nothing_else(synthetic_root, finished_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    for folder in ("eval", "eval/best_4x3", "eval/mine"):  # tubelet eval's default folders, and the user's
        (run / folder).mkdir()
        for name in ("report.txt", "confusion.png", "predictions.jsonl", "metrics.json", "mine.txt"):
            (run / folder / name).write_text("x")
    (run / "eval" / "best_1x1").mkdir()
    for name in ("report.txt", "confusion.png"):
        (run / "eval" / "best_1x1" / name).write_text("x")
    (run / "tensorboard").mkdir()
    (run / "tensorboard" / "events.out.tfevents.1.host").write_text("x")
    (run / "notes.txt").write_text("the user's own file")
    # start over and stop after one step: nothing of the old run may survive next to the new one
    result = train(_config(synthetic_root, stop_at_step=1), run, overwrite=True)
    assert result["stopped"] and result["step"] == 1
    left = sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file())
    assert left == ["config.yaml", "eval/best_4x3/mine.txt", "eval/mine.txt", *(f"eval/mine/{name}" for name in (
        "confusion.png", "metrics.json", "mine.txt", "predictions.jsonl", "report.txt")), "last.pt", "metrics.jsonl",
                    "notes.txt"]
    assert not (run / "eval" / "best_1x1").exists() and not (run / "tensorboard").exists()
    assert [r["step"] for r in _records(run)] == [1]
    assert load_checkpoint(run / "last.pt")["step"] == 1


# -- 2. Ctrl-C / SIGTERM save where training stopped; --resume keeps the run's config -----------------------------

#: the training process, each micro-batch slowed to 0.4 s so that a signal lands mid-run (the numbers are unchanged)
_SLOW_TRAIN = (f"import sys, time\nimport torch\ntorch.set_num_threads({torch.get_num_threads()})  # as this process "
               "(tests/conftest.py): the same numbers\n"
               "import tubelet.engine.objective as T\nloss = T._loss\n"
               "def slow(*a, **k):\n    time.sleep(0.4)\n    return loss(*a, **k)\n"
               "T._loss = slow\nfrom tubelet.cli import main\nsys.exit(main(sys.argv[1:]))\n")


def _wait_for_steps(run, n, alive=lambda: True, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline and alive():
        if (run / "metrics.jsonl").exists() and len((run / "metrics.jsonl").read_text().splitlines()) >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"no {n} training steps logged in {run}")


def test_ctrl_c_saves_the_step_it_stopped_at_and_resume_is_exact(synthetic_root, finished_run, tmp_path, capsys):
    """A real `tubelet train` process gets SIGINT mid-epoch: exit 130, one line and no traceback, last.pt at the
    step it stopped at; `tubelet train --out OUT --resume` (no config: the run's own) then ends with the same losses
    and bit-identical weights as the uninterrupted run."""
    save_config(_config(synthetic_root), tmp_path / "recipe.yaml")
    run = tmp_path / "run"
    with open(tmp_path / "stderr", "w") as err:
        proc = subprocess.Popen([sys.executable, "-c", _SLOW_TRAIN, "train", str(tmp_path / "recipe.yaml"), "--out",
                                 str(run)], stdout=subprocess.DEVNULL, stderr=err)
        try:
            _wait_for_steps(run, 1, alive=lambda: proc.poll() is None)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=120) == 130
        finally:
            proc.kill()
    stderr = (tmp_path / "stderr").read_text()
    assert "Traceback" not in stderr, stderr
    step = load_checkpoint(run / "last.pt")["step"]
    assert 1 <= step < 4 and [r["step"] for r in _records(run)] == list(range(1, step + 1))
    assert stderr.strip().splitlines()[-1] == (
        f"tubelet train: interrupted (SIGINT) at step {step} (epoch 1 of 1, batch {step} of 4); saved "
        f"{run / 'last.pt'}; resume with: tubelet train --out {run} --resume")
    assert main(["train", "--out", str(run), "--resume"]) == 0
    assert f"resumed from {run / 'last.pt'}: step {step}" in capsys.readouterr().out
    a, b = _records(finished_run), _records(run)
    assert [(r["kind"], r["step"], r["loss"]) for r in a] == [(r["kind"], r["step"], r["loss"]) for r in b]
    wa, wb = (load_checkpoint(r / "last.pt")["model"] for r in (finished_run, run))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_sigterm_saves_and_exits_143_and_restores_the_handlers(synthetic_root, tmp_path, capsys, monkeypatch):
    """In-process (the handlers are installed only while training, then the previous ones come back)."""
    from tubelet.engine import objective
    loss = objective._loss  # the classification task's loss

    def slow(*a, **k):
        time.sleep(0.4)
        return loss(*a, **k)

    monkeypatch.setattr(objective, "_loss", slow)
    save_config(_config(synthetic_root), tmp_path / "recipe.yaml")
    run = tmp_path / "run"

    def guard(signum, frame):
        raise AssertionError("SIGTERM reached the test, not the training loop")

    def send_when_training():
        _wait_for_steps(run, 1)
        os.kill(os.getpid(), signal.SIGTERM)

    sigint = signal.getsignal(signal.SIGINT)
    previous = signal.signal(signal.SIGTERM, guard)
    try:
        sender = threading.Thread(target=send_when_training, daemon=True)
        sender.start()
        assert main(["train", str(tmp_path / "recipe.yaml"), "--out", str(run)]) == 143
        sender.join(timeout=10)
        assert signal.getsignal(signal.SIGTERM) is guard and signal.getsignal(signal.SIGINT) is sigint
    finally:
        signal.signal(signal.SIGTERM, previous)
    err = capsys.readouterr().err.strip().splitlines()
    step = load_checkpoint(run / "last.pt")["step"]
    assert err[-1].startswith(f"tubelet train: interrupted (SIGTERM) at step {step} ") and "--resume" in err[-1]
    assert [r["step"] for r in _records(run)] == list(range(1, step + 1))


@pytest.mark.slow
def test_ddp_ranks_stop_at_the_same_step_when_one_is_signalled(synthetic_root, tmp_path):
    """torchrun, 2 CPU processes (gloo): SIGTERM reaches rank 1 only; the flag is all-reduced at every step, so both
    stop at the same step (else rank 0 would wait for rank 1 in the checkpoint's collectives) and rank 0 saves it."""
    from .conftest import TINY_SWIN

    save_config(tiny_config(synthetic_root, model=TINY_SWIN, optim={"epochs": 1}, data={"batch_size": 2}),
                tmp_path / "recipe.yaml")
    script = tmp_path / "slow_train.py"
    script.write_text("import os\n" + f"open(os.path.join({str(tmp_path)!r}, 'pid' + os.environ['RANK']), 'w')"
                      ".write(str(os.getpid()))\n" + _SLOW_TRAIN)
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(tmp_path / "stderr", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                                 str(script), "train", str(tmp_path / "recipe.yaml"), "--out", str(run)],
                                stdout=subprocess.DEVNULL, stderr=err, env=env)
        try:
            _wait_for_steps(run, 1, alive=lambda: proc.poll() is None)
            os.kill(int((tmp_path / "pid1").read_text()), signal.SIGTERM)
            assert proc.wait(timeout=240) != 0  # torchrun reports its workers' exit status 143
        finally:
            proc.kill()
    step = load_checkpoint(run / "last.pt")["step"]
    assert 1 <= step < 4 and [r["step"] for r in _records(run)] == list(range(1, step + 1))
    assert f"tubelet train: interrupted (SIGTERM) at step {step} " in (tmp_path / "stderr").read_text()


def test_a_second_ctrl_c_stops_at_once():
    """The first signal asks for a stop at the next step; after it, SIGINT is back to its default action (the atomic
    save keeps the last complete checkpoint), while further SIGTERMs are absorbed."""
    sigint, sigterm = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    stop = train_module._StopSignals(announce=False)
    with stop:
        assert stop.agreed() is None
        signal.raise_signal(signal.SIGTERM)
        assert stop.agreed() == signal.SIGTERM
        assert signal.getsignal(signal.SIGINT) is signal.SIG_DFL
        signal.raise_signal(signal.SIGTERM)  # absorbed
        assert stop.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGINT) is sigint and signal.getsignal(signal.SIGTERM) is sigterm


def test_resume_refuses_a_config_that_differs_from_the_runs(synthetic_root, tmp_path, capsys):
    """The run's config decides; a forgotten --set or another recipe is an error naming the keys and both values."""
    cfg = _config(synthetic_root, stop_at_step=2)
    run = tmp_path / "run"
    save_config(cfg, run / "config.yaml")
    save_checkpoint({"model": {}, "step": 2, "config": config_to_dict(cfg), "model_name": cfg.model.name},
                    run / "last.pt")
    other = tmp_path / "other.yaml"
    save_config(_config(synthetic_root), other)  # the same recipe (stop_at_step is this launch's business)...
    assert main(["train", str(other), "--out", str(run), "--resume", "--set", "optim.epochs=3",
                 "--set", "model.options.head_dim=32"]) == 2  # ... but for two keys
    line = _error_line(capsys)
    assert ("optim.epochs: the run was started with 1, this launch says 3" in line
            and "model.options.head_dim: the run was started with 16, this launch says 32" in line
            and "--allow-changes" in line)
    # without a config: OUT/config.yaml (its stop_at_step belongs to the launch that stopped there)
    assert main(["train", "--out", str(run), "--resume", "--set", "optim.lr=0.5"]) == 2
    line = _error_line(capsys)
    assert "optim.lr: the run was started with 0.001, this launch says 0.5" in line and "stop_at_step" not in line
    assert main(["train", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "no run to resume" in _error_line(capsys)
    assert main(["train", "--resume"]) == 2
    assert "--out OUT --resume" in _error_line(capsys)
    # --allow-changes: the new values are used, and said
    changed = load_config(other, ["optim.epochs=3"])
    train_module._check_resume(load_checkpoint(run / "last.pt"), changed, run / "last.pt", True, True)
    assert "optim.epochs: the run was started with 1, this launch says 3" in capsys.readouterr().out
    assert [k for k, *_ in config_differences(config_to_dict(cfg), changed)] == ["optim.epochs", "train.stop_at_step"]


# -- 3. training checkpoints describe themselves --------------------------------------------------------------------

def test_last_pt_rebuilds_the_trained_model_without_being_told_its_name(synthetic_root, finished_run, tmp_path,
                                                                        capsys):
    last, best = finished_run / "last.pt", finished_run / "best.safetensors"
    model = tubelet.create_model(checkpoint_path=last).eval()  # no name, no options
    trained = tubelet.create_model("uniformer_small", num_classes=10, **OPTIONS).eval()
    trained.load_state_dict(load_checkpoint(last)["model"])
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), trained(x))
    assert model.model_args == trained.model_args
    assert model.pretrained_cfg == tubelet.create_model(checkpoint_path=best).pretrained_cfg
    cfg = model.pretrained_cfg
    assert cfg.input_size == (3, 4, 32, 32) and cfg.sampler == "segment"
    assert cfg.labels() == list(tubelet.data.SYNTHETIC_CLASSES)
    # convert needs no name or options and keeps the data contract; predict reads both files alike
    converted = tmp_path / "m.safetensors"
    assert main(["convert", str(last), "--out", str(converted)]) == 0
    again = tubelet.create_model(checkpoint_path=converted).eval()
    assert again.pretrained_cfg == cfg and again.model_args == model.model_args
    with torch.no_grad():
        assert torch.equal(again(x), trained(x))
    capsys.readouterr()
    video = str(synthetic_root / "val" / "000000.mp4")
    outputs = []
    for checkpoint in (last, converted):  # no --model
        assert main(["predict", video, "--checkpoint", str(checkpoint), "--json"]) == 0
        outputs.append(_first_result(capsys.readouterr().out))
    assert outputs[0]["topk"] == outputs[1]["topk"]
    assert outputs[0]["topk"][0]["label"] in tubelet.data.SYNTHETIC_CLASSES


def test_an_old_last_pt_still_loads_with_its_name(finished_run, tmp_path):
    state = load_checkpoint(finished_run / "last.pt")
    old = tmp_path / "old.pt"
    save_checkpoint({k: v for k, v in state.items() if k not in ("tubelet", "version")}, old)
    with pytest.raises(tubelet.CheckpointError, match="pass the model name"):
        tubelet.create_model(checkpoint_path=old)
    model = tubelet.create_model("uniformer_small", checkpoint_path=old, **OPTIONS)
    assert all(torch.equal(v, state["model"][k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("damage, message", [
    ({"model_args": "{not json"}, "not JSON"),
    ({"architecture": "no_such_model"}, "does not know"),
    ({"model_args": json.dumps({"depth": [2, 2, 2, 2]})}, "do not match"),
    ({"pretrained_cfg": 3}, "map names to strings"),
])
def test_damaged_metadata_in_last_pt_is_a_checkpoint_error(finished_run, tmp_path, damage, message):
    state = load_checkpoint(finished_run / "last.pt")
    state["tubelet"] = {**state["tubelet"], **damage}
    path = tmp_path / "damaged.pt"
    torch.save(state, path)
    with pytest.raises(tubelet.CheckpointError, match=message):
        tubelet.create_model(checkpoint_path=path)
