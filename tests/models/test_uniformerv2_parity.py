"""UniFormerV2 is exact to the official implementation (OpenGVLab/UniFormerV2) and to MMAction2's port, and the
CLIP initialisation reproduces the official one from every CLIP file layout users have. Each case's weights are
regenerated and each file written once per session (tests/parity/recipe.py, ``parity_files``)."""
import functools
import warnings

import pytest
import torch
from torch import nn

import recipe
import tubelet

FORWARD = recipe.cases("uniformerv2_")
LAYOUTS = {"pyslowfast": lambda sd: {"epoch": 55, "model_state": sd, "optimizer_state": {}, "cfg": "TRAIN: {}"},
           "flat": lambda sd: sd}  # the published K710/K400 .pyth files used as PRETRAIN are flat state dicts


def _official(case):
    manifest, expected = recipe.load_case(case)
    sd = recipe.state_dict(case)
    assert recipe.weights_sha256(sd) == manifest["weights_sha256"]
    x = recipe.make_input(manifest)
    assert recipe.tensor_sha256(x) == manifest["input_sha256"]
    return manifest, expected, sd, x


def _file(case, layout, parity_files):
    return parity_files.save((case, layout), lambda: LAYOUTS[layout](recipe.state_dict(case)), ".pyth")


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if "l14" in c else c for c in FORWARD])
def test_forward_matches_official(case, parity_files, record_parity):
    manifest, expected, sd, x = _official(case)
    path = _file(case, "pyslowfast", parity_files)
    name = manifest["model_config"]["UNIFORMERV2"]["BACKBONE"]
    model = tubelet.create_model(name, checkpoint_path=path).eval()  # switches come from the weights
    assert tubelet.count_params(model) == manifest["num_params"]
    u = manifest["model_config"]["UNIFORMERV2"]
    assert model.model_args["return_list"] == u["RETURN_LIST"]
    for k in ("no_lmhra", "temporal_downsample", "n_layers", "frozen"):
        assert model.model_args[k] == u[k.upper()], k
    with torch.no_grad():
        feats = model.forward_features(x)
        logits = model.forward_head(feats)
        assert torch.equal(model.forward_head(feats, pre_logits=True), feats)
    recipe.check(logits, expected["logits"], case, "logits", record_parity)
    recipe.check(feats, expected["features"], case, "features", record_parity)


@pytest.mark.parametrize("case", ["uniformerv2_b16_sthv2_16x224__public"])
def test_flat_official_file_loads_the_same_weights(case, parity_files):
    manifest, _, sd, _ = _official(case)
    model = tubelet.create_model("uniformerv2_b16", checkpoint_path=_file(case, "flat", parity_files))
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k[len("backbone."):]], v) for k, v in sd.items())


# ---- CLIP initialisation -----------------------------------------------------------------------------------------

def _clip_files(case, manifest, sd, parity_files):
    """Every CLIP layout of the fixture's accepted_layouts, plus OpenAI's TorchScript archive and open_clip."""
    layouts = {lay["name"]: lay for lay in manifest["accepted_layouts"]}
    files = {}
    files["uniformerv2_extract"] = lambda: {k: v for k, v in sd.items()
                                            if k not in ("proj", "ln_post.weight", "ln_post.bias")}
    files["flat_visual_with_head"] = lambda: dict(sd)
    full_spec = layouts["openai_full"]

    @functools.cache  # the text tower is drawn once for the three files that hold it
    def openai_full():
        text = recipe.make_state_dict(full_spec["text_manifest"], full_spec["text_weight_seed"])
        full = {**text, **{"visual." + k: v for k, v in sd.items()}}
        return {k: full[k] for k in full_spec["key_order"]}

    files["openai_full"] = openai_full
    assert set(files) == set(layouts), "a fixture layout is not covered"
    # open_clip: the same names, saved by its trainer as {"state_dict": {"module.<name>": ...}, ...}
    files["open_clip_train"] = lambda: {"epoch": 32, "name": "ViT-B-16",
                                        "state_dict": {"module." + k: v for k, v in openai_full().items()}}
    paths = {name: parity_files.save((case, name), make, ".pt") for name, make in files.items()}
    paths["openai_torchscript"] = parity_files.get((case, "openai_torchscript"),
                                                   lambda path: _torchscript(openai_full(), path), ".pt")
    return paths


def _torchscript(state_dict, path):
    """A TorchScript archive holding these tensors under these names (how OpenAI ships CLIP)."""
    class Node(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    root = Node()
    for key, value in state_dict.items():
        *mods, leaf = key.split(".")
        node = root
        for m in mods:
            if not hasattr(node, m):
                node.add_module(m, Node())
            node = getattr(node, m)
        node.register_parameter(leaf, nn.Parameter(value.clone(), requires_grad=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script: how the CLIP archives were made
        torch.jit.script(root).save(str(path))
    return path


def _video_overrides(manifest):
    u = manifest["model_config"]["UNIFORMERV2"]
    return dict(n_layers=u["N_LAYERS"], return_list=u["RETURN_LIST"], no_lmhra=u["NO_LMHRA"],
                double_lmhra=u["DOUBLE_LMHRA"], temporal_downsample=u["TEMPORAL_DOWNSAMPLE"],
                dw_reduction=u["DW_REDUCTION"], backbone_drop_path_rate=u["BACKBONE_DROP_PATH_RATE"],
                drop_path_rate=u["DROP_PATH_RATE"], mlp_dropout=u["MLP_DROPOUT"], cls_dropout=u["CLS_DROPOUT"],
                frozen=u["FROZEN"], num_classes=manifest["model_config"]["MODEL"]["NUM_CLASSES"])


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if "l14" in c else c
                                  for c in recipe.cases("init_uniformerv2")])
def test_clip_initialisation_matches_official(case, parity_files, record_parity):
    manifest, expected = recipe.load_case(case)
    sd = recipe.state_dict(case, "image_manifest")
    assert recipe.weights_sha256(sd) == manifest["image_weights_sha256"]
    x = recipe.make_input(manifest)
    name = manifest["model_config"]["UNIFORMERV2"]["BACKBONE"]
    layouts = _clip_files(case, manifest, sd, parity_files)
    reference = first = None
    for i, (layout, path) in enumerate(layouts.items()):
        # the first two layouts, with two seeds for the new modules' random init, run the model: the feature is the
        # official one and does not depend on that init. Every other layout, built with the first one's seed, must
        # hold exactly the first one's tensors (the classifier aside, which the feature does not use), so it
        # computes the same feature: checked tensor by tensor instead of by a forward (an L/14 forward is ~20 s)
        torch.manual_seed(len(layout) if i < 2 else len(next(iter(layouts))))
        model = tubelet.create_model(name, checkpoint_path=path, **_video_overrides(manifest)).eval()
        assert model.load_report.new == ["transformer.proj.2.weight", "transformer.proj.2.bias"]
        tensors = {k: v for k, v in model.state_dict().items() if k not in model.load_report.new}
        if i < 2:
            with torch.no_grad():
                features = model.forward_features(x)
            recipe.check(features, expected["features"], case, f"features, {layout}", record_parity)
        else:
            assert tensors.keys() == first.keys(), layout
            assert all(torch.equal(v, first[k]) for k, v in tensors.items()), layout
        first = tensors if first is None else first
        clip_part = {k: v for k, v in tensors.items() if k in sd or k == "conv1.weight"}
        if reference is None:
            reference = clip_part
        assert all(torch.equal(v, reference[k]) for k, v in clip_part.items()), layout


@pytest.mark.parametrize("case", ["init_uniformerv2_b16_sthv2_16x224_from_clip__public"])
def test_clip_conv1_is_centre_inflated(case, parity_files):
    manifest, _ = recipe.load_case(case)
    sd = recipe.state_dict(case, "image_manifest")
    path = parity_files.save((case, "flat_visual_with_head"), lambda: dict(sd), ".pt")  # the CLIP visual tower
    model = tubelet.create_model("uniformerv2_b16", checkpoint_path=path, **_video_overrides(manifest))
    w = model.conv1.weight
    assert w.shape == (768, 3, 3, 16, 16)
    assert torch.equal(w[:, :, 1], sd["conv1.weight"]) and not w[:, :, 0].any() and not w[:, :, 2].any()
    assert not model.transformer.resblocks[0].lmhra1.pos_embed[3].weight.any()  # local MHRA starts as identity


@pytest.mark.parametrize("case", ["init_uniformerv2_b16_k400_8x224_from_clip__public"])
def test_openai_half_precision_archive_loads(case, parity_files):
    sd = recipe.state_dict(case, "image_manifest")
    path = parity_files.get((case, "openai_torchscript_fp16"),
                            lambda p: _torchscript({"visual." + k: v.half() for k, v in sd.items()}, p), ".pt")
    model = tubelet.create_model("uniformerv2_b16", checkpoint_path=path).eval()
    assert model.conv1.weight.dtype == torch.float32
    torch.testing.assert_close(model.class_embedding, sd["class_embedding"].half().float())


# ---- MMAction2 -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", recipe.cases("mmaction2_uniformerv2_")[:1])
def test_mmaction2_checkpoint_matches_mmaction2(case, parity_files, record_parity):
    manifest, expected = recipe.load_case(case)
    sd, _ = recipe.mmaction2_state_dict(manifest)
    assert recipe.weights_sha256(sd) == manifest["weights_sha256"]
    x = recipe.make_input(manifest)
    path = parity_files.save((case, "mmaction2"), lambda: {"meta": {"mmengine_version": "0.10.1"}, "state_dict": sd})
    model = tubelet.create_model("uniformerv2_b16", checkpoint_path=path).eval()
    assert "MMAction2" in model.load_report.layout
    with torch.no_grad():
        feats = model.forward_features(x)
        logits = model.forward_head(feats)
        normed = model.transformer.proj[0](feats)  # MMAction2's features are after its transformer.norm
    recipe.check(logits, expected["logits"], case, "logits", record_parity)
    recipe.check(normed, expected["features"], case, "features", record_parity)


@pytest.mark.parametrize("case", ["uniformerv2_b16_k400_8x224__public"])
def test_bf16_autocast_keeps_the_official_argmax(case, parity_files):
    """bf16 CPU autocast (measured 6.1e-3 relative to the largest logit; fp16 on CPU is 4x slower than bf16 here
    and is checked on the other families)."""
    recipe.skip_if_low_precision_is_emulated(case)
    manifest, expected, sd, x = _official(case)
    model = tubelet.create_model("uniformerv2_b16", checkpoint_path=_file(case, "pyslowfast", parity_files)).eval()
    rel, same_argmax = recipe.low_precision_error(model, x, expected["logits"], torch.bfloat16)
    assert same_argmax and rel < 3e-2, rel
