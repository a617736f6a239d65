"""The light and dense-prediction models in the rest of tubelet: each command takes the models of its task and names
the right command for the others; the recipes refuse non-classifiers; the model and released-weights tables say what
each variant outputs and what its weights scored."""
from pathlib import Path

import pytest
import torch

import tubelet
from tubelet.cli import main, model_table, pretrained_table
from tubelet.config import load_config
from tubelet.errors import ConfigError, UsageError
from tubelet.models._pretrained import get_weights
from tubelet.models._registry import check_task, get_task

EXAMPLES = Path(__file__).resolve().parent.parent / "configs" / "examples"


def test_every_variant_has_a_task():
    tasks = {name: get_task(name) for name in tubelet.list_models()}
    assert {n for n, t in tasks.items() if t == "segmentation"} == set(tubelet.list_models("*_fpn")) | set(
        tubelet.list_models("*_upernet"))
    assert {n for n, t in tasks.items() if t == "pose"} == {"uniformer_small_pose", "uniformer_base_pose"}
    assert {n for n, t in tasks.items() if t == "backbone"} == set(tubelet.list_models("*_dense"))
    assert tasks["uniformer_xxs"] == tasks["uniformer_xs_2d"] == tasks["swin3d_tiny"] == "classification"


def test_check_task_names_the_right_command():
    check_task("uniformer_small_upernet", "segmentation", "tubelet segment")  # fits: nothing raised
    with pytest.raises(UsageError, match=r"uniformer_small_fpn is a semantic segmentation model, not a classifier, "
                                         r"so `tubelet predict` cannot use it \(for uniformer_small_fpn: tubelet segment\)"):
        check_task("uniformer_small_fpn", "classification", "tubelet predict")
    with pytest.raises(UsageError, match="uniformer_xs is a classifier, not a pose .*tubelet predict"):
        check_task("uniformer_xs", "pose", "tubelet pose")


@pytest.mark.parametrize("argv,message", [
    (["predict", "--model", "uniformer_small_fpn"], "is a semantic segmentation model, not a classifier"),
    (["predict", "--model", "uniformer_base_dense.coco_mask_rcnn_1x_h14"], "is a dense-prediction backbone"),
    (["predict", "--model", "uniformer_small_pose"], "(for uniformer_small_pose: tubelet pose)"),
    (["segment", "x.jpg", "--model", "uniformer_xxs"], "uniformer_xxs is a classifier, not a semantic segmentation"),
    (["pose", "x.jpg", "--model", "uniformer_base_upernet"], "(for uniformer_base_upernet: tubelet segment)"),
])
def test_commands_refuse_models_of_another_task(argv, message, capsys, tmp_path, monkeypatch):
    from PIL import Image
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (64, 48)).save("x.jpg")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"tubelet {argv[0]}: error: " in err and message in err


def test_recipes_take_dense_models_with_their_own_data_formats():
    """A segmentation model trains from segmentation data (configs/dense): a video recipe's data format is refused
    by name; a detector (not trainable yet) is refused as what it is."""
    with pytest.raises(ConfigError, match=r"data.format: 'folders' is not a segmentation format; "
                                          r"uniformer_small_upernet takes 'ade20k', 'synthetic'"):
        load_config(EXAMPLES / "class_folders.yaml", ["model.name=uniformer_small_upernet"])
    with pytest.raises(ConfigError, match=r"uniformer_small_maskrcnn is an object detector"):
        load_config(EXAMPLES / "class_folders.yaml", ["model.name=uniformer_small_maskrcnn"])
    assert load_config(EXAMPLES / "class_folders.yaml", ["model.name=uniformer_xxs"]).model.name == "uniformer_xxs"


def test_model_table_says_what_each_variant_outputs():
    rows = {line.split()[0]: line for line in model_table("uniformer_*").splitlines()[1:]}
    assert "150 classes per pixel" in rows["uniformer_xs_fpn"] and "image 512x512" in rows["uniformer_xs_fpn"]
    assert "17 keypoint heatmaps" in rows["uniformer_small_pose"] and "image 256x192" in rows["uniformer_small_pose"]
    assert "4 feature maps" in rows["uniformer_base_dense"] and "400 classes" in rows["uniformer_xxs"]
    assert "9,833,896" in rows["uniformer_xxs"]


def test_released_dense_weights_carry_their_published_results():
    table = pretrained_table("uniformer_*_upernet*", local=False)
    assert "uniformer_small_upernet.ade20k_upernet_160k_g *" in table and "mIoU 47.6" in table
    pose = get_weights("uniformer_base_pose", "coco_topdown_384x288")
    assert pose.create_options() == {"img_size": [384, 288]} and pose.result == "AP 76.7"
    cfg = pose.cfg()
    assert tuple(cfg.input_size) == (3, 384, 288) and cfg.label_names == "coco_keypoints"
    assert "AP 76.7" in cfg.notes
    det = get_weights("uniformer_small_dense", "coco_mask_rcnn_3x_ms_h14")
    assert det.result == "box AP 48.2, mask AP 43.4" and det.availability == "download" and det.sha256
    assert det.create_options() == {"hybrid": True, "window_size": 14}
    light = get_weights("uniformer_xxs", "k400_4x160")
    assert light.create_options() == {"layer_scale": True, "num_frames": 4}
    with torch.device("meta"):
        model = tubelet.create_model("uniformer_xxs.k400_4x160")
    assert model.model_args["layer_scale"] and tuple(model.pretrained_cfg.input_size) == (3, 4, 160, 160)
    assert model.pretrained_cfg.sampler == "segment"


def test_image_weights_initialise_the_dense_models_by_tag():
    assert get_weights("uniformer_small_upernet", "in1k").name == "uniformer_small_2d.in1k"
    assert get_weights("uniformer_base_pose", "in1k").name == "uniformer_base_2d.in1k"
    assert get_weights("uniformer_xs_fpn", "in1k_224").name == "uniformer_xs_2d.in1k_224"
    assert get_weights("uniformer_xxs", "in1k_128").name == "uniformer_xxs_2d.in1k_128"


def test_ctrl_c_is_one_line_and_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    """Ctrl-C in any command: exit 130 with one line; outputs are written whole (temporary + rename) or not at all."""
    from PIL import Image

    from tubelet.tasks import segmentation

    for name in ("a.jpg", "b.jpg"):
        Image.new("RGB", (64, 48), (200, 30, 30)).save(tmp_path / name)
    real = segmentation.SegmentationResult.save
    calls = []

    def save_then_stop(self, folder, stem, alpha=0.5):
        calls.append(stem)
        if len(calls) == 2:  # the second image: interrupted while its files are being written
            import tubelet.atomic as atomic
            monkeypatch.setattr(atomic.os, "replace", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
        return real(self, folder, stem, alpha)

    monkeypatch.setattr(segmentation.SegmentationResult, "save", save_then_stop)
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg"), "--model", "uniformer_xxs_fpn",
                 "--out", str(out)]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == "tubelet segment: interrupted"
    assert sorted(p.name for p in out.iterdir()) == ["a_labels.png", "a_mask.png", "a_overlay.png"]
