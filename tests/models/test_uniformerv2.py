"""UniFormerV2 behaviour beyond parity: options, fusion strategies, frozen mode, checkpoints, label maps."""
import pytest
import torch

import tubelet
from tubelet import CheckpointError
from tubelet.models.uniformerv2 import FUSIONS

SMALL = dict(n_layers=2, num_classes=5, cls_dropout=0.0, mlp_dropout=0.0)


def tiny(**options):
    """A 2-layer ViT of width 64 at 32x32 with the full UniFormerV2 around it (local MHRA, 2 global blocks): what
    the structural tests need, in a fraction of a ViT-B's time."""
    from tubelet.models.uniformerv2 import UniFormerV2

    return UniFormerV2(input_resolution=32, patch_size=16, width=64, layers=2, heads=2, return_list=[0, 1], n_dim=64,
                       n_head=2, **{**SMALL, **options})


def clip_input(T=2, B=1, size=224):
    torch.manual_seed(0)
    return torch.randn(B, 3, T, size, size)


@pytest.fixture(scope="module")
def ssv2_like():
    torch.manual_seed(0)
    return tubelet.create_model("uniformerv2_b16", no_lmhra=False, temporal_downsample=True, **SMALL)


def test_frames_come_from_the_input(ssv2_like):
    model = ssv2_like.eval()
    with torch.no_grad():
        for T in (2, 3, 5):  # odd T with temporal downsampling: T' = ceil(T / 2)
            assert model(clip_input(T)).shape == (1, 5)


def test_return_list_defaults_to_the_last_blocks():
    model = tubelet.create_model("uniformerv2_b16", n_layers=3)
    assert model.model_args["return_list"] == [9, 10, 11] and len(model.transformer.dec) == 3
    model = tubelet.create_model("uniformerv2_l14", return_list=[8, 12, 23])
    assert model.model_args["n_layers"] == 3
    with pytest.raises(ValueError, match="n_layers=2"):
        tubelet.create_model("uniformerv2_b16", n_layers=2, return_list=[1, 2, 3])
    with pytest.raises(ValueError, match="increasing block indices"):
        tubelet.create_model("uniformerv2_b16", return_list=[3, 1, 12, 5])


def test_bad_inputs_and_configs():
    model = tubelet.create_model("uniformerv2_b16", **SMALL)
    with pytest.raises(ValueError, match="224x224"):
        model(torch.randn(1, 3, 2, 112, 112))
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        model(torch.randn(1, 3, 224, 224))
    with pytest.raises(ValueError, match="fusion must be one of"):
        tubelet.create_model("uniformerv2_b16", fusion="average")
    with pytest.raises(ValueError, match="fixed by the variant"):
        tubelet.create_model("uniformerv2_b16", width=1024)
    with pytest.raises(TypeError, match="unknown option"):
        tubelet.create_model("uniformerv2_b16", t_size=8)


def test_local_mhra_width_follows_dw_reduction():
    model = tubelet.create_model("uniformerv2_l14", no_lmhra=False, n_layers=1, num_classes=3)
    assert model.transformer.resblocks[0].lmhra1.pos_embed[1].out_channels == 682  # int(1024 // 1.5)
    assert hasattr(model.transformer.resblocks[0], "lmhra2")
    single = tubelet.create_model("uniformerv2_b16", no_lmhra=False, double_lmhra=False, **SMALL)
    assert not hasattr(single.transformer.resblocks[0], "lmhra2")


@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_fusion_trains(fusion):
    torch.manual_seed(0)
    model = tiny(fusion=fusion).train()
    x, y = clip_input(T=2, B=2, size=32), torch.tensor([1, 3])
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for _ in range(3):  # the global blocks start as identities (zero out_proj/c_proj): gradients reach deeper
        # parameters one step at a time
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        assert torch.isfinite(loss)
        loss.backward()
        missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert not missing, f"no gradient reaches {missing}"
        opt.step()
    new = [n for n in before if n.startswith(("transformer.fusion", "transformer.dec.", "transformer.dpe.",
                                              "transformer.temporal_cls_token", "transformer.balance"))]
    if fusion == "parallel":
        assert "transformer.fusion_proj.weight" in new
    unchanged = [n for n in new if torch.equal(before[n], model.state_dict()[n])]
    assert not unchanged, f"not trained: {unchanged}"


def test_fusions_compute_different_things():
    outs = {}
    for fusion in FUSIONS:
        torch.manual_seed(0)
        model = tubelet.create_model("uniformerv2_b16", fusion=fusion, **SMALL).eval()
        for p in model.transformer.dec.parameters():  # leave the identity init so the strategies differ
            torch.nn.init.normal_(p, std=0.02)
        torch.nn.init.normal_(model.transformer.temporal_cls_token, std=0.02)
        with torch.no_grad():
            outs[fusion] = model.forward_features(clip_input())
    for a in FUSIONS:
        for b in FUSIONS:
            if a < b:
                assert not torch.allclose(outs[a], outs[b]), (a, b)


def test_frozen_mode_selects_parameters_as_the_original():
    model = tubelet.create_model("uniformerv2_b16", frozen=True, **SMALL)
    assert not hasattr(model.transformer, "balance")
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert "conv1.weight" in frozen and "transformer.resblocks.11.mlp.c_proj.bias" in frozen
    assert all(any(s in n for s in ("conv1", "class_embedding", "positional_embedding", "ln_pre",
                                    "transformer.resblocks")) for n in frozen)
    assert {"transformer.dec.0.attn.in_proj_weight", "transformer.proj.2.weight"}.isdisjoint(frozen)
    with torch.no_grad():  # the query token alone is classified
        model.eval()
        x = clip_input()
        assert model(x).shape == (1, 5)


def test_grad_checkpointing_does_not_change_outputs_or_grads():
    torch.manual_seed(0)
    model = tiny(no_lmhra=False).train()
    model.transformer.resblocks = model.transformer.resblocks[:]  # same blocks
    x = clip_input(T=2, B=2, size=32)

    def step():
        model.zero_grad(set_to_none=True)
        out = model(x)
        out.square().mean().backward()
        return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    ref_out, ref_grads = step()
    model.set_grad_checkpointing(True)
    out, grads = step()
    torch.testing.assert_close(out, ref_out, rtol=0, atol=0)
    assert grads.keys() == ref_grads.keys()
    for n in grads:
        torch.testing.assert_close(grads[n], ref_grads[n], rtol=1e-4, atol=1e-6)


# ---- checkpoints --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def k710_file(tmp_path_factory):
    torch.manual_seed(0)
    model = tubelet.create_model("uniformerv2_b16", num_classes=710)
    path = tmp_path_factory.mktemp("k710") / "k710_uniformerv2_b16_8x224.pyth"
    torch.save({"backbone." + k: v for k, v in model.state_dict().items()}, path)
    return path, model.state_dict()


@pytest.mark.parametrize("target,n", [("k400", 400), ("k600", 600), ("k700", 700)])
def test_k710_head_selected_into_kinetics(k710_file, target, n):
    import json
    from importlib import resources
    path, sd = k710_file
    model = tubelet.create_model("uniformerv2_b16", checkpoint_path=path, label_map=target)
    rows = json.loads((resources.files("tubelet.labels") / f"k710_to_{target}.json").read_text())
    assert model.num_classes == n and model.pretrained_cfg.label_names == f"kinetics{n}"
    assert torch.equal(model.get_classifier().weight, sd["transformer.proj.2.weight"][rows])
    assert torch.equal(model.get_classifier().bias, sd["transformer.proj.2.bias"][rows])
    assert "label map" in str(model.load_report)


def test_label_map_errors(k710_file, tmp_path):
    path, _ = k710_file
    with pytest.raises(ValueError, match="unknown label map"):
        tubelet.create_model("uniformerv2_b16", checkpoint_path=path, label_map="k999")
    k400 = tubelet.create_model("uniformerv2_b16")
    torch.save(k400.state_dict(), tmp_path / "k400.pth")
    with pytest.raises(CheckpointError, match="710-class kinetics710 classifier.*400 classes"):
        tubelet.create_model("uniformerv2_b16", checkpoint_path=tmp_path / "k400.pth", label_map="k400")


def test_k710_without_label_map_keeps_710_classes(k710_file):
    path, _ = k710_file
    model = tubelet.create_model("uniformerv2_b16", checkpoint_path=path)
    assert model.num_classes == 710


def test_switch_contradictions_and_foreign_files(tmp_path):
    ss = tubelet.create_model("uniformerv2_b16", no_lmhra=False, temporal_downsample=True, n_layers=2)
    torch.save({"model_state": {"backbone." + k: v for k, v in ss.state_dict().items()}}, tmp_path / "ss.pyth")
    loaded = tubelet.create_model("uniformerv2_b16", checkpoint_path=tmp_path / "ss.pyth")
    assert loaded.model_args["temporal_downsample"] and loaded.model_args["n_layers"] == 2
    with pytest.raises(CheckpointError, match="temporal_downsample=True"):
        tubelet.create_model("uniformerv2_b16", checkpoint_path=tmp_path / "ss.pyth", temporal_downsample=False)
    with pytest.raises(CheckpointError, match="width=768"):
        tubelet.create_model("uniformerv2_l14", checkpoint_path=tmp_path / "ss.pyth")
    uf = tubelet.create_model("uniformer_small").state_dict()
    torch.save(uf, tmp_path / "uf.pth")
    with pytest.raises(CheckpointError, match="not a UniFormerV2 or CLIP ViT checkpoint"):
        tubelet.create_model("uniformerv2_b16", checkpoint_path=tmp_path / "uf.pth")


def test_frozen_weights_build_a_frozen_model(tmp_path):
    frozen = tubelet.create_model("uniformerv2_b16", frozen=True, n_layers=1)
    torch.save(frozen.state_dict(), tmp_path / "frozen.pth")
    model = tubelet.create_model("uniformerv2_b16", checkpoint_path=tmp_path / "frozen.pth")
    assert model.frozen and not model.conv1.weight.requires_grad


def test_safetensors_round_trip_keeps_the_fusion(tmp_path):
    torch.manual_seed(0)
    model = tubelet.create_model("uniformerv2_b16", fusion="parallel", **SMALL).eval()
    tubelet.save_model(model, tmp_path / "m.safetensors")
    again = tubelet.create_model(checkpoint_path=tmp_path / "m.safetensors").eval()
    assert again.model_args == model.model_args
    x = clip_input()
    with torch.no_grad():
        assert torch.equal(again(x), model(x))
