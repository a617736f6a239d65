"""RandAugment, random erasing and mixup/cutmix: policy parsing, per-clip consistency, determinism, maths."""
import numpy as np
import pytest
import torch

from tubelet.data.augment import Mixup, RandAugment, one_hot_smoothed, random_erasing
from tubelet.data.presets import TrainTransform


def clip_of_identical_frames(T=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    frame = torch.randint(0, 256, (3, 32, 40), generator=g, dtype=torch.uint8)
    return frame.expand(T, 3, 32, 40).clone()


def test_policy_parsing():
    ra = RandAugment("rand-m7-n4-mstd0.5-inc1")
    assert (ra.magnitude, ra.num_layers, ra.magnitude_std, ra.increasing) == (7.0, 4, 0.5, True)
    assert RandAugment("rand").num_layers == 2
    for bad in ("auto-m7", "rand-q3", "rand-mx"):
        with pytest.raises(ValueError):
            RandAugment(bad)


@pytest.mark.parametrize("op", RandAugment.OPS)
def test_every_op_keeps_shape_dtype_and_treats_frames_alike(op):
    ra = RandAugment("rand-m9-n1-inc1")
    x = clip_of_identical_frames()
    out = ra._apply(op, x.float(), 0.9, np.random.default_rng(0))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 255
    assert all(torch.equal(out[0], out[t]) for t in range(1, 4))  # one op, one magnitude for the whole clip


def test_op_semantics():
    ra = RandAugment("rand-m10-n1-inc1")
    x = torch.tensor([0.0, 100.0, 200.0, 255.0]).view(1, 1, 2, 2).expand(1, 3, 2, 2)
    rng = np.random.default_rng(0)
    assert torch.equal(ra._apply("Invert", x, 1.0, rng), 255 - x)
    assert torch.equal(ra._apply("Solarize", x, 0.5, rng), torch.where(x >= 128, 255 - x, x))
    assert torch.equal(ra._apply("Posterize", x, 0.5, rng), torch.floor(x / 64) * 64)  # 4 - 2 = 2 bits kept
    assert torch.equal(ra._apply("AutoContrast", x * 0.5 + 10, 1.0, rng), x)


def test_rand_augment_is_seeded_and_changes_the_clip():
    ra = RandAugment("rand-m7-n4-mstd0.5-inc1", prob=1.0)
    x = clip_of_identical_frames()
    a, b = ra(x, np.random.default_rng(3)), ra(x, np.random.default_rng(3))
    assert torch.equal(a, b) and a.dtype == torch.uint8 and not torch.equal(a, x)
    assert all(torch.equal(a[0], a[t]) for t in range(1, 4))


def test_random_erasing_same_box_in_every_frame():
    clip = torch.zeros(3, 4, 32, 32)
    out = random_erasing(clip, np.random.default_rng(0), prob=1.0)
    erased = out != 0
    assert erased.any() and all(torch.equal(erased[:, 0], erased[:, t]) for t in range(4))
    assert torch.equal(random_erasing(clip, np.random.default_rng(0), prob=0.0), clip)


def test_mixup_and_cutmix_targets():
    assert torch.allclose(one_hot_smoothed(torch.tensor([2]), 4, 0.1), torch.tensor([[0.025, 0.025, 0.925, 0.025]]))
    x = torch.stack([torch.zeros(3, 2, 16, 16), torch.ones(3, 2, 16, 16)])
    labels = torch.tensor([0, 1])
    for switch, name in ((0.0, "mixup"), (1.0, "cutmix")):
        mix = Mixup(num_classes=2, switch_prob=switch, label_smoothing=0.0, seed=4)
        out, y = mix(x, labels)
        assert torch.allclose(y.sum(1), torch.ones(2))
        lam = float(y[0, 0])
        # the mixed-in share of sample 0 equals its target weight on class 1, for mixup and for cutmix's box
        assert abs(float(out[0].mean()) - (1 - lam)) < 1e-5, name
    with pytest.raises(ValueError, match="even batch"):
        Mixup(3)(torch.zeros(3, 3, 1, 4, 4), torch.tensor([0, 1, 2]))


def test_train_transform_with_the_uniformer_recipe():
    t = TrainTransform(24, (0.45,) * 3, (0.225,) * 3, short_side=None, rand_augment="rand-m7-n4-mstd0.5-inc1",
                       erase_prob=0.25)
    frames = torch.randint(0, 256, (4, 32, 40, 3), dtype=torch.uint8)
    clip, flipped = t(frames, np.random.default_rng(0))
    assert clip.shape == (3, 4, 24, 24) and isinstance(flipped, bool)
    again, _ = t(frames, np.random.default_rng(0))
    assert torch.equal(clip, again)


def test_multi_scale_crop_boxes():
    from tubelet.data.transforms import multi_scale_crop_params
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        top, left, h, w = multi_scale_crop_params(256, 340, rng)
        assert top + h <= 256 and left + w <= 340
        assert {h, w} <= {256, 224, 192, 168}  # int(256 * s) for the default scales
        seen.add((top, left) if (h, w) == (256, 256) else None)
    assert {(0, 0), (0, 84), (0, 42)} <= seen  # corners / centre offsets of a 256x256 box in 340 wide frames
    t = TrainTransform(32, (0.5,) * 3, (0.5,) * 3, short_side=None, crop="multi_scale")
    clip, _ = t(torch.randint(0, 256, (2, 48, 64, 3), dtype=torch.uint8), np.random.default_rng(1))
    assert clip.shape == (3, 2, 32, 32)
