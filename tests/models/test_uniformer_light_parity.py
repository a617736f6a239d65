"""The light UniFormer (XXS/XS image, video and dense backbones) is exact to the official implementation on every
public fixture (tests/parity/uniformer_light_*, recorded from Sense-X/UniFormer). Weights are regenerated from the
recipe (hash-checked), saved in the official file layouts and loaded through ``create_model`` as the held-out check
does (``create_model(NAME, checkpoint_path=FILE)``, ``model(x)``)."""
import pytest
import torch

import recipe
import tubelet

MODEL_FOR_CASE = {  # fixture family prefix -> tubelet variant
    "uniformer_light_image_xxs_": "uniformer_xxs_2d",
    "uniformer_light_image_xs_": "uniformer_xs_2d",
    "uniformer_light_video_xxs_": "uniformer_xxs",
    "uniformer_light_video_xs_": "uniformer_xs",
    "uniformer_light_dense_xxs_": "uniformer_xxs_dense",
    "uniformer_light_dense_xs_": "uniformer_xs_dense",
}
CASES = recipe.cases("uniformer_light_")


def _variant(case: str) -> str:
    return next(v for k, v in MODEL_FOR_CASE.items() if case.startswith(k))


def _layouts(case: str) -> dict:
    """How the official code writes the case's model (DENSE.md §4; the manifest's ``checkpoint_layout``), first
    the released one."""
    manifest, _ = recipe.load_case(case)
    if case.startswith("uniformer_light_image"):
        return {"flat": lambda: recipe.state_dict(case),
                "deit": lambda: {"model": recipe.state_dict(case), "epoch": 599, "max_accuracy": 79.1}}
    if case.startswith("uniformer_light_video"):
        return {"pyslowfast": lambda: {"epoch": 110, "model_state": recipe.state_dict(case), "optimizer_state": {},
                                       "cfg": "MODEL:\n  MODEL_NAME: Uniformer_light_fp32\n"}}
    layout = manifest["checkpoint_layout"]

    def mmdet():
        sd = dict(recipe.state_dict(case))
        sd.update(recipe.make_state_dict(layout["extra_entries"], manifest["weight_seed"] + 1000))
        return {"meta": {"mmdet_version": "2.11.0", "epoch": 12, "iter": 87960, "CLASSES": ("person",)},
                "state_dict": sd, "optimizer": {}}
    return {"mmdet": mmdet}


def _official_file(case, parity_files, layout=None):
    layouts = _layouts(case)
    layout = layout or next(iter(layouts))
    return parity_files.save((case, layout), layouts[layout])


def _checked_input(case):
    manifest, expected = recipe.load_case(case)
    sd = recipe.state_dict(case)
    assert recipe.weights_sha256(sd) == manifest["weights_sha256"], "weight recipe does not reproduce the fixture"
    x = recipe.make_input(manifest)
    assert recipe.tensor_sha256(x) == manifest["input_sha256"], "input recipe does not reproduce the fixture"
    return manifest, expected, x


@pytest.mark.parametrize("case", CASES)
def test_forward_matches_official(case, parity_files, record_parity):
    manifest, expected, x = _checked_input(case)
    path = _official_file(case, parity_files)
    model = tubelet.create_model(_variant(case), checkpoint_path=path).eval()
    with torch.no_grad():
        out = model(x)
        if manifest["family"] == "uniformer_light_dense":
            assert tubelet.count_params(model) == manifest["num_backbone_params"]
            assert isinstance(out, list) and len(out) == 4
            for i, y in enumerate(out):
                recipe.check(y, expected[f"features_{i}"], case, f"features_{i}", record_parity)
            report = str(model.load_report)
            assert "left out (not part of this model): neck.* (16 tensors), rpn_head.* (6 tensors), roi_head.*" in \
                report, report
        else:
            assert tubelet.count_params(model) == manifest["num_params"]
            feats = model.forward_features(x)
            assert torch.equal(model.forward_head(feats), out)
            recipe.check(out, expected["logits"], case, "logits", record_parity)
            recipe.check(model.forward_head(feats, pre_logits=True), expected["features"], case, "features",
                         record_parity)


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("uniformer_light_image")])
def test_deit_layout_loads_the_same_weights(case, parity_files):
    sd = recipe.state_dict(case)
    model = tubelet.create_model(_variant(case), checkpoint_path=_official_file(case, parity_files, "deit"))
    loaded = model.state_dict()
    assert set(loaded) == set(sd) and all(torch.equal(loaded[k], v) for k, v in sd.items())


@pytest.mark.parametrize("case", ["uniformer_light_dense_xxs_det_160x288__public"])
def test_detector_file_is_no_classifier(case, parity_files):
    with pytest.raises(tubelet.CheckpointError, match="dense-prediction backbone"):
        tubelet.create_model("uniformer_xxs_2d", checkpoint_path=_official_file(case, parity_files))
