"""UniFormer top-down pose is exact to the official mmpose model on the public fixtures (tests/parity,
``uniformer_pose_*``): weights regenerated from the recipe (hash-checked), written as the mmpose runner file and
loaded through ``create_model`` as a user would; heatmaps, the flip test and the 'default' decoding compared with
the official outputs (keypoints within 1e-3 px). Also: the other checkpoint layouts (bare state dict, backbone-only
and ImageNet files, tubelet files, a new keypoint set), on a small model."""
import pytest
import torch

import recipe
import tubelet
from tubelet.errors import CheckpointError
from tubelet.models.uniformer_pose import UniFormerPose

CASES = recipe.cases("uniformer_pose_")
VARIANT = {"uniformer_pose_small": "uniformer_small_pose", "uniformer_pose_base": "uniformer_base_pose"}
KEYPOINT_TOL_PX = 1e-3


def _variant(case: str) -> str:
    return next(v for k, v in VARIANT.items() if case.startswith(k))


def _center_scale(manifest):
    return torch.tensor(manifest["center"]), torch.tensor(manifest["scale"])


def _check_keypoints(out, expected, case, what, record):
    assert out.shape == expected.shape and out.dtype == torch.float32
    err = float((out - expected).abs().max())
    record(case, f"{what} (abs px)", err)
    assert err <= KEYPOINT_TOL_PX, f"{case} {what}: {err:.2e} px"


def _runner_file(manifest: dict, sd: dict) -> dict:
    """mmpose 0.16 ``tools/train.py`` (mmcv EpochBasedRunner) file layout (``checkpoint_layout`` in the manifest)."""
    assert manifest["checkpoint_layout"]["top_level_keys"] == ["meta", "state_dict", "optimizer"]
    return {"meta": {"mmpose_version": "0.16.0", "config": "model = dict(type='TopDown', ...)", "epoch": 210,
                     "iter": 0},
            "state_dict": sd, "optimizer": {"state": {}, "param_groups": []}}


@pytest.mark.parametrize("case", CASES)
def test_decode_edge_cases_match_official(case, record_parity):
    """Planted heatmaps hitting every branch of mmpose's 'default' decoding (no backbone involved)."""
    manifest, expected = recipe.load_case(case)
    C, S = _center_scale(manifest)
    keypoints, maxvals = UniFormerPose.decode_heatmaps(expected["decode_edge_heatmaps"], center=C[:1], scale=S[:1],
                                                       post_process="default")
    _check_keypoints(keypoints, expected["decode_edge_keypoints"], case, "decode_edge_keypoints", record_parity)
    recipe.check(maxvals, expected["decode_edge_maxvals"], case, "decode_edge_maxvals", record_parity)
    # NumPy arrays are accepted as well
    keypoints, _ = UniFormerPose.decode_heatmaps(expected["decode_edge_heatmaps"].numpy(), C[:1].numpy(),
                                                 S[:1].numpy())
    _check_keypoints(keypoints, expected["decode_edge_keypoints"], case, "decode_edge_keypoints", record_parity)


@pytest.mark.parametrize("case", CASES)
def test_pose_matches_official(case, parity_files, record_parity):
    manifest, expected = recipe.load_case(case)
    sd = recipe.state_dict(case)
    assert recipe.weights_sha256(sd) == manifest["weights_sha256"], "weight recipe does not reproduce the fixture"
    x = recipe.make_input(manifest)
    assert recipe.tensor_sha256(x) == manifest["input_sha256"], "input recipe does not reproduce the fixture"
    path = parity_files.save((case, "mmpose"), lambda: _runner_file(manifest, sd))

    model = tubelet.create_model(_variant(case), checkpoint_path=path).eval()
    assert tubelet.count_params(model) == manifest["num_params"]
    assert model.load_report.dropped == [] and model.load_report.new == []
    C, S = _center_scale(manifest)
    P = manifest["flip_pairs"]
    with torch.no_grad():
        feats = model.forward_features(x)
        heatmaps = model.forward_head(feats)
    recipe.check(feats, expected["features_3"], case, "features_3", record_parity)
    recipe.check(heatmaps, expected["heatmaps"], case, "heatmaps", record_parity)

    decoded = []  # the heatmaps predict_keypoints decodes (a spy, so that no forward runs twice)
    model.decode_heatmaps = lambda h, *a, **k: decoded.append(h) or UniFormerPose.decode_heatmaps(h, *a, **k)
    keypoints, maxvals = model.predict_keypoints(x, center=C, scale=S, flip_test=True, shift_heatmap=True,
                                                 post_process="default", flip_pairs=P)
    recipe.check(decoded[-1], expected["heatmaps_flip_test"], case, "heatmaps_flip_test", record_parity)
    _check_keypoints(keypoints, expected["keypoints"], case, "keypoints", record_parity)
    recipe.check(maxvals, expected["maxvals"], case, "maxvals", record_parity)
    keypoints, maxvals = model.predict_keypoints(x, center=C, scale=S, flip_test=False, shift_heatmap=True,
                                                 post_process="default", flip_pairs=P)
    assert torch.equal(decoded[-1], heatmaps)
    _check_keypoints(keypoints, expected["keypoints_no_flip"], case, "keypoints_no_flip", record_parity)
    recipe.check(maxvals, expected["maxvals_no_flip"], case, "maxvals_no_flip", record_parity)
    del model.decode_heatmaps
    keypoints, maxvals = model.decode_heatmaps(expected["decode_edge_heatmaps"], center=C[:1], scale=S[:1],
                                               post_process="default")
    _check_keypoints(keypoints, expected["decode_edge_keypoints"], case, "decode_edge_keypoints", record_parity)
    recipe.check(maxvals, expected["decode_edge_maxvals"], case, "decode_edge_maxvals", record_parity)


def test_published_parameter_counts():
    """S 25,233,489 and B 53,464,785 (the official TopDown builds), at any input size (built on the meta device)."""
    with torch.device("meta"):
        assert tubelet.count_params(tubelet.create_model("uniformer_small_pose")) == 25_233_489
        model = tubelet.create_model("uniformer_base_pose", img_size=(384, 288))
        assert tubelet.count_params(model) == 53_464_785
        assert model(torch.empty(1, 3, 384, 288)).shape == (1, 17, 96, 72)  # runs on meta (FLOP counting)
    assert model.pretrained_cfg.input_size == (3, 384, 288)
    assert model.model_args["img_size"] == [384, 288] and model.model_args["drop_path_rate"] == 0.5


def test_img_size_option():
    with torch.device("meta"):
        small = tubelet.create_model("uniformer_small_pose", img_size=[448, 320])
        assert small.pretrained_cfg.input_size == (3, 448, 320) and small.model_args["drop_path_rate"] == 0.2
        assert tubelet.create_model("uniformer_base_pose").model_args["drop_path_rate"] == 0.4
        with pytest.raises(tubelet.OptionError, match="img_size"):
            tubelet.create_model("uniformer_small_pose", img_size="384x288")
        with pytest.raises(tubelet.UsageError, match="at least 32"):
            tubelet.create_model("uniformer_small_pose", img_size=(16, 16))


# -- other layouts, on a small model ---------------------------------------------------------------------------------

_TINY = dict(depth=(1, 1, 2, 1), embed_dim=(16, 32, 64, 64), head_dim=32, num_deconv_filters=(16, 16, 16))


def _tiny(**kw):
    return tubelet.create_model("uniformer_small_pose", **_TINY, **kw).eval()


def _random_state(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: (torch.rand(v.shape, generator=g) + 0.5 if k.endswith("running_var") else
                torch.randn(v.shape, generator=g) * 0.1 if v.is_floating_point() else v)
            for k, v in model.state_dict().items()}


def test_checkpoint_layouts(tmp_path):
    source = _tiny()
    sd = _random_state(source)
    source.load_state_dict(sd)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        want = source(x)
    for name, obj in {"runner": {"meta": {}, "state_dict": sd, "optimizer": {}}, "flat": sd,
                      "with_other_parts": {"state_dict": {**sd, "neck.lateral_convs.0.conv.weight": torch.zeros(1),
                                                          "decode_head.conv_seg.weight": torch.zeros(1)}}}.items():
        torch.save(obj, tmp_path / f"{name}.pth")
        model = _tiny(checkpoint_path=tmp_path / f"{name}.pth")
        with torch.no_grad():
            assert torch.equal(model(x), want), name
        assert model.num_classes == 17 and model.load_report.new == []
    assert "left out (not part of this model): neck.* (1 tensor), decode_head.* (1 tensor)" in model.load_report.notes

    # a tubelet file round trip
    tubelet.save_model(model, tmp_path / "pose.safetensors")
    again = tubelet.create_model(checkpoint_path=tmp_path / "pose.safetensors").eval()
    with torch.no_grad():
        assert torch.equal(again(x), want)
    assert again.pretrained_cfg.input_size == (3, 256, 192)

    # a new keypoint set: the heatmap layer starts afresh, everything else is loaded
    five = _tiny(checkpoint_path=tmp_path / "runner.pth", num_classes=5, drop_head=True)
    assert five.num_classes == 5 and five.load_report.new == ["keypoint_head.final_layer.weight",
                                                             "keypoint_head.final_layer.bias"]
    assert five.pretrained_cfg.class_names is None and five(x).shape == (1, 5, 16, 16)
    with pytest.raises(CheckpointError, match="drop_head"):
        _tiny(checkpoint_path=tmp_path / "runner.pth", num_classes=5)
    # the flip test needs the new set's left/right pairs
    with pytest.raises(tubelet.UsageError, match="flip_pairs"):
        five.predict_keypoints(x, center=[[32, 32]], scale=[[0.3, 0.3]])
    five.flip_pairs = [(1, 2), (3, 4)]
    keypoints, maxvals = five.eval().predict_keypoints(x, center=[[32, 32]], scale=[[0.3, 0.3]], flip_pairs=None)
    assert keypoints.shape == (1, 5, 2) and maxvals.shape == (1, 5, 1)


def test_backbone_and_imagenet_files_initialise_the_backbone(tmp_path):
    pose = _tiny()
    sd = _random_state(pose, seed=1)
    backbone = {k[len("backbone."):]: v for k, v in sd.items() if k.startswith("backbone.")}
    torch.save({"state_dict": {**{f"backbone.{k}": v for k, v in backbone.items()},
                               "neck.fpn_convs.0.conv.weight": torch.zeros(1)}}, tmp_path / "det.pth")
    torch.save(backbone, tmp_path / "dense.pth")
    for name in ("det", "dense"):
        model = _tiny(checkpoint_path=tmp_path / f"{name}.pth")
        loaded = model.state_dict()
        assert all(torch.equal(loaded[f"backbone.{k}"], v) for k, v in backbone.items())
        assert model.load_report.new == ["keypoint_head.final_layer.weight", "keypoint_head.final_layer.bias"]
        assert any("deconv_layers" in n for n in model.load_report.notes)

    # the ImageNet image UniFormer the official training starts from: no output norms; its BN norm and head unused
    image = tubelet.create_model("uniformer_small_2d", depth=_TINY["depth"], embed_dim=_TINY["embed_dim"],
                                 head_dim=32)
    torch.save({"model": image.state_dict()}, tmp_path / "in1k.pth")
    model = _tiny(checkpoint_path=tmp_path / "in1k.pth")
    assert "left out (not part of this model): norm.* (5 tensors), head.* (2 tensors)" in model.load_report.notes
    assert any("norm1, norm2, norm3, norm4" in n for n in model.load_report.notes)
    loaded = model.state_dict()
    assert torch.equal(loaded["backbone.blocks3.0.attn.qkv.weight"], image.state_dict()["blocks3.0.attn.qkv.weight"])
    assert torch.equal(loaded["backbone.norm4.weight"], torch.ones(64))


def test_wrong_checkpoints_are_refused(tmp_path):
    torch.save({"state_dict": _random_state(_tiny())}, tmp_path / "tiny.pth")
    with pytest.raises(CheckpointError, match="depth"):
        tubelet.create_model("uniformer_small_pose", **{**_TINY, "depth": (1, 1, 1, 1)},
                             checkpoint_path=tmp_path / "tiny.pth")
    video = tubelet.create_model("uniformer_small", depth=(1, 1, 1, 1), embed_dim=(16, 32, 64, 64), head_dim=32)
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in video.state_dict().items()}}, tmp_path / "video.pth")
    with pytest.raises(CheckpointError, match="video"):
        _tiny(checkpoint_path=tmp_path / "video.pth")
