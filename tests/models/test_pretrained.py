"""The released-weights registry: every entry checked against its architecture; the token-labeling head_dim trap;
the default entries of each family loaded end to end in their real file layouts (files generated here, served by a
local mirror, since nothing here reaches the internet)."""
from __future__ import annotations

import collections
import hashlib
import json
import re

import pytest
import torch

import tubelet
from tubelet import CheckpointError
from tubelet.errors import UsageError
from tubelet.data.presets import SAMPLERS
from tubelet.labels import available, load_labels
from tubelet.models._pretrained import Weights, all_weights, get_weights, list_pretrained, register_weights

ENTRIES = all_weights()


def test_counts_and_uniqueness():
    names = [w.name for w in ENTRIES]
    assert len(names) == len(set(names)) == 201
    by_family = collections.Counter(tubelet.models._registry.get_family(w.arch).name for w in ENTRIES)
    # the 39 new-architecture files of the light and dense-prediction models: 35 entries (4 Hugging Face copies are
    # sources of their Drive entries), and the 8 detectors again as whole detectors (uniformer_det)
    assert by_family == {"uniformer": 50, "uniformerv2": 80, "video_swin": 28, "uniformer_light": 16,
                         "uniformer_dense": 6, "uniformer_seg": 7, "uniformer_pose": 6, "uniformer_det": 8}
    # one cache / mirror file per released file: only a detector and its backbone entry (the same file) share one
    by_file = collections.defaultdict(list)
    for w in ENTRIES:
        by_file[w.local_name].append(w)
    for file, entries in by_file.items():
        if len(entries) > 1:
            det, backbone = sorted(entries, key=lambda w: w.arch.endswith("_dense"))
            assert len(entries) == 2 and det.arch.endswith("maskrcnn") and backbone.arch.endswith("_dense"), file
            assert det.metrics == backbone.metrics and det.sources[-2:] == backbone.sources[-2:], file
    with pytest.raises(ValueError, match="registered twice"):
        register_weights([ENTRIES[0]])


@pytest.mark.parametrize("w", ENTRIES, ids=lambda w: w.name)
def test_entry_fits_its_architecture(w):
    assert w.arch in tubelet.list_models() and w.sources, w.name
    assert all(s.url.startswith("https://") for s in w.sources)
    for s in w.downloads:
        assert s.file_name and (s.kind == "hf") == (s.repo_id is not None)
        if s.sha256:
            assert len(s.sha256) == 64 and int(s.sha256, 16) >= 0
        if s.sha256_prefix:
            assert s.sha256_prefix in s.url and int(s.sha256_prefix, 16) >= 0
    # the architecture options are accepted, and the data contract is consistent (built on the meta device)
    with torch.device("meta"):
        model = tubelet.create_model(w.name, **({"num_classes": w.num_classes}
                                                if w.num_classes and not w.init_only else {}))
    cfg = model.pretrained_cfg
    if w.init_only:  # initialises a model for training: the model keeps its own data contract
        assert w.num_classes is None or w.labels is None
        return
    for k, v in w.options.items():
        assert list(model.model_args[k]) == list(v) if isinstance(v, (tuple, list)) else model.model_args[k] == v
    if w.labels is not None:
        assert w.labels in available() and len(load_labels(w.labels)) == w.num_classes == model.num_classes
        assert cfg.label_names == w.labels
    elif w.num_classes and not w.init_only:
        assert w.labels_note, f"{w.name}: no label list and no word on why"
        assert cfg.labels() is None
    if w.sampler is not None:
        assert w.sampler in SAMPLERS and cfg.sampler == w.sampler and cfg.is_video
    if w.num_frames:
        assert cfg.num_frames == w.num_frames and cfg.input_size[1] == w.num_frames
    if w.img_size:
        size = (w.img_size,) * 2 if isinstance(w.img_size, int) else tuple(w.img_size)
        assert tuple(cfg.input_size[-2:]) == size
    if w.test_views:
        assert tuple(cfg.test_views) == tuple(w.test_views)


def test_one_default_per_architecture_as_published():
    defaults = {w.arch: w.tag for w in ENTRIES if w.default}
    assert defaults == {
        "uniformer_small": "k400_16x8", "uniformer_base": "k400_32x4", "uniformer_small_2d": "in1k",
        "uniformer_small_plus_2d": "in1k", "uniformer_small_plus_dim64_2d": "in1k", "uniformer_base_2d": "in1k",
        "uniformer_base_ls_2d": "in1k", "uniformer_large_ls_2d": "in1k_tl",
        "uniformerv2_b16": "k710_ft_k400_8x224", "uniformerv2_l14": "k710_ft_k400_8x224_mm",
        "uniformerv2_l14_336": "k710_ft_k400_32x336_mm", "swin3d_tiny": "in1k_ft_k400_32x2",
        "swin3d_small": "in1k_ft_k400_32x2", "swin3d_base": "in22k_ft_k400_32x2",
        "swin3d_large": "in22k_ft_k400_32x2_mm",
        "uniformer_xxs": "k400_16x160", "uniformer_xs": "k400_32x192", "uniformer_xxs_2d": "in1k_160",
        "uniformer_xs_2d": "in1k_224", "uniformer_xxs_dense": "coco_mask_rcnn_1x", "uniformer_xs_dense": "coco_mask_rcnn_1x",
        "uniformer_small_dense": "coco_mask_rcnn_3x_ms_h14", "uniformer_base_dense": "coco_mask_rcnn_3x_ms_h14",
        "uniformer_xxs_fpn": "ade20k_fpn_80k", "uniformer_xs_fpn": "ade20k_fpn_80k",
        "uniformer_small_fpn": "ade20k_fpn_80k_g", "uniformer_base_fpn": "ade20k_fpn_80k_g",
        "uniformer_small_upernet": "ade20k_upernet_160k_g", "uniformer_base_upernet": "ade20k_upernet_160k_g",
        "uniformer_small_pose": "coco_topdown_256x192", "uniformer_base_pose": "coco_topdown_256x192",
        "uniformer_xxs_maskrcnn": "coco_1x", "uniformer_xs_maskrcnn": "coco_1x",
        "uniformer_small_maskrcnn": "coco_3x_ms_h14", "uniformer_base_maskrcnn": "coco_3x_ms_h14",
        "uniformer_small_cascade_maskrcnn": "coco_3x_ms_h14", "uniformer_base_cascade_maskrcnn": "coco_3x_ms_h14"}
    # the defaults that a program can fetch are hash-checked downloads
    for w in ENTRIES:
        if w.default and w.availability == "download" and w.arch.startswith("uniformer"):
            assert w.sha256_prefix, w.name


def test_per_checkpoint_settings_differ_where_the_releases_differ():
    ssv2 = get_weights("swin3d_base", "k400_ft_sthv2_32").cfg()
    assert (ssv2.sampler, tuple(ssv2.test_views), ssv2.num_classes, ssv2.label_names) == \
        ("segment_middle", (1, 3), 174, "sthv2")
    assert get_weights("swin3d_base", "k400_ft_sthv2_32").options["window_size"] == (16, 7, 7)
    k710 = get_weights("uniformerv2_b16", "k710_8x224_mm").cfg()
    assert k710.num_classes == 710 and k710.labels()[0] == "abseiling"
    mm = get_weights("uniformerv2_b16", "k710_ft_k400_8x224_mm").cfg()
    official = get_weights("uniformerv2_b16", "k710_ft_k400_8x224").cfg()
    assert mm.label_names == "kinetics400" and official.label_names == "kinetics400_uniformer"
    uf_ssv2 = get_weights("uniformer_base", "k600_ft_sthv2_32").cfg()
    assert (uf_ssv2.sampler, uf_ssv2.num_frames, tuple(uf_ssv2.test_views)) == ("segment", 32, (1, 3))
    assert get_weights("uniformer_small", "k400_16x4").cfg().frame_interval == 4
    assert list_pretrained("swin3d_tiny") == sorted(n for n in list_pretrained() if n.startswith("swin3d_tiny."))


# -- the token-labeling head_dim trap ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tl_file(tmp_path_factory):
    """A token-labeling UniFormer-S image checkpoint (timm saver layout, aux_head) trained with head_dim 32."""
    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_small_hd32_2d")
    path = tmp_path_factory.mktemp("tl") / "uniformer_small_tl_224.pth"
    torch.save({"state_dict": model.state_dict(), "epoch": 299}, path)
    return path, model


def test_token_labeling_file_with_an_ambiguous_name_is_refused(tl_file):
    path, _ = tl_file
    with pytest.raises(CheckpointError) as e:
        tubelet.create_model("uniformer_small_2d", checkpoint_path=path)
    text = str(e.value)
    assert "head_dim=32" in text and "head_dim=64" in text and "uniformer_small_hd32_2d" in text
    assert "in1k_tl" in text


def test_token_labeling_file_resolved_by_name_or_tag(tl_file):
    path, ref = tl_file
    x = torch.randn(1, 3, 224, 224)
    ref.eval()
    by_name = tubelet.create_model("uniformer_small_hd32_2d", checkpoint_path=path).eval()
    by_tag = tubelet.create_model("uniformer_small_hd32_2d.in1k_tl", checkpoint_path=path).eval()
    with torch.no_grad():
        expected = ref(x)
        assert torch.equal(by_name(x), expected) and torch.equal(by_tag(x), expected)
    # the head_dim-64 reading of the same file is possible only when asked for, and computes something else
    dim64 = tubelet.create_model("uniformer_small_2d", checkpoint_path=path, head_dim=64, aux_head=True).eval()
    with torch.no_grad():
        assert not torch.allclose(dim64(x), expected, atol=1e-3)
    assert get_weights("uniformer_small_2d", "in1k_tl").options == {"aux_head": True, "head_dim": 64}
    assert get_weights("uniformer_small_hd32_2d", "in1k_tl").availability == "manual"
    with pytest.raises(UsageError, match="is fixed by the variant"):
        tubelet.create_model("uniformer_small_hd32_2d", head_dim=64)


@pytest.mark.parametrize("name, head_dim, right, right_options", [
    ("uniformer_small_2d", 64, "uniformer_small_2d", dict(head_dim=64, aux_head=True)),
    ("uniformer_small_plus_2d", 32, "uniformer_small_plus_2d", dict(aux_head=True)),
    ("uniformer_small_plus_2d", 64, "uniformer_small_plus_dim64_2d", dict(aux_head=True)),
])
def test_token_labeling_advice_followed_literally_loads(tmp_path, name, head_dim, right, right_options):
    """Issue 23: the trap's error advises a call for each head_dim; that very call loads the file (``aux_head`` read
    from the weights), into the model one builds with the right options and the same weights. (The head_dim-32
    advice for uniformer_small_2d names a variant with the auxiliary head: see
    test_token_labeling_file_resolved_by_name_or_tag.)"""
    torch.manual_seed(0)
    reference = tubelet.create_model(right, **right_options).eval()
    assert reference.aux_head is not None and reference.model_args["head_dim"] == head_dim
    path = tmp_path / "tl.pth"
    torch.save({"state_dict": reference.state_dict(), "epoch": 299}, path)
    with pytest.raises(CheckpointError) as first:
        tubelet.create_model(name, checkpoint_path=path)
    advice = re.search(rf"head_dim={head_dim} \([^)]*\): "
                       r"create_model\('(\w+)', checkpoint_path=\.\.\.((?:, \w+=\d+)*)\)", str(first.value))
    assert advice, str(first.value)
    advised_name, advised_options = advice[1], {k: int(v) for k, v in re.findall(r", (\w+)=(\d+)", advice[2])}
    model = tubelet.create_model(advised_name, checkpoint_path=path, **advised_options).eval()
    assert model.model_args["head_dim"] == head_dim and model.model_args["aux_head"] is True
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


# -- the default entries, end to end in their real layouts ---------------------------------------------------------

def _write_layout(model, layout: str, family: str, path) -> None:
    sd = model.state_dict()
    if family == "uniformer" and layout == "flat":
        obj = sd
    elif family == "uniformerv2" and layout == "flat":  # the official PySlowFast wrapper's backbone. keys
        obj = {"backbone." + k: v for k, v in sd.items()}
    elif family == "video_swin" and layout == "mmcv":
        obj = {"meta": {}, "state_dict": {("cls_head.fc_cls." + k[5:]) if k.startswith("head.") else "backbone." + k: v
                                          for k, v in sd.items()}}
    else:
        raise AssertionError((family, layout))
    torch.save(obj, path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["uniformer_small.k400_16x8", "uniformerv2_b16.k710_ft_k400_8x224",
                                  "swin3d_tiny.in1k_ft_k400_32x2"])
def test_default_entry_through_a_mirror_in_its_layout(name, tmp_path, monkeypatch, capsys):
    """Full-size weights of the released architecture, written in the released file's layout under its file name,
    served from a mirror folder; the entry's hash is replaced by the generated file's (the real file's hash cannot be
    met here). ``tubelet predict --pretrained`` then prints that entry's label names with its published views."""
    from tests.test_hub import _real_video
    from tubelet.cli import main
    from tubelet.models import _pretrained

    w = get_weights(*name.split("."))
    family = tubelet.models._registry.get_family(w.arch).name
    torch.manual_seed(0)
    model = tubelet.create_model(name, num_classes=w.num_classes)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    path = mirror / w.local_name
    _write_layout(model, w.layout, family, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    fake = w.replace(sources=tuple(s.__class__(**{**s.__dict__, "sha256": sha}) if s.downloadable else s
                                   for s in w.sources))
    monkeypatch.setitem(_pretrained._WEIGHTS, name, fake)
    monkeypatch.setenv("TUBELET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TUBELET_WEIGHTS_MIRROR", str(mirror))
    loaded = tubelet.create_model(w.arch, pretrained=True)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    assert loaded.pretrained_cfg.label_names == w.labels and tuple(loaded.pretrained_cfg.test_views) == w.test_views
    assert main(["predict", _real_video(), "--model", w.arch, "--pretrained", "--json"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]  # JSON lines: one per video
    names = load_labels(w.labels)
    assert [r["label"] for r in out[0]["topk"]] == [names[r["index"]] for r in out[0]["topk"]]
