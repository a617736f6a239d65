"""Top-down pose geometry (tubelet.keypoints): boxes -> center/scale as mmpose, the crop warp and its pixel
convention, the round trip image point -> crop -> heatmap -> decoded keypoint, flip_back, and estimate_poses end to
end with a small random-weight pose model. The decoding itself is checked against the official one in
tests/models/test_uniformer_pose_parity.py."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import tubelet
from tubelet import keypoints as kp
from tubelet.errors import UsageError

PARITY = Path(__file__).parent / "parity"


def _manifest(case):
    return json.loads((PARITY / case / "manifest.json").read_text())


def test_coco_metadata():
    assert len(kp.COCO_KEYPOINT_NAMES) == len(kp.COCO_SIGMAS) == 17
    for left, right in kp.COCO_FLIP_PAIRS:
        assert kp.COCO_KEYPOINT_NAMES[left].startswith("left_")
        assert kp.COCO_KEYPOINT_NAMES[right] == kp.COCO_KEYPOINT_NAMES[left].replace("left_", "right_")
    assert all(0 <= i < 17 for limb in kp.COCO_SKELETON for i in limb)


def test_box_to_center_scale_matches_the_fixture_recipe():
    m = _manifest("uniformer_pose_small_256x192__public")
    center, scale = kp.box_to_center_scale(m["boxes_xywh"], (256, 192))
    assert center.dtype == scale.dtype == np.float32
    np.testing.assert_array_equal(center, np.array(m["center"], dtype=np.float32))
    np.testing.assert_array_equal(scale, np.array(m["scale"], dtype=np.float32))
    # the base fixture's center follows from its box; its scale (0.75, 1.25) has aspect 0.6, not the 288/384 of
    # the input, so no box gives it through _xywh2cs (set directly in the fixture's img_metas)
    m = _manifest("uniformer_pose_base_384x288__public")
    center, _ = kp.box_to_center_scale(m["boxes_xywh"], (384, 288))
    np.testing.assert_array_equal(center, np.array(m["center"], dtype=np.float32))
    # one box, widened or heightened to the input aspect ratio, then padded x1.25
    c, s = kp.box_to_center_scale([10, 20, 300, 100], (256, 192))
    assert c.shape == s.shape == (2,)
    np.testing.assert_allclose(s * 200 / 1.25, [300, 400])
    c, s = kp.box_to_center_scale([0, 0, 30, 400], (256, 192))
    np.testing.assert_allclose(s * 200 / 1.25, [300, 400])
    np.testing.assert_allclose(c, [15, 200])


def _bilinear_reference(img: np.ndarray, m: np.ndarray, out_hw) -> np.ndarray:
    """Independent reference of cv2.warpAffine (INTER_LINEAR, BORDER_CONSTANT 0) in float64."""
    H, W = out_hw
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
    C, h, w = img.shape
    out = np.zeros((C, H, W))
    for v in range(H):
        for u in range(W):
            x, y = inv @ [u, v, 1]
            x0, y0 = int(np.floor(x)), int(np.floor(y))
            for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
                for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
                    if 0 <= xx < w and 0 <= yy < h:
                        out[:, v, u] += wy * wx * img[:, yy, xx]
    return out


def test_warp_affine_pixel_convention_and_border():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(3, 9, 11, generator=g) * 255
    assert torch.allclose(kp.warp_affine(img, [[1, 0, 0], [0, 1, 0]], (9, 11)), img, atol=1e-4)
    # an integer shift moves pixels exactly and fills with zeros (BORDER_CONSTANT 0)
    shifted = kp.warp_affine(img, [[1, 0, 2], [0, 1, -1]], (9, 11))
    assert torch.allclose(shifted[:, :8, 2:], img[:, 1:, :9], atol=1e-4)
    assert shifted[:, :, :2].abs().max() == 0 and shifted[:, 8:].abs().max() == 0
    # a rotated, scaled crop as in TopDownAffine vs a float64 reference of cv2's bilinear rule
    m = kp.get_affine_transform([5.3, 4.1], [0.04, 0.05], (12, 10), rotation=17.0)
    out = kp.warp_affine(img, m, (12, 10))
    np.testing.assert_allclose(out.numpy(), _bilinear_reference(img.double().numpy(), m, (12, 10)), atol=2e-3)
    # uint8 in, uint8 out (rounded), batched input
    u8 = img.round().to(torch.uint8)
    out8 = kp.warp_affine(u8[None].expand(2, -1, -1, -1), m, (12, 10))
    assert out8.dtype == torch.uint8 and out8.shape == (2, 3, 12, 10)
    assert (out8[0].float() - kp.warp_affine(u8.float(), m, (12, 10))).abs().max() <= 0.5 + 1e-4


def test_affine_transform_is_mmposes_similarity():
    center, scale = np.array([160.0, 150.0], np.float32), np.array([0.9375, 1.25], np.float32)
    m = kp.get_affine_transform(center, scale, (256, 192))
    np.testing.assert_allclose(m, [[192 / 187.5, 0, 96 - 160 * 192 / 187.5], [0, 192 / 187.5, 128 - 150 * 192 / 187.5]],
                               atol=1e-9)
    inv = kp.get_affine_transform(center, scale, (256, 192), inv=True)
    np.testing.assert_allclose(np.vstack([m, [0, 0, 1]]) @ np.vstack([inv, [0, 0, 1]]), np.eye(3), atol=1e-9)


def test_image_point_crop_heatmap_decode_round_trip():
    """A dot at a known image point shows up where the affine map puts it in the crop; its heatmap position
    (crop / 4) decodes back to the image point within a pixel."""
    H_in, W_in = 256, 192
    point = np.array([57.0, 43.0])
    box = [40.0, 20.0, 38.4, 51.2]  # padded: 48 x 64 image px, i.e. one heatmap pixel per image pixel
    center, scale = kp.box_to_center_scale(box, (H_in, W_in))
    np.testing.assert_allclose(scale * 200, [48, 64], rtol=1e-6)
    image = np.zeros((100, 120, 3), np.uint8)
    image[int(point[1]), int(point[0])] = 255
    crop = kp.crop_person(image, center, scale, (H_in, W_in))
    assert crop.shape == (3, H_in, W_in) and crop.dtype == torch.uint8
    m = kp.get_affine_transform(center, scale, (H_in, W_in))
    q = m @ [*point, 1.0]  # crop coordinates of the dot
    ys, xs = np.nonzero(crop[0].numpy() == crop[0].max().item())
    assert np.abs(np.array([xs.mean(), ys.mean()]) - q).max() <= 1.0
    # transform_preds inverts the crop map exactly (heatmap = crop / 4)
    back = kp.transform_preds(torch.tensor(q / 4, dtype=torch.float32).view(1, 1, 2), center[None], scale[None],
                              (H_in // 4, W_in // 4))
    np.testing.assert_allclose(back.view(2).numpy(), point, atol=1e-3)
    # a Gaussian heatmap peak at the dot decodes back within a pixel
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(48.0), indexing="ij")
    heat = torch.exp(-((xx - q[0] / 4) ** 2 + (yy - q[1] / 4) ** 2) / (2 * 2.0 ** 2))[None, None].repeat(1, 17, 1, 1)
    keypoints, maxvals = kp.decode_heatmaps(heat, center[None], scale[None])
    assert keypoints.shape == (1, 17, 2) and maxvals.shape == (1, 17, 1)
    assert (keypoints[0] - torch.tensor(point, dtype=torch.float32)).abs().max() <= 1.0


def test_flip_back_swaps_pairs_and_is_an_involution():
    g = torch.Generator().manual_seed(1)
    h = torch.rand(2, 17, 8, 6, generator=g)
    assert torch.equal(kp.flip_back(kp.flip_back(h)), h)
    one = torch.zeros(1, 17, 8, 6)
    one[0, 1, 3, 1] = 1  # left eye at x = 1
    out = kp.flip_back(one)
    assert out[0, 2, 3, 6 - 1 - 1] == 1 and out.sum() == 1  # right eye, mirrored
    assert np.array_equal(kp.flip_back(h.numpy()), kp.flip_back(h).numpy())


def test_decode_rejects_unsupported_post_processing():
    with pytest.raises(UsageError, match="unbiased"):
        kp.decode_heatmaps(torch.zeros(1, 17, 8, 6), [[0, 0]], [[1, 1]], post_process="unbiased")
    with pytest.raises(UsageError, match="center"):
        kp.decode_heatmaps(torch.zeros(2, 17, 8, 6), [[0, 0]], [[1, 1]])


def _tiny_pose_model():
    torch.manual_seed(0)
    return tubelet.create_model("uniformer_small_pose", depth=(1, 1, 1, 1), embed_dim=(16, 32, 32, 64), head_dim=32,
                                num_deconv_filters=(16, 16, 16))


def test_estimate_poses_end_to_end():
    model = _tiny_pose_model()
    assert model.training and model.pretrained_cfg.input_size == (3, 256, 192)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    boxes = np.array([[10, 20, 40, 80], [90, 5, 60, 50], [150, 100, 30, 40]], np.float32)  # the last one crosses
    people = kp.estimate_poses(model, image, boxes)
    assert model.training  # the caller's mode is restored
    assert len(people) == 3
    for person, box in zip(people, boxes):
        assert person.keypoints.shape == (17, 2) and person.scores.shape == (17,)
        assert person.keypoints.dtype == person.scores.dtype == np.float32
        np.testing.assert_array_equal(person.box, box)
        # keypoints lie in the padded crop around the box
        half = person.scale * 200 / 2
        assert (person.keypoints >= person.center - half - 1e-3).all()
        assert (person.keypoints <= person.center + half + 1e-3).all()
        assert set(person.to_dict()) == {"keypoints", "scores", "box", "center", "scale"}
    # the same as the pipeline written out: crop, 0-1, normalise, predict_keypoints with the flip test
    center, scale = kp.box_to_center_scale(boxes, (256, 192))
    crops = torch.stack([kp.crop_person(image, center[i], scale[i], (256, 192)) for i in range(3)]).float() / 255
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (model.pretrained_cfg.mean, model.pretrained_cfg.std))
    model.eval()
    keypoints, maxvals = model.predict_keypoints((crops - mean) / std, center=center, scale=scale)
    np.testing.assert_allclose(np.stack([p.keypoints for p in people]), keypoints.numpy(), atol=1e-4)
    np.testing.assert_allclose(np.stack([p.scores for p in people]), maxvals[..., 0].numpy(), atol=1e-6)
    # a PIL image gives the same; no boxes, no people
    from PIL import Image
    again = kp.estimate_poses(model, Image.fromarray(image), boxes[:1], flip_test=False)
    assert again[0].keypoints.shape == (17, 2)
    assert kp.estimate_poses(model, image, np.zeros((0, 4))) == []
    with pytest.raises(UsageError, match="w > 0"):
        kp.estimate_poses(model, image, [[0, 0, 0, 10]])
