"""The plain-PyTorch detection ops (tubelet.models.detection_ops) against hand-computed cases and against naive
loops written here from the reference semantics (mmcv 1.3's CPU NMS / RoIAlign kernels, mmcv's ``batched_nms``,
mmdet 2.11's anchors and delta coder), step by step in float32 scalars."""
import math

import numpy as np
import pytest
import torch

from tubelet.models.detection_ops import (AnchorGenerator, batched_nms, bbox2delta, box_overlaps, delta2bbox, nms,
                                          roi_align)

f32 = np.float32


# -- naive references --------------------------------------------------------------------------------------------

def naive_nms(boxes, scores, thr, offset=0):
    """The kernel: the order of its own ``scores.sort(0, descending)`` call, float32 IoU, drop at IoU >= thr."""
    b = boxes.numpy().astype(f32)
    order = torch.sort(scores, 0, True)[1].tolist()
    off = f32(offset)
    areas = [(b[i, 2] - b[i, 0] + off) * (b[i, 3] - b[i, 1] + off) for i in range(len(b))]
    selected = [True] * len(order)
    thr = f32(thr)
    with np.errstate(invalid="ignore", divide="ignore"):
        for a in range(len(order)):
            if not selected[a]:
                continue
            i = order[a]
            for c in range(a + 1, len(order)):
                if not selected[c]:
                    continue
                j = order[c]
                w = max(f32(0), min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0]) + off)
                h = max(f32(0), min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1]) + off)
                inter = f32(w * h)
                ovr = f32(inter / f32(f32(areas[i] + areas[j]) - inter))
                if ovr >= thr:
                    selected[c] = False
    return [order[a] for a in range(len(order)) if selected[a]]


def naive_roi_align(feat, rois, out_h, out_w, scale, sampling_ratio=0, aligned=True):
    """mmcv 1.3's CPU RoIAlign (avg) as loops over RoIs, bins, samples and channels, in float32 scalars."""
    feat = feat.numpy().astype(f32)
    rois = rois.numpy().astype(f32)
    _, C, H, W = feat.shape
    out = np.zeros((len(rois), C, out_h, out_w), dtype=f32)
    scale = f32(scale)
    off = f32(0.5) if aligned else f32(0)
    for n, roi in enumerate(rois):
        bi = int(roi[0])
        sw, sh = roi[1] * scale - off, roi[2] * scale - off
        ew, eh = roi[3] * scale - off, roi[4] * scale - off
        rw, rh = f32(ew - sw), f32(eh - sh)
        if not aligned:
            rw, rh = max(rw, f32(1)), max(rh, f32(1))
        bh, bw = f32(rh / f32(out_h)), f32(rw / f32(out_w))
        gh = sampling_ratio if sampling_ratio > 0 else int(math.ceil(f32(rh / f32(out_h))))
        gw = sampling_ratio if sampling_ratio > 0 else int(math.ceil(f32(rw / f32(out_w))))
        count = f32(max(gh * gw, 1))
        for ph in range(out_h):
            for pw in range(out_w):
                acc = np.zeros(C, dtype=f32)
                for iy in range(gh):
                    y = f32(f32(sh + f32(f32(ph) * bh)) + f32(f32(f32(iy + 0.5) * bh) / f32(gh)))
                    for ix in range(gw):
                        x = f32(f32(sw + f32(f32(pw) * bw)) + f32(f32(f32(ix + 0.5) * bw) / f32(gw)))
                        if y < -1.0 or y > H or x < -1.0 or x > W:
                            continue  # contributes 0
                        yy, xx = max(y, f32(0)), max(x, f32(0))
                        yl, xl = int(yy), int(xx)
                        if yl >= H - 1:
                            yl = yh = H - 1
                            yy = f32(yl)
                        else:
                            yh = yl + 1
                        if xl >= W - 1:
                            xl = xh = W - 1
                            xx = f32(xl)
                        else:
                            xh = xl + 1
                        ly, lx = f32(yy - f32(yl)), f32(xx - f32(xl))
                        hy, hx = f32(f32(1) - ly), f32(f32(1) - lx)
                        w1, w2, w3, w4 = f32(hy * hx), f32(hy * lx), f32(ly * hx), f32(ly * lx)
                        f = feat[bi]
                        val = (w1 * f[:, yl, xl] + w2 * f[:, yl, xh]) + w3 * f[:, yh, xl]
                        val = val + w4 * f[:, yh, xh]
                        acc = acc + val
                out[n, :, ph, pw] = acc / count
    return torch.from_numpy(out)


# -- NMS -----------------------------------------------------------------------------------------------------------

def _t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_nms_hand_cases():
    # identical boxes: the lower-scored one goes; a disjoint box stays
    boxes = _t([[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30]])
    assert nms(boxes, _t([0.5, 0.9, 0.7]), 0.5).tolist() == [1, 2]
    # IoU exactly 0.5 (a 2x1 box inside a 4x1 box): dropped at threshold 0.5 (the >= rule), kept just above
    boxes = _t([[0, 0, 4, 1], [0, 0, 2, 1]])
    assert float(box_overlaps(boxes[:1], boxes[1:])) == 0.5
    assert nms(boxes, _t([0.9, 0.8]), 0.5).tolist() == [0]
    assert nms(boxes, _t([0.9, 0.8]), 0.5000001).tolist() == [0, 1]
    # the order is by score, not by index
    assert nms(boxes, _t([0.1, 0.8]), 0.6).tolist() == [1, 0]


def test_nms_offset_one():
    # touching boxes: no overlap with offset 0; with offset 1 (last pixel included) each is 2x2, overlap 1x2
    boxes = _t([[0, 0, 1, 1], [1, 0, 2, 1]])
    assert float(box_overlaps(boxes[:1], boxes[1:])) == 0
    assert math.isclose(float(box_overlaps(boxes[:1], boxes[1:], offset=1)), 2 / 6, rel_tol=1e-6)
    assert nms(boxes, _t([0.9, 0.8]), 0.3).tolist() == [0, 1]
    assert nms(boxes, _t([0.9, 0.8]), 0.3, offset=1).tolist() == [0]
    assert nms(boxes, _t([0.9, 0.8]), 0.34, offset=1).tolist() == [0, 1]
    with pytest.raises(ValueError, match="offset"):
        nms(boxes, _t([0.9, 0.8]), 0.3, offset=2)


def test_nms_ties_follow_the_reference_sort():
    # a few equal scores: torch's sort keeps them in index order (the kernel's own sort call does the same)
    boxes = _t([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 9, 9], [50, 50, 60, 60]])
    scores = _t([0.5, 0.5, 0.5, 0.5])
    assert nms(boxes, scores, 0.5).tolist() == [0, 3]
    assert nms(boxes[[1, 0, 2, 3]], scores, 0.5).tolist() == [0, 3]
    # many: the order of torch.sort(scores, descending=True) (not a stable sort), whatever it is
    boxes = torch.stack([torch.arange(40.0) * 3, torch.zeros(40), torch.arange(40.0) * 3 + 10, torch.ones(40)], 1)
    scores = torch.zeros(40)
    order = torch.sort(scores, descending=True)[1]
    kept = nms(boxes, scores, 0.3)
    assert kept[0] == order[0] and kept.tolist() == naive_nms(boxes, scores, 0.3)


def test_nms_empty_and_degenerate():
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).tolist() == []
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).dtype == torch.long
    # two empty boxes at the same place: IoU 0/0 = NaN, which never reaches the threshold (both kept)
    assert nms(_t([[5, 5, 5, 5], [5, 5, 5, 5]]), _t([0.9, 0.8]), 0.5).tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        nms(torch.zeros(3, 5), torch.zeros(3), 0.5)


def _clustered(n, seed, spread=40.0, size=30.0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(max(1, n // 12), 2, generator=g) * 300
    c = centres[torch.randint(len(centres), (n,), generator=g)] + torch.randn(n, 2, generator=g) * spread / 10
    wh = torch.rand(n, 2, generator=g) * size + 2
    boxes = torch.cat([c - wh / 2, c + wh / 2], 1)
    scores = (torch.rand(n, generator=g) * 50).round() / 50  # many exact ties
    return boxes, scores


@pytest.mark.parametrize("n,thr,offset", [(9, 0.5, 0), (300, 0.3, 0), (700, 0.7, 0), (400, 0.5, 1)])
def test_nms_matches_the_naive_kernel(n, thr, offset):
    boxes, scores = _clustered(n, seed=n)
    kept = nms(boxes, scores, thr, offset)
    assert kept.tolist() == naive_nms(boxes, scores, thr, offset)
    assert 0 < len(kept) < n  # the case suppresses something
    # max_num: the first max_num of the full result (the greedy pass is a prefix)
    assert nms(boxes, scores, thr, offset, max_num=5).tolist() == kept[:5].tolist()


def test_nms_blocks_boundaries():
    """A chain of overlapping boxes across block boundaries: a box suppressed in one block must not suppress in the
    next (the greedy rule), which a non-greedy 'any higher overlap' rule would get wrong."""
    n = 400
    x = torch.arange(n, dtype=torch.float32) * 6
    boxes = torch.stack([x, torch.zeros(n), x + 10, torch.ones(n) * 10], 1)  # neighbours overlap 4/16 = 0.25
    scores = torch.linspace(1, 0, n)
    kept = nms(boxes, scores, 0.2)
    assert kept.tolist() == list(range(0, n, 2)) == naive_nms(boxes, scores, 0.2)


# -- batched NMS -----------------------------------------------------------------------------------------------------

def test_batched_nms_keeps_classes_apart():
    boxes = _t([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10]])
    scores = _t([0.9, 0.8, 0.7, 0.6])
    idxs = torch.tensor([0, 1, 0, 1])
    dets, keep = batched_nms(boxes, scores, idxs, 0.5)
    assert keep.tolist() == [0, 1]
    assert torch.equal(dets, torch.cat([boxes[[0, 1]], scores[[0, 1], None]], 1))
    dets, keep = batched_nms(boxes, scores, idxs, 0.5, class_agnostic=True)
    assert keep.tolist() == [0]


def _naive_batched(boxes, scores, idxs, thr):
    """mmcv's offset trick, written out: shift class c by c * (max + 1) in float32, then the kernel."""
    shifted = boxes + (idxs.to(boxes) * (boxes.max() + 1))[:, None]
    return naive_nms(shifted, scores, thr)


@pytest.mark.parametrize("seed", [0, 1])
def test_batched_nms_matches_the_naive_kernel_and_its_split_path(seed):
    boxes, scores = _clustered(500, seed=seed)
    idxs = torch.randint(4, (500,), generator=torch.Generator().manual_seed(seed))
    dets, keep = batched_nms(boxes, scores, idxs, 0.5)
    assert keep.tolist() == _naive_batched(boxes, scores, idxs, 0.5)
    assert torch.equal(dets[:, :4], boxes[keep]) and torch.equal(dets[:, 4], scores[keep])
    # split_thr path (per-class NMS on the shifted boxes, then a sort by score): the same boxes
    dets_s, keep_s = batched_nms(boxes, scores, idxs, 0.5, split_thr=10)
    assert sorted(keep_s.tolist()) == sorted(keep.tolist())
    assert bool((dets_s[1:, 4] <= dets_s[:-1, 4]).all())
    assert keep_s[:7].tolist() == batched_nms(boxes, scores, idxs, 0.5, split_thr=10, max_num=7)[1].tolist()
    assert keep[:7].tolist() == batched_nms(boxes, scores, idxs, 0.5, max_num=7)[1].tolist()


def test_batched_nms_per_class_shortcut_is_the_same():
    """Non-negative boxes (the RPN's clamped proposals): the classes cannot meet after the shift, so the greedy pass
    runs per class; the result must equal the kernel on the shifted boxes, with ``max_num`` too."""
    boxes, scores = _clustered(600, seed=5)
    boxes = boxes.clamp(min=0)
    idxs = torch.randint(5, (600,), generator=torch.Generator().manual_seed(5))
    dets, keep = batched_nms(boxes, scores, idxs, 0.7)
    assert keep.tolist() == _naive_batched(boxes, scores, idxs, 0.7)
    assert batched_nms(boxes, scores, idxs, 0.7, max_num=50)[1].tolist() == keep[:50].tolist()


def test_batched_nms_offset_trick_can_fail_as_in_mmcv():
    """With negative coordinates the shift does not separate the classes: a class-1 box shifted by 1 * (10 + 1)
    lands on the class-0 box and is suppressed by it, as in mmcv."""
    boxes = _t([[5, 0, 10, 10], [-6, -11, -1, -1]])
    dets, keep = batched_nms(boxes, _t([0.9, 0.8]), torch.tensor([0, 1]), 0.5)
    assert keep.tolist() == [0]
    assert batched_nms(boxes.clamp(min=0), _t([0.9, 0.8]), torch.tensor([0, 1]), 0.5)[1].tolist() == [0, 1]


def test_batched_nms_empty():
    dets, keep = batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5)
    assert dets.shape == (0, 5) and keep.shape == (0,)


# -- RoIAlign ------------------------------------------------------------------------------------------------------

def test_roi_align_on_a_linear_map_is_the_function_at_the_bin_centre():
    """Bilinear interpolation reproduces a linear function exactly, so each bin's mean is f(bin centre) as long as
    the samples stay within [0, H - 1] x [0, W - 1] (the parity README's own check)."""
    H, W = 60, 50
    yy, xx = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32),
                            indexing="ij")
    feat = torch.stack([2 * yy + 3 * xx + 1, -yy + 0.5 * xx])[None]
    rois = _t([[0, 8, 12, 60, 100], [0, 20.5, 4.25, 33.75, 50.5], [0, 30, 30, 31, 31]])
    scale, out = 0.5, 7
    got = roi_align(feat, rois, out, scale)
    for r, roi in enumerate(rois.tolist()):
        x1, y1, x2, y2 = (v * scale - 0.5 for v in roi[1:])
        cy = y1 + (torch.arange(out) + 0.5) * (y2 - y1) / out
        cx = x1 + (torch.arange(out) + 0.5) * (x2 - x1) / out
        want = torch.stack([2 * cy[:, None] + 3 * cx[None] + 1, -cy[:, None] + 0.5 * cx[None]])
        assert torch.allclose(got[r], want, rtol=1e-5, atol=1e-4), (r, (got[r] - want).abs().max())


def _feat(n=2, c=3, h=9, w=11, seed=0):
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_roi_align_matches_the_naive_kernel():
    feat = _feat()
    rois = _t([
        [0, 2, 3, 30, 25],        # inside, a grid of several samples per bin
        [1, 0, 0, 44, 36],        # the whole map (stride 4): samples up to the last row / column (snapping)
        [0, -20, -12, 10, 8],     # partly outside at the top-left (samples below -1 drop, [-1, 0] clamp to 0)
        [1, 30, 20, 60, 50],      # partly outside at the bottom-right
        [0, 100, 100, 140, 120],  # fully outside: zeros
        [1, 5, 5, 5, 5],          # zero size: an empty grid, zeros
        [0, 3.3, 7.7, 9.1, 8.2],  # thin
        [1.9, 1, 2, 3, 4],        # the batch index truncates (1)
    ])
    for out_size, sampling_ratio, aligned in [((7, 7), 0, True), ((2, 3), 0, True), ((3, 2), 2, True),
                                              ((4, 4), 0, False)]:
        got = roi_align(feat, rois, out_size, 0.25, sampling_ratio=sampling_ratio, aligned=aligned)
        want = naive_roi_align(feat, rois, *out_size, 0.25, sampling_ratio, aligned)
        assert got.shape == want.shape == (len(rois), 3, *out_size)
        assert torch.equal(got, want), (out_size, sampling_ratio, aligned, (got - want).abs().max())
    got = roi_align(feat, rois, 7, 0.25)
    assert torch.equal(got[4], torch.zeros(3, 7, 7)) and torch.equal(got[5], torch.zeros(3, 7, 7))
    assert got[2].abs().sum() > 0 and got[3].abs().sum() > 0


def test_roi_align_many_rois_and_chunks(monkeypatch):
    import tubelet.models.detection_ops as ops
    feat = _feat(n=1, c=5, h=20, w=24, seed=3)
    g = torch.Generator().manual_seed(4)
    xy = torch.rand(60, 2, generator=g) * 90 - 5
    wh = torch.rand(60, 2, generator=g) * 60
    rois = torch.cat([torch.zeros(60, 1), xy, xy + wh], 1)
    want = naive_roi_align(feat, rois, 3, 3, 0.25)
    assert torch.equal(roi_align(feat, rois, 3, 0.25), want)
    monkeypatch.setattr(ops, "_ROI_CHUNK", 50)  # a few RoIs per step
    assert torch.equal(roi_align(feat, rois, 3, 0.25), want)


def test_roi_align_empty_and_errors():
    feat = _feat()
    assert roi_align(feat, torch.zeros(0, 5), 7, 0.25).shape == (0, 3, 7, 7)
    with pytest.raises(ValueError, match="negative size"):
        roi_align(feat, _t([[0, 10, 10, 5, 20]]), 7, 0.25)
    with pytest.raises(ValueError, match="batch"):
        roi_align(feat, _t([[2, 0, 0, 5, 5]]), 7, 0.25)
    with pytest.raises(ValueError, match=r"\(R, 5\)"):
        roi_align(feat, torch.zeros(3, 4), 7, 0.25)


# -- anchors ---------------------------------------------------------------------------------------------------------

def test_anchor_generator_base_anchors_by_hand():
    gen = AnchorGenerator(strides=[16], ratios=[0.5, 1.0, 2.0], scales=[8])
    base = gen.base_anchors[0]
    r = math.sqrt(0.5)  # ratio 0.5: h = 16 * 8 * sqrt(0.5), w = 16 * 8 / sqrt(0.5)
    want = torch.tensor([[-64 / r, -64 * r, 64 / r, 64 * r], [-64, -64, 64, 64],
                         [-64 * r, -64 / r, 64 * r, 64 / r]])
    assert torch.allclose(base, want, atol=1e-4)
    assert gen.num_base_anchors == [3]
    # scale-major order and a shifted centre
    gen2 = AnchorGenerator(strides=[8], ratios=[1.0, 2.0], scales=[1, 2], scale_major=False, center_offset=0.5)
    b2 = gen2.base_anchors[0]
    assert torch.allclose(b2[:, :2] + b2[:, 2:], torch.full((4, 2), 8.0))  # centres at (4, 4)
    assert torch.allclose(b2[:, 2] - b2[:, 0], torch.tensor([8, 8 / math.sqrt(2), 16, 16 / math.sqrt(2)]))


def test_anchor_generator_grid_order_and_levels():
    gen = AnchorGenerator(strides=[4, 8], ratios=[1.0], scales=[2])
    a4, a8 = gen.grid_anchors([(2, 3), (1, 2)])
    # (y, x, anchor) order: x fastest; each anchor is the base one shifted by (x, y) * stride
    assert a4.tolist() == [[-4 + 4 * x, -4 + 4 * y, 4 + 4 * x, 4 + 4 * y] for y in range(2) for x in range(3)]
    assert a8.tolist() == [[-8, -8, 8, 8], [0, -8, 16, 8]]
    with pytest.raises(ValueError, match="levels"):
        gen.grid_anchors([(2, 3)])


def test_anchor_generator_the_rpn_configuration():
    gen = AnchorGenerator()  # strides 4..64, ratios 0.5 / 1 / 2, scale 8: the UniFormer detection configs
    sizes = [(56, 80), (28, 40), (14, 20), (7, 10), (4, 5)]
    anchors = gen.grid_anchors(sizes)
    assert [len(a) for a in anchors] == [h * w * 3 for h, w in sizes]
    for a, stride in zip(anchors, [4, 8, 16, 32, 64]):
        centres = (a[:, :2] + a[:, 2:]) / 2
        assert torch.equal(centres[:3], torch.zeros(3, 2))  # centred at offset 0 of the first cell
        assert torch.equal(centres[3], torch.tensor([stride, 0.0]))
        assert torch.allclose((a[1, 2:] - a[1, :2]), torch.tensor([8.0 * stride] * 2))


# -- the delta coder -----------------------------------------------------------------------------------------------

def test_delta2bbox_by_hand():
    rois = _t([[0, 0, 10, 10]] * 4)
    deltas = _t([[0, 0, 0, 0], [0.1, -0.2, 0, 0], [0, 0, math.log(2), math.log(0.5)], [0, 0, 10, -10]])
    got = delta2bbox(rois, deltas)
    clip = 1000 / 16  # wh_ratio_clip 16/1000: sizes scale by at most 62.5
    want = _t([[0, 0, 10, 10], [1, -2, 11, 8], [-5, 2.5, 15, 7.5],
               [5 - 5 * clip, 5 - 5 / clip, 5 + 5 * clip, 5 + 5 / clip]])
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-4)
    # means / stds: deltas * stds + means
    got = delta2bbox(rois[:1], _t([[1, 1, 0, 0]]), means=(0.05, 0, 0, 0), stds=(0.1, 0.1, 0.2, 0.2))
    assert torch.allclose(got, _t([[1.5, 1, 11.5, 11]]), atol=1e-5)
    # clamped to [0, W] x [0, H] (max_shape (H, W, 3)), not W - 1
    got = delta2bbox(rois[:3], deltas[:3], max_shape=(8, 12, 3))
    assert torch.allclose(got, _t([[0, 0, 10, 8], [1, 0, 11, 8], [0, 2.5, 12, 7.5]]), atol=1e-5)
    # several classes per RoI (class-specific regression)
    multi = delta2bbox(rois[:2], torch.cat([deltas[:2], deltas[1:3]], 1))
    assert torch.allclose(multi.view(2, 2, 4)[:, 0], want[:2], atol=1e-5)
    assert torch.allclose(multi.view(2, 2, 4)[1, 1], want[2], atol=1e-5)


def test_delta2bbox_batched_max_shape_and_round_trip():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(2, 30, 2, generator=g) * 100
    rois = torch.cat([xy, xy + torch.rand(2, 30, 2, generator=g) * 50 + 1], -1)
    deltas = torch.randn(2, 30, 4, generator=g) * 0.5
    got = delta2bbox(rois, deltas, max_shape=[(60, 70, 3), (200, 40, 3)])
    assert float(got[0, :, 0::2].max()) <= 70 and float(got[0, :, 1::2].max()) <= 60
    assert float(got[1, :, 0::2].max()) <= 40 and float(got[1, :, 1::2].max()) <= 200
    assert float(got.min()) >= 0
    free = delta2bbox(rois, deltas)
    inside = ((free[..., 0::2] <= torch.tensor([70.0, 40.0])[:, None, None]).all(-1)
              & (free[..., 1::2] <= torch.tensor([60.0, 200.0])[:, None, None]).all(-1) & (free >= 0).all(-1))
    assert torch.equal(got[inside], free[inside]) and inside.any()
    # bbox2delta inverts delta2bbox (with means and stds)
    means, stds = (0.1, -0.1, 0.0, 0.05), (0.1, 0.1, 0.2, 0.2)
    back = bbox2delta(rois, delta2bbox(rois, deltas, means, stds), means, stds)
    assert torch.allclose(back, deltas, atol=1e-4)
    with pytest.raises(ValueError, match="max_shape"):
        delta2bbox(rois[0], deltas[0], max_shape=[(60, 70), (60, 70)])


# -- the RPN test path (mmdet 2.11 RPNHead.get_bboxes) on hand-made maps ---------------------------------------------

def _rpn(strides, scales, **cfg):
    from tubelet.models.detection import RPNHead, RPNTestConfig
    return RPNHead(8, 8, AnchorGenerator(strides=strides, ratios=[1.0], scales=scales),
                   test_cfg=RPNTestConfig(**{"nms_pre": 1000, "max_per_img": 1000, **cfg}))


def test_rpn_proposals_by_hand():
    # level 0 (stride 16, 32 px anchors) on a 1x2 map, level 1 (stride 32, 64 px) on 1x1; zero deltas; a 32x32 image
    rpn = _rpn([16, 32], [2], iou_threshold=0.4)
    cls = [torch.tensor([[[[1.0, 2.0]]]]), torch.tensor([[[[0.5]]]])]
    reg = [torch.zeros(1, 4, 1, 2), torch.zeros(1, 4, 1, 1)]
    s = torch.sigmoid(torch.tensor([2.0, 1.0, 0.5]))
    # anchors [-16,-16,16,16], [0,-16,32,16] / [-32,-32,32,32] clamped to [0, 32]: level 0's two overlap with
    # IoU 0.5 >= 0.4 (the weaker goes); level 1's box overlaps the best one as much but is another level
    (p,) = rpn.get_bboxes(cls, reg, [(32, 32)])
    assert torch.allclose(p, torch.tensor([[0, 0, 32, 16, s[0]], [0, 0, 32, 32, s[2]]]))
    # nms_pre 1: only the best anchor of each level enters; no NMS effect at IoU 0.99
    rpn.test_cfg.iou_threshold = 0.99
    assert rpn.get_bboxes(cls, reg, [(32, 32)])[0][:, 4].tolist() == s.tolist()
    rpn.test_cfg.nms_pre = 1
    assert rpn.get_bboxes(cls, reg, [(32, 32)])[0][:, 4].tolist() == s[[0, 2]].tolist()
    rpn.test_cfg.max_per_img = 1
    assert rpn.get_bboxes(cls, reg, [(32, 32)])[0][:, 4].tolist() == s[:1].tolist()
    # deltas move a box (dx = 0.25 of 32 px: +8), clamped at the image's width (not width - 1)
    reg[0][0, 0, 0, 1] = 0.25
    rpn.test_cfg.max_per_img, rpn.test_cfg.nms_pre = 1000, 1000
    (p,) = rpn.get_bboxes(cls, reg, [(32, 40)])
    assert p[0, :4].tolist() == [8, 0, 40, 16]


def test_rpn_min_bbox_size_keeps_mmdet_2_11s_test():
    """mmdet 2.11 filters small proposals only when the sum of the valid boxes' indices differs from the number of
    boxes: 3 boxes of widths 64 / 80 / 96 (height 128) and min size 70 -> valid {1, 2}, 1 + 2 == 3: nothing removed;
    min size 90 -> valid {2}: filtered."""
    rpn = _rpn([16], [8], iou_threshold=0.99, min_bbox_size=70)
    cls, reg = [torch.tensor([[[[3.0, 2.0, 1.0]]]])], [torch.zeros(1, 4, 1, 3)]
    reg[0][:, 3] = math.log(2)  # 128 px anchors made 256 px high, clamped to [0, 128]
    (p,) = rpn.get_bboxes(cls, reg, [(128, 128)])
    assert p[:, :4].tolist() == [[0, 0, 64, 128], [0, 0, 80, 128], [0, 0, 96, 128]]
    rpn.test_cfg.min_bbox_size = 90
    (p,) = rpn.get_bboxes(cls, reg, [(128, 128)])
    assert p[:, :4].tolist() == [[0, 0, 96, 128]]


def test_rpn_batch_and_config():
    from tubelet.models.detection import RPNHead, RPNTestConfig
    rpn = RPNHead(16, 16).eval()
    feats = [torch.randn(2, 16, 64 // s, 96 // s, generator=torch.Generator().manual_seed(s))
             for s in (4, 8, 16, 32, 64)]
    feats[-1] = feats[-1][:, :, :1, :2]
    with torch.no_grad():
        cls, reg = rpn(feats)
    both = rpn.get_bboxes(cls, reg, [(60, 90), (40, 70)])
    one = rpn.get_bboxes([c[1:] for c in cls], [r[1:] for r in reg], [(40, 70)])
    assert torch.equal(both[1], one[0]) and len(both[0]) > 100
    assert torch.equal(rpn.simple_test_rpn(feats, [(60, 90), (40, 70)])[0], both[0])
    assert float(both[1][:, [0, 2]].max()) <= 70 and float(both[1][:, [1, 3]].max()) <= 40
    # the cascade configs' extra keys are ignored as mmdet 2.11's RPNHead ignores them; old names are accepted
    cascade = {"nms_across_levels": False, "nms_pre": 1000, "nms_post": 1000, "max_per_img": 1000,
               "nms": {"type": "nms", "iou_threshold": 0.7}, "min_bbox_size": 0}
    assert RPNTestConfig.from_mmdet(cascade) == RPNTestConfig()
    assert RPNTestConfig.from_mmdet({"nms_pre": 500, "max_num": 300, "nms_thr": 0.6}) == RPNTestConfig(500, 300, 0.6)
    with pytest.raises(ValueError, match="contradicts"):
        RPNTestConfig.from_mmdet({**cascade, "max_num": 10})


def test_roi_align_is_differentiable_with_the_same_values():
    g = torch.Generator().manual_seed(3)
    feats = torch.randn(1, 5, 12, 16, generator=g)
    rois = torch.tensor([[0, 1.3, 2.2, 9.7, 8.1], [0, 0.0, 0.0, 15.0, 11.0], [0, 4.0, 4.0, 4.5, 6.0]])
    fast = roi_align(feats, rois, 3, 1.0, 0, True)
    leaf = feats.clone().requires_grad_(True)
    slow = roi_align(leaf, rois, 3, 1.0, 0, True)
    assert torch.equal(fast, slow)
    slow.sum().backward()
    assert leaf.grad is not None and float(leaf.grad.abs().sum()) > 0
    small = feats[:, :2, :7, :9].double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: roi_align(f, rois.double() * 0.5, 3, 1.0, 0, True), (small,))
