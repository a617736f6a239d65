"""Export a model for deployment: ONNX (checked in onnxruntime) or a ``torch.export`` program (``.pt2``).

ONNX goes through torch's dynamo exporter with a dynamic batch axis; every family exports and matches PyTorch in
onnxruntime to ~1e-6 relative (``check=True`` reports the difference). Spatial and temporal sizes are fixed at
export: the window layout of Video Swin, the position embeddings of UniFormerV2 and the token grids are computed from
them.

TorchScript is not offered: ``torch.jit`` is deprecated upstream and cannot script these models' keyword-only helpers
and ``torch.compiler`` checks; ``torch.export`` (``--format pt2``) is its successor and works for every family.

ONNX files are single files: the weights are inside unless they exceed :data:`SINGLE_FILE_LIMIT` (protobuf cannot
hold more than 2 GiB), and then they go to ``NAME.onnx.data`` next to the model, which must stay with it. The result's
``files`` lists every file written.

An ONNX file carries what a deployment needs to feed it, in its ``metadata_props`` (string values; lists as JSON),
as :func:`onnx_metadata` builds them: ``model``, ``task``, ``input_name``, ``input_layout`` (``NCTHW`` or ``NCHW``),
``input_shape`` (without the batch), ``num_frames``, ``image_size``, ``mean``, ``std``, ``normalization``, the
evaluation preprocessing (``sampler``, ``frame_interval``, ``resize_size``, ``interpolation``), ``num_classes`` and
``labels`` (the class names, when known), and ``tubelet_version``; ``tubelet export`` adds ``weights``. Read them
back with ``{p.key: p.value for p in onnx.load(path).metadata_props}`` or onnxruntime's
``session.get_modelmeta().custom_metadata_map``.

Needs ``pip install "tubelet[export]"`` (onnx, onnxscript, onnxruntime) for ONNX.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import torch

from .atomic import fsync_dir, write_atomically
from .errors import DependencyError, TubeletError, UsageError

__all__ = ["export_model", "check_onnx", "onnx_metadata"]

FORMATS = ("onnx", "pt2")

#: ONNX weights above this many bytes go to an external ``.onnx.data`` file: a protobuf message is limited to 2 GiB,
#: and the graph needs room besides the weights (torch's exporter draws its own line at the same 1.5 GiB)
SINGLE_FILE_LIMIT = 1536 * 1024 ** 2


def _example(model: torch.nn.Module, input_shape: tuple[int, ...], batch: int = 2) -> torch.Tensor:
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    return torch.randn((batch, *input_shape), generator=torch.Generator().manual_seed(0)).to(device)


def export_model(model: torch.nn.Module, path: str | os.PathLike, input_shape: tuple[int, ...], fmt: str = "onnx",
                 *, opset: int | None = None, check: bool = True, metadata: dict[str, str] | None = None) -> dict:
    """Export ``model`` (put in eval mode) for inputs ``(batch, *input_shape)``, batch dynamic.

    Args:
        path: the file to write (``.onnx`` or ``.pt2``); its folder is created. An ONNX model whose weights exceed
            :data:`SINGLE_FILE_LIMIT` also writes ``PATH.data`` (the weights), which must stay next to it; a stale
            ``PATH.data`` of an earlier export is removed otherwise.
        input_shape: ``(C, T, H, W)`` or ``(C, H, W)`` without the batch.
        fmt: ``"onnx"`` or ``"pt2"`` (``torch.export.save``).
        opset: ONNX opset (default: the exporter's).
        check: run the exported model on batches of 1 and 3 and compare with PyTorch (onnxruntime for ONNX).
        metadata: more ``metadata_props`` of an ONNX file, over those of :func:`onnx_metadata` (e.g. ``weights``).
    Returns:
        ``{"path", "files", "format", "input_shape", "max_rel_error"}``: ``files`` lists every file written (the
        model first), error None when not checked.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    _refuse_detectors(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    x = _example(model, input_shape)
    batch = torch.export.Dim("batch", min=1, max=1024)
    if fmt == "onnx":
        _require_onnx(check)
        kwargs = {} if opset is None else {"opset_version": opset}
        with warnings.catch_warnings(), _quiet_exporter(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (x,), dynamo=True, input_names=[_input_name(input_shape)],
                                        output_names=_output_names(model, x),
                                        dynamic_shapes={"x": {0: batch}}, verbose=False, **kwargs)
        props = {**onnx_metadata(model, input_shape), **{str(k): str(v) for k, v in (metadata or {}).items()}}
        program.model.metadata_props.update(props)  # written with the model, so the file is whole with them
        files = _save_onnx(program, path)
        error = check_onnx(path, model, input_shape) if check else None
    else:
        with torch.no_grad():
            program = torch.export.export(model, (x,), dynamic_shapes={"x": {0: batch}})
        write_atomically(path, lambda f: torch.export.save(program, f))  # whole or not at all
        files = [path]
        error = None
        if check:
            loaded = torch.export.load(str(path)).module()
            with torch.no_grad():
                error = max(_rel_error(loaded(xb), model(xb)) for xb in _batches(model, input_shape))
    return {"path": str(path), "files": [str(f) for f in files], "format": fmt, "input_shape": list(input_shape),
            "max_rel_error": error}


def onnx_metadata(model: torch.nn.Module, input_shape: tuple[int, ...]) -> dict[str, str]:
    """What a program needs to feed an exported model and read its output, as ONNX ``metadata_props`` (strings;
    lists as JSON), from the model's ``pretrained_cfg`` and the exported ``input_shape`` (``(C, T, H, W)`` or
    ``(C, H, W)``, which ``--frames`` / ``--size`` may have changed from the variant's).

    Keys: ``model`` (the variant), ``task``, ``input_name``, ``input_layout`` (``NCTHW`` / ``NCHW``, batch dynamic),
    ``input_shape`` (JSON, without the batch), ``num_frames`` (video), ``image_size`` (JSON ``[H, W]``), ``mean`` and
    ``std`` (JSON, RGB, on the 0-1 scale), ``normalization`` (the formula), ``sampler``, ``frame_interval``,
    ``resize_size`` and ``interpolation`` (the evaluation preprocessing, where set), ``num_classes``, ``labels`` (JSON
    class names, in the classifier's row order, when known) and ``tubelet_version``. A model without a
    ``pretrained_cfg`` gets the input keys only.
    """
    from . import __version__

    video = len(input_shape) == 4
    props = {"input_name": _input_name(input_shape), "input_layout": "NCTHW" if video else "NCHW",
             "input_shape": json.dumps(list(input_shape)), "image_size": json.dumps(list(input_shape[-2:])),
             "tubelet_version": __version__}
    if video:
        props["num_frames"] = str(input_shape[1])
    cfg = getattr(model, "pretrained_cfg", None)
    if cfg is None:
        return {"model": type(model).__name__, **props}
    from .models._registry import get_task

    try:
        task = get_task(cfg.architecture)
    except TubeletError:  # a model that is not registered
        task = None
    props = {"model": cfg.architecture, **({"task": task} if task else {}), **props,
             "mean": json.dumps(list(cfg.mean)), "std": json.dumps(list(cfg.std)),
             "normalization": "(pixel / 255 - mean) / std, per RGB channel"}
    if video:
        props.update({k: str(v) for k, v in (("sampler", cfg.sampler), ("frame_interval", cfg.frame_interval))
                      if v is not None})
    if cfg.resize_size is not None:
        props["resize_size"] = str(cfg.resize_size)
    props["interpolation"] = cfg.interpolation
    if cfg.num_classes:
        props["num_classes"] = str(cfg.num_classes)
        labels = cfg.labels()
        if labels is not None and len(labels) == cfg.num_classes:
            props["labels"] = json.dumps(list(labels), ensure_ascii=False)
    return props


def _save_onnx(program, path: Path) -> list[Path]:
    """Write the exported program as one file, or with its weights in ``PATH.data`` when they are too large for one
    (:data:`SINGLE_FILE_LIMIT`); returns the files written.

    Each file is written whole or not at all: the single file through :func:`tubelet.atomic.write_atomically`; the
    pair into a temporary folder beside ``path`` (the model names its weights file by name, so both keep their final
    names there), then renamed into place, the weights first. An interrupted export leaves no truncated file and no
    temporary: each file is the earlier export's or the new one (a pair is mixed only when the interruption falls
    between its two renames)."""
    data = path.with_name(path.name + ".data")  # where the exporter puts external weights
    try:
        weights = sum(v.const_value.nbytes for v in program.model.graph.initializers.values()
                      if v.const_value is not None)
    except AttributeError:  # another exporter version: its save() may apply its own limit (and need a path)
        weights = None
    if weights is not None and weights <= SINGLE_FILE_LIMIT:
        write_atomically(path, lambda f: program.save(f, external_data=False))
        if data.exists():
            data.unlink()  # an earlier export's weights: they would be taken for this one's
        return [path]
    folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp{os.getpid()}.", dir=path.parent))
    try:
        program.save(str(folder / path.name), external_data=weights is not None)
        if (folder / data.name).exists():
            os.replace(folder / data.name, data)
        elif data.exists():
            data.unlink()  # an earlier export's weights: they would be taken for this one's
        os.replace(folder / path.name, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    fsync_dir(path.parent)
    return [path, data] if data.exists() else [path]


class _TorchvisionAbsent(logging.Filter):
    """Drops the exporter's "torchvision is not installed. Skipping torchvision::nms" (one line per torchvision
    operator, logged when the exporter builds its operator table): tubelet exports no torchvision operator."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("torchvision is not installed")


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's torchvision notices (only those) while it runs."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    quiet = _TorchvisionAbsent()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _refuse_detectors(model: torch.nn.Module) -> None:
    """The two-stage detectors do not export: say why, and what does."""
    from .models.uniformer_det import UniFormerDetector

    if isinstance(model, UniFormerDetector):
        name = getattr(getattr(model, "pretrained_cfg", None), "architecture", "a detector")
        raise UsageError(
            f"{name} cannot be exported: its test path is data-dependent (the RPN's top-k and NMS, the RoIs' FPN "
            f"levels and RoIAlign sample grids, the per-class NMS and the mask pasting all depend on the values, not "
            f"only the shapes, of the input), which neither torch.export nor ONNX can trace into a fixed graph "
            f"exact to the official code. The backbone exports: `tubelet export --model uniformer_*_dense` (or "
            f"the detector's backbone module in Python); run the detector itself in PyTorch (tubelet detect)")


def _input_name(input_shape: tuple[int, ...]) -> str:
    return "video" if len(input_shape) == 4 else "images"


def _output_names(model, x: torch.Tensor) -> list[str]:
    """``logits`` (classifiers, segmentation), ``heatmaps`` (pose) or ``features_0..3`` (dense backbones)."""
    from .models._registry import get_task

    with torch.no_grad():
        out = model(x)
    if isinstance(out, (list, tuple)):
        return [f"features_{i}" for i in range(len(out))]
    name = getattr(getattr(model, "pretrained_cfg", None), "architecture", None)
    try:
        return ["heatmaps"] if name is not None and get_task(name) == "pose" else ["logits"]
    except TubeletError:  # a model that is not registered
        return ["logits"]


def _batches(model, input_shape):
    return [_example(model, input_shape, b) for b in (1, 3)]


def _rel_error(out, ref) -> float:
    if isinstance(ref, (list, tuple)):  # several outputs (a dense backbone's maps): the worst of them
        return max(_rel_error(o, r) for o, r in zip(out, ref))
    out, ref = torch.as_tensor(out).float().cpu(), ref.detach().float().cpu()
    return float((out - ref).abs().max() / ref.abs().max().clamp_min(1e-12))


def _require_onnx(check: bool = False):
    """Fail before exporting, not after: the exporter needs onnx and onnxscript, the check onnxruntime."""
    missing = [m for m in ("onnx", "onnxscript") + (("onnxruntime",) if check else ()) if _missing(m)]
    if missing:
        raise DependencyError(f"ONNX export needs {', '.join(missing)}: pip install \"tubelet[export]\"")


def _missing(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is None


def check_onnx(path: str | os.PathLike, model: torch.nn.Module, input_shape: tuple[int, ...]) -> float:
    """Largest relative difference (max |ort - torch| / max |torch|) over batches of 1 and 3 in onnxruntime."""
    if _missing("onnxruntime"):
        raise DependencyError("checking an ONNX file needs onnxruntime: pip install \"tubelet[export]\"")
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    errors = []
    with torch.no_grad():
        for xb in _batches(model, input_shape):
            ref = model(xb)
            out = session.run(None, {name: xb.cpu().numpy()})
            errors.append(_rel_error(out if isinstance(ref, (list, tuple)) else out[0], ref))
    return max(errors)
