"""The UniFormer dense-prediction models are exact to the official mmdet / mmseg code on the public fixtures
(tests/parity/uniformer_dense_*, uniformer_seg_*): weights regenerated from the recipe (hash-checked), written in the
official runner-file layouts (detection: ``{"meta", "state_dict", "optimizer", "amp"}`` with the RPN/RoI heads;
segmentation: ``{"meta", "state_dict", "optimizer"}``), and loaded through ``create_model`` exactly as the held-out
check does."""
import pytest
import torch

import recipe
import tubelet

DENSE_CASES = recipe.cases("uniformer_dense_")
SEG_CASES = recipe.cases("uniformer_seg_")


def _weights(manifest: dict):
    sd = recipe.state_dict(manifest["case"])
    assert recipe.weights_sha256(sd) == manifest["weights_sha256"], "weight recipe does not reproduce the fixture"
    x = recipe.make_input(manifest)
    assert recipe.tensor_sha256(x) == manifest["input_sha256"], "input recipe does not reproduce the fixture's input"
    return sd, x


def _official_file(manifest: dict, parity_files):
    """The runner file the official training wrote (``checkpoint_layout``)."""
    layout = manifest["checkpoint_layout"]
    case = manifest["case"]

    def make():
        state = dict(recipe.state_dict(case))
        if layout.get("extra_entries"):  # the detector's RPN / RoI heads (make_state_dict(extra, weight_seed + 1000))
            state.update(recipe.make_state_dict(layout["extra_entries"], manifest["weight_seed"] + 1000))
        obj = {"meta": {"epoch": 12, "iter": 80000, "config": "..."}, "state_dict": state, "optimizer": {}}
        if "amp" in layout["top_level_keys"]:
            obj["amp"] = {}
        assert list(obj) == layout["top_level_keys"]
        return obj
    return parity_files.save((case, "official"), make)


def _stage3_mode(manifest: dict) -> dict:
    bb = manifest["model_config"]["model"]["backbone"]
    return dict(windows=bb.get("windows", False), hybrid=bb.get("hybrid", False), window_size=bb.get("window_size", 14))


@pytest.mark.parametrize("case", DENSE_CASES)
def test_dense_backbone_matches_official(case, parity_files, record_parity):
    manifest, expected = recipe.load_case(case)
    _, x = _weights(manifest)
    path = _official_file(manifest, parity_files)
    name = "uniformer_base_dense" if "_base_" in case else "uniformer_small_dense"
    assert _stage3_mode(manifest) == dict(windows=False, hybrid=True, window_size=14)
    model = tubelet.create_model(name, checkpoint_path=path, windows=False, hybrid=True, window_size=14).eval()
    # the detector's neck is mmdet's (tubelet has no detection heads): the backbone count is the one to compare
    assert tubelet.count_params(model) == manifest["num_backbone_params"]
    report = str(model.load_report)
    for part in ("neck.*", "rpn_head.*", "roi_head.*"):
        assert part in report, report
    with torch.no_grad():
        feats = model(x)
    assert len(feats) == 4
    for i, f in enumerate(feats):
        recipe.check(f, expected[f"features_{i}"], case, f"features_{i}", record_parity)


@pytest.mark.parametrize("case", SEG_CASES)
def test_segmentation_matches_official(case, parity_files, record_parity):
    manifest, expected = recipe.load_case(case)
    _, x = _weights(manifest)
    path = _official_file(manifest, parity_files)
    name = "uniformer_small_upernet" if "upernet" in case else "uniformer_small_fpn"
    model = tubelet.create_model(name, checkpoint_path=path, **_stage3_mode(manifest)).eval()
    assert tubelet.count_params(model) == manifest["num_params"]
    assert tubelet.count_params(model.backbone) == manifest["num_backbone_params"]
    # mmseg's keys, in mmseg's order (inside a patch embedding tubelet registers proj before norm)
    official = [e["key"] for e in manifest["manifest"]]
    ours = list(model.state_dict())
    assert set(ours) == set(official)
    assert [k for k in ours if ".patch_embed" not in k] == [k for k in official if ".patch_embed" not in k]
    with torch.no_grad():
        feats = model.forward_features(x)
        seg_logits = model.forward_head(feats)
        resized = model(x)
        pred = model.predict(x)
    rows, cols = manifest["seg_logits_resized_rows"], manifest["seg_logits_resized_cols"]
    assert tuple(resized.shape) == tuple(manifest["seg_logits_resized_full_shape"])
    recipe.check(feats[2], expected["features_2"], case, "features_2", record_parity)
    recipe.check(feats[3], expected["features_3"], case, "features_3", record_parity)
    recipe.check(seg_logits, expected["seg_logits"], case, "seg_logits", record_parity)
    recipe.check(resized[:, :, rows][:, :, :, cols], expected["seg_logits_resized"], case, "seg_logits_resized",
                 record_parity)
    agree = (pred == expected["seg_pred"].long()).float().mean().item()
    record_parity(case, "seg_pred disagreement", 1 - agree)
    assert agree >= 0.999, agree
