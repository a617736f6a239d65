"""Parameter groups (weight decay, layer-wise lr decay, backbone ratio, frozen parameters), the schedule and EMA."""
import math

import pytest
import torch

import tubelet
from tubelet.config import OptimConfig
from tubelet.engine.optim import ModelEma, block_modules, build_optimizer, layer_ids, lr_at, param_groups


def _by_name(groups):
    return {n: g for g in groups for n in g["names"]}


def test_no_decay_rules_per_family():
    uni = tubelet.create_model("uniformer_small", depth=[1, 1, 1, 1])
    g = _by_name(param_groups(uni, 0.05))
    assert g["blocks1.0.conv1.weight"]["weight_decay"] == 0.05
    assert g["blocks1.0.conv1.bias"]["weight_decay"] == 0.0 and g["norm.weight"]["weight_decay"] == 0.0
    v2 = tubelet.create_model("uniformerv2_b16", num_classes=5)
    g = _by_name(param_groups(v2, 0.05))
    assert g["positional_embedding"]["weight_decay"] == 0.05  # decayed, as UniFormerV2's optimiser does
    assert g["class_embedding"]["weight_decay"] == 0.0 and g["transformer.balance"]["weight_decay"] == 0.0
    swin = tubelet.create_model("swin3d_tiny", depths=[1, 1, 1, 1], num_classes=5)
    g = _by_name(param_groups(swin, 0.02, no_decay_1d=False))
    assert g["layers.0.blocks.0.attn.relative_position_bias_table"]["weight_decay"] == 0.0
    assert g["layers.0.blocks.0.norm1.weight"]["weight_decay"] == 0.0
    assert g["layers.0.blocks.0.attn.qkv.bias"]["weight_decay"] == 0.02  # MMAction2 decays Swin's biases
    # every trainable parameter is in exactly one group
    names = [n for grp in param_groups(swin, 0.02) for n in grp["names"]]
    assert sorted(names) == sorted(n for n, _ in swin.named_parameters())


def test_layer_ids_and_layer_decay():
    model = tubelet.create_model("uniformer_small", depth=[1, 1, 2, 1], num_classes=3)
    ids, top = layer_ids(model)
    assert top == 6  # 5 blocks
    assert ids["patch_embed1.proj.weight"] == 0 and ids["blocks1.0.conv1.weight"] == 1
    assert ids["patch_embed2.proj.weight"] == 2 == ids["blocks2.0.conv1.weight"]  # joins the next block
    assert ids["blocks4.0.mlp.fc2.weight"] == 5 and ids["head.weight"] == top and ids["norm.weight"] == top
    g = _by_name(param_groups(model, 0.05, layer_decay=0.5, backbone_lr_ratio=0.1))
    assert g["head.weight"]["lr_scale"] == 1.0  # the classifier: no decay, no backbone ratio
    assert g["norm.weight"]["lr_scale"] == pytest.approx(0.1)
    assert g["blocks1.0.conv1.weight"]["lr_scale"] == pytest.approx(0.1 * 0.5 ** 5)
    assert g["patch_embed1.proj.weight"]["lr_scale"] == pytest.approx(0.1 * 0.5 ** 6)
    v2 = tubelet.create_model("uniformerv2_b16", num_classes=3)
    ids, top = layer_ids(v2)
    assert top == 13 and ids["conv1.weight"] == 0 and ids["transformer.resblocks.11.attn.in_proj_weight"] == 12
    assert ids["transformer.dec.0.attn.in_proj_weight"] == top  # the new global UniBlocks train at full lr
    swin = tubelet.create_model("swin3d_tiny", depths=[1, 2, 1, 1], num_classes=3)
    ids, top = layer_ids(swin)
    assert ids["patch_embed.proj.weight"] == 0 and ids["layers.0.blocks.0.norm1.weight"] == 1
    assert ids["layers.0.downsample.reduction.weight"] == 2  # patch merging: a layer after its stage's blocks
    assert ids["layers.1.blocks.0.attn.qkv.weight"] == 3 and ids["layers.1.blocks.1.attn.qkv.weight"] == 4
    assert ids["layers.3.blocks.0.mlp.fc1.weight"] == 8 and ids["norm.weight"] == ids["head.weight"] == top == 9


def test_layer_ids_follow_the_group_matcher_not_the_names():
    """A model's own group_matcher decides; a model without one cannot silently get a wrong decay."""
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Linear(2, 2)
            self.stack = torch.nn.ModuleList(torch.nn.Linear(2, 2) for _ in range(3))
            self.out = torch.nn.Linear(2, 2)

        def group_matcher(self, coarse=False):
            return {"stem": r"^embed\.", "blocks": [(r"^stack\.(\d+)\.", None)]}

    ids, top = layer_ids(Net())
    assert top == 4 and ids["embed.weight"] == 0 and ids["stack.2.bias"] == 3 and ids["out.weight"] == 4
    net = Net()
    assert block_modules(net) == list(net.stack)
    plain = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="group_matcher"):
        layer_ids(plain)
    assert len(param_groups(plain, 0.05)) == 2  # no layer decay asked: no matcher needed


def test_block_modules_are_what_fsdp_shards():
    uni = tubelet.create_model("uniformer_small", depth=[1, 1, 2, 1], num_classes=3)
    blocks = block_modules(uni)
    assert uni.blocks3[1] in blocks and uni.patch_embed2 in blocks and uni.patch_embed1 not in blocks
    assert len(blocks) == 5 + 3  # the blocks and patch_embed2-4
    v2 = tubelet.create_model("uniformerv2_b16", num_classes=3)
    assert block_modules(v2) == list(v2.transformer.resblocks)
    swin = tubelet.create_model("swin3d_tiny", depths=[1, 1, 1, 1], num_classes=3)
    assert block_modules(swin) == [swin.layers[0].blocks[0], swin.layers[0].downsample, swin.layers[1].blocks[0],
                                   swin.layers[1].downsample, swin.layers[2].blocks[0], swin.layers[2].downsample,
                                   swin.layers[3].blocks[0]]


def test_frozen_parameters_are_left_out():
    model = tubelet.create_model("uniformerv2_b16", num_classes=3, frozen=True)
    names = {n for g in param_groups(model, 0.05) for n in g["names"]}
    assert names and not any(n.startswith("transformer.resblocks.") for n in names)
    swin = tubelet.create_model("swin3d_tiny", depths=[1, 1, 1, 1], num_classes=3, frozen_stages=2)
    names = {n for g in param_groups(swin, 0.05) for n in g["names"]}
    assert not any(n.startswith(("patch_embed.", "layers.0.", "layers.1.")) for n in names)
    assert any(n.startswith("layers.2.") for n in names)


def test_optimizer_is_adamw_with_the_config():
    model = tubelet.create_model("uniformer_small", depth=[1, 1, 1, 1], num_classes=3)
    opt = build_optimizer(model, OptimConfig(lr=3e-4, betas=[0.9, 0.95], eps=1e-6, weight_decay=0.1))
    assert isinstance(opt, torch.optim.AdamW)
    assert all(g["betas"] == (0.9, 0.95) and g["eps"] == 1e-6 for g in opt.param_groups)
    assert {g["weight_decay"] for g in opt.param_groups} == {0.0, 0.1}


def test_lr_schedule():
    kw = dict(lr=1e-3, total_steps=100, warmup_steps=10, warmup_lr=1e-6, min_lr=1e-5)
    assert lr_at(0, **kw) == pytest.approx(1e-6)
    assert lr_at(5, **kw) == pytest.approx(1e-6 + (1e-3 - 1e-6) / 2)
    assert lr_at(10, **kw) == pytest.approx(1e-3)
    assert lr_at(55, **kw) == pytest.approx(1e-5 + (1e-3 - 1e-5) / 2)  # half way down the cosine
    assert lr_at(100, **kw) == pytest.approx(1e-5) and lr_at(150, **kw) == pytest.approx(1e-5)
    values = [lr_at(s, **kw) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))  # monotone after warmup
    assert lr_at(3, lr=1.0, total_steps=10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.3)))


def test_poly_and_step_schedules():
    # mmcv's PolyLrUpdaterHook (mmseg: power 1.0, min_lr 0; counted from step 0, the warmup on top)
    assert lr_at(25, lr=1e-4, total_steps=100, schedule="poly", power=1.0) == pytest.approx(0.75e-4)
    assert lr_at(50, lr=1.0, total_steps=100, schedule="poly", power=0.9, min_lr=1e-4) == \
        pytest.approx((1 - 1e-4) * 0.5 ** 0.9 + 1e-4)
    assert lr_at(100, lr=1.0, total_steps=100, schedule="poly") == 0.0
    assert lr_at(5, lr=1.0, total_steps=100, warmup_steps=10, warmup_lr=0.0, schedule="poly") == pytest.approx(0.5)
    # mmcv's StepLrUpdaterHook (mmpose: x0.1 at epochs 170 and 200), milestones in steps
    kw = dict(lr=2e-3, total_steps=210, schedule="step", milestones=[170, 200], gamma=0.1)
    assert [lr_at(s, **kw) for s in (0, 169, 170, 199, 200, 209)] == pytest.approx(
        [2e-3, 2e-3, 2e-4, 2e-4, 2e-5, 2e-5])
    with pytest.raises(ValueError, match="unknown lr schedule 'exp'"):
        lr_at(1, lr=1.0, total_steps=10, schedule="exp")


def test_ema():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = ModelEma(model, decay=0.9)
    before = ema.module[0].weight.clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    model[1].num_batches_tracked += 3
    ema.update(model)
    assert torch.allclose(ema.module[0].weight, before + 0.1)
    assert ema.module[1].num_batches_tracked == 3  # integer buffers are copied
    assert not any(p.requires_grad for p in ema.module.parameters())
