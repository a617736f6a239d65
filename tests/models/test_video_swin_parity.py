"""Video Swin is exact to the official implementation (SwinTransformer/Video-Swin-Transformer) and MMAction2's
port, including the padding case and the SSv2 window, and 2-D ImageNet Swin files initialise it as the official
inflation does. Each case's weights are regenerated and each file written once per session (tests/parity/recipe.py,
``parity_files``)."""
import math

import pytest
import torch

import recipe
import tubelet
from tubelet.models.video_swin import compute_mask, relative_position_index

MODEL_FOR_CASE = {"swin_tiny": "swin3d_tiny", "swin_small": "swin3d_small", "swin_base": "swin3d_base"}


def _variant(case):
    return next(v for k, v in MODEL_FOR_CASE.items() if case.startswith(k))


def _with_buffers(sd, manifest, window):
    """The file as the original code writes it: every relative_position_index buffer included."""
    out = dict(sd)
    for e in manifest["manifest"]:
        if e["role"] == "buffer":
            out[e["key"]] = relative_position_index(window)
            assert list(out[e["key"]].shape) == e["shape"]
    return out


def _official_file(case, parity_files):
    """The mmcv runner layout of the official Video Swin code, with the index buffers it writes."""
    manifest, _ = recipe.load_case(case)
    window = manifest["model_config"]["model"]["backbone"]["window_size"]
    return parity_files.save((case, "official"), lambda: {
        "meta": {"epoch": 30, "mmcv_version": "1.3.1"},
        "state_dict": _with_buffers(recipe.state_dict(case), manifest, window)})


@pytest.mark.parametrize("case", recipe.cases("swin_"))
def test_forward_matches_official(case, parity_files, record_parity):
    manifest, expected = recipe.load_case(case)
    sd = recipe.state_dict(case)
    assert recipe.weights_sha256(sd) == manifest["weights_sha256"]
    x = recipe.make_input(manifest)
    assert recipe.tensor_sha256(x) == manifest["input_sha256"]
    backbone = manifest["model_config"]["model"]["backbone"]
    path = _official_file(case, parity_files)
    model = tubelet.create_model(_variant(case), checkpoint_path=path).eval()  # window read from the tables
    assert model.model_args["window_size"] == backbone["window_size"]
    assert tubelet.count_params(model) == manifest["num_params"]
    with torch.no_grad():
        feats = model.forward_features(x)
        logits, pooled = model.forward_head(feats), model.forward_head(feats, pre_logits=True)
    recipe.check(logits, expected["logits"], case, "logits", record_parity)
    recipe.check(pooled, expected["features"], case, "features", record_parity)


def _image_file(manifest, sd, with_buffers):
    """Microsoft 2-D Swin layout {'model': sd}; with its relative_position_index and attn_mask buffers if asked."""
    out = dict(sd)
    if with_buffers:
        for key, spec in manifest["checkpoint_file"]["buffers_written"].items():
            if key.endswith("relative_position_index"):
                out[key] = relative_position_index((1, 7, 7))
            else:  # attn_mask of a shifted 2-D block at its stage's resolution
                side = math.isqrt(spec["shape"][0]) * 7
                out[key] = compute_mask((1, side, side), (1, 7, 7), (0, 3, 3))
            assert list(out[key].shape) == spec["shape"]
    return {"model": out}


@pytest.mark.parametrize("case,with_buffers", [(c, b) for c in recipe.cases("init_swin") for b in (True, False)],
                         ids=lambda v: {True: "with_buffers", False: "without_buffers"}.get(v, v))
def test_imagenet_swin_initialises_video_model_as_official(case, with_buffers, parity_files, record_parity):
    manifest, expected = recipe.load_case(case)
    sd = recipe.state_dict(case, "image_manifest")
    assert recipe.weights_sha256(sd) == manifest["image_weights_sha256"]
    x = recipe.make_input(manifest)
    path = parity_files.save((case, "swin2d", with_buffers), lambda: _image_file(manifest, sd, with_buffers))
    cfg = manifest["model_config"]["model"]
    backbone = cfg["backbone"]
    model = tubelet.create_model(_variant(case.replace("init_", "")), checkpoint_path=path,
                                 window_size=backbone["window_size"], drop_path_rate=backbone["drop_path_rate"],
                                 num_classes=cfg["cls_head"]["num_classes"]).eval()
    assert model.load_report.dropped == ["head.weight", "head.bias"]  # the ImageNet classifier
    with torch.no_grad():
        feats = model.forward_features(x)
        pooled = model.forward_head(feats, pre_logits=True)
    what = "with buffers" if with_buffers else "without buffers"
    recipe.check(pooled, expected["features"], case, f"features, {what}", record_parity)
    recipe.check(feats.mean((-2, -1)), expected["features_t"], case, f"features_t, {what}", record_parity)


@pytest.mark.parametrize("case", recipe.cases("mmaction2_swin")[:1])
@pytest.mark.parametrize("training_file", [False, True], ids=["published", "training"])
def test_mmaction2_checkpoint_matches_mmaction2(case, training_file, parity_files, record_parity):
    manifest, expected = recipe.load_case(case)
    sd, official = recipe.mmaction2_state_dict(manifest)
    assert recipe.weights_sha256(official) == manifest["source_weights_sha256"]
    # Every tensor matches its recorded sha256_16. (The manifest's aggregate weights_sha256 is not reproducible from
    # its own recipe for this case, with or without the index buffers; the per-entry hashes and the logits are.)
    assert not recipe.entry_mismatches(sd, manifest["manifest"])
    sd = _with_buffers(sd, manifest, manifest["model_config"]["backbone"]["window_size"])
    if training_file:
        sd["data_preprocessor.mean"] = torch.zeros(3, 1, 1, 1)
        sd["data_preprocessor.std"] = torch.ones(3, 1, 1, 1)
    x = recipe.make_input(manifest)
    path = parity_files.save((case, "training" if training_file else "published"),
                             lambda: {"meta": {"mmengine_version": "0.10.1"}, "state_dict": sd})
    model = tubelet.create_model("swin3d_tiny", checkpoint_path=path).eval()
    assert "MMAction2" in model.load_report.layout
    with torch.no_grad():
        feats = model.forward_features(x)
        logits, pooled = model.forward_head(feats), model.forward_head(feats, pre_logits=True)
    recipe.check(logits, expected["logits"], case, "logits", record_parity)
    recipe.check(pooled, expected["features"], case, "features", record_parity)


@pytest.mark.parametrize("case", ["swin_tiny_k400_10x200__public"])
def test_low_precision_autocast_keeps_the_official_argmax(case, parity_files):
    """bf16 / fp16 CPU autocast (measured: bf16 6.6e-3, fp16 8.4e-4 relative to the largest logit)."""
    recipe.skip_if_low_precision_is_emulated(case)
    manifest, expected = recipe.load_case(case)
    model = tubelet.create_model(_variant(case), checkpoint_path=_official_file(case, parity_files)).eval()
    for dtype, bound in [(torch.bfloat16, 3e-2), (torch.float16, 3e-3)]:
        rel, same_argmax = recipe.low_precision_error(model, recipe.make_input(manifest), expected["logits"], dtype)
        assert same_argmax and rel < bound, (dtype, rel)
