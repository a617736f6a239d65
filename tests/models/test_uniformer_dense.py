"""UniFormer dense-prediction backbone and segmentation models: stage-3 window / hybrid attention as the original
(unmasked zero padding, every 4th block global), runtime attention modes, sizes, sliding-window inference, the
checkpoint paths (detector / segmentor / backbone / ImageNet classifier files, new label spaces), the meta device.
Tiny configurations; the official-size parity is in test_uniformer_dense_parity.py."""
import math

import pytest
import torch
import torch.nn.functional as F

import tubelet
from tubelet.errors import CheckpointError, UsageError
from tubelet.models._pretrained import Weights, get_weights, hf, register_weights, unregister_weights
from tubelet.models.uniformer_dense import UniFormerDense, WindowSABlock, stage3_windows

TINY = dict(depth=[1, 1, 2, 1], embed_dim=[16, 32, 64, 64], head_dim=32)
TINY_FPN = dict(TINY, neck_channels=16, channels=8)
TINY_UPER = dict(TINY, channels=16, aux_channels=8)


def _randomise(model: torch.nn.Module, seed: int = 0) -> dict:
    """Non-trivial weights (BatchNorm statistics included), so that every tensor matters."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in model.state_dict().items():
        if not v.is_floating_point():
            sd[k] = v
        elif k.endswith("running_var"):
            sd[k] = 0.5 + torch.rand(v.shape, generator=g)
        elif k.endswith(("norm.weight", "bn.weight")) or ".norm" in k and k.endswith("weight") and v.ndim == 1:
            sd[k] = 1 + 0.1 * torch.randn(v.shape, generator=g)
        else:
            fan_in = math.prod(v.shape[1:]) if v.ndim > 1 else 50
            sd[k] = torch.randn(v.shape, generator=g) / math.sqrt(fan_in)
    model.load_state_dict(sd)
    return sd


def _mmcv_file(path, state_dict: dict, amp: bool = False):
    obj = {"meta": {"epoch": 1, "iter": 10}, "state_dict": state_dict, "optimizer": {}}
    if amp:
        obj["amp"] = {}
    torch.save(obj, path)
    return path


# -- stage-3 attention -------------------------------------------------------------------------------------------

def test_window_block_pads_after_the_norm_without_a_mask():
    """A 3x5 map with 4x4 windows: zero tokens are appended AFTER norm1 (bottom/right) and take part in the attention
    (no mask), as in the original SABlock_Windows; the result differs from attending over the valid tokens only."""
    torch.manual_seed(0)
    blk = WindowSABlock(32, 2, 4.0, torch.nn.Conv2d, window_size=4).eval()
    for p in blk.parameters():
        torch.nn.init.normal_(p, std=0.2)
    x = torch.randn(1, 32, 3, 5)
    with torch.no_grad():
        out = blk(x)
        # reference, written out window by window
        h = x + blk.pos_embed(x)
        t = h.permute(0, 2, 3, 1)  # 1, 3, 5, C
        y = F.pad(blk.norm1(t), (0, 0, 0, 3, 0, 1))  # 1, 4, 8, C
        att = torch.zeros_like(y)
        for c0 in (0, 4):
            win = y[:, :, c0:c0 + 4].reshape(1, 16, 32)
            att[:, :, c0:c0 + 4] = blk.attn(win).reshape(1, 4, 4, 32)
        r = t + att[:, :3, :5]
        r = r + blk.mlp(blk.norm2(r))
        torch.testing.assert_close(out, r.permute(0, 3, 1, 2), rtol=1e-5, atol=1e-5)
        # masking the padding (attending over the 3x4 valid tokens of the first window) would give another result
        masked = blk.attn(blk.norm1(t)[:, :, :4].reshape(1, 12, 32)).reshape(1, 3, 4, 32)
        assert not torch.allclose(masked, att[:, :3, :4], atol=1e-3)


def test_output_depends_on_the_size_modulo_the_window():
    """Unmasked padding: the same 8x8 content gives other values when the window is 16 (padded) than 8 (exact),
    and a window covering the whole map without padding equals global attention."""
    torch.manual_seed(0)
    model = UniFormerDense(**TINY, windows=True, window_size=4).eval()  # stage 3 of a 128x128 image: 8x8 tokens
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        model.set_attention_mode(windows=True, window_size=8)
        exact = model(x)[2]
        model.set_attention_mode(windows=False)
        glob = model(x)[2]
        model.set_attention_mode(windows=True, window_size=16)
        padded = model(x)[2]
    torch.testing.assert_close(exact, glob, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(padded, glob, atol=1e-3)


def test_hybrid_pattern_and_modes():
    with torch.device("meta"):
        small = tubelet.create_model("uniformer_small_dense")
        base = tubelet.create_model("uniformer_base_dense")
    assert [b.window_size for b in small.blocks3] == [14, 14, 14, None, 14, 14, 14, None]
    assert [i for i, b in enumerate(base.blocks3) if b.window_size is None] == [3, 7, 11, 15, 19]
    assert all(b.window_size is None for b in small.blocks4)
    assert stage3_windows(8, True, True, 32) == [32] * 8  # windows wins over hybrid
    assert stage3_windows(3, False, False, 14) == [None] * 3
    with torch.device("meta"):
        fpn = tubelet.create_model("uniformer_small_fpn")  # the released FPN/UperNet files: global
        h32 = tubelet.create_model("uniformer_small_fpn", hybrid=True, window_size=32)
    assert all(b.window_size is None for b in fpn.backbone.blocks3)
    assert [b.window_size for b in h32.backbone.blocks3] == [32, 32, 32, None] * 2
    assert h32.model_args["window_size"] == 32 and h32.model_args["hybrid"] is True
    fpn.set_attention_mode(windows=True, window_size=32)
    assert fpn.model_args["windows"] is True and all(b.window_size == 32 for b in fpn.backbone.blocks3)


def test_every_mode_loads_the_same_file(tmp_path):
    torch.manual_seed(0)
    ref = tubelet.create_model("uniformer_small_dense", **TINY).eval()
    sd = _randomise(ref)
    path = _mmcv_file(tmp_path / "det.pth", {f"backbone.{k}": v for k, v in sd.items()})
    x = torch.randn(1, 3, 160, 96)
    outs = {}
    for mode in (dict(windows=False, hybrid=False), dict(windows=True, window_size=4),
                 dict(hybrid=True, window_size=4)):
        model = tubelet.create_model("uniformer_small_dense", checkpoint_path=path, **TINY, **mode).eval()
        assert all(torch.equal(model.state_dict()[k], v) for k, v in sd.items())
        with torch.no_grad():
            outs[str(mode)] = model(x)
        switched = tubelet.create_model("uniformer_small_dense", checkpoint_path=path, **TINY).eval()
        switched.set_attention_mode(**mode)
        with torch.no_grad():
            assert all(torch.equal(a, b) for a, b in zip(switched(x), outs[str(mode)]))
    a, b, c = outs.values()
    assert torch.equal(a[1], b[1]) and not torch.allclose(a[2], b[2], atol=1e-4)  # stages 1-2 untouched


def test_tubelet_file_keeps_the_weights_and_takes_another_mode(tmp_path):
    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_small_upernet", **TINY_UPER, hybrid=True, window_size=4).eval()
    _randomise(model)
    path = tmp_path / "seg.safetensors"
    tubelet.save_model(model, path)
    again = tubelet.create_model(checkpoint_path=path).eval()
    assert again.model_args["hybrid"] is True and again.backbone.blocks3[0].window_size == 4
    other = tubelet.create_model(checkpoint_path=path, hybrid=False).eval()  # a runtime option
    assert all(b.window_size is None for b in other.backbone.blocks3)
    x = torch.randn(1, 3, 96, 64)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))


# -- sizes, interface ------------------------------------------------------------------------------------------

def test_odd_input_sizes_floor():
    model = tubelet.create_model("uniformer_small_dense", **TINY).eval()
    with torch.no_grad():
        feats = model(torch.randn(2, 3, 97, 130))
    assert [tuple(f.shape) for f in feats] == [(2, 16, 24, 32), (2, 32, 12, 16), (2, 64, 6, 8), (2, 64, 3, 4)]
    assert all(f.is_contiguous() for f in feats)
    seg = tubelet.create_model("uniformer_small_upernet", **TINY_UPER).eval()
    with torch.no_grad():
        assert seg(torch.randn(1, 3, 97, 130)).shape == (1, 150, 97, 130)
        assert seg.forward_head(seg.forward_features(torch.randn(1, 3, 97, 130))).shape == (1, 150, 24, 32)
    with pytest.raises(UsageError, match="at least 32"):
        model(torch.randn(1, 3, 16, 64))
    with pytest.raises(UsageError, match="4-D"):
        model(torch.randn(1, 3, 2, 64, 64))


def test_backbone_interface():
    model = tubelet.create_model("uniformer_small_dense", **TINY)
    assert model.num_classes == 0 and model.num_features == 64 and model.out_channels == [16, 32, 64, 64]
    assert isinstance(model.get_classifier(), torch.nn.Identity) and model.no_weight_decay() == set()
    x = torch.randn(1, 3, 64, 64)
    assert model.forward_head(model.forward_features(x))[3].shape == (1, 64, 2, 2)
    model.train()
    torch.manual_seed(0)
    ref = [f.sum() for f in model(x)]
    model.set_grad_checkpointing()
    torch.manual_seed(0)
    assert torch.allclose(torch.stack(ref), torch.stack([f.sum() for f in model(x)]))
    with pytest.raises(UsageError, match="no classifier"):
        tubelet.create_model("uniformer_small_dense", num_classes=80)
    import re
    matcher = model.group_matcher()
    assert re.match(matcher["stem"], "patch_embed1.proj.weight")
    seg = tubelet.create_model("uniformer_small_fpn", **TINY_FPN)
    assert re.match(seg.group_matcher()["stem"], "backbone.patch_embed1.proj.weight")
    assert seg.num_classes == 150 and seg.get_classifier() is seg.decode_head.conv_seg


def test_meta_device_forward():
    with torch.device("meta"):
        backbone = tubelet.create_model("uniformer_small_dense")
        seg = tubelet.create_model("uniformer_small_upernet").eval()  # PPM's 1x1 BatchNorm needs eval at batch 1
        x = torch.empty(1, 3, 224, 160)
        feats = backbone(x)
        logits = seg(x)
    assert [tuple(f.shape) for f in feats] == [(1, 64, 56, 40), (1, 128, 28, 20), (1, 320, 14, 10), (1, 512, 7, 5)]
    assert logits.shape == (1, 150, 224, 160) and logits.device.type == "meta"
    from tubelet.flops import model_cost
    cost = model_cost("uniformer_small_fpn", (3, 512, 512))
    assert cost.params == 25_299_926 and cost.gflops > 0


# -- segmentation inference --------------------------------------------------------------------------------------

def test_whole_and_slide_inference():
    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_small_fpn", **TINY_FPN).eval()
    _randomise(model)
    x = torch.randn(1, 3, 96, 112)
    with torch.no_grad():
        whole = model(x)
        assert torch.equal(model.slide_inference(x, crop_size=(96, 112), stride=(64, 64)), whole)
        assert torch.equal(model.slide_inference(x, crop_size=512, stride=341), whole)  # crop larger: clipped
        # 64x64 crops every 48: rows [0,64) [32,96), columns [0,64) [48,112), averaged where they overlap
        slide = model.slide_inference(x, crop_size=(64, 64), stride=(48, 48))
        total = torch.zeros_like(whole)
        count = torch.zeros(1, 1, 96, 112)
        for y1, x1 in [(0, 0), (0, 48), (32, 0), (32, 48)]:
            total[:, :, y1:y1 + 64, x1:x1 + 64] += model(x[:, :, y1:y1 + 64, x1:x1 + 64])
            count[:, :, y1:y1 + 64, x1:x1 + 64] += 1
        torch.testing.assert_close(slide, total / count)
        labels = model.predict(x)
        assert labels.shape == (1, 96, 112) and torch.equal(labels, whole.softmax(1).argmax(1))
        probs = model.predict(x, mode="slide", crop_size=64, stride=48, size=(48, 56), probabilities=True)
        assert probs.shape == (1, 150, 48, 56) and torch.allclose(probs.sum(1), torch.ones(1, 48, 56))
    with pytest.raises(UsageError, match="whole"):
        model.predict(x, mode="sliding")


# -- checkpoints -------------------------------------------------------------------------------------------------

def _seg_file(tmp_path, name="uniformer_small_upernet", options=TINY_UPER, seed=0):
    model = tubelet.create_model(name, **options).eval()
    sd = _randomise(model, seed)
    return _mmcv_file(tmp_path / f"{name}.pth", sd), sd, model


def test_segmentation_file_loads_strictly_and_fine_tunes_to_19_classes(tmp_path):
    path, sd, ref = _seg_file(tmp_path)
    model = tubelet.create_model("uniformer_small_upernet", checkpoint_path=path, **TINY_UPER).eval()
    assert list(model.state_dict()) == list(sd) and model.auxiliary_head is not None
    assert "mmseg" in model.load_report.layout and not model.load_report.notes
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))
        assert model.forward_aux(model.forward_features(x)).shape == (1, 150, 4, 6)
    with pytest.raises(CheckpointError, match="drop_head=True"):
        tubelet.create_model("uniformer_small_upernet", checkpoint_path=path, num_classes=19, **TINY_UPER)
    ft = tubelet.create_model("uniformer_small_upernet", checkpoint_path=path, num_classes=19, drop_head=True,
                              **TINY_UPER)
    heads = ["decode_head.conv_seg.weight", "decode_head.conv_seg.bias", "auxiliary_head.conv_seg.weight",
             "auxiliary_head.conv_seg.bias"]
    assert ft.load_report.dropped == heads and ft.load_report.new == heads
    assert ft.num_classes == 19 and ft.decode_head.conv_seg.out_channels == 19 and ft.pretrained_cfg.label_names is None
    assert ft.auxiliary_head.conv_seg.out_channels == 19
    assert all(torch.equal(ft.state_dict()[k], v) for k, v in sd.items() if k not in heads)
    # without the auxiliary head (inference only): left out, reported
    lean = tubelet.create_model("uniformer_small_upernet", checkpoint_path=path, aux_head=False, **TINY_UPER)
    assert lean.auxiliary_head is None and "auxiliary_head.*" in str(lean.load_report)
    with pytest.raises(CheckpointError, match="holds a UperNet"):
        tubelet.create_model("uniformer_small_fpn", checkpoint_path=path, **TINY_FPN)


def test_backbone_takes_the_backbone_of_any_task_file(tmp_path):
    path, sd, ref = _seg_file(tmp_path, "uniformer_small_fpn", TINY_FPN)
    model = tubelet.create_model("uniformer_small_dense", checkpoint_path=path, **TINY, hybrid=False).eval()
    report = str(model.load_report)
    assert "neck.* (16 tensors)" in report and "decode_head.*" in report
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model(x), ref.forward_features(x)))


def test_detector_file_initialises_a_segmentation_backbone(tmp_path):
    backbone = tubelet.create_model("uniformer_small_dense", **TINY)
    sd = {f"backbone.{k}": v for k, v in _randomise(backbone).items()}
    sd["neck.lateral_convs.0.conv.weight"] = torch.randn(256, 16, 1, 1)
    sd["rpn_head.rpn_conv.weight"] = torch.randn(256, 256, 3, 3)
    path = _mmcv_file(tmp_path / "det.pth", sd, amp=True)
    seg = tubelet.create_model("uniformer_small_upernet", checkpoint_path=path, **TINY_UPER)
    report = str(seg.load_report)
    assert "decode_head, auxiliary_head start from their initialisation" in report
    assert "neck.* (1 tensor)" in report and "rpn_head.* (1 tensor)" in report
    assert seg.load_report.new == ["decode_head.conv_seg.weight", "decode_head.conv_seg.bias",
                                   "auxiliary_head.conv_seg.weight", "auxiliary_head.conv_seg.bias"]
    assert all(torch.equal(seg.state_dict()[k], v) for k, v in sd.items() if k.startswith("backbone."))


def test_imagenet_classifier_initialises_the_backbone_by_the_official_rule(tmp_path):
    image = tubelet.create_model("uniformer_small_2d", **TINY)
    sd = _randomise(image)
    path = tmp_path / "uniformer_small_in1k.pth"
    torch.save({"model": sd}, path)
    dense = tubelet.create_model("uniformer_small_dense", checkpoint_path=path, **TINY)
    report = str(dense.load_report)
    assert "ImageNet UniFormer classifier" in report and "norm.* (5 tensors), head.* (2 tensors)" in report
    assert "norm1, norm2, norm3, norm4" in report and "keep their initialisation" in report
    loaded = dense.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in sd.items() if not k.startswith(("norm.", "head.")))
    assert torch.equal(loaded["norm3.weight"], torch.ones(64)) and torch.equal(loaded["norm3.bias"], torch.zeros(64))
    seg = tubelet.create_model("uniformer_small_fpn", checkpoint_path=path, **TINY_FPN)
    assert "ImageNet classifier" in str(seg.load_report) and seg.num_classes == 150
    assert torch.equal(seg.state_dict()["backbone.blocks3.1.attn.qkv.weight"], sd["blocks3.1.attn.qkv.weight"])
    with pytest.raises(CheckpointError, match="depth"):
        tubelet.create_model("uniformer_small_dense", checkpoint_path=path)  # a tiny file into the S backbone


def test_video_and_foreign_files_are_clear_errors(tmp_path):
    video = tubelet.create_model("uniformer_small", **TINY, num_classes=4)
    torch.save({"model_state": video.state_dict()}, tmp_path / "video.pth")
    for name in ("uniformer_small_dense", "uniformer_small_fpn"):
        with pytest.raises(CheckpointError, match="VIDEO UniFormer"):
            tubelet.create_model(name, checkpoint_path=tmp_path / "video.pth", **TINY)
    torch.save({"state_dict": {"neck.lateral_convs.0.conv.weight": torch.zeros(1)}}, tmp_path / "neck.pth")
    with pytest.raises(CheckpointError, match="not a UniFormer backbone"):
        tubelet.create_model("uniformer_small_dense", checkpoint_path=tmp_path / "neck.pth")


def test_imagenet_weights_by_tag(tmp_path, monkeypatch):
    """``create_model("uniformer_small_dense", pretrained="in1k")`` goes through the registry's initialisers."""
    assert get_weights("uniformer_small_dense", "in1k").name == "uniformer_small_2d.in1k"
    assert get_weights("uniformer_base_dense", "in1k").name == "uniformer_base_2d.in1k"
    import hashlib
    import io
    buf = io.BytesIO()
    torch.save(_randomise(tubelet.create_model("uniformer_small_2d", **TINY)), buf)
    data = buf.getvalue()
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "tiny_dense_in1k.pth").write_bytes(data)
    monkeypatch.setenv("TUBELET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TUBELET_WEIGHTS_MIRROR", str(tmp_path / "mirror"))
    w = Weights("uniformer_small_2d", "test_dense_in1k", dataset="imagenet1k", num_classes=1000, options=dict(TINY),
                init_for=("uniformer_small_dense",),
                sources=(hf("org/x", "tiny_dense_in1k.pth", sha256=hashlib.sha256(data).hexdigest()),))
    register_weights([w])
    try:
        model = tubelet.create_model("uniformer_small_dense", pretrained="test_dense_in1k", **TINY)
    finally:
        unregister_weights(w.name)
    assert "ImageNet UniFormer classifier" in str(model.load_report)
    assert "initialised from uniformer_small_2d.test_dense_in1k" in model.pretrained_cfg.notes
    assert model.pretrained_cfg.num_classes == 0


def test_parameter_counts():
    counts = {"uniformer_small_dense": 21_033_280, "uniformer_base_dense": 49_264_576,
              "uniformer_small_fpn": 25_299_926, "uniformer_base_fpn": 53_531_222,
              "uniformer_small_upernet": 51_521_132, "uniformer_base_upernet": 79_752_428}
    with torch.device("meta"):
        for name, n in counts.items():
            assert tubelet.count_params(tubelet.create_model(name)) == n, name
        assert tubelet.count_params(tubelet.create_model("uniformer_small_upernet", aux_head=False)) == 51_521_132 - (
            256 * 320 * 9 + 2 * 256 + 150 * 256 + 150)


def test_light_fpn_variants(tmp_path):
    """Semantic FPN on the light XXS/XS backbones (tubelet.models.uniformer_light): 13.5M / 19.7M parameters as the
    README; a light ImageNet classifier initialises the backbone, an mmseg file loads strictly."""
    with torch.device("meta"):
        assert tubelet.count_params(tubelet.create_model("uniformer_xxs_fpn")) == 13_536_710
        assert tubelet.count_params(tubelet.create_model("uniformer_xs_fpn")) == 19_733_398
    light = dict(depth=[1, 1, 2, 1], embed_dim=[28, 56, 56, 56], prune_ratio=[[1.0, 0.5], [0.5]],
                 trade_off=[[1.0, 0.5], [0.5]])
    image = tubelet.create_model("uniformer_xxs_2d", **light)
    torch.save(_randomise(image), tmp_path / "xxs_in1k.pth")
    seg = tubelet.create_model("uniformer_xxs_fpn", checkpoint_path=tmp_path / "xxs_in1k.pth", **light,
                               neck_channels=16, channels=8).eval()
    report = str(seg.load_report)
    assert "norm.* (5 tensors), norm_cls.* (2 tensors), head.* (2 tensors), head_cls.* (2 tensors)" in report
    assert torch.equal(seg.state_dict()["backbone.blocks3.1.attn.qkv.weight"],
                       image.state_dict()["blocks3.1.attn.qkv.weight"])
    _randomise(seg)
    path = _mmcv_file(tmp_path / "fpn_xxs.pth", seg.state_dict())
    again = tubelet.create_model("uniformer_xxs_fpn", checkpoint_path=path, **light, neck_channels=16, channels=8)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), seg.state_dict().values()))
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(again.eval()(x), seg(x)) and seg(x).shape == (1, 150, 64, 96)
    with pytest.raises(CheckpointError, match="depth"):
        tubelet.create_model("uniformer_xs_fpn", checkpoint_path=path)
