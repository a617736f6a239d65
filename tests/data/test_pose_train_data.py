"""tubelet.data.pose: each step of mmpose 0.16's top-down training pipeline against its definition on hand-built
cases (targets, flip, half body, scale/rotation, the affine crop), the loss against an independently written
formula, the COCO reader's rules and errors, the dataset, and the synthetic stick-figure set (its ground truth scores
AP 1 with the COCO evaluation)."""
import json
import math

import numpy as np
import pytest
import torch

from tubelet.data import pose as P
from tubelet.errors import AnnotationError, ImageReadError, UsageError
from tubelet.keypoints import COCO_FLIP_PAIRS, box_to_center_scale, crop_person, get_affine_transform


class FixedRng:
    """A stand-in generator whose draws are given: ``random()`` and ``standard_normal()`` pop from two lists."""

    def __init__(self, uniform=(), normal=()):
        self.uniform, self.normal = list(uniform), list(normal)

    def random(self, size=None):
        return self.uniform.pop(0) if size is None else np.array([self.uniform.pop(0) for _ in range(size)])

    def standard_normal(self):
        return self.normal.pop(0)


def _visible(flags):
    v = np.zeros((len(flags), 3), np.float32)
    v[:, :2] = np.asarray(flags, np.float32)[:, None]
    return v


def _joints(xy):
    j = np.zeros((len(xy), 3), np.float32)
    j[:, :2] = xy
    return j


# -- targets -----------------------------------------------------------------------------------------------------

def test_target_peak_value_sigma_and_window():
    sigma = 2.0
    j = _joints([[4 * 10, 4 * 20], [4 * 3.3, 4 * 7.6]])  # heatmap (10, 20) and (3.3, 7.6) -> rounded to (3, 8)
    target, weight = P.generate_target(j, _visible([1, 1]), (192, 256), (48, 64), sigma)
    assert target.shape == (2, 64, 48) and target.dtype == np.float32 and weight.shape == (2, 1)
    assert weight[:, 0].tolist() == [1, 1]
    for k, (mx, my) in enumerate([(10, 20), (3, 8)]):
        assert np.unravel_index(target[k].argmax(), target[k].shape) == (my, mx) and target[k, my, mx] == 1
        np.testing.assert_allclose(target[k, my, mx + 1], math.exp(-1 / (2 * sigma ** 2)), rtol=1e-6)
        np.testing.assert_allclose(target[k, my + 1, mx + 1], math.exp(-2 / (2 * sigma ** 2)), rtol=1e-6)
        # the 3-sigma window: the Gaussian up to 6 px from mu, 0 beyond
        assert target[k, my, mx + 6] > 0 and target[k, my + 6, mx + 6] > 0 and target[k, my, mx + 7] == 0
    # mu = int(x / stride + 0.5): 2.49 -> 2, 2.5 -> 3
    for x, mu in ((2.49, 2), (2.5, 3)):
        t, _ = P.generate_target(_joints([[4 * x, 40.0]]), _visible([1]), (192, 256), (48, 64))
        assert t[0, 10].argmax() == mu


def test_target_equals_the_gaussian_formula_everywhere():
    yy, xx = np.mgrid[0:32, 0:24]
    for x, y, sigma in ((41.3, 60.2, 2.0), (2.0, 3.0, 3.0), (90.0, 125.0, 2.0)):
        t, w = P.generate_target(_joints([[x, y]]), _visible([1]), (96, 128), (24, 32), sigma)
        mx, my = int(x / 4 + 0.5), int(y / 4 + 0.5)
        r = 3 * sigma
        expect = np.exp(-((xx - mx) ** 2 + (yy - my) ** 2) / (2 * sigma ** 2))
        expect[(np.abs(xx - mx) > r) | (np.abs(yy - my) > r)] = 0
        np.testing.assert_allclose(t[0], expect, rtol=1e-6, atol=1e-7)
        assert w[0, 0] == 1


def test_target_weight_zero_for_invisible_and_out_of_range_joints():
    j = _joints([[40.0, 40.0], [-100.0, 40.0], [40.0, 400.0], [-4 * 3, 40.0], [4 * 48 + 4 * 5, 40.0], [4 * 54, 40.0]])
    t, w = P.generate_target(j, _visible([0, 1, 1, 1, 1, 1]), (192, 256), (48, 64), 2.0)
    # invisible; far left; far below: weight 0 and an empty map
    assert w[:3, 0].tolist() == [0, 0, 0] and not t[:3].any()
    # 3 px left of the map and 5 px right of it: the window still overlaps -> weight 1, the Gaussian's tail is there;
    # left of the map int() truncates towards 0: mu = int(-3 + 0.5) = -2, not floor's -3
    assert w[3, 0] == 1 and t[3, 10, 0] == pytest.approx(math.exp(-4 / 8), rel=1e-6)
    assert w[4, 0] == 1 and t[4, 10, 47] == pytest.approx(math.exp(-36 / 8), rel=1e-6)
    # mu = 54: the window starts at 48 = W -> weight 0
    assert w[5, 0] == 0 and not t[5].any()
    # joint weights multiply target_weight
    _, w2 = P.generate_target(j[:1], _visible([1]), (192, 256), (48, 64), 2.0, joint_weights=[1.5])
    assert w2[0, 0] == 1.5


# -- flip, half body, scale/rotation, affine ----------------------------------------------------------------------

def test_fliplr_joints_swaps_the_coco_pairs_and_mirrors_x_with_the_minus_one_convention():
    xy = np.stack([np.arange(17) * 10.0 + 3, np.arange(17) * 2.0 + 1], 1)
    vis = [1] * 17
    vis[4] = 0  # right ear unlabelled: after the swap it is the left ear's slot (1 -> 3) that is zeroed
    j, v = P.fliplr_joints(_joints(xy), _visible(vis), 640)
    order = list(range(17))
    for a, b in COCO_FLIP_PAIRS:
        order[a], order[b] = b, a
    for k in range(17):
        src = order[k]
        if src == 4:
            assert v[k, 0] == 0 and (j[k] == 0).all()
        else:
            assert v[k, 0] == 1 and j[k, 0] == 640 - 1 - xy[src, 0] and j[k, 1] == xy[src, 1]
    # its own inverse on labelled joints
    back, _ = P.fliplr_joints(*P.fliplr_joints(_joints(xy), _visible([1] * 17), 640), 640)
    np.testing.assert_array_equal(back[:, :2], xy)


def _body():
    """Joints 0-10 (upper body) around x 100-140, y 50-90; 11-16 (lower) around y 150-200."""
    xy = np.zeros((17, 2))
    xy[:11] = np.stack([np.linspace(100, 140, 11), np.linspace(50, 90, 11)], 1)
    xy[11:] = np.stack([np.linspace(110, 130, 6), np.linspace(150, 200, 6)], 1)
    return _joints(xy)


def test_half_body_selection_and_box():
    j, v = _body(), _visible([1] * 17)
    # a normal draw below 0.5 picks the upper body: its joints' mean, extent widened to 3:4, x1.5, / 200
    c, s = P.half_body_center_scale(j, v, (192, 256), FixedRng(normal=[0.0]))
    np.testing.assert_allclose(c, [120, 70], rtol=1e-6)
    np.testing.assert_allclose(s, np.array([40, 40 / 0.75]) / 200 * 1.5, rtol=1e-6)
    # 0.5 or above: the lower body (width 20 < 0.75 * height 50: widened)
    c, s = P.half_body_center_scale(j, v, (192, 256), FixedRng(normal=[0.5]))
    np.testing.assert_allclose(c, [120, 175], rtol=1e-6)
    np.testing.assert_allclose(s, np.array([50 * 0.75, 50]) / 200 * 1.5, rtol=1e-6)
    # the upper body is asked for but has only 2 labelled joints: the lower body
    v2 = _visible([1, 1] + [0] * 9 + [1] * 6)
    c, _ = P.half_body_center_scale(j, v2, (192, 256), FixedRng(normal=[0.0]))
    np.testing.assert_allclose(c, [120, 175], rtol=1e-6)
    # neither half has 3: the upper one, and with fewer than 2 joints no box
    v3 = _visible([1, 1] + [0] * 9 + [1, 0, 0, 0, 0, 0])
    c, _ = P.half_body_center_scale(j, v3, (192, 256), FixedRng(normal=[1.0]))
    np.testing.assert_allclose(c, j[:2, :2].mean(0), rtol=1e-6)
    assert P.half_body_center_scale(j, _visible([1] + [0] * 16), (192, 256), FixedRng(normal=[0.0])) == (None, None)


def test_half_body_in_the_pipeline_needs_more_than_the_threshold_of_joints():
    sample = _sample(_body(), _visible([1] * 17))
    image = np.zeros((300, 300, 3), np.uint8)
    pipe = P.TopDownTrainPipeline(flip_prob=0.0, prob_half_body=1.0, scale_factor=0.0, rot_prob=0.0)
    # draws: flip (no), half-body gate, half-body side (upper), scale normal, rotation normal, rotation gate
    _, _, _, meta = pipe(sample, image, FixedRng(uniform=[0.9, 0.0, 0.9], normal=[0.0, 0.0, 0.0]))
    np.testing.assert_allclose(meta["center"], [120, 70], rtol=1e-6)
    # 8 labelled joints is not more than num_joints_half_body=8: untouched (and no half-body draws)
    sample8 = _sample(_body(), _visible([1] * 8 + [0] * 9))
    _, _, _, meta = pipe(sample8, image, FixedRng(uniform=[0.9, 0.9], normal=[0.0, 0.0]))
    np.testing.assert_array_equal(meta["center"], sample8.center)


def test_random_scale_rotation_formula_and_clipping():
    s = np.array([1.0, 2.0], np.float32)
    scale, rot = P.random_scale_rotation(s, FixedRng(uniform=[0.6], normal=[0.5, 0.5]), 0.5, 40, 0.6)
    np.testing.assert_allclose(scale, s * 1.25)
    assert scale.dtype == np.float32 and rot == 20.0  # the gate: 0.6 <= rot_prob rotates
    scale, rot = P.random_scale_rotation(s, FixedRng(uniform=[0.61], normal=[-5.0, -5.0]), 0.5, 40, 0.6)
    np.testing.assert_allclose(scale, s * 0.5)  # clipped at 1 - sf
    assert rot == 0.0  # 0.61 > rot_prob: no rotation
    _, rot = P.random_scale_rotation(s, FixedRng(uniform=[0.0], normal=[9.0, 9.0]), 0.5, 40, 0.6)
    assert rot == 80.0  # clipped at 2 rf


def test_affine_matrix_maps_the_centre_and_a_rotated_point():
    center, scale = np.array([150.0, 120.0], np.float32), np.array([0.9, 1.2], np.float32)
    for rotation in (0.0, 30.0, -75.0):
        m = get_affine_transform(center, scale, (256, 192), rotation)
        np.testing.assert_allclose(m @ [*center, 1], [96, 128], atol=1e-6)
        # image point centre + R(rotation) (a, b) lands at crop centre + k (a, b), k = W / (scale_x * 200)
        k = 192 / (0.9 * 200)
        a, b = 13.0, -40.0
        r = math.radians(rotation)
        p = center + [a * math.cos(r) - b * math.sin(r), a * math.sin(r) + b * math.cos(r)]
        np.testing.assert_allclose(m @ [*p, 1], [96 + k * a, 128 + k * b], atol=1e-4)
        # affine_joints moves labelled joints only
        j = P.affine_joints(_joints([p, p]), _visible([1, 0]), m)
        np.testing.assert_allclose(j[0, :2], [96 + k * a, 128 + k * b], atol=1e-3)
        np.testing.assert_allclose(j[1, :2], p, rtol=1e-6)


def _sample(joints, visible, bbox=(60.0, 40.0, 120.0, 180.0), image_size=(192, 256), width=300, height=300):
    c, s = box_to_center_scale(np.array(bbox), image_size[::-1])
    return P.PersonSample("img.png", 7, 70, np.array(bbox), c, s, joints, visible, 100.0, width, height)


@pytest.mark.parametrize("flip,rotation", [(True, 0.0), (False, 30.0), (True, -50.0)])
def test_flip_and_rotation_move_image_and_joints_together(flip, rotation):
    image = np.zeros((200, 300, 3), np.uint8)
    wrist = (100, 60)  # the left wrist, a white dot
    image[wrist[1] - 1:wrist[1] + 2, wrist[0] - 1:wrist[0] + 2] = 255
    xy = np.full((17, 2), 150.0)
    xy[9] = wrist
    sample = _sample(_joints(xy), _visible([0] * 9 + [1] + [0] * 7), bbox=(40.0, 20.0, 150.0, 160.0), width=300,
                     height=200)
    pipe = P.TopDownTrainPipeline(flip_prob=1.0 if flip else 0.0, prob_half_body=0.0, scale_factor=0.0,
                                  rot_factor=40, rot_prob=1.0)
    # draws: the flip gate, the scale's normal (scale_factor 0: no change), the rotation's normal, the rotation gate
    x, target, weight, meta = pipe(sample, image, FixedRng(uniform=[0.5, 0.0], normal=[0.0, rotation / 40]))
    assert meta["flipped"] == flip and meta["rotation"] == rotation
    assert meta["center"][0] == (300 - 1 - sample.center[0] if flip else sample.center[0])
    k = 10 if flip else 9  # the left wrist is labelled the right wrist in the mirrored image
    assert weight[:, 0].nonzero().flatten().tolist() == [k]
    qx, qy = meta["joints"][k]
    crop = x[0] * 0.229 + 0.485  # back to 0-1
    ys, xs = np.nonzero(crop.numpy() > 0.5)
    assert abs(xs.mean() - qx) < 0.6 and abs(ys.mean() - qy) < 0.6
    hy, hx = np.unravel_index(int(target[k].argmax()), target[k].shape)
    assert (hx, hy) == (int(qx / 4 + 0.5), int(qy / 4 + 0.5)) and target[k].max() == 1


def test_pipeline_is_deterministic_given_the_generator_and_returns_the_contract():
    rng = np.random.default_rng(5)
    image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    xy = rng.uniform([60, 40], [260, 220], (17, 2))
    sample = _sample(_joints(xy), _visible([1] * 17), width=320, height=240)
    pipe = P.TopDownTrainPipeline()
    a = pipe(sample, image, np.random.default_rng(1))
    b = pipe(sample, image, np.random.default_rng(1))
    x, target, weight, meta = a
    assert x.shape == (3, 256, 192) and x.dtype == torch.float32
    assert target.shape == (17, 64, 48) and target.dtype == torch.float32
    assert weight.shape == (17, 1) and weight.dtype == torch.float32
    assert set(meta) >= {"center", "scale", "rotation", "flipped", "image_id", "joints"}
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[3]["rotation"] == b[3]["rotation"]
    draws = {tuple(pipe(sample, image, np.random.default_rng(s))[3]["scale"]) for s in range(5)}
    assert len(draws) == 5
    # the sample itself is never modified
    np.testing.assert_array_equal(sample.joints_3d[:, :2], xy.astype(np.float32))


def test_no_augmentation_train_crop_equals_the_eval_crop_and_estimate_poses_crop():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    sample = _sample(_joints(rng.uniform(80, 200, (17, 2))), _visible([1] * 17), width=320, height=240)
    plain = P.TopDownTrainPipeline(flip_prob=0.0, prob_half_body=0.0, scale_factor=0.0, rot_prob=0.0)
    a = plain(sample, image, rng)
    b = P.TopDownEvalPipeline()(sample, image)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])
    # the crop of tubelet.keypoints (estimate_poses' warp), normalised as its pretrained_cfg
    crop = crop_person(image, sample.center, sample.scale, (256, 192)).float() / 255
    mean, std = torch.tensor(P.IMAGENET_MEAN).view(3, 1, 1), torch.tensor(P.IMAGENET_STD).view(3, 1, 1)
    assert torch.equal(b[0], (crop - mean) / std)


def test_the_configs_data_settings_per_input_size():
    for size, (image_size, heatmap_size, sigma) in {(256, 192): ((192, 256), (48, 64), 2),
                                                    (384, 288): ((288, 384), (72, 96), 3),
                                                    (448, 320): ((320, 448), (80, 112), 3)}.items():
        pipe = P.TopDownTrainPipeline.for_input_size(size)
        assert (pipe.image_size, pipe.heatmap_size, pipe.sigma) == (image_size, heatmap_size, sigma)
        assert (pipe.flip_prob, pipe.prob_half_body, pipe.num_joints_half_body) == (0.5, 0.3, 8)
        assert (pipe.scale_factor, pipe.rot_factor, pipe.rot_prob) == (0.5, 40, 0.6)
    small = P.TopDownEvalPipeline.for_input_size((128, 96))
    assert (small.image_size, small.heatmap_size, small.sigma) == ((96, 128), (24, 32), 2)
    with pytest.raises(UsageError, match="lower_body_ids"):
        P.TopDownTrainPipeline(lower_body_ids=(11, 12))


# -- loss ----------------------------------------------------------------------------------------------------------

def test_joints_mse_loss_equals_the_formula():
    g = torch.Generator().manual_seed(0)
    out, tgt = torch.rand(2, 3, 4, 5, generator=g), torch.rand(2, 3, 4, 5, generator=g)
    w = torch.tensor([[[1.0], [0.0], [2.0]], [[1.0], [1.0], [0.0]]])
    o, t, ww = out.double().numpy(), tgt.double().numpy(), w.double().numpy()
    per_joint = []
    for k in range(3):  # mean over batch and pixels of (w * pred - w * gt)^2, per joint
        per_joint.append(np.mean([(ww[b, k, 0] * o[b, k] - ww[b, k, 0] * t[b, k]) ** 2 for b in range(2)]))
    expect = sum(per_joint) / 3
    assert P.joints_mse_loss(out, tgt, w).item() == pytest.approx(expect, rel=1e-6)
    assert P.joints_mse_loss(out, tgt, w, loss_weight=0.5).item() == pytest.approx(expect / 2, rel=1e-6)
    assert P.joints_mse_loss(out, tgt, w, use_target_weight=False).item() == pytest.approx(((o - t) ** 2).mean(),
                                                                                         rel=1e-6)
    # a hand case: one joint off by 1 on one pixel of 4, weight 1 -> 1/4, averaged over 2 joints -> 1/8
    a, b = torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 2)
    a[0, 0, 0, 0] = 1
    assert P.joints_mse_loss(a, b, torch.ones(1, 2, 1)).item() == 0.125
    with pytest.raises(UsageError, match="target_weight"):
        P.joints_mse_loss(a, b, torch.ones(2, 1))


# -- the COCO reader -------------------------------------------------------------------------------------------------

def _kps(n):
    return sum(([10.0 + i, 20.0 + i, 2] for i in range(n)), []) + [0, 0, 0] * (17 - n)


def _coco(tmp_path, annotations, images=None, touch=True):
    images = images or [{"id": 1, "file_name": "a.png", "width": 100, "height": 80}]
    data = {"images": images, "annotations": [{"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                                               "area": 100.0, "keypoints": _kps(5), "num_keypoints": 5,
                                               "bbox": [10.0, 10.0, 40.0, 60.0], **a}
                                              for i, a in enumerate(annotations)],
            "categories": [{"id": 1, "name": "person"}]}
    path = tmp_path / "k.json"
    path.write_text(json.dumps(data))
    if touch:
        for img in images:
            (tmp_path / img["file_name"]).write_bytes(b"")
    return path


def test_reader_keeps_persons_as_mmpose(tmp_path):
    ann = _coco(tmp_path, [{"bbox": [-5.0, -3.0, 50.0, 120.0]},  # moved (not cut) to x 0..49, clipped to y 0..79
                           {"bbox": [10.0, 10.0, 2.0, 30.0]},  # x2 - x1 = 1 > 0: kept
                           {"bbox": [10.0, 10.0, 1.0, 30.0]},  # x2 = x1: dropped (strict)
                           {"area": 0.0}, {"iscrowd": 1}, {"keypoints": [0] * 51, "num_keypoints": 0},
                           {"num_keypoints": 0}, {"keypoints": [5, 6, 1] + [0] * 48, "num_keypoints": 1}])
    persons = P.read_coco_persons(ann, tmp_path, image_size=(192, 256))
    assert [p.ann_id for p in persons] == [1, 2, 8]
    np.testing.assert_array_equal(persons[0].bbox, [0, 0, 49, 79])
    c, s = box_to_center_scale([0, 0, 49, 79], (256, 192))
    np.testing.assert_array_equal(persons[0].center, c)
    np.testing.assert_array_equal(persons[0].scale, s)
    np.testing.assert_allclose(persons[0].scale * 200 / 1.25, [79 * 0.75, 79])
    p = persons[2]
    assert p.joints_3d.shape == p.joints_3d_visible.shape == (17, 3) and p.joints_3d.dtype == np.float32
    assert p.joints_3d[0].tolist() == [5, 6, 0] and p.joints_3d_visible[0].tolist() == [1, 1, 0]
    assert not p.joints_3d_visible[1:].any()
    assert [q.ann_id for q in P.read_coco_persons(ann, tmp_path, min_keypoints=5)] == [1, 2]
    # the training-set centre jitter: drawn once from the generator given, within 20 % of the box
    jittered = P.read_coco_persons(ann, tmp_path, center_jitter=FixedRng(uniform=[0.1, 1.0, 0.0, 0.9, 0.9]))
    np.testing.assert_allclose(jittered[0].center - persons[0].center, [0.2 * 49, -0.2 * 79], rtol=1e-5)
    np.testing.assert_array_equal(jittered[1].center, persons[1].center)


@pytest.mark.parametrize("content,message", [
    ("{not json", "not a JSON file"),
    ([], "not a COCO keypoint annotation file"),
    ({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"id": 1, "image_id": 1, "bbox": [0, 0, 5, 5]}]},
     "no annotation has \"keypoints\""),
    ({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"id": 9, "image_id": 1, "keypoints": [1] * 50}]},
     r"annotations entry 0 \(id 9\): \"keypoints\" must be 51 .* got 50 values"),
    ({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"id": 9, "image_id": 2, "keypoints": [1] * 51}]},
     r"annotations entry 0 \(id 9\): image_id 2 is not the id of an image"),
    ({"images": [{"id": 1}], "annotations": []}, "images entry 0 .* \"file_name\""),
])
def test_reader_errors_name_the_file_and_the_entry(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(AnnotationError, match=message) as e:
        P.read_coco_persons(path, tmp_path)
    assert str(path) in str(e.value)


def test_reader_error_for_a_missing_image(tmp_path):
    ann = _coco(tmp_path, [{}], touch=False)
    with pytest.raises(AnnotationError, match=r"images entry 0 \(id 1\): its image .*a\.png is not there") as e:
        P.read_coco_persons(ann, tmp_path)
    assert str(ann) in str(e.value)


# -- the dataset and the synthetic set -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return P.make_synthetic_pose(tmp_path_factory.mktemp("synthetic-pose"), n_train=6, n_val=8, seed=3)


def test_synthetic_set_is_coco_and_its_ground_truth_scores_ap_1(synthetic):
    from tubelet.tasks.pose import check_coco, evaluate_coco_keypoints, gt_person_boxes

    data = json.loads(synthetic.val_ann.read_text())
    check_coco(data, synthetic.val_ann)
    assert len(data["images"]) == len(data["annotations"]) == 8
    cat = data["categories"][0]
    assert cat["id"] == 1 and len(cat["keypoints"]) == 17 and [16, 14] in cat["skeleton"]
    for ann in data["annotations"]:
        v = np.array(ann["keypoints"]).reshape(17, 3)[:, 2]
        assert ann["num_keypoints"] == (v > 0).sum() > 0 and ann["area"] > 0 and ann["iscrowd"] == 0
        assert set(v.tolist()) <= {0, 1, 2}
    assert len(gt_person_boxes(data)) == 8
    results = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
               for a in data["annotations"]]
    assert evaluate_coco_keypoints(synthetic.val_ann, results)["AP"] == pytest.approx(1.0)
    # the same seed draws the same set
    img, ann = P.render_stick_figure(np.random.default_rng((3, 1, 0)), 128, 96)
    assert ann["keypoints"] == data["annotations"][0]["keypoints"]


def test_dataset_items_and_determinism(synthetic):
    ds = P.CocoKeypointsDataset(synthetic.train_ann, synthetic.train_images,
                                P.TopDownTrainPipeline.for_input_size((128, 96)), seed=1)
    assert len(ds) == 6
    x, target, weight, meta = ds[(2, 3)]
    assert x.shape == (3, 128, 96) and target.shape == (17, 32, 24) and weight.shape == (17, 1)
    assert torch.equal(ds[(2, 3)][0], x) and not torch.equal(ds[(3, 3)][0], x)  # (seed, epoch, index)
    assert (weight[:, 0] > 0).sum() > 0 and target.max() == 1
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    assert batch[0].shape == (2, 3, 128, 96) and batch[3]["center"].shape == (2, 2)
    # eval: no centre jitter, the crop of the box itself
    val = P.CocoKeypointsDataset(synthetic.val_ann, synthetic.val_images, P.TopDownEvalPipeline.for_input_size((128, 96)))
    box = val.samples[0].bbox
    np.testing.assert_array_equal(val.samples[0].center, box_to_center_scale(box, (128, 96))[0])


def test_dataset_skips_an_unreadable_image_only_when_asked(synthetic, tmp_path):
    import shutil

    images = tmp_path / "train"
    shutil.copytree(synthetic.train_images, images)
    (images / "000002.png").write_bytes(b"not a png")
    pipe = P.TopDownEvalPipeline.for_input_size((128, 96))
    strict = P.CocoKeypointsDataset(synthetic.train_ann, images, pipe)
    with pytest.raises(ImageReadError, match="000002.png"):
        strict[1]
    lenient = P.CocoKeypointsDataset(synthetic.train_ann, images, pipe, skip_bad=True)
    _, _, _, meta = lenient[1]
    assert meta["image_id"] == 3 and lenient.num_skipped == 1
    lenient[1]
    assert lenient.num_skipped == 1  # counted once
