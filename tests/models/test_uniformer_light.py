"""Light UniFormer behaviour beyond parity: the token-selection rule (kept counts, ties, per-sample selection, no
shared state), meta-device and autocast forwards, dense shapes, and the checkpoint initialisation paths."""
import threading

import pytest
import torch

import tubelet
from tubelet.errors import UsageError
from tubelet.models.uniformer_light import EvoSABlock, UniFormerLight

TINY = dict(depth=[1, 1, 3, 2], embed_dim=[16, 16, 32, 32], head_dim=16, num_classes=5)


def tiny(**kw) -> UniFormerLight:
    torch.manual_seed(0)
    return UniFormerLight(**{**TINY, **kw}).eval()


def _attention_lengths(model):
    """Tokens that enter each attention block's attention (hooks on the attention modules)."""
    lengths = {}
    hooks = [blk.attn.register_forward_hook(lambda m, args, out, name=f"{s}.{j}": lengths.__setitem__(
        name, args[0].shape[1])) for s in ("blocks3", "blocks4") for j, blk in enumerate(getattr(model, s))]
    return lengths, hooks


@pytest.mark.parametrize("video,shape", [(False, (1, 3, 112, 144)), (True, (1, 3, 4, 64, 96))])
def test_kept_tokens_are_floor_n_times_ratio(video, shape):
    ratios = [[1, 0.3, 0.7], [0.45, 0.5]]
    model = tiny(video=video, prune_ratio=ratios, trade_off=ratios)
    lengths, hooks = _attention_lengths(model)
    with torch.no_grad():
        model(torch.randn(shape))
    for h in hooks:
        h.remove()
    t = shape[2] // 2 if video else 1
    n3 = t * (shape[-2] // 16) * (shape[-1] // 16)
    n4 = t * (shape[-2] // 32) * (shape[-1] // 32)
    # class token (+ the representative token when pruning)
    assert lengths == {"blocks3.0": n3 + 1, "blocks3.1": int(n3 * 0.3) + 2, "blocks3.2": int(n3 * 0.7) + 2,
                       "blocks4.0": int(n4 * 0.45) + 2, "blocks4.1": int(n4 * 0.5) + 2}


def _dropped_tokens(blk, x, scores):
    """Which tokens a pruning block dropped: they all receive the same (fast) update, the kept ones their own."""
    with torch.no_grad():
        for p in (blk.pos_embed.weight, blk.pos_embed.bias):
            p.zero_()  # x + pos_embed(x) == x, so out - x is the block's update
        _, out, _ = blk(torch.randn(1, 1, x.shape[1]), x, scores)
    delta = (out - x).flatten(2).transpose(1, 2)[0]  # N, C
    same = torch.cdist(delta, delta) < 1e-6
    return {i for i in range(delta.shape[0]) if same[i].sum() > 1}


def test_ties_in_scores_are_resolved_like_the_official_argsort():
    torch.manual_seed(0)
    blk = EvoSABlock(32, 2, 3.0, torch.nn.Conv2d, prune_ratio=0.5, trade_off=0.5).eval()
    x = torch.randn(1, 32, 4, 5)
    # 20 tokens, 10 kept; the cut falls inside a run of 12 equal scores
    scores = torch.tensor([[0.9, 0.3, 0.5, 0.5, 0.5, 0.5, 0.1, 0.5, 0.5, 0.5,
                            0.5, 0.5, 0.5, 0.2, 0.5, 0.5, 0.8, 0.05, 0.7, 0.6]])
    order = torch.argsort(scores, dim=1, descending=True)[0]  # the official op
    expected_dropped = set(order[10:].tolist())
    assert _dropped_tokens(blk, x, scores) == expected_dropped


def test_scores_are_mixed_and_pooled_like_the_official_rule():
    """Kept tokens: (1 - trade_off) * old + trade_off * new class-attention; dropped tokens keep theirs; the last
    stage-3 block pools the map 2x2 and rescales it to the sum before pooling."""
    torch.manual_seed(0)
    tau, n = 0.25, 12
    blk = EvoSABlock(32, 2, 3.0, torch.nn.Conv2d, prune_ratio=0.5, trade_off=tau, downsample=True).eval()
    x, scores = torch.randn(2, 32, 4, 6), torch.rand(2, 24)
    rows = []
    blk.attn.register_forward_hook(lambda m, args, out: rows.append(out[1]))
    with torch.no_grad():
        _, _, new = blk(torch.randn(2, 1, 32), x, scores)
    row = rows[0]  # B, 1 + n + 1: class, kept tokens (in score order), representative
    order = torch.argsort(scores, 1, descending=True)
    s = torch.gather(scores, 1, order)
    s = torch.cat([(1 - tau) * s[:, :n] + tau * row[:, 1:-1], s[:, n:]], 1)
    restored = torch.gather(s, 1, torch.argsort(order, 1))
    pooled = torch.nn.functional.avg_pool2d(restored.reshape(2, 1, 4, 6), 2).flatten(1)
    assert new.shape == (2, 6)
    assert torch.allclose(new, pooled * s.sum(1, keepdim=True) / pooled.sum(1, keepdim=True), atol=1e-7)


def test_each_sample_selects_its_own_tokens():
    model = tiny()
    x = torch.randn(3, 3, 96, 96)
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i:i + 1]) for i in range(3)])
    assert torch.allclose(together, alone, rtol=1e-5, atol=1e-5)


def test_concurrent_forwards_do_not_share_state():
    """The original keeps the selection state in module globals; two forwards in threads would corrupt each
    other. Here every forward is independent."""
    a, b = tiny(), tiny(depth=[1, 1, 2, 1])
    xa, xb = torch.randn(2, 3, 96, 96), torch.randn(1, 3, 128, 64)
    with torch.no_grad():
        want_a, want_b = a(xa), b(xb)
    got, barrier = {}, threading.Barrier(2)

    def run(name, model, x):
        barrier.wait()
        with torch.no_grad():
            got[name] = [model(x) for _ in range(5)]
    threads = [threading.Thread(target=run, args=("a", a, xa)), threading.Thread(target=run, args=("b", b, xb))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(torch.allclose(y, want_a, atol=1e-6) for y in got["a"])
    assert all(torch.allclose(y, want_b, atol=1e-6) for y in got["b"])


@pytest.mark.parametrize("name,shape", [("uniformer_xxs", (1, 3, 16, 160, 160)), ("uniformer_xs_2d", (1, 3, 192, 192)),
                                        ("uniformer_xxs_dense", (1, 3, 800, 1280))])
def test_meta_device_forward_and_flops(name, shape):
    with torch.device("meta"):
        model = tubelet.create_model(name).eval()
        out = model(torch.empty(shape))
    if name.endswith("_dense"):
        assert [o.shape for o in out] == [(1, 56, 200, 320), (1, 112, 100, 160), (1, 224, 50, 80), (1, 448, 25, 40)]
    else:
        assert out.shape == (1, model.num_classes)
    from tubelet.flops import model_cost
    published = {"uniformer_xxs": 6.9, "uniformer_xs_2d": 1.4}  # README GFLOPs
    if name in published:
        assert abs(model_cost(name).gflops / published[name] - 1) < 0.03


@pytest.mark.parametrize("hw", [(70, 100), (33, 47), (64, 64)])
def test_dense_shapes_floor_for_odd_sizes(hw):
    model = tiny(dense=True, num_classes=0)
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *hw))
    h, w = [-(-(-(-s // 2)) // 2) for s in hw]  # two 3x3 stride-2 convolutions with padding 1: ceil twice
    sizes = [(h, w)]
    for _ in range(3):
        h, w = h // 2, w // 2  # 2x2 stride-2 patch convolutions: floor
        sizes.append((h, w))
    assert [tuple(o.shape[-2:]) for o in outs] == sizes
    assert [o.shape[1] for o in outs] == TINY["embed_dim"]
    assert model.forward_features(torch.randn(1, 3, *hw))[0].is_contiguous()
    assert model.num_classes == 0 and model.num_features == 32


def test_training_mode_and_forward_train():
    model = tiny().train()
    x = torch.randn(2, 3, 64, 64)
    logits, cls_logits = model.forward_train(x)
    assert logits.shape == cls_logits.shape == (2, 5)
    assert model(x).shape == (2, 5)  # one tensor in training mode as well (tubelet's trainer)
    (logits.sum() + cls_logits.sum()).backward()
    assert model.cls_token.grad is not None and model.head_cls.weight.grad is not None


def test_grad_checkpointing_changes_nothing():
    model = tiny(drop_path_rate=0.0).train()
    x = torch.randn(2, 3, 64, 64)
    want = model(x)
    model.set_grad_checkpointing()
    got = model(x)
    got.sum().backward()
    assert torch.allclose(want, got, atol=1e-6)


def test_bf16_autocast_runs():
    model = tiny()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 5)


def test_layer_scale_parameters():
    model = tiny(video=True, layer_scale=True, layer_scale_init=0.1)
    assert model.blocks1[0].gamma_1.shape == (1, 16, 1, 1, 1)
    assert model.blocks3[1].gamma_2.shape == (32,) and float(model.blocks3[1].gamma_2[0].detach()) == pytest.approx(0.1)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 4, 64, 64)).shape == (1, 5)


@pytest.mark.parametrize("kw,match", [(dict(prune_ratio=[[0.5, 0.5, 0.5], [0.5, 0.5]]), "first stage-3 block"),
                                      (dict(prune_ratio=[[1, 0.5], [0.5, 0.5]]), "one value per attention block"),
                                      (dict(dense=True), "num_classes must be 0"),
                                      (dict(dense=True, video=True, num_classes=0), "video")])
def test_bad_options(kw, match):
    with pytest.raises(UsageError, match=match):
        UniFormerLight(**{**TINY, **kw})


def test_interface():
    model = tiny()
    assert model.no_weight_decay() == {"cls_token"}
    assert model.get_classifier() is model.head
    model.reset_classifier(3)
    assert model.head.out_features == model.head_cls.out_features == 3
    with pytest.raises(UsageError, match="no classifier"):
        tiny(dense=True, num_classes=0).get_classifier()


# -- checkpoints --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    """A light ImageNet XXS classifier in the released (flat) layout."""
    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_xxs_2d")
    sd = {k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    path = tmp_path_factory.mktemp("light") / "uniformer_xxs_160_in1k.pth"
    torch.save(sd, path)
    return path, sd


def test_image_checkpoint_initialises_the_dense_backbone(image_file):
    path, sd = image_file
    model = tubelet.create_model("uniformer_xxs_dense", checkpoint_path=path)
    report = str(model.load_report)
    assert "official pretrained_path rule" in report and "norm.*, norm_cls.*, head.*, head_cls.*" in report
    loaded = model.state_dict()
    assert torch.equal(loaded["blocks3.1.attn.qkv.weight"], sd["blocks3.1.attn.qkv.weight"])
    assert torch.equal(loaded["norm4.weight"], torch.ones(448)) and torch.equal(loaded["norm1.bias"], torch.zeros(56))
    assert "norm.weight" not in loaded and "head.weight" not in loaded


def test_image_checkpoint_initialises_the_video_model_by_inflation(image_file):
    path, sd = image_file
    model = tubelet.create_model("uniformer_xxs", checkpoint_path=path)
    assert "inflated by averaging" in str(model.load_report)
    assert model.load_report.dropped == ["head.weight", "head.bias", "head_cls.weight", "head_cls.bias"]
    loaded = model.state_dict()
    w2 = sd["blocks1.0.attn.weight"]  # 5x5 depthwise -> 5x5x5, each slice / 5
    assert torch.allclose(loaded["blocks1.0.attn.weight"], w2.unsqueeze(2).repeat(1, 1, 5, 1, 1) / 5)
    assert torch.equal(loaded["patch_embed2.proj.weight"][:, :, 0], sd["patch_embed2.proj.weight"])  # (1,2,2)


def test_image_checkpoint_initialises_a_layer_scale_video_model(image_file):
    """The official _ls_fp32 video models start from the same ImageNet file, their gammas at INIT_VALUE."""
    path, _ = image_file
    ls = tubelet.create_model("uniformer_xxs", checkpoint_path=path, layer_scale=True)
    assert float(ls.blocks3[0].gamma_1[0].detach()) == pytest.approx(0.1)
    assert "layer scales" in str(ls.load_report)


def test_video_checkpoint_is_no_image_model(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "video.pth"
    with torch.device("meta"):
        shapes = tubelet.create_model("uniformer_xxs").state_dict()
    torch.save({"model_state": {k: torch.zeros(v.shape, dtype=v.dtype) for k, v in shapes.items()}}, path)
    for name in ("uniformer_xxs_2d", "uniformer_xxs_dense"):
        with pytest.raises(tubelet.CheckpointError, match="VIDEO light UniFormer"):
            tubelet.create_model(name, checkpoint_path=path)


def test_standard_uniformer_file_is_refused(tmp_path):
    path = tmp_path / "small.pth"
    with torch.device("meta"):
        shapes = tubelet.create_model("uniformer_small_2d").state_dict()
    torch.save({k: torch.zeros(v.shape, dtype=v.dtype) for k, v in shapes.items()}, path)
    with pytest.raises(tubelet.CheckpointError, match="not a light UniFormer"):
        tubelet.create_model("uniformer_xxs_2d", checkpoint_path=path)


SMALL_VIDEO = dict(depth=[1, 1, 2, 1], embed_dim=[16, 16, 32, 32], head_dim=16)


def test_layer_scale_is_read_from_a_video_file(tmp_path):
    model = tubelet.create_model("uniformer_xxs", layer_scale=True, **SMALL_VIDEO).eval()
    path = tmp_path / "ls.pyth"
    torch.save({"epoch": 1, "model_state": model.state_dict(), "optimizer_state": {}, "cfg": ""}, path)
    loaded = tubelet.create_model("uniformer_xxs", checkpoint_path=path, **SMALL_VIDEO).eval()
    assert loaded.model_args["layer_scale"] is True
    x = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_tubelet_file_round_trip(tmp_path):
    model = tubelet.create_model("uniformer_xxs_dense", **SMALL_VIDEO).eval()
    path = tmp_path / "dense.safetensors"
    tubelet.save_model(model, path)
    loaded = tubelet.create_model(checkpoint_path=path).eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model(x), loaded(x)))
