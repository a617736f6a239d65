"""The synthetic generator that `tubelet demo` trains on: classes that differ only in temporal order, and clips that
are easy to see (strong contrast, little noise, objects that stay in the frame)."""
import numpy as np
import pytest

from tubelet.data import SYNTHETIC_CLASSES
from tubelet.data.synthetic import render_clip


@pytest.mark.parametrize("pair", range(len(SYNTHETIC_CLASSES) // 2))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_pair_is_the_same_clip_played_backwards(pair, seed):
    a = render_clip(2 * pair, 16, 32, 40, np.random.default_rng(seed), noise=0)
    b = render_clip(2 * pair + 1, 16, 32, 40, np.random.default_rng(seed), noise=0)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, b[::-1])


def test_noise_is_mild_and_optional():
    clean = render_clip(0, 8, 32, 40, np.random.default_rng(4), noise=0).astype(np.float32)
    noisy = render_clip(0, 8, 32, 40, np.random.default_rng(4)).astype(np.float32)
    assert 1.0 < np.std(noisy - clean) < 3.0


@pytest.mark.parametrize("label", range(len(SYNTHETIC_CLASSES)))
def test_the_object_stands_out_and_stays_in_the_frame(label):
    for seed in range(5):
        clip = render_clip(label, 16, 32, 40, np.random.default_rng(seed), noise=0).astype(np.float32)
        border = np.concatenate([clip[:, 0], clip[:, -1], clip[:, :, 0], clip[:, :, -1]], 1)  # T, N, 3
        background = np.median(border, axis=1)[:, None, None]
        obj = np.abs(clip - background).min(-1) > 60  # the object differs in every channel
        assert obj.sum((1, 2)).max() >= 25  # a clearly visible object (at least ~5x5 pixels) ...
        assert not obj[:, [0, -1]].any() and not obj[:, :, [0, -1]].any()  # ... that never leaves the frame
