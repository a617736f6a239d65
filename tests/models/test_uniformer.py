"""UniFormer behaviour beyond parity: shapes, options, training mode, gradient checkpointing, input checks."""
import pytest
import torch

import tubelet

TINY = dict(depth=[1, 1, 1, 1], embed_dim=[16, 32, 64, 128], head_dim=32)


def tiny(name="uniformer_small", **kw):
    return tubelet.create_model(name, **{**TINY, "num_classes": 7, **kw})


@pytest.mark.parametrize("shape,feat", [((2, 3, 8, 64, 64), (2, 128, 4, 2, 2)),
                                        ((1, 3, 1, 32, 32), (1, 128, 1, 1, 1)),
                                        ((1, 3, 5, 70, 45), (1, 128, 3, 2, 1))])
def test_video_any_t_h_w(shape, feat):
    model = tiny().eval()
    x = torch.randn(shape)
    with torch.no_grad():
        f = model.forward_features(x)
        assert f.shape == feat
        assert model(x).shape == (shape[0], 7)
        assert model.forward_head(f, pre_logits=True).shape == (shape[0], 128)


def test_image_model_any_size():
    model = tiny("uniformer_small_2d").eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 96, 64)).shape == (2, 7)
        assert model.forward_features(torch.randn(1, 3, 64, 64)).shape == (1, 128, 2, 2)


def test_std_patch_embedding_keeps_time():
    model = tiny(std=True).eval()
    assert model.patch_embed2.proj.kernel_size == (3, 2, 2)
    assert model.forward_features(torch.randn(1, 3, 8, 64, 64)).shape[2] == 4


@pytest.mark.parametrize("bad,match", [((1, 3, 64, 64), "5-D"), ((1, 1, 4, 64, 64), "channels"),
                                       ((1, 3, 4, 16, 16), "at least 32")])
def test_bad_input_is_a_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        tiny()(torch.randn(bad))


def test_impossible_configs_are_errors():
    with pytest.raises(ValueError, match="SplitSABlock"):
        tiny(split=True)
    with pytest.raises(ValueError, match="conv_stem"):
        tiny(conv_stem=True)
    with pytest.raises(ValueError, match="video models only"):
        tiny("uniformer_small_2d", std=True)
    with pytest.raises(ValueError, match="multiples of head_dim"):
        tiny(head_dim=48)
    with pytest.raises(TypeError, match="unknown option"):
        tiny(window_size=7)
    with pytest.raises(ValueError, match="image model"):
        tiny("uniformer_small_2d", num_frames=8)


@pytest.mark.parametrize("shape", [(2, 16, 3, 5, 7), (2, 16, 5, 7)])
def test_pointwise_is_the_1x1_convolution_with_its_gradients(shape):
    """pointwise() computes a 1x1(x1) conv as a Linear over a channels-last map (one GEMM), and falls back to the conv
    for a channels-first map; both equal conv(x), gradients included."""
    from tubelet.models.uniformer import channels_last, pointwise
    conv = (torch.nn.Conv3d if len(shape) == 5 else torch.nn.Conv2d)(16, 24, 1)
    base = torch.randn(shape)
    for x in (channels_last(base), base.contiguous()):
        x = x.detach().requires_grad_()
        out = pointwise(conv, x)
        assert out.is_contiguous(memory_format=torch.channels_last_3d if len(shape) == 5 else torch.channels_last) \
            == (x.stride(1) == 1)  # channels-last in, channels-last out (no copy)
        grads = torch.autograd.grad(out.square().sum(), (x, conv.weight, conv.bias))
        ref_x = x.detach().requires_grad_()
        ref = conv(ref_x)
        ref_grads = torch.autograd.grad(ref.square().sum(), (ref_x, conv.weight, conv.bias))
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
        for g, r in zip(grads, ref_grads):
            torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name,shape", [("uniformer_small", (1, 3, 4, 64, 64)), ("uniformer_small_2d", (2, 3, 64, 64))])
def test_every_stage_runs_channels_last(name, shape):
    """The blocks get and give channels-last maps, so the token <-> map reshapes are views and the 1x1 convs GEMMs."""
    model = tiny(name).eval()
    fmt = torch.channels_last_3d if len(shape) == 5 else torch.channels_last
    seen = []
    hooks = [blk.register_forward_hook(lambda m, args, out: seen.append(
        (args[0].is_contiguous(memory_format=fmt), out.is_contiguous(memory_format=fmt))))
        for i in range(1, 5) for blk in getattr(model, f"blocks{i}")]
    with torch.no_grad():
        model(torch.randn(shape))
    for h in hooks:
        h.remove()
    assert len(seen) == 4 and all(a and b for a, b in seen)


def test_official_config_names_are_accepted():
    model = tiny(drop_depth_rate=0.3, dropout_rate=0.1, attention_dropout_rate=0.1, qkv_scale=0.5)
    assert model.model_args["drop_path_rate"] == 0.3
    assert model.blocks4[0].drop_path.drop_prob == pytest.approx(0.3)  # last block gets the full rate
    assert model.blocks1[0].drop_path.drop_prob == 0.0
    assert model.blocks3[0].attn.scale == 0.5 and model.blocks3[0].attn.attn_drop == 0.1


def test_heads_follow_head_dim():
    model = tubelet.create_model("uniformer_small_plus_2d")
    assert model.blocks3[0].attn.num_heads == 10 and model.blocks4[0].attn.num_heads == 16
    model = tubelet.create_model("uniformer_small_plus_dim64_2d")
    assert model.blocks3[0].attn.num_heads == 5 and model.blocks4[0].attn.num_heads == 8


def _train_step(model, x):
    model.zero_grad(set_to_none=True)
    out = model(x)
    out.square().mean().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("name", ["uniformer_small", "uniformer_large_ls_2d"])
def test_grad_checkpointing_does_not_change_outputs_or_grads(name):
    torch.manual_seed(0)
    model = tiny(name, embed_dim=[32, 64, 64, 128]).train()
    x = torch.randn((2, 3, 4, 64, 64) if name == "uniformer_small" else (2, 3, 64, 64))
    ref_out, ref_grads = _train_step(model, x)
    model.set_grad_checkpointing(True)
    assert model.use_checkpoint and model.checkpoint_num == [1, 1, 1, 1]
    out, grads = _train_step(model, x)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=0)
    for n in ref_grads:
        torch.testing.assert_close(grads[n], ref_grads[n], rtol=1e-5, atol=1e-6)


def test_official_checkpoint_num_selects_blocks(monkeypatch):
    model = tiny(depth=[2, 2, 2, 2], use_checkpoint=True, checkpoint_num=[1, 0, 0, 2]).train()
    calls = []
    import tubelet.models.uniformer as U
    real = U.checkpoint
    monkeypatch.setattr(U, "checkpoint", lambda fn, *a, **k: calls.append(fn) or real(fn, *a, **k))
    model(torch.randn(2, 3, 2, 32, 32)).sum().backward()
    assert calls == [model.blocks1[0], model.blocks4[0], model.blocks4[1]]


def test_drop_path_is_random_in_train_and_off_in_eval():
    model = tiny(drop_path_rate=0.5)
    x = torch.randn(4, 3, 2, 32, 32)
    model.train()
    torch.manual_seed(1)
    a = model(x)
    torch.manual_seed(2)
    b = model(x)
    assert not torch.allclose(a, b)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_reset_classifier_and_no_weight_decay():
    model = tiny("uniformer_large_ls_2d")
    model.reset_classifier(3)
    assert model.head.out_features == 3 and model.aux_head.out_features == 3 and model.num_classes == 3
    assert model.get_classifier() is model.head
    model.reset_classifier(0)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 128)
    assert model.no_weight_decay() == set()


def test_token_labeling_output_combines_aux_head():
    model = tiny("uniformer_large_ls_2d").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        f = model.forward_features(x)
        tokens = f.flatten(2).transpose(1, 2)
        want = model.head(tokens.mean(1)) + 0.5 * model.aux_head(tokens).max(1)[0]
        torch.testing.assert_close(model.forward_head(f), want)


def test_layer_scale_placement():
    ls = tubelet.create_model("uniformer_base_ls_2d")
    assert ls.blocks3[0].gamma_1.shape == (320,) and ls.blocks1[0].gamma_1 is None
    assert torch.all(ls.blocks3[0].gamma_1 == 1e-6)
    large = tiny("uniformer_large_ls_2d")
    assert large.blocks1[0].gamma_1.shape == (1, 16, 1, 1)


def test_pretrained_cfg_follows_overrides():
    model = tiny(num_frames=8, img_size=160)
    cfg = model.pretrained_cfg
    assert cfg.input_size == (3, 8, 160, 160) and cfg.num_frames == 8 and cfg.num_classes == 7
    assert cfg.label_names is None  # 7 classes are not Kinetics-400
    default = tubelet.create_model("uniformer_small").pretrained_cfg
    assert default.label_names == "kinetics400_uniformer" and default.mean == (0.45,) * 3
    assert default.sampler == "dense" and default.frame_interval == 4 and default.test_views == (4, 1)


def _depthwise_inputs(model, x, dtype=None):
    """Run ``model`` once (optionally under CPU autocast) and return the layouts its depthwise convs received."""
    seen = []
    hooks = [m.register_forward_pre_hook(lambda mod, args: seen.append(args[0].is_contiguous()))
             for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d)) and m.groups > 1]
    with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        model(x)
    for h in hooks:
        h.remove()
    return seen


def test_depthwise_convs_get_channels_first_maps_under_cpu_bf16():
    """The oneDNN bf16 depthwise-conv weight-gradient bug (see layers.channels_first_for_cpu_half) needs a
    channels-last input; under CPU bf16/fp16 every depthwise conv must see a contiguous map, in fp32 no copy."""
    from tubelet.models.uniformerv2 import UniFormerV2
    uni = tiny(depth=[1, 1, 2, 1]).eval()
    v2 = UniFormerV2(input_resolution=32, patch_size=16, width=64, layers=2, heads=2, no_lmhra=False, return_list=[1],
                     n_dim=64, n_head=2, num_classes=3).eval()
    x = torch.randn(1, 3, 4, 64, 64)
    for model, clip in [(uni, x), (v2, x[..., :32, :32])]:
        fp32 = _depthwise_inputs(model, clip)
        assert fp32 and not all(fp32)  # the plain path keeps the cheap channels-last views
        assert all(_depthwise_inputs(model, clip, torch.bfloat16))
    assert all(_depthwise_inputs(uni.to(torch.bfloat16), x.to(torch.bfloat16)))  # a bf16 model, no autocast
    with torch.inference_mode():  # no weight gradient, no bug: inference keeps the channels-last maps (no copies)
        assert not any(_depthwise_inputs(uni.float(), x, torch.bfloat16))
