"""The detector variants as a user meets them: the released mmcv runner layout loads strictly (with or without the
optimizer / apex state), a file of another kind is refused with a message that names it, a backbone-only file
initialises the backbone, the released-weights entries share their cache file with the backbone entries, the
interface checks its input, and export refuses a detector with the reason. (Exactness: test_detection_parity.py;
the box operations: test_detection_ops.py.)"""
import pytest
import torch

import tubelet
from tubelet.models import get_weights
from tubelet.models.detection import multiclass_nms, paste_masks
from tubelet.models.uniformer_det import UniFormerDetector


@pytest.fixture(scope="module")
def xxs():
    torch.manual_seed(0)
    return tubelet.create_model("uniformer_xxs_maskrcnn", rpn_max_per_img=64).eval()


@pytest.fixture(scope="module")
def released(xxs, tmp_path_factory):
    """The released layout: ``{"meta", "state_dict", "optimizer", "amp"}`` with mmdet's keys."""
    path = tmp_path_factory.mktemp("det") / "mask_rcnn_1x_xxs.pth"
    torch.save({"meta": {"mmdet_version": "2.11.0", "CLASSES": ["person"] * 80, "epoch": 12},
                "state_dict": xxs.state_dict(), "optimizer": {"state": {}, "param_groups": []},
                "amp": {"loss_scaler0": {"loss_scale": 512.0}}}, path)
    return path


def test_released_layout_loads_strictly_and_detects_the_same(xxs, released):
    model = tubelet.create_model("uniformer_xxs_maskrcnn", checkpoint_path=released, rpn_max_per_img=64).eval()
    report = model.load_report
    assert report.dropped == [] and report.new == [] and "mmdet two-stage detector" in str(report)
    x = torch.randn(1, 3, 96, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = xxs.detect(x, img_shape=(90, 120), ori_shape=(60, 80)), model.detect(x, img_shape=(90, 120),
                                                                                   ori_shape=(60, 80))
    assert torch.equal(a["proposals"], b["proposals"]) and torch.equal(a["boxes"], b["boxes"])
    assert b["masks"].shape[1:] == (60, 80)
    # the file names its architecture only by its keys: without a name it is refused with the reason
    with pytest.raises(tubelet.CheckpointError, match="pass the model name"):
        tubelet.create_model(None, checkpoint_path=released)


def test_a_file_of_another_kind_is_refused_by_name(xxs, tmp_path):
    sd = xxs.state_dict()
    cascade = {k.replace("roi_head.bbox_head.", "roi_head.bbox_head.0."): v for k, v in sd.items()}
    path = tmp_path / "cascade.pth"
    torch.save({"meta": {}, "state_dict": cascade}, path)
    with pytest.raises(tubelet.CheckpointError, match=r"holds a Cascade Mask R-CNN.*use uniformer_xxs_cascade"):
        tubelet.create_model("uniformer_xxs_maskrcnn", checkpoint_path=path)
    light = tmp_path / "light.pth"
    torch.save({"meta": {}, "state_dict": sd}, light)
    with pytest.raises(tubelet.CheckpointError, match=r"light.pth: holds a light \(XXS/XS\) UniFormer backbone"):
        tubelet.create_model("uniformer_small_maskrcnn", checkpoint_path=light)
    with pytest.raises(tubelet.CheckpointError, match="Mask R-CNN"):  # a standard one into a cascade variant
        tubelet.create_model("uniformer_small_cascade_maskrcnn", checkpoint_path=light)
    broken = {k: v for k, v in sd.items() if not k.startswith("roi_head.mask_head.")}
    path = tmp_path / "faster.pth"
    torch.save({"meta": {}, "state_dict": broken}, path)
    with pytest.raises(tubelet.CheckpointError, match="faster.pth: a detector without mask heads"):
        tubelet.create_model("uniformer_xxs_maskrcnn", checkpoint_path=path)


def test_other_classes_need_a_new_classifier(xxs, released):
    with pytest.raises(tubelet.CheckpointError, match="80 classes but num_classes=3"):
        tubelet.create_model("uniformer_xxs_maskrcnn", checkpoint_path=released, num_classes=3)
    model = tubelet.create_model("uniformer_xxs_maskrcnn", checkpoint_path=released, num_classes=3, drop_head=True)
    assert model.num_classes == 3 and model.roi_head.bbox_head.fc_reg.out_features == 12
    assert set(model.load_report.dropped) == {f"roi_head.{p}.{w}" for p in ("bbox_head.fc_cls", "bbox_head.fc_reg",
                                                                              "mask_head.conv_logits")
                                              for w in ("weight", "bias")}
    assert torch.equal(model.backbone.patch_embed1.proj[0].weight, xxs.backbone.patch_embed1.proj[0].weight)


def test_a_backbone_file_initialises_the_backbone(xxs, tmp_path):
    backbone = {f"backbone.{k}": v for k, v in xxs.backbone.state_dict().items()}
    path = tmp_path / "backbone.pth"
    torch.save({"state_dict": backbone}, path)
    model = tubelet.create_model("uniformer_xxs_maskrcnn", checkpoint_path=path)
    assert "neck, rpn_head and roi_head start from their initialisation" in str(model.load_report)
    assert all(torch.equal(a, b) for a, b in zip(model.backbone.state_dict().values(),
                                                  xxs.backbone.state_dict().values()))


def test_released_weights_share_the_backbone_entries_file():
    for det, backbone in ((("uniformer_xxs_maskrcnn", "coco_1x"), ("uniformer_xxs_dense", "coco_mask_rcnn_1x")),
                          (("uniformer_small_maskrcnn", "coco_3x_ms_h14"),
                           ("uniformer_small_dense", "coco_mask_rcnn_3x_ms_h14")),
                          (("uniformer_base_cascade_maskrcnn", "coco_3x_ms_h14"),
                           ("uniformer_base_dense", "coco_cascade_mask_rcnn_3x_ms_h14"))):
        w, b = get_weights(*det), get_weights(*backbone)
        assert w.local_name == b.local_name and w.metrics == b.metrics and w.num_classes == 80
    names = tubelet.list_pretrained("*maskrcnn.*")
    assert len(names) == 8
    assert get_weights("uniformer_small_maskrcnn").tag == "coco_3x_ms_h14"  # the default: the downloadable copy
    assert get_weights("uniformer_small_maskrcnn").availability == "download"


def test_detect_checks_its_input(xxs):
    with pytest.raises(tubelet.UsageError, match="padded to multiples of 32"):
        xxs.detect(torch.zeros(1, 3, 100, 128))
    with pytest.raises(tubelet.UsageError, match="one image"):
        xxs.detect(torch.zeros(2, 3, 96, 128))
    with pytest.raises(tubelet.UsageError, match="does not fit"):
        xxs.detect(torch.zeros(1, 3, 96, 128), img_shape=(100, 128))
    with pytest.raises(tubelet.UsageError, match="classes are fixed"):
        xxs.reset_classifier(3)


def test_nothing_above_the_threshold_gives_empty_results(xxs):
    out = xxs.detect(torch.zeros(1, 3, 64, 64), ori_shape=(32, 32))  # a random detector: nothing above 0.05
    assert out["boxes"].shape == (0, 4) and out["masks"].shape == (0, 32, 32) and out["labels"].dtype == torch.int64


def test_multiclass_nms_by_hand():
    boxes = torch.tensor([[0, 0, 10, 10, 0, 0, 10, 10], [1, 1, 11, 11, 20, 20, 30, 30], [50, 50, 60, 60] * 2])
    scores = torch.tensor([[0.9, 0.01, 0.09], [0.8, 0.7, 0.0], [0.04, 0.3, 0.66]])  # 2 classes + background
    dets, labels = multiclass_nms(boxes.float(), scores, 0.05, 0.5)
    # class 0: box 0 (0.9) suppresses box 1 (IoU 0.68); box 2 scores 0.04 < 0.05. class 1: boxes 1 (0.7), 2 (0.3)
    assert labels.tolist() == [0, 1, 1]
    assert dets[:, 4].tolist() == pytest.approx([0.9, 0.7, 0.3])
    assert dets[1, :4].tolist() == [20, 20, 30, 30]
    assert multiclass_nms(boxes.float(), scores, 0.05, 0.5, max_num=1)[1].tolist() == [0]


def test_paste_masks_follows_the_box():
    probs = torch.ones(2, 28, 28)
    masks = paste_masks(probs, torch.tensor([[2.0, 3.0, 12.0, 9.0], [5.0, 5.0, 5.0, 5.0]]), 16, 20)
    # a full-probability map fills its box's pixels (centres inside the box) and nothing else
    expect = torch.zeros(16, 20, dtype=torch.bool)
    expect[3:9, 2:12] = True
    assert torch.equal(masks[0], expect)
    # an empty box, as mmdet pastes it: its 2x2 region samples the map's centre (inf coordinates become 0)
    assert masks[1].nonzero().tolist() == [[4, 4], [4, 5], [5, 4], [5, 5]]


def test_export_refuses_a_detector_with_the_reason(tmp_path):
    from tubelet.export import export_model
    with torch.device("meta"):
        model = tubelet.create_model("uniformer_small_maskrcnn")
    assert isinstance(model, UniFormerDetector)
    with pytest.raises(tubelet.UsageError, match="data-dependent.*backbone exports"):
        export_model(model, tmp_path / "det.onnx", (3, 800, 1344))
