"""Checkpoint loading: strict, layout-agnostic, never runs code, and every failure names the file and the keys."""
import argparse
import logging
import os

import numpy as np
import pytest
import torch

import tubelet
from tubelet import CheckpointError


@pytest.fixture(scope="module")
def small_sd():
    torch.manual_seed(0)
    return tubelet.create_model("uniformer_small").state_dict()


@pytest.fixture(scope="module")
def image_sd():
    torch.manual_seed(0)
    return tubelet.create_model("uniformer_small_2d").state_dict()


def save(obj, tmp_path, name="ckpt.pth"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def same_weights(model, sd):
    return all(torch.equal(model.state_dict()[k], v) for k, v in sd.items())


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="nope.pth: no such checkpoint file"):
        tubelet.create_model("uniformer_small", checkpoint_path=tmp_path / "nope.pth")


def test_truncated_and_garbage_files(tmp_path, small_sd):
    good = save({"model_state": small_sd}, tmp_path)
    data = good.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth: cannot be read .*truncated"):
        tubelet.create_model("uniformer_small", checkpoint_path=cut)
    junk = tmp_path / "junk.pth"
    for seed in range(20):  # random bytes break the unpickler in many different ways
        junk.write_bytes(bytes(np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8)))
        with pytest.raises(CheckpointError, match="junk.pth"):
            tubelet.create_model("uniformer_small", checkpoint_path=junk)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.pth: empty"):
        tubelet.create_model("uniformer_small", checkpoint_path=empty)


class _Payload:
    """Unpickling this would create a directory: loading must refuse it instead."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_code_in_a_checkpoint_is_never_run(tmp_path, small_sd):
    marker = tmp_path / "pwned"
    path = save({"model_state": small_sd, "extra": _Payload(str(marker))}, tmp_path)
    with pytest.raises(CheckpointError, match="never runs code"):
        tubelet.create_model("uniformer_small", checkpoint_path=path)
    assert not marker.exists()


def test_deit_checkpoint_with_argparse_args_loads(tmp_path, image_sd):
    args = argparse.Namespace(model="uniformer_small", lr=5e-4, drop_path=0.1)
    path = save({"model": image_sd, "args": args, "epoch": 299, "max_accuracy": 82.9}, tmp_path)
    assert same_weights(tubelet.create_model("uniformer_small_2d", checkpoint_path=path), image_sd)


def test_ddp_module_prefix_is_removed(tmp_path, small_sd):
    path = save({"model_state": {f"module.{k}": v for k, v in small_sd.items()}}, tmp_path)
    model = tubelet.create_model("uniformer_small", checkpoint_path=path)
    assert same_weights(model, small_sd)
    assert model.pretrained_cfg.label_names == "kinetics400_uniformer"  # official files keep the official order


def test_no_state_dict_inside(tmp_path):
    path = save({"epoch": 3, "optimizer": {"lr": 0.1}}, tmp_path)
    with pytest.raises(CheckpointError, match="no weights found.*'epoch'"):
        tubelet.create_model("uniformer_small", checkpoint_path=path)


def test_foreign_checkpoint(tmp_path):
    swin = {"patch_embed.proj.weight": torch.zeros(96, 3, 2, 4, 4), "layers.0.blocks.0.norm1.weight": torch.ones(96)}
    path = save({"state_dict": swin}, tmp_path)
    with pytest.raises(CheckpointError, match=r"ckpt\.pth: not a UniFormer checkpoint.*patch_embed\.proj\.weight"):
        tubelet.create_model("uniformer_small", checkpoint_path=path)


def test_wrong_variant_names_the_contradiction(tmp_path):
    base = tubelet.create_model("uniformer_base").state_dict()
    path = save({"model_state": base}, tmp_path)
    with pytest.raises(CheckpointError, match=r"depth=\[5, 8, 20, 7\].*uniformer_small"):
        tubelet.create_model("uniformer_small", checkpoint_path=path)


def test_missing_unexpected_and_misshaped_keys_are_listed(tmp_path, small_sd):
    sd = dict(small_sd)
    for k in [k for k in sd if k.startswith("blocks4.1.")]:
        del sd[k]
    sd["blocks3.0.attn.qkv.weight"] = torch.zeros(960, 321)
    sd["extra.weight"] = torch.zeros(1)
    path = save({"model_state": sd}, tmp_path)
    with pytest.raises(CheckpointError) as e:
        tubelet.create_model("uniformer_small", checkpoint_path=path)
    msg = str(e.value)
    assert str(path) in msg
    assert "14 missing (blocks4.1.pos_embed.weight" in msg and "(9 more)" in msg
    assert "1 unexpected (extra.weight)" in msg
    assert "1 mis-shaped (blocks3.0.attn.qkv.weight: checkpoint (960, 321) vs model (960, 320))" in msg


def test_batchnorm_counters_may_be_absent(tmp_path, small_sd):
    sd = {k: v for k, v in small_sd.items() if not k.endswith("num_batches_tracked")}
    path = save(sd, tmp_path)
    assert same_weights(tubelet.create_model("uniformer_small", checkpoint_path=path), sd)


def test_switches_are_read_from_the_weights(tmp_path):
    std_sd = tubelet.create_model("uniformer_small", std=True, num_classes=174).state_dict()
    path = save({"model_state": std_sd}, tmp_path)
    model = tubelet.create_model("uniformer_small", checkpoint_path=path)
    assert model.model_args["std"] is True and model.num_classes == 174 and same_weights(model, std_sd)
    with pytest.raises(CheckpointError, match="std=True.*std=False"):
        tubelet.create_model("uniformer_small", checkpoint_path=path, std=False)


def test_num_classes_contradiction_needs_drop_head(tmp_path, small_sd, caplog):
    path = save({"model_state": small_sd}, tmp_path)
    with pytest.raises(CheckpointError, match="400 classes but num_classes=174.*drop_head=True"):
        tubelet.create_model("uniformer_small", checkpoint_path=path, num_classes=174)
    with caplog.at_level(logging.WARNING, logger="tubelet"):
        model = tubelet.create_model("uniformer_small", checkpoint_path=path, num_classes=174, drop_head=True)
    assert model.head.out_features == 174
    assert model.load_report.dropped == ["head.weight", "head.bias"]
    assert "head.weight" in caplog.text
    body = {k: v for k, v in small_sd.items() if not k.startswith("head.")}
    assert same_weights(model, body)


def test_image_to_video_keeps_a_matching_head(tmp_path, image_sd):
    path = save({"model": image_sd}, tmp_path)
    model = tubelet.create_model("uniformer_small", checkpoint_path=path, num_classes=1000)
    assert model.load_report.dropped == []
    assert torch.equal(model.head.weight, image_sd["head.weight"])
    w2d = image_sd["blocks1.0.attn.weight"]  # (C, 1, 5, 5) -> (C, 1, 5, 5, 5), each slice W/5
    torch.testing.assert_close(model.blocks1[0].attn.weight, w2d.unsqueeze(2).repeat(1, 1, 5, 1, 1) / 5)
    default = tubelet.create_model("uniformer_small", checkpoint_path=path)
    assert default.num_classes == 400 and default.load_report.dropped == ["head.weight", "head.bias"]


def test_video_weights_do_not_fit_an_image_model(tmp_path, small_sd):
    path = save({"model_state": small_sd}, tmp_path)
    with pytest.raises(CheckpointError, match="VIDEO UniFormer"):
        tubelet.create_model("uniformer_small_2d", checkpoint_path=path)


def test_conv_stem_image_weights_do_not_fit_a_video_model(tmp_path):
    sp = tubelet.create_model("uniformer_small_plus_2d").state_dict()
    path = save({"model": sp}, tmp_path)
    with pytest.raises(CheckpointError, match="conv_stem=True"):
        tubelet.create_model("uniformer_small", checkpoint_path=path, depth=[3, 5, 9, 3])


def test_tubelet_safetensors_round_trip(tmp_path):
    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_small", std=True, num_classes=10, num_frames=8).eval()
    path = tmp_path / "m.safetensors"
    tubelet.save_model(model, path)
    assert not (tmp_path / "m.safetensors.tmp").exists()
    again = tubelet.create_model(checkpoint_path=path).eval()  # no name: the file knows its architecture
    assert again.model_args == model.model_args and again.pretrained_cfg == model.pretrained_cfg
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        assert torch.equal(again(x), model(x))
    assert tubelet.create_model("uniformer_small", checkpoint_path=path, drop_path_rate=0.2).model_args[
        "drop_path_rate"] == 0.2
    with pytest.raises(CheckpointError, match="holds a uniformer_small model, not uniformer_base"):
        tubelet.create_model("uniformer_base", checkpoint_path=path)
    with pytest.raises(CheckpointError, match="head_dim=64"):
        tubelet.create_model(checkpoint_path=path, head_dim=32)
    with pytest.raises(CheckpointError, match="drop_head"):
        tubelet.create_model(checkpoint_path=path, num_classes=3)
    assert tubelet.create_model(checkpoint_path=path, num_classes=3, drop_head=True).num_classes == 3


def test_safetensors_errors(tmp_path, small_sd):
    model = tubelet.create_model("uniformer_small")
    path = tmp_path / "m.safetensors"
    tubelet.save_model(model, path)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="cut.safetensors: cannot be read as safetensors"):
        tubelet.create_model(checkpoint_path=cut)
    from safetensors.torch import save_file
    plain = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in small_sd.items()}, plain)
    with pytest.raises(CheckpointError, match="pass the model name"):
        tubelet.create_model(checkpoint_path=plain)
    assert same_weights(tubelet.create_model("uniformer_small", checkpoint_path=plain), small_sd)
    with pytest.raises(ValueError, match=".safetensors"):
        tubelet.save_model(model, tmp_path / "m.pth")
