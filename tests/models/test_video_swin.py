"""Video Swin behaviour beyond parity: derived buffers, windows, padding, frozen stages, checkpoints."""
import pytest
import torch

import tubelet
from tubelet import CheckpointError
from tubelet.models.video_swin import compute_mask, effective_window, mask_groups, relative_position_index

ARCH = dict(embed_dim=24, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8])
TINY = dict(ARCH, num_classes=5, drop_path_rate=0.0)


def tiny(**kw):
    return tubelet.create_model("swin3d_tiny", **{**TINY, **kw})


def test_derived_buffers_are_not_in_the_state_dict():
    model = tiny()
    assert not [k for k in model.state_dict() if "relative_position_index" in k]
    assert model.layers[0].blocks[0].attn.relative_position_index.shape == (392, 392)


def test_relative_position_index_formula():
    idx = relative_position_index((2, 3, 3))
    assert idx.shape == (18, 18) and idx.min() == 0 and idx.max() == 3 * 5 * 5 - 1
    assert idx[0, 0] == (2 - 1) * 25 + (3 - 1) * 5 + (3 - 1)  # zero offset is the table's centre
    assert torch.equal(idx.diagonal(), torch.full((18,), int(idx[0, 0])))


def test_shift_mask_regions():
    mask = compute_mask((4, 6, 6), (2, 3, 3), (1, 1, 1))
    assert mask.shape == (8, 18, 18) and set(mask.unique().tolist()) == {0.0, -100.0}
    assert not mask[0].any()  # the first window lies inside one region
    assert mask[-1].any()  # the last window mixes the wrapped-around regions


@pytest.mark.parametrize("padded,window,shift", [((4, 6, 6), (2, 3, 3), (1, 1, 1)), ((16, 56, 56), (8, 7, 7), (4, 3, 3)),
                                                 ((8, 14, 21), (8, 7, 7), (0, 3, 3)), ((4, 7, 7), (4, 7, 7), (0, 0, 0))])
def test_mask_groups_cover_every_window_once_with_its_mask(padded, window, shift):
    n = [p // w for p, w in zip(padded, window)]
    N = window[0] * window[1] * window[2]
    full = compute_mask(padded, window, shift).view(*n, N, N)
    groups = mask_groups(padded, window, shift)
    assert len(groups) == 2 ** sum(1 for s in shift if s)
    seen = torch.zeros(n, dtype=torch.int)
    for (d, h, w), mask in groups:
        seen[d[0]:d[1], h[0]:h[1], w[0]:w[1]] += 1
        windows = full[d[0]:d[1], h[0]:h[1], w[0]:w[1]]
        expected = torch.zeros(N, N) if mask is None else mask
        assert torch.equal(windows, expected.expand_as(windows))  # one mask really serves the whole group
        assert mask is None or mask.any()
    assert torch.equal(seen, torch.ones_like(seen))


def _windows_one_batch(monkeypatch):
    """Make the model take its torch.export path: every window in one batch with a (windows, N, N) mask."""
    monkeypatch.setattr(torch.compiler, "is_exporting", lambda: True)


@pytest.mark.parametrize("shape", [(2, 3, 8, 64, 64), (1, 3, 6, 40, 72)])
def test_grouped_windows_match_one_batch_of_windows_with_gradients(monkeypatch, shape):
    """The default path (attention per group of windows sharing a shift mask, written back in place) gives the same
    outputs and gradients as the plain (windows, heads, N, N) formulation, with padding, shifts and B > 1."""
    torch.manual_seed(0)
    model = tiny().train()
    x = torch.randn(shape)
    torch.manual_seed(1)  # the same head-dropout mask in both runs
    out = model(x)
    out.square().sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    _windows_one_batch(monkeypatch)
    for layer in model.layers:
        layer.__dict__.pop("_mask_cache", None)
    torch.manual_seed(1)
    ref = model(x)
    ref.square().sum().backward()
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for n, p in model.named_parameters():
        torch.testing.assert_close(grads[n], p.grad, rtol=1e-4, atol=1e-6, msg=n)


def test_effective_window_on_small_inputs():
    assert effective_window((16, 56, 56), (8, 7, 7), (4, 3, 3)) == ((8, 7, 7), (4, 3, 3))
    assert effective_window((16, 7, 7), (8, 7, 7), (4, 3, 3)) == ((8, 7, 7), (4, 0, 0))
    assert effective_window((4, 7, 7), (16, 7, 7), (8, 3, 3)) == ((4, 7, 7), (0, 0, 0))


@pytest.mark.parametrize("shape", [(1, 3, 3, 33, 47), (2, 3, 8, 64, 64), (1, 3, 1, 32, 32)])
def test_any_input_size_is_padded(shape):
    model = tiny().eval()
    with torch.no_grad():
        assert model(torch.randn(shape)).shape == (shape[0], 5)


def test_window_size_can_change():
    model = tiny(window_size=(4, 7, 7)).eval()
    assert model.layers[0].blocks[0].attn.relative_position_bias_table.shape[0] == 7 * 13 * 13
    with torch.no_grad():
        assert model(torch.randn(1, 3, 8, 64, 64)).shape == (1, 5)


def test_frozen_stages():
    model = tiny(frozen_stages=2).train()
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert all(n.startswith(("patch_embed.", "layers.0.", "layers.1.")) for n in frozen)
    assert "layers.1.blocks.1.mlp.fc2.weight" in frozen and "layers.2.blocks.0.norm1.weight" not in frozen
    assert not model.layers[0].training and model.layers[2].training


def test_grad_checkpointing_does_not_change_outputs_or_grads():
    torch.manual_seed(0)
    model = tiny(dropout_ratio=0.0).train()
    x = torch.randn(2, 3, 4, 64, 64)

    def step():
        model.zero_grad(set_to_none=True)
        out = model(x)
        out.square().mean().backward()
        return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    ref_out, ref_grads = step()
    model.set_grad_checkpointing(True)
    out, grads = step()
    torch.testing.assert_close(out, ref_out, rtol=0, atol=0)
    for n in ref_grads:
        torch.testing.assert_close(grads[n], ref_grads[n], rtol=1e-5, atol=1e-6)


def test_no_weight_decay_follows_the_recipe():
    names = tiny().no_weight_decay()
    assert "layers.0.blocks.0.attn.relative_position_bias_table" in names and "norm.weight" in names
    assert "layers.0.blocks.0.attn.qkv.weight" not in names


def test_head_pools_then_drops_out():
    model = tiny(dropout_ratio=0.9).train()
    f = torch.randn(2, 192, 2, 2, 2)
    torch.manual_seed(0)
    a = model.forward_head(f)
    torch.manual_seed(1)
    assert not torch.allclose(a, model.forward_head(f))
    assert torch.equal(model.forward_head(f, pre_logits=True), f.mean((2, 3, 4)))


def _save(model, path, with_index=True):
    sd = {("backbone." + k if not k.startswith("head.") else "cls_head.fc_cls." + k[5:]): v
          for k, v in model.state_dict().items()}
    if with_index:
        for name, buf in model.named_buffers():
            sd["backbone." + name] = buf
    torch.save({"meta": {}, "state_dict": sd}, path)
    return path


def test_window_is_read_from_the_weights_or_asked_for(tmp_path):
    ss = tiny(window_size=(16, 7, 7))
    path = _save(ss, tmp_path / "ss.pth")
    assert tubelet.create_model("swin3d_tiny", checkpoint_path=path, **ARCH).model_args["window_size"] == [16, 7, 7]
    with pytest.raises(CheckpointError, match=r"window_size=\[8, 7, 7\] needs 2535-row .* have 5239"):
        tubelet.create_model("swin3d_tiny", checkpoint_path=path, **ARCH, window_size=(8, 7, 7))
    # (13, 2, 2), (5, 3, 3) and (1, 8, 8) all give 225-row tables: without the stored index it is ambiguous
    odd = tiny(window_size=(5, 3, 3))
    path = _save(odd, tmp_path / "odd.pth", with_index=False)
    with pytest.raises(CheckpointError, match=r"fit several windows .*pass window_size"):
        tubelet.create_model("swin3d_tiny", checkpoint_path=path, **ARCH)
    assert tubelet.create_model("swin3d_tiny", checkpoint_path=path, **ARCH, window_size=(5, 3, 3)).model_args[
        "window_size"] == [5, 3, 3]
    # the index the original code stores (N = 5*3*3 tokens) settles it
    path = _save(odd, tmp_path / "odd_index.pth")
    assert tubelet.create_model("swin3d_tiny", checkpoint_path=path, **ARCH).model_args["window_size"] == [5, 3, 3]


def test_wrong_variant_and_foreign_files(tmp_path):
    path = _save(tubelet.create_model("swin3d_small"), tmp_path / "small.pth")
    with pytest.raises(CheckpointError, match=r"depths=\[2, 2, 18, 2\]"):
        tubelet.create_model("swin3d_tiny", checkpoint_path=path)
    torch.save(tubelet.create_model("uniformer_small").state_dict(), tmp_path / "uf.pth")
    with pytest.raises(CheckpointError, match="not a Swin checkpoint"):
        tubelet.create_model("swin3d_tiny", checkpoint_path=tmp_path / "uf.pth")
    with pytest.raises(CheckpointError, match="drop_head"):
        tubelet.create_model("swin3d_small", checkpoint_path=path, num_classes=174)
