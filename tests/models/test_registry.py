"""The registry and the metadata every variant carries; parameter counts equal the published/computed ones."""
import pytest
import torch

import tubelet
from tubelet.data.presets import SAMPLERS
from tubelet.labels import load_labels
from tubelet.models._registry import get_entrypoint, get_family, get_pretrained_cfg, register_model

# MODELS.md §1.1 / Appendix A (computed counts that reproduce the published 21.4M/49.8M/22M/24M/50M/100M).
PARAMS = {
    "uniformer_small": 21_400_400, "uniformer_base": 49_813_200,
    "uniformer_small_2d": 21_545_256, "uniformer_small_plus_2d": 24_032_552,
    "uniformer_small_plus_dim64_2d": 24_032_552, "uniformer_base_2d": 49_776_552,
    "uniformer_base_ls_2d": 49_796_520, "uniformer_large_ls_2d": 100_103_888,
    # token-labeling head_dim-32 S and B, with aux_head (MODELS.md §1.2 table: TL uniformer_small / uniformer_base)
    "uniformer_small_hd32_2d": 22_058_256, "uniformer_base_hd32_2d": 50_289_552,
    # MODELS.md §2.2 / Appendix A (= MMAction2's 115M / 354M)
    "uniformerv2_b16": 114_552_208, "uniformerv2_l14": 354_099_600, "uniformerv2_l14_336": 354_427_280,
    # MODELS.md §3.1 (= 28.2M / 49.8M / 88.0M / 197M)
    "swin3d_tiny": 28_158_070, "swin3d_small": 49_816_678, "swin3d_base": 88_048_984, "swin3d_large": 196_953_916,
    # ../reference/DENSE.md §1.4 (the official fixture builds): light classifiers and dense backbones
    "uniformer_xxs": 9_833_896, "uniformer_xs": 16_099_552, "uniformer_xxs_2d": 10_215_280,
    "uniformer_xs_2d": 16_509_264, "uniformer_xxs_dense": 9_317_168, "uniformer_xs_dense": 15_483_136,
    "uniformer_small_dense": 21_033_280, "uniformer_base_dense": 49_264_576,
    # segmentation (README 25M / 54M / 52M / 80M / 13.5M / 19.7M; S FPN and UperNet equal the official builds) and
    # top-down pose (the official builds)
    "uniformer_small_fpn": 25_299_926, "uniformer_base_fpn": 53_531_222, "uniformer_small_upernet": 51_521_132,
    "uniformer_base_upernet": 79_752_428, "uniformer_xxs_fpn": 13_536_710, "uniformer_xs_fpn": 19_733_398,
    "uniformer_small_pose": 25_233_489, "uniformer_base_pose": 53_464_785,
    # COCO detectors (README 29.4M / 35.6M / 41M / 69M / 79M / 107M; XXS and Cascade S equal the official builds of
    # the detection fixtures)
    "uniformer_xxs_maskrcnn": 29_437_472, "uniformer_xs_maskrcnn": 35_634_160, "uniformer_small_maskrcnn": 41_200_688,
    "uniformer_base_maskrcnn": 69_431_984, "uniformer_small_cascade_maskrcnn": 79_035_890,
    "uniformer_base_cascade_maskrcnn": 107_267_186,
}
#: variants whose output is not one row of class scores: backbones (4 maps), segmentation, pose
BACKBONES = {n for n in PARAMS if n.endswith("_dense")}
PER_PIXEL = {n for n in PARAMS if n.endswith(("_fpn", "_upernet"))}
HEATMAPS = {"uniformer_small_pose", "uniformer_base_pose"}
DETECTORS = {n for n in PARAMS if n.endswith("_maskrcnn")}


def test_list_models():
    names = tubelet.list_models()
    assert names == sorted(names) and set(PARAMS) <= set(names)
    assert tubelet.list_models("uniformer_*_2d") == sorted(n for n in PARAMS if n.endswith("_2d"))
    assert set(tubelet.list_models()) == set(PARAMS)
    assert tubelet.list_models("nothing*") == []


@pytest.mark.parametrize("name", tubelet.list_models())
def test_parameter_count_is_exact(name):
    with torch.device("meta"):
        model = tubelet.create_model(name)
    assert tubelet.count_params(model) == PARAMS[name]


def test_uniformerv2_config_counts():
    # MODELS.md §2.2: the SSv2 configs (local MHRA, temporal downsampling, 8/16 global blocks, 174 classes),
    # frozen L/14@336 (no balance), ActivityNet L/14 (200 classes)
    with torch.device("meta"):
        ss = dict(no_lmhra=False, temporal_downsample=True, num_classes=174)
        assert tubelet.count_params(tubelet.create_model("uniformerv2_b16", n_layers=8, **ss)) == 162_992_814
        assert tubelet.count_params(tubelet.create_model("uniformerv2_l14", n_layers=16, **ss)) == 573_949_966
        assert tubelet.count_params(tubelet.create_model("uniformerv2_l14_336", frozen=True)) == 354_426_256
        assert tubelet.count_params(tubelet.create_model("uniformerv2_l14", num_classes=200)) == 353_894_600


def test_swin_sthv2_count():
    with torch.device("meta"):
        model = tubelet.create_model("swin3d_base", window_size=(16, 7, 7), num_classes=174)
    assert tubelet.count_params(model) == 88_834_038


def test_sthv2_and_std_counts():
    # the fixtures' official counts: B with 174 classes, S with STD patch embeddings
    with torch.device("meta"):
        assert tubelet.count_params(tubelet.create_model("uniformer_base", num_classes=174)) == 49_697_262
        assert tubelet.count_params(tubelet.create_model("uniformer_small", std=True)) == 23_104_336


@pytest.mark.parametrize("name", tubelet.list_models())
def test_every_variant_runs_and_carries_a_data_contract(name):
    classes = 0 if name in BACKBONES else 3
    # detectors: 64 proposals instead of 1000 (the RoI heads' cost; their test path is the parity tests')
    model = tubelet.create_model(name, num_classes=classes,
                                 **({"rpn_max_per_img": 64} if name in DETECTORS else {})).eval()
    cfg = model.pretrained_cfg
    assert cfg.architecture == name and cfg.num_classes == classes
    size = 64 if name.startswith("uniformer_") else cfg.input_size[-1]  # UniFormerV2: fixed resolution
    shape = (1, 3, 2, size, size) if cfg.is_video else (1, 3, size, size)
    with torch.no_grad():
        out = model.detect(torch.randn(shape)) if name in DETECTORS else model(torch.randn(shape))
    if name in DETECTORS:  # proposals, then detections of the 3 classes with masks at the image's size
        assert out["proposals"].shape == (64, 5)
        n = len(out["labels"])
        assert out["boxes"].shape == (n, 4) and out["scores"].shape == (n,) and out["masks"].shape == (n, size, size)
        assert bool((out["labels"] < 3).all())
        out = out["proposals"]
    elif name in BACKBONES:  # four maps at strides 4, 8, 16, 32
        assert [tuple(m.shape[-2:]) for m in out] == [(16, 16), (8, 8), (4, 4), (2, 2)]
        assert [m.shape[1] for m in out] == list(model.out_channels)
        out = torch.cat([m.flatten() for m in out])
    elif name in PER_PIXEL:
        assert out.shape == (1, 3, size, size)
    elif name in HEATMAPS:
        assert out.shape == (1, 3, size // 4, size // 4)
    else:
        assert out.shape == (1, 3)
    assert torch.isfinite(out).all()
    for method in ("forward_features", "forward_head", "reset_classifier", "no_weight_decay",
                   "set_grad_checkpointing"):
        assert callable(getattr(model, method))
    with torch.device("meta"):
        full = tubelet.create_model(name).pretrained_cfg
    assert len(full.mean) == len(full.std) == 3 and full.source and full.license and full.paper
    if full.is_video:
        assert full.num_frames == full.input_size[1] and full.sampler in SAMPLERS
    if full.label_names:
        assert len(load_labels(full.label_names)) == full.num_classes


def test_unknown_model_suggests_names():
    with pytest.raises(tubelet.UsageError, match="did you mean uniformer_small"):
        tubelet.create_model("uniformer_smal")


def test_duplicate_registration_is_refused():
    def uniformer_small():
        pass
    family, cfg = get_family("uniformer_small"), get_pretrained_cfg("uniformer_small")
    with pytest.raises(ValueError, match="registered twice"):
        register_model(family, cfg)(uniformer_small)

    def uniformer_tiny_test():
        pass
    with pytest.raises(ValueError, match="pretrained_cfg of 'uniformer_small'"):
        register_model(family, cfg)(uniformer_tiny_test)
    assert "uniformer_tiny_test" not in tubelet.list_models()


@pytest.mark.parametrize("name", tubelet.list_models())
def test_registered_cfg_is_the_built_models(name, monkeypatch):
    """Each variant's data contract is registered beside its entrypoint: reading it builds nothing, and it equals
    what a build gives, also with the options that change it."""
    from tubelet.models import _registry
    with torch.device("meta"):
        built = tubelet.create_model(name)
        assert get_pretrained_cfg(name) == built.pretrained_cfg
        options = {"num_classes": 0 if name in BACKBONES else 7,
                   **({"num_frames": 4} if built.pretrained_cfg.is_video else {})}
        if name.startswith("uniformer_"):
            options["img_size"] = 160
        assert get_pretrained_cfg(name, **options) == tubelet.create_model(name, **options).pretrained_cfg
    monkeypatch.setattr(_registry._ENTRIES[name], "fn", None)  # no entrypoint call is possible now
    assert get_pretrained_cfg(name).architecture == name


def test_every_family_states_its_contract():
    from tubelet.models import (ModelFamily, uniformer, uniformer_dense, uniformer_det, uniformer_light, uniformer_pose,
                                uniformerv2, video_swin)
    for module in (uniformer, uniformer_light, uniformer_pose, uniformer_det, uniformerv2, video_swin):
        family = module.FAMILY
        assert isinstance(family, ModelFamily) and family.classifier_prefixes
        assert all(get_family(n) is family for n in tubelet.list_models() if get_entrypoint(n).__module__ ==
                   module.__name__)
    # the dense-prediction module holds two families: backbones (no classifier) and segmentation models
    assert uniformer_dense.SEG_FAMILY.classifier_prefixes and uniformer_dense.BACKBONE_FAMILY.classifier_prefixes == ()
    assert {get_family(n) for n in tubelet.list_models() if get_entrypoint(n).__module__ == uniformer_dense.__name__} \
        == {uniformer_dense.SEG_FAMILY, uniformer_dense.BACKBONE_FAMILY}
    # optional parts default to "nothing to do"
    assert uniformerv2.FAMILY.resolve_switches({}, {}, "f", "uniformerv2_b16") == {}
    assert video_swin.FAMILY.cfg_for_producer(get_pretrained_cfg("swin3d_tiny"), "x") == \
        get_pretrained_cfg("swin3d_tiny")


def test_entrypoints_are_plain_functions():
    """Variants are module-level functions with their own names and docstrings (go-to-definition works)."""
    import inspect
    for name in tubelet.list_models():
        fn = get_entrypoint(name)
        module = inspect.getmodule(fn)
        assert fn.__qualname__ == name and getattr(module, name) is fn and fn.__doc__, name


def test_unknown_option_suggests_the_closest():
    with pytest.raises(tubelet.OptionError, match="drop_path_rat \\(did you mean drop_path_rate\\?\\)"):
        tubelet.create_model("uniformer_small", drop_path_rat=0.1)
    with pytest.raises(TypeError):  # still a TypeError, as Python's own unknown keyword
        tubelet.create_model("swin3d_tiny", windo_size=(2, 7, 7))


def test_label_lists():
    alpha, official = load_labels("kinetics400"), load_labels("kinetics400_uniformer")
    assert len(alpha) == len(official) == 400 and sorted(alpha) == sorted(official)
    assert alpha[:2] == ("abseiling", "air drumming") and official[:2] == ("riding a bike", "marching")
    assert len(load_labels("kinetics710")) == 710
    assert len(load_labels("kinetics600")) == 600 and len(load_labels("kinetics700")) == 700
    from tubelet.labels import flip_label_map
    assert len(load_labels("sthv2")) == 174
    assert flip_label_map("sthv2") == {86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166}  # MMAction2's map
    assert flip_label_map("kinetics400") == {}
    assert len(load_labels("ade20k")) == 150 and load_labels("ade20k")[:3] == ("wall", "building", "sky")
    assert load_labels("coco_keypoints")[:3] == ("nose", "left_eye", "right_eye") and len(load_labels("coco_keypoints")) == 17
    with pytest.raises(ValueError, match="unknown label list"):
        load_labels("imagenet")
