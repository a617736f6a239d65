"""UniFormer is exact to the official implementation on every public fixture (tests/parity, recorded from
Sense-X/UniFormer and MMAction2). Weights are regenerated from the recipe (hash-checked), saved in the official file
layouts, and loaded through ``create_model`` as a user would. Each case's weights are regenerated and each file
written once per session (tests/parity/recipe.py, ``parity_files``)."""
import pytest
import torch

import recipe
import tubelet

MODEL_FOR_CASE = {  # fixture family prefix -> tubelet variant
    "uniformer_video_small": "uniformer_small",
    "uniformer_video_base": "uniformer_base",
    "uniformer_image_small_plus": "uniformer_small_plus_2d",
    "uniformer_image_small": "uniformer_small_2d",
    "uniformer_image_base": "uniformer_base_2d",
}
# How the producers write these models to disk (MODELS.md §4.1): PySlowFast video training, DeiT image training,
# timm's saver, and a bare state dict.
VIDEO_LAYOUTS = {"pyslowfast": lambda sd: {"epoch": 3, "model_state": sd, "optimizer_state": {}, "cfg": "DATA: {}"},
                 "flat": lambda sd: sd}
IMAGE_LAYOUTS = {"deit": lambda sd: {"model": sd, "epoch": 299, "max_accuracy": 82.9},
                 "timm": lambda sd: {"state_dict": sd, "arch": "uniformer_small", "epoch": 299},
                 "flat": lambda sd: sd}


def _variant(case: str) -> str:
    return next(v for k, v in MODEL_FOR_CASE.items() if case.startswith(k))


def _layouts(case: str) -> dict:
    return VIDEO_LAYOUTS if case.startswith("uniformer_video") else IMAGE_LAYOUTS


def _weights(manifest: dict, entries_key: str = "manifest", sha_key: str = "weights_sha256"):
    sd = recipe.state_dict(manifest["case"], entries_key)
    assert recipe.weights_sha256(sd) == manifest[sha_key], "weight recipe does not reproduce the fixture's weights"
    x = recipe.make_input(manifest)
    assert recipe.tensor_sha256(x) == manifest["input_sha256"], "input recipe does not reproduce the fixture's input"
    return sd, x


def _official_file(case, parity_files):
    """The weights in the official producer's layout (the first of the case's layouts)."""
    layout, wrap = next(iter(_layouts(case).items()))
    return parity_files.save((case, layout), lambda: wrap(recipe.state_dict(case)))


#: the video and image classifier fixtures (the dense-prediction and light ones have their own test modules)
CLASSIFIER_CASES = [c for c in recipe.cases("uniformer_") if c.startswith(tuple(MODEL_FOR_CASE))]


@pytest.mark.parametrize("case", CLASSIFIER_CASES)
def test_forward_matches_official(case, parity_files, record_parity):
    manifest, expected = recipe.load_case(case)
    sd, x = _weights(manifest)
    path = _official_file(case, parity_files)

    model = tubelet.create_model(_variant(case), checkpoint_path=path).eval()
    assert tubelet.count_params(model) == manifest["num_params"]
    with torch.no_grad():
        feats = model.forward_features(x)
        logits = model.forward_head(feats)
        pooled = model.forward_head(feats, pre_logits=True)
        assert torch.equal(model(x), logits)
    recipe.check(logits, expected["logits"], case, "logits", record_parity)
    recipe.check(pooled, expected["features"], case, "features", record_parity)


@pytest.mark.parametrize("case,layout", [(c, lay) for c in CLASSIFIER_CASES for lay in list(_layouts(c))[1:]])
def test_every_layout_loads_the_same_weights(case, layout, parity_files):
    sd = recipe.state_dict(case)
    path = parity_files.save((case, layout), lambda: _layouts(case)[layout](sd))
    model = tubelet.create_model(_variant(case), checkpoint_path=path)
    loaded = model.state_dict()
    assert set(loaded) == set(sd)
    assert all(torch.equal(loaded[k], v) for k, v in sd.items())


INIT_LAYOUTS = {"uniformer_image": lambda sd: {"model": sd}, "slowfast_model_state": lambda sd: {"model_state": sd},
                "flat": lambda sd: sd}


@pytest.mark.parametrize("case,layout", [(c, lay) for c in recipe.cases("init_uniformer_video")
                                         for lay in ("uniformer_image", "slowfast_model_state", "flat")])
def test_image_checkpoint_initialises_video_model_as_official(case, layout, parity_files, record_parity):
    manifest, expected = recipe.load_case(case)
    assert layout in [lay["name"] for lay in manifest["accepted_layouts"]]
    sd, x = _weights(manifest, "image_manifest", "image_weights_sha256")
    path = parity_files.save((case, "image", layout), lambda: INIT_LAYOUTS[layout](sd))

    name = "uniformer_base" if "_base_" in case else "uniformer_small"
    model = tubelet.create_model(name, checkpoint_path=path,
                                 num_classes=manifest["model_config"]["MODEL"]["NUM_CLASSES"]).eval()
    # the 1000-class ImageNet head cannot serve 400 classes: dropped and reported, as the official loader does
    assert model.load_report.dropped == ["head.weight", "head.bias"]
    assert model.load_report.new == ["head.weight", "head.bias"]
    with torch.no_grad():
        feats = model.forward_features(x)
        pooled = model.forward_head(feats, pre_logits=True)
        per_frame = feats.mean((-2, -1))  # B, C, T'
    recipe.check(pooled, expected["features"], case, f"features, {layout}", record_parity)
    recipe.check(per_frame, expected["features_t"], case, f"features_t, {layout}", record_parity)


def _mmaction2_weights(case):
    manifest, expected = recipe.load_case(case)
    sd, _ = recipe.mmaction2_state_dict(manifest)
    assert recipe.weights_sha256(sd) == manifest["weights_sha256"]
    x = recipe.make_input(manifest)
    assert recipe.tensor_sha256(x) == manifest["input_sha256"]
    return case, manifest, expected, sd, x


@pytest.mark.parametrize("case", recipe.cases("mmaction2_uniformer_")[:1])
@pytest.mark.parametrize("training_file", [False, True], ids=["published", "training"])
def test_mmaction2_checkpoint_matches_mmaction2(case, training_file, parity_files, record_parity):
    case, manifest, expected, sd, x = _mmaction2_weights(case)
    assert manifest["checkpoint_layout"]["top_level_keys"] == ["meta", "state_dict"]
    state = dict(sd)
    if training_file:  # raw mmengine checkpoints carry the data preprocessor's buffers and the optimizer
        state["data_preprocessor.mean"] = torch.full((3, 1, 1, 1), 114.75)
        state["data_preprocessor.std"] = torch.full((3, 1, 1, 1), 57.375)
    obj = {"meta": {"mmengine_version": "0.10.1", "epoch": 0}, "state_dict": state}
    if training_file:
        obj.update(message_hub={}, optimizer={}, param_schedulers=[])
    path = parity_files.save((case, "training" if training_file else "published"), lambda: obj)
    model = tubelet.create_model("uniformer_small", checkpoint_path=path).eval()
    assert "MMAction2" in model.load_report.layout
    assert model.pretrained_cfg.label_names == "kinetics400"  # MMAction2's K400 rows are alphabetical
    with torch.no_grad():
        feats = model.forward_features(x)
        logits, pooled = model.forward_head(feats), model.forward_head(feats, pre_logits=True)
    recipe.check(logits, expected["logits"], case, "logits", record_parity)
    recipe.check(pooled, expected["features"], case, "features", record_parity)


@pytest.mark.parametrize("case", ["uniformer_video_small_k400_4x160__public", "uniformer_image_small_224__public"])
def test_low_precision_autocast_keeps_the_official_argmax(case, parity_files):
    """bf16 / fp16 CPU autocast: same top-1 as the official float32 output, error bounded (measured: bf16 1.1e-2,
    fp16 1.3e-3 relative to the largest logit)."""
    recipe.skip_if_low_precision_is_emulated(case)
    manifest, expected = recipe.load_case(case)
    sd, x = _weights(manifest)
    model = tubelet.create_model(_variant(case), checkpoint_path=_official_file(case, parity_files)).eval()
    for dtype, bound in [(torch.bfloat16, 3e-2), (torch.float16, 3e-3)]:
        rel, same_argmax = recipe.low_precision_error(model, x, expected["logits"], dtype)
        assert same_argmax and rel < bound, (dtype, rel)
