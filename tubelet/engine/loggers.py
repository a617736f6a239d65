"""Where a run's metrics go besides ``metrics.jsonl``: TensorBoard, Weights & Biases and MLflow.

``train.tensorboard``, ``train.wandb`` and ``train.mlflow`` each add a sink (:class:`MetricSink`). Every record that
:class:`~tubelet.engine.train.MetricsLog` writes reaches every sink as scalars named ``<kind>/<key>`` (``train/loss``,
``eval/top1``) at the record's optimiser step; the resolved config goes along as the run's hyper-parameters. Only
rank 0 logs.

Names and places come from each library's own environment variables, which their users already know, not from
tubelet keys: ``WANDB_PROJECT``, ``WANDB_ENTITY``, ``WANDB_NAME``, ``WANDB_MODE=offline``, ``WANDB_DIR``;
``MLFLOW_TRACKING_URI``, ``MLFLOW_EXPERIMENT_NAME``, ``MLFLOW_RUN_ID``. The run is named after its output folder
unless ``WANDB_NAME`` (or ``MLFLOW_RUN_ID``) says otherwise. A W&B or MLflow run that the caller already started (a
sweep's, a notebook's ``mlflow.start_run()``) receives the metrics and is left open.

A sink is a convenience, the run is not: a missing package is a :class:`~tubelet.errors.ConfigError` before any work
(:func:`require_loggers`), but a sink that fails once training is under way (a full disk, a tracking server gone) is
warned about once and dropped; training, its checkpoints and ``metrics.jsonl`` go on. wandb and mlflow are imported
only when asked for (about 0.4 s and 1.2 s).
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import time
from pathlib import Path

import yaml

from ..config import Config, ConfigError, TrainConfig, config_to_dict

__all__ = ["MetricSink", "TensorBoardSink", "WandbSink", "MlflowSink", "Loggers", "require_loggers", "open_loggers",
           "scalars"]

_log = logging.getLogger("tubelet.engine")

#: config key -> (the module it imports, the extra that installs it)
_PACKAGES = {"tensorboard": ("torch.utils.tensorboard", "tensorboard"), "wandb": ("wandb", "wandb"),
             "mlflow": ("mlflow", "mlflow")}
#: MLflow tracking URIs that are databases (SQLAlchemy stores); recent MLflow's default is ``sqlite:///mlflow.db``
_DATABASES = ("sqlite", "postgresql", "mysql", "mssql")


def require_loggers(t: TrainConfig) -> None:
    """Raise :class:`~tubelet.errors.ConfigError` for a logger that is switched on but cannot run here: its package
    is missing (the message names the extra), or MLflow's tracking URI is a database and SQLAlchemy is missing
    (mlflow-skinny, what ``tubelet[mlflow]`` installs, leaves the database stores out). Called before any work."""
    for key, (module, extra) in _PACKAGES.items():
        if getattr(t, key):
            try:
                importlib.import_module(module)
            except ImportError as e:
                raise ConfigError(f'train.{key} needs the {extra} package: pip install "tubelet[{extra}]" ({e})') \
                    from None
    if t.mlflow:
        import mlflow

        uri = mlflow.get_tracking_uri()
        missing = [m for m in ("sqlalchemy", "alembic") if importlib.util.find_spec(m) is None]
        if uri.partition(":")[0].partition("+")[0] in _DATABASES and missing:
            raise ConfigError(
                f"train.mlflow: the MLflow tracking URI is {uri}"
                f"{'' if os.environ.get('MLFLOW_TRACKING_URI') else ' (MLFLOW_TRACKING_URI is unset)'}"
                f", a database, which needs {' and '.join(missing)}; set MLFLOW_TRACKING_URI to a tracking server "
                f"(http://HOST:5000) or a folder (file:///PATH/mlruns; newer MLflow also asks for "
                f"MLFLOW_ALLOW_FILE_STORE=true), or pip install mlflow (the full package: database stores and the "
                f"mlflow ui)")


def scalars(record: dict) -> dict[str, float]:
    """The numbers of a ``metrics.jsonl`` record, named ``<kind>/<key>`` (``train/loss``, ``eval/top1``); its
    ``step`` is the x axis and its ``epoch`` stays in ``metrics.jsonl``."""
    return {f"{record['kind']}/{k}": v for k, v in record.items()
            if isinstance(v, (int, float)) and k not in ("step", "epoch")}


class MetricSink:
    """One destination of a run's metrics: opened with the run's name and config, then :meth:`log` for every
    record, then :meth:`close` once."""

    key = ""  # the config key that turns it on (train.<key>)
    name = ""  # what warnings call it

    def log(self, values: dict[str, float], step: int) -> None:
        """Record ``values`` (:func:`scalars` of one record) at optimiser step ``step``."""
        raise NotImplementedError

    def close(self, exit_code: int) -> None:
        """End the run. ``exit_code``: 0 finished, 1 failed, 128 + the signal number when interrupted (130 for
        Ctrl-C; what ``tubelet train`` exits with)."""


class TensorBoardSink(MetricSink):
    """Events in ``OUT/tensorboard/`` (``tensorboard --logdir OUT``); the config is a text summary (TensorBoard's
    ``add_hparams`` would write a second run folder)."""

    key, name = "tensorboard", "TensorBoard"

    def __init__(self, out: Path, config: dict):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(out / "tensorboard"))
        text = yaml.safe_dump(config, sort_keys=False)
        self.writer.add_text("config", "".join(f"    {line}\n" for line in text.splitlines()), 0)  # a code block

    def log(self, values: dict[str, float], step: int) -> None:
        for k, v in values.items():
            self.writer.add_scalar(k, v, step)

    def close(self, exit_code: int) -> None:
        self.writer.close()


class WandbSink(MetricSink):
    """A Weights & Biases run: ``wandb.init`` reads ``WANDB_PROJECT``, ``WANDB_ENTITY``, ``WANDB_MODE``
    (``offline``: files only, ``wandb sync`` later), ``WANDB_DIR`` (default ``./wandb``) and the rest itself."""

    key, name = "wandb", "W&B"

    def __init__(self, run_name: str, config: dict):
        import wandb

        self.own = wandb.run is None  # a run the caller started (a sweep's) gets the metrics and stays open
        if self.own:
            self.run = wandb.init(name=os.environ.get("WANDB_NAME") or run_name, config=config)
        else:
            self.run = wandb.run
            self.run.config.update(config, allow_val_change=True)

    def log(self, values: dict[str, float], step: int) -> None:
        self.run.log(values, step=step)  # train and eval records of one step share a row

    def close(self, exit_code: int) -> None:
        if self.own:
            self.run.finish(exit_code=exit_code)


class MlflowSink(MetricSink):
    """An MLflow run: ``MLFLOW_TRACKING_URI`` says where (a server, ``file:///PATH/mlruns``, a database),
    ``MLFLOW_EXPERIMENT_NAME`` in which experiment, ``MLFLOW_RUN_ID`` continues a run. The config is logged as
    parameters with dotted keys (``optim.lr``)."""

    key, name = "mlflow", "MLflow"

    def __init__(self, run_name: str, config: dict):
        import mlflow
        from mlflow.entities import Metric, Param

        self.mlflow, self.metric = mlflow, Metric
        self.client = mlflow.tracking.MlflowClient()
        active = mlflow.active_run()
        self.own = active is None  # the caller's run gets the metrics and stays open
        run = mlflow.start_run(run_name=None if os.environ.get("MLFLOW_RUN_ID") else run_name) if self.own else active
        self.run_id = run.info.run_id  # logged to by id: the fluent calls would start a run if ours were ended
        try:
            self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in _params(config).items()])
        except Exception:
            self.close(1)
            raise

    def log(self, values: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[self.metric(k, float(v), now, step) for k, v in values.items()])

    def close(self, exit_code: int) -> None:
        if not self.own:
            return
        self.own = False
        status = "FINISHED" if exit_code == 0 else "KILLED" if exit_code >= 128 else "FAILED"
        active = self.mlflow.active_run()
        if active is not None and active.info.run_id == self.run_id:
            self.mlflow.end_run(status)  # also takes it off the fluent API's stack of active runs
        else:
            self.client.set_terminated(self.run_id, status)


def _params(config: dict, prefix: str = "") -> dict[str, str]:
    """``{"optim": {"lr": 1e-4}}`` -> ``{"optim.lr": "0.0001"}``: MLflow parameters are flat strings of at most
    MLflow's length limit, so a long ``notes`` is cut."""
    try:
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH as limit
    except ImportError:  # moved in some release: the oldest limit
        limit = 500
    out = {}
    for k, v in config.items():
        if isinstance(v, dict) and v:
            out.update(_params(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = (v if isinstance(v, str) else json.dumps(v))[:limit]
    return out


class Loggers:
    """The sinks of one run, each record to each sink. A sink that raises is warned about once and gets no more
    records (it is still closed at the end), so a logging failure never stops training nor costs a checkpoint;
    ``metrics.jsonl`` keeps every record."""

    def __init__(self, sinks: list[MetricSink] | None = None):
        self.sinks = list(sinks or [])
        self.failed: list[MetricSink] = []

    def log(self, record: dict) -> None:
        live = [s for s in self.sinks if s not in self.failed]
        if live:
            values = scalars(record)
            for sink in live:
                self._guard(sink, "logging", sink.log, values, record["step"])

    def close(self, exit_code: int = 0) -> None:
        """Close every sink, once (also on Ctrl-C and errors: see :meth:`MetricSink.close` for ``exit_code``)."""
        sinks, self.sinks = self.sinks, []
        for sink in sinks:
            self._guard(sink, "closing", sink.close, exit_code)

    def _guard(self, sink: MetricSink, doing: str, fn, *args) -> None:
        try:
            fn(*args)
        except Exception as e:
            if sink in self.failed:  # warned about already
                _log.debug("train.%s: %s failed again while %s: %s", sink.key, sink.name, doing, e)
                return
            self.failed.append(sink)
            _log.warning("train.%s: %s failed while %s (%s: %s); %s (metrics.jsonl has every record)", sink.key,
                         sink.name, doing, type(e).__name__, e,
                         "its run may lack the end" if doing == "closing" else "training goes on without it")


def open_loggers(cfg: Config, out: Path) -> Loggers:
    """Start the sinks ``cfg.train`` asks for (rank 0 only). A sink that cannot start is warned about and left out:
    the run goes on. :func:`require_loggers` has checked the packages before any work."""
    out, t = Path(out), cfg.train
    config, run_name = config_to_dict(cfg), out.resolve().name
    sinks = []
    for cls, args in ((TensorBoardSink, (out, config)), (WandbSink, (run_name, config)),
                      (MlflowSink, (run_name, config))):
        if getattr(t, cls.key):
            try:
                sinks.append(cls(*args))
            except Exception as e:
                _log.warning("train.%s: %s could not start (%s: %s); training goes on without it (metrics.jsonl has "
                             "every record)", cls.key, cls.name, type(e).__name__, e)
    return Loggers(sinks)
