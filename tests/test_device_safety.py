"""Every tensor is made on the device of the tensors it meets: a CPU-only check of the bug that breaks on a GPU
(``torch.eye(n)`` or ``torch.full(...)`` without ``device=``, mixed with activations on the model's device).

:func:`other_device` makes the ``meta`` device a second device that holds data: a tensor moved there (``.to("meta")``,
``model.to("meta")``) or made there (``device=x.device``, ``torch.device("meta")`` as default) is a CPU tensor in a
wrapper that reports ``meta``, so the code runs for real (``int(t)``, ``.item()``, ``.cpu()`` work as on a GPU, and
give real values), and any op that mixes it with a plain CPU tensor raises :class:`DeviceMismatch`, naming the op and
the tubelet line, where a GPU run would raise. As on a GPU, a 0-dim CPU tensor may meet device tensors (a scalar), a
copy may cross devices, CPU index tensors may index a device tensor, and ``.numpy()`` / ``.tolist()`` are refused on
device tensors (``.cpu()`` first).

Run on one small variant per family (forward and backward, in both modes), every explain method, one training step
of the engine (``train.device=meta``), its evaluation and batch prediction, and the segmentation, pose and feature
libraries; each result is compared with the same run on the CPU.
"""
from __future__ import annotations

import contextlib
import os
import traceback

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import tubelet
from tubelet.models.uniformerv2 import UniFormerV2
from tubelet.tasks.explain import explain, explain_video, methods_for

from .engine.conftest import tiny_config
from .small_models import SMALL

# ---------------------------------------------------------------------------------------------------------------
# the guard

META = torch.device("meta")
CPU = torch.device("cpu")
aten = torch.ops.aten

#: ops that may take CPU tensors along with device tensors (as CUDA allows): cross-device copies, CPU indices
_COPIES = {aten._to_copy.default, aten.copy_.default}
_INDEXING = {aten.index.Tensor, aten.index_put.default, aten.index_put_.default, aten._index_put_impl_.default}


class DeviceMismatch(AssertionError):
    """An op mixed a tensor on the model's device with a CPU tensor (a GPU run would fail here)."""


def _where() -> str:
    """The innermost tubelet line (outside the tests) on the stack."""
    here = os.sep + "tubelet" + os.sep
    frames = [f for f in traceback.extract_stack() if here in f.filename and os.sep + "tests" + os.sep not in
              f.filename]
    return f"{frames[-1].filename}:{frames[-1].lineno}: {frames[-1].line}" if frames else "(outside tubelet)"


class OnDevice(torch.Tensor):
    """A CPU tensor (``elem``) that reports the meta device."""

    @staticmethod
    def __new__(cls, elem: torch.Tensor):
        assert type(elem) is torch.Tensor and elem.device == CPU, (type(elem), elem.device)
        # sizes and strides asked of elem each time: an in-place op (``squeeze_`` in ``matmul``) changes them
        out = torch.Tensor._make_wrapper_subclass(cls, elem.size(), strides=elem.stride(),
                                                  storage_offset=elem.storage_offset(), dtype=elem.dtype,
                                                  layout=elem.layout, device=META, requires_grad=elem.requires_grad,
                                                  dispatch_sizes_strides_policy="sizes")
        out.elem = elem
        return out

    def __repr__(self):
        return f"OnDevice({self.elem!r})"

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        return _dispatch(func, args, kwargs or {})


def _device_kwarg(kwargs) -> torch.device | None:
    d = kwargs.get("device")
    return None if d is None else torch.device(d)


#: questions about an OnDevice's own sizes and layout (asked of ``elem``, see ``dispatch_sizes_strides_policy``)
_METADATA = {aten.sym_size.default, aten.sym_stride.default, aten.sym_numel.default, aten.dim.default,
             aten.sym_storage_offset.default, aten.is_contiguous.default, aten.is_contiguous.memory_format,
             aten.is_strides_like_format.default, aten.is_non_overlapping_and_dense.default}


def _leaves(x, out: list) -> list:
    if isinstance(x, (list, tuple)):
        for v in x:
            _leaves(v, out)
    elif isinstance(x, dict):
        for v in x.values():
            _leaves(v, out)
    else:
        out.append(x)
    return out


def _map(fn, x):
    if isinstance(x, list):
        return [_map(fn, v) for v in x]
    if isinstance(x, tuple) and not isinstance(x, torch.Size):
        return tuple(_map(fn, v) for v in x)
    if isinstance(x, dict):
        return {k: _map(fn, v) for k, v in x.items()}
    return fn(x)


def _unwrap(t):
    return t.elem if isinstance(t, OnDevice) else t


def _to(func, args, kwargs):
    """``aten.to`` (it reaches the guard undecomposed in inference mode): a move between the devices is a copy."""
    named = {**{a.name: v for a, v in zip(func._schema.arguments, args)}, **kwargs}
    source, other = named["self"], named.get("other")
    device = other.device if other is not None else _device_kwarg(named)
    dtype = other.dtype if other is not None else named.get("dtype")
    if device is not None and device != source.device:
        return _dispatch(aten._to_copy.default, (source,), {"dtype": dtype, "device": device})
    if (dtype is not None and dtype != source.dtype) or named.get("copy"):
        return _dispatch(aten._to_copy.default, (source,), {"dtype": dtype})
    return source


def _dispatch(func, args, kwargs):
    if func in _METADATA:
        return func(*[_unwrap(a) for a in args], **kwargs)
    if func.overloadpacket is aten.to:
        return _to(func, args, kwargs)
    leaves = _leaves((args, kwargs), [])
    on_device = [t for t in leaves if isinstance(t, OnDevice)]
    if any(type(t) is torch.Tensor and t.device == META for t in leaves):  # data-less: escaped the constructors
        raise AssertionError(f"{func}: a data-less meta tensor reached the device guard (at {_where()})")
    requested = _device_kwarg(kwargs)
    to_device = requested == META or (requested is None and bool(on_device))
    if on_device and func not in _COPIES:
        checked = leaves
        if func in _INDEXING:  # CPU index tensors may index a device tensor
            indices = _leaves(args[1], [])
            checked = [t for t in leaves if not any(t is i for i in indices)]
        host = [t for t in checked if type(t) is torch.Tensor and t.dim() > 0]
        if host:
            raise DeviceMismatch(f"{func} mixes tensors on the model's device with a CPU tensor of shape "
                                 f"{tuple(host[0].shape)}, at {_where()}")
    if requested == META:
        kwargs = {**kwargs, "device": CPU}
    originals = {id(_unwrap(t)): t for t in leaves if isinstance(t, torch.Tensor)}
    out = func(*_map(_unwrap, args), **_map(_unwrap, kwargs))

    def wrap(t):
        if not isinstance(t, torch.Tensor):
            return t
        if id(t) in originals:  # in place (or out=): the caller's tensor
            return originals[id(t)]
        return OnDevice(t) if to_device else t

    return _map(wrap, out)


class _DeviceOps(TorchDispatchMode):
    """Factories with ``device=meta`` make device tensors; every op is checked (:func:`_dispatch`)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return _dispatch(func, args, kwargs or {})


class _DataConstructors(TorchFunctionMode):
    """What never reaches the dispatcher as an op with its data: ``torch.tensor(data, device=meta)`` and the like
    (made on the CPU, then moved), ``tolist`` / ``format`` (read through ``elem``), ``numpy`` (refused)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.tensor, torch.as_tensor, torch.asarray) and _device_kwarg(kwargs) == META \
                and not isinstance(args[0], torch.Tensor):
            requires_grad = kwargs.pop("requires_grad", False)
            return func(*args, **{**kwargs, "device": CPU}).to(META).requires_grad_(requires_grad)
        if func is torch.Tensor.new_tensor and not isinstance(args[1], torch.Tensor):
            self_, device = args[0], _device_kwarg(kwargs) or args[0].device
            if device == META:
                requires_grad = kwargs.pop("requires_grad", False)
                kwargs = {"dtype": self_.dtype, **kwargs, "device": CPU}
                return torch.tensor(args[1], **kwargs).to(META).requires_grad_(requires_grad)
        if args and isinstance(args[0], OnDevice):
            if func in (torch.Tensor.__getitem__, torch.Tensor.__setitem__):
                # a list index becomes a CPU index tensor here (C++ would make it on meta, without its data); a
                # device tensor may be indexed with CPU indices, as on a GPU
                index = args[1]
                index = tuple(torch.tensor(i) if isinstance(i, list) else i for i in index) \
                    if isinstance(index, tuple) else torch.tensor(index) if isinstance(index, list) else index
                args = (args[0], index, *args[2:])
            if func in (torch.Tensor.numpy, torch.Tensor.__array__, torch.Tensor.tolist):
                raise DeviceMismatch(f"{func.__name__}() of a tensor on the model's device (a GPU run fails "
                                     f"here: .cpu() first), at {_where()}")
            if func is torch.Tensor.__format__:
                return format(args[0].elem.item() if args[0].dim() == 0 else args[0], *args[1:])
        return func(*args, **kwargs)


class other_device:
    """``with other_device():`` -- the meta device as a second device that holds data (see the module).
    ``torch.inference_mode()`` runs as ``torch.no_grad()`` meanwhile (a wrapper tensor cannot be a view of an
    inference tensor); what runs on which device is the same."""

    def __enter__(self):
        self._modes = [_DataConstructors(), _DeviceOps()]
        self._inference_mode = torch.inference_mode
        torch.inference_mode = lambda mode=True: torch.no_grad() if mode else contextlib.nullcontext()
        for m in self._modes:
            m.__enter__()
        return self

    def __exit__(self, *exc):
        for m in reversed(self._modes):
            m.__exit__(*exc)
        torch.inference_mode = self._inference_mode
        return False


def _on_device(t) -> bool:
    return isinstance(t, OnDevice)


# ---------------------------------------------------------------------------------------------------------------
# the guard itself


def test_the_guard_catches_a_cpu_tensor_and_lets_device_code_run():
    a = torch.randn(4, 4)
    with other_device():
        x = a.to("meta")
        assert x.device == META and _on_device(x)
        with pytest.raises(DeviceMismatch, match=r"aten.add.Tensor .* CPU tensor of shape \(4, 4\)"):
            _ = x + torch.eye(4)
        with pytest.raises(DeviceMismatch):
            _ = x @ torch.ones(4, 1)
        with pytest.raises(DeviceMismatch, match=r"numpy\(\)"):
            x.numpy()
        with pytest.raises(DeviceMismatch, match=r"tolist\(\)"):
            x.tolist()
        # on the device: real values, read back through .cpu(), int(), .item(), format
        y = 0.5 * x + 0.5 * torch.eye(4, device=x.device)
        z = y @ torch.tensor([[1.0], [2.0], [3.0], [4.0]], device=x.device) + x.new_tensor([1.0])
        z = z * torch.tensor(2.0)  # a 0-dim CPU tensor is a scalar, as on a GPU
        w = torch.zeros(4, device=x.device)
        w[torch.tensor([0, 2])] = x[torch.tensor([1, 3]), 0]  # CPU indices, as on a GPU
        assert (x[0] @ x).shape == (4,)  # matmul squeezes in place: the sizes follow
        host = torch.empty(4, 1)
        host.copy_(z)  # a copy crosses devices
        with torch.device("meta"):
            d = torch.full((2,), 3.0)
        assert all(_on_device(t) for t in (y, z, w, d)) and not _on_device(host)
        assert int(x.argmax()) == int(a.argmax()) and float(x.sum().item()) == pytest.approx(float(a.sum()))
        assert f"{x[0, 0]:.3f}" == f"{float(a[0, 0]):.3f}"
        assert d.cpu().tolist() == [3.0, 3.0]
        got, got_w = z.cpu(), w.cpu()
    want = (0.5 * a + 0.5 * torch.eye(4)) @ torch.tensor([[1.0], [2.0], [3.0], [4.0]]) + 1.0
    assert torch.allclose(got, 2 * want) and torch.equal(host, got) and type(got) is torch.Tensor
    assert torch.equal(got_w, torch.stack([a[1, 0], torch.tensor(0.0), a[3, 0], torch.tensor(0.0)]))


# ---------------------------------------------------------------------------------------------------------------
# every family: forward and backward

S = dict(depth=[1, 1, 2, 1], embed_dim=[16, 32, 64, 128], head_dim=16)
def _few_rois(model):
    model.dummy_rois_count = 100
    return model


FAMILIES = {  # one small variant per family (and per code path: 2D, token pruning, windows, both seg heads)
    "uniformer": SMALL["uniformer"],
    "uniformer_2d": SMALL["uniformer_2d"],
    "uniformerv2": SMALL["uniformerv2"],
    "video_swin": SMALL["swin"],
    "uniformer_light": (lambda: tubelet.create_model("uniformer_xxs", depth=[1, 1, 3, 2], embed_dim=[16, 32, 64, 128],
                                                     head_dim=16, prune_ratio=[[1, 0.5, 0.5], [0.5, 0.5]],
                                                     trade_off=[[1, 0.5, 0.5], [0.5, 0.5]], num_classes=5),
                        (3, 4, 64, 64)),
    "uniformer_dense": (lambda: tubelet.create_model("uniformer_small_dense", hybrid=True, window_size=4, **S),
                        (3, 64, 64)),
    "uniformer_seg_fpn": (lambda: tubelet.create_model("uniformer_small_fpn", **S, neck_channels=16, channels=8),
                          (3, 64, 64)),
    "uniformer_seg_upernet": (lambda: tubelet.create_model("uniformer_small_upernet", **S, channels=16,
                                                           aux_channels=8), (3, 64, 64)),
    "uniformer_pose": (lambda: tubelet.create_model("uniformer_small_pose", depth=(1, 1, 1, 1),
                                                    embed_dim=(16, 32, 32, 64), head_dim=32,
                                                    num_deconv_filters=(16, 16, 16)), (3, 64, 48)),
    # forward: the dense outputs and the RoI heads on fixed RoIs (RoIAlign on every level; 100 instead of 1000)
    "uniformer_det": (lambda: _few_rois(tubelet.create_model("uniformer_small_maskrcnn", window_size=4, **S)),
                      (3, 64, 64)),
}


def _family(key: str) -> str:
    from tubelet.models._registry import list_families

    return max((f for f in list_families() if key.startswith(f)), key=len)


def test_every_family_is_covered():
    from tubelet.models._registry import list_families

    assert {_family(key) for key in FAMILIES} == set(list_families())


def _float_leaves(out):
    return [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor) and t.is_floating_point()]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_forward_and_backward_on_the_other_device(family):
    from tubelet.models._registry import get_family

    make, shape = FAMILIES[family]
    torch.manual_seed(0)
    model = make().eval()
    cfg = getattr(model, "pretrained_cfg", None)  # the UniFormerV2 of tests/small_models is built directly
    assert _family(family) == (get_family(cfg.architecture).name if cfg is not None else "uniformerv2")
    x = torch.randn(2, *shape)
    with torch.no_grad():
        want = _float_leaves(model(x))
    with other_device():
        model.to("meta")
        xd = x.to("meta")
        with torch.no_grad():
            got = [t.cpu() for t in _float_leaves(model(xd))]
        model.train()
        loss = sum(t.float().square().mean() for t in _float_leaves(model(xd)))
        loss.backward()
        assert float(loss.detach()) > 0
    assert len(got) == len(want) and all(torch.allclose(g, w, atol=1e-5) for g, w in zip(got, want))
    params = list(model.parameters())
    assert all(_on_device(p) for p in params)
    assert any(p.grad is not None for p in params) and all(p.grad is None or _on_device(p.grad) for p in params)


# ---------------------------------------------------------------------------------------------------------------
# every explain method


def _v2(fusion):
    torch.manual_seed(0)
    model = UniFormerV2(input_resolution=32, patch_size=8, width=32, layers=2, heads=2, no_lmhra=False,
                        return_list=[0, 1], n_dim=32, n_head=2, num_classes=5, fusion=fusion)
    with torch.no_grad():
        model.transformer.temporal_cls_token.normal_()
    return model


EXPLAINED = {
    "uniformer": (lambda: tubelet.create_model("uniformer_small", **S, num_classes=5), 64),
    "video_swin": (SMALL["swin"][0], 32),
    **{f"uniformerv2_{f}": (lambda f=f: _v2(f), 32)
       for f in ("sequential", "parallel", "hierarchical_kv", "hierarchical_q")},
}


@pytest.mark.parametrize("name", list(EXPLAINED))
def test_every_explain_method_on_the_other_device(name):
    make, size = EXPLAINED[name]
    torch.manual_seed(0)
    model = make().eval()
    x = torch.randn(3, 4, size, size)
    runs = [(m, None) for m in methods_for(model)] + ([("gradcam", 2)] if "gradcam" in methods_for(model) else [])
    want = {run: explain(model, x, method=run[0], stage=run[1]) for run in runs}
    with other_device():
        model.to("meta")
        for method, stage in runs:
            got = explain(model, x.to("meta"), method=method, stage=stage)
            assert type(got) is torch.Tensor and got.device == CPU  # the map comes back on the CPU
            assert torch.allclose(got, want[method, stage], atol=1e-5), (method, stage)
    assert all(_on_device(p) for p in model.parameters())


def test_explain_video_on_the_other_device():
    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_small", **S, num_classes=5).eval()
    model.pretrained_cfg = model.pretrained_cfg.replace(input_size=(3, 4, 64, 64), num_frames=4, resize_size=64)
    frames = np.random.default_rng(0).integers(0, 256, (4, 48, 80, 3), dtype=np.uint8)
    want = {m: explain_video(model, frames, method=m) for m in methods_for(model)}
    with other_device():
        model.to("meta")
        for method in methods_for(model):
            got = explain_video(model, frames, method=method)
            assert type(got.input_saliency) is torch.Tensor and type(got.probs) is torch.Tensor
            np.testing.assert_allclose(got.saliency, want[method].saliency, atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# one training step of the engine


def test_a_training_step_on_the_other_device(tmp_path):
    """The dry run's step (model built, moved, optimiser, EMA, mixup + cutmix, clipping, one test view) with
    ``train.device=meta``."""
    from tubelet.engine.dry_run import dry_run

    cfg = tiny_config(tmp_path / "syn", model={"num_classes": 10},
                      train={"device": "meta", "ema_decay": 0.9, "mixup": 0.8, "cutmix": 1.0},
                      optim={"clip_grad": 1.0})
    with other_device():
        result = dry_run(cfg)
    assert result["finite"] and result["loss"] > 0 and result["eval_logits"] == [1, 10]


def test_evaluation_prediction_and_task_libraries_on_the_other_device(tmp_path):
    from tubelet.data.synthetic import render_clip, write_video
    from tubelet.engine.evaluate import evaluate
    from tubelet.engine.inference import predict_videos
    from tubelet.keypoints import estimate_poses
    from tubelet.tasks.features import extract_features
    from tubelet.tasks.detection import detect
    from tubelet.tasks.segmentation import segment

    torch.manual_seed(0)
    video = tmp_path / "clip.mp4"
    write_video(video, render_clip(1, 16, 64, 80, np.random.default_rng(0)))
    classifier = tubelet.create_model("uniformer_small", **S, num_classes=5).eval()
    classifier.pretrained_cfg = classifier.pretrained_cfg.replace(input_size=(3, 4, 64, 64), num_frames=4,
                                                                  resize_size=64)
    views, labels = torch.randn(2, 2, 3, 4, 32, 32), torch.tensor([1, 3])
    segmenter = FAMILIES["uniformer_seg_fpn"][0]().eval()
    image = np.random.default_rng(0).integers(0, 256, (60, 90, 3), dtype=np.uint8)
    poser = FAMILIES["uniformer_pose"][0]().eval()
    boxes = np.array([[10, 20, 40, 80], [90, 5, 60, 50]], np.float32)
    detector = tubelet.create_model("uniformer_small_maskrcnn", window_size=4, rpn_max_per_img=200, **S).eval()
    with torch.no_grad():  # confident classes: detections, with masks, pass the 0.05 threshold
        detector.roi_head.bbox_head.fc_cls.weight.mul_(40.0)

    def run(device):
        return {"evaluate": evaluate(classifier, [(views, labels)], num_classes=5, device=device)["loss"],
                "predict": [p.probs for p in predict_videos(classifier, [str(video)], views=(2, 1))],
                "features": extract_features(classifier, video)[0],
                "segment": [segment(segmenter, image, mode=mode, probabilities=True, scale=(128, 64)).probabilities
                            for mode in ("whole", "slide")],
                "pose": [person.keypoints for person in estimate_poses(poser, image, boxes)],
                "detect": [(r.boxes, r.scores, r.labels, r.masks) for r in
                           [detect(detector, image, score_threshold=None, scale=(128, 96))]]}

    want = run(CPU)
    assert len(want["detect"][0][0]) > 0  # something was detected
    with other_device():
        for model in (classifier, segmenter, poser, detector):
            model.to("meta")
        got = run(META)
    for key in want:
        for g, w in zip(*(tree_flatten(v)[0] for v in (got[key], want[key]))):
            assert type(g) is not OnDevice and np.allclose(np.asarray(g), np.asarray(w), atol=1e-4), key
