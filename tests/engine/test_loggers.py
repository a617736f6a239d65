"""train.tensorboard / train.wandb / train.mlflow on tiny runs: every metrics.jsonl record reaches each logger at its
step with the config as hyper-parameters (W&B offline, read back from its .wandb file; MLflow on a file store, read
back with MlflowClient), Ctrl-C still saves last.pt and closes the runs as interrupted, a failing logger is warned
about once and the run goes on, and a missing package is a ConfigError naming the extra before any work."""
import json
import logging
import os
import signal
import subprocess
import sys
import types
import typing

import pytest

from tubelet.config import ConfigError
from tubelet.engine.checkpoint import load_checkpoint
from tubelet.engine.loggers import Loggers, scalars
from tubelet.engine.train import TrainingInterrupted, train

from .conftest import tiny_config


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("logger_data")


def _config(root, **train_section):
    """One epoch of 2 steps (8 clips, batch 4) and one evaluation of 4 clips."""
    return tiny_config(root, optim={"epochs": 1}, data={"synthetic": {"num_train": 8, "num_val": 4}},
                       train={"steps_per_epoch": 2, **train_section})


def _records(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """W&B offline and MLflow on a file store, both in tmp_path (the working folder too); none of the machine's W&B or
    MLflow settings leak in."""
    for name in list(os.environ):
        if name.startswith(("WANDB_", "MLFLOW_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    for name, value in {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true",
                        "WANDB_CONSOLE": "off", "WANDB_DISABLE_GIT": "true", "WANDB_DISABLE_CODE": "true",
                        "MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri(), "MLFLOW_EXPERIMENT_NAME": "tiny",
                        "MLFLOW_ALLOW_FILE_STORE": "true"}.items():  # MLflow 3.x refuses file stores without it
        monkeypatch.setenv(name, value)
    yield tmp_path
    if "wandb" in sys.modules:
        sys.modules["wandb"].teardown()  # the service writes the end of the .wandb file, then stops


class _SummaryWriter:
    """Stands in for torch.utils.tensorboard.SummaryWriter (the tensorboard package is not a test dependency)."""

    made: typing.ClassVar[list["_SummaryWriter"]] = []

    def __init__(self, folder):
        self.folder, self.scalars, self.texts, self.closed = folder, [], {}, False
        self.made.append(self)

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def add_text(self, tag, text, step):
        self.texts[tag] = text

    def close(self):
        self.closed = True


@pytest.fixture
def tensorboard(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=_SummaryWriter))
    _SummaryWriter.made = []
    return _SummaryWriter.made


def _wandb_run(root) -> dict:
    """The offline run in ``root``/wandb, read from its .wandb file with wandb's own protobuf messages: the file is
    wandb's LevelDB-style log (a 7-byte header, then 32 KiB blocks of chunks with a 7-byte header each: checksum,
    length, type 1 full / 2 first / 3 middle / 4 last) of ``wandb_internal_pb2.Record``s."""
    import wandb
    from wandb.proto import wandb_internal_pb2

    wandb.teardown()  # finish() can return before wandb's service has written the file's end; teardown waits
    files = sorted(root.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 1, files
    data = files[0].read_bytes()
    assert data[:4] == b":W&B"
    run = {"history": {}, "config": {}, "name": None, "exit_code": None}
    pos, chunks = 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a chunk header is padding
            pos += 32768 - pos % 32768
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        chunks += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind not in (1, 4):
            continue
        record = wandb_internal_pb2.Record()
        record.ParseFromString(chunks)
        chunks = b""
        which = record.WhichOneof("record_type")
        if which == "run":
            run["name"] = record.run.display_name
            run["config"].update({i.key: json.loads(i.value_json) for i in record.run.config.update})
        elif which == "config":
            run["config"].update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif which == "history":
            row = run["history"].setdefault(record.history.step.num, {})
            row.update({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item})
        elif which == "exit":
            run["exit_code"] = record.exit.exit_code
    return run


def _mlflow_run():
    """The one run of the MLflow experiment "tiny", and a client to read it."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert len(runs) == 1, runs
    return client, runs[0]


def test_every_record_reaches_tensorboard_wandb_and_mlflow_with_the_config(data_root, offline, tensorboard):
    pytest.importorskip("wandb")
    pytest.importorskip("mlflow")
    run = offline / "run"
    train(_config(data_root, tensorboard=True, wandb=True, mlflow=True), run)
    records = _records(run)
    assert [(r["kind"], r["step"]) for r in records] == [("train", 1), ("train", 2), ("eval", 2)]
    expected = [(k, v, r["step"]) for r in records for k, v in scalars(r).items()]
    assert {k for k, _, _ in expected} >= {"train/loss", "train/lr", "train/clips_per_s", "eval/top1", "eval/top5"}

    # TensorBoard: each value under <kind>/<key> at its step, in order; the config as text; closed
    (writer,) = tensorboard
    assert writer.folder == str(run / "tensorboard") and writer.scalars == expected and writer.closed
    assert "uniformer_small" in writer.texts["config"]

    # W&B (offline): one history row per step holding that step's values; the config; finished with exit code 0
    wb = _wandb_run(offline)
    for key, value, step in expected:
        assert wb["history"][step][key] == value, (key, step)
    assert wb["config"]["model"]["name"] == "uniformer_small" and wb["config"]["optim"]["epochs"] == 1
    assert wb["name"] == "run" and wb["exit_code"] == 0

    # MLflow (file store): each metric's history; the config as dotted parameters; the run named after the folder
    client, ml = _mlflow_run()
    for key in {k for k, _, _ in expected}:
        history = [(m.step, m.value) for m in client.get_metric_history(ml.info.run_id, key)]
        assert sorted(history) == [(s, float(v)) for k, v, s in expected if k == key], key
    params = ml.data.params
    assert params["model.name"] == "uniformer_small" and params["optim.epochs"] == "1"
    assert params["train.mlflow"] == "true" and params["data.synthetic.num_train"] == "8"
    assert ml.info.run_name == "run" and ml.info.status == "FINISHED"


def test_ctrl_c_saves_last_pt_and_ends_the_runs_as_interrupted(data_root, offline, monkeypatch):
    """SIGINT right after step 1 is logged: last.pt at step 1, TrainingInterrupted (exit 130), and the W&B and MLflow
    runs closed as interrupted with what was logged."""
    pytest.importorskip("wandb")
    pytest.importorskip("mlflow")
    log = Loggers.log

    def log_then_ctrl_c(self, record):
        log(self, record)
        if record["kind"] == "train" and record["step"] == 1:
            signal.raise_signal(signal.SIGINT)  # to the training loop's handler, which stops at the step's end

    monkeypatch.setattr(Loggers, "log", log_then_ctrl_c)
    run = offline / "run"
    with pytest.raises(TrainingInterrupted) as info:
        train(_config(data_root, wandb=True, mlflow=True), run)
    assert info.value.exit_code == 130 and load_checkpoint(run / "last.pt")["step"] == 1
    assert [r["step"] for r in _records(run)] == [1]
    wb = _wandb_run(offline)
    assert wb["exit_code"] == 130 and "train/loss" in wb["history"][1] and 2 not in wb["history"]
    client, ml = _mlflow_run()
    assert ml.info.status == "KILLED"
    assert [m.step for m in client.get_metric_history(ml.info.run_id, "train/loss")] == [1]


def test_a_failing_logger_is_warned_about_once_and_the_run_goes_on(data_root, offline, tensorboard, monkeypatch,
                                                                    caplog):
    """MLflow's store fails at every metric (a full disk) and W&B cannot start: one warning each, and training, its
    checkpoints, metrics.jsonl and the TensorBoard events go on to the end."""
    pytest.importorskip("wandb")
    mlflow = pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    log_batch = MlflowClient.log_batch

    def full_disk(self, run_id, metrics=(), params=(), tags=(), **kwargs):
        if metrics:
            raise OSError(28, "No space left on device")
        return log_batch(self, run_id, metrics=metrics, params=params, tags=tags, **kwargs)

    def no_wandb(**kwargs):
        raise RuntimeError("api_key not configured")

    monkeypatch.setattr(MlflowClient, "log_batch", full_disk)
    monkeypatch.setattr(sys.modules["wandb"], "init", no_wandb)
    run = offline / "run"
    with caplog.at_level(logging.WARNING, logger="tubelet.engine"):
        result = train(_config(data_root, tensorboard=True, wandb=True, mlflow=True), run)
    assert result["step"] == 2 and load_checkpoint(run / "last.pt")["step"] == 2
    assert (run / "best.safetensors").is_file() and len(_records(run)) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert "train.wandb: W&B could not start (RuntimeError: api_key not configured)" in warnings[0]
    assert "train.mlflow: MLflow failed while logging" in warnings[1] and "No space left" in warnings[1]
    (writer,) = tensorboard
    assert len({step for _, _, step in writer.scalars}) == 2 and writer.closed  # steps 1 and 2
    _, ml = _mlflow_run()
    assert ml.info.status == "FINISHED" and ml.data.params["model.name"] == "uniformer_small"
    assert mlflow.active_run() is None


@pytest.mark.parametrize("key,module", [("tensorboard", "torch.utils.tensorboard"), ("wandb", "wandb"),
                                        ("mlflow", "mlflow")])
def test_a_missing_package_is_a_config_error_naming_the_extra(tmp_path, monkeypatch, key, module):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` fails as if it were not installed
    with pytest.raises(ConfigError, match=rf'train\.{key} needs the {key} package: pip install "tubelet\[{key}\]"'):
        train(_config(tmp_path / "data", **{key: True}), tmp_path / "run")
    assert not (tmp_path / "run").exists() and not (tmp_path / "data").exists()  # before any work


def test_mlflow_on_a_database_without_sqlalchemy_is_a_config_error(tmp_path, monkeypatch):
    """mlflow-skinny (tubelet[mlflow]) has no database stores, and MLflow 3 defaults to sqlite:///mlflow.db."""
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    with pytest.raises(ConfigError, match="a database, which needs sqlalchemy.*MLFLOW_TRACKING_URI"):
        train(_config(tmp_path / "data", mlflow=True), tmp_path / "run")
    assert not (tmp_path / "run").exists() and not (tmp_path / "mlflow.db").exists()


def test_importing_the_engine_imports_neither_wandb_nor_mlflow():
    code = ("import sys, tubelet, tubelet.engine.train, tubelet.cli\n"
            "print(sorted(m for m in ('wandb', 'mlflow', 'torch.utils.tensorboard') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
