"""``tubelet train RECIPE --dry-run`` fails exactly where the real run would fail at its start: no false alarm from
the reduced step's small clips (BatchNorm), no false pass on a missing checkpoint; skipping the weights is explicit."""
import pytest
import torch

import tubelet
from tubelet.cli import main
from tubelet.config import ConfigError, save_config
from tubelet.engine.dry_run import check_shapes, dry_run
from tubelet.errors import CheckpointError

from .conftest import tiny_config

#: the recipe model's step, narrowed (as tests/test_configs.py runs the shipped recipes)
STEP = {"depth": [1, 1, 1, 1], "embed_dim": [16, 32, 64, 128], "head_dim": 16}


def _cfg(tmp_path, model=None, **data):
    """The tiny recipe with 10 classes given (the dry run then reads no dataset file) and ``data`` changes."""
    return tiny_config(tmp_path / "syn", model={"num_classes": 10, **(model or {})}, data=data)


def _first_step_fails(cfg, batch: int) -> bool:
    """Whether the real run's first step (a batch of full clips through the model in training mode) fails in
    BatchNorm: the same model on the meta device (shapes and BatchNorm's batch check, no compute)."""
    with torch.device("meta"):
        model = tubelet.create_model(cfg.model.name, num_classes=10, **cfg.model.options)
        try:
            model(torch.empty(batch, 3, cfg.data.num_frames, cfg.data.crop_size, cfg.data.crop_size))
        except ValueError as e:
            assert "Expected more than 1 value per channel" in str(e)
            return True
    return False


def test_no_batchnorm_false_alarm(tmp_path):
    """32 px clips of 4 frames at batch 4 train fine; the step's 2-frame clips at batch 1 ended in 1x1x1 maps, where
    BatchNorm refused one value per channel: the dry run failed on a recipe that trains."""
    cfg = _cfg(tmp_path, num_frames=4, crop_size=32, batch_size=4)
    assert not _first_step_fails(cfg, 4)
    result = dry_run(cfg)
    assert result["finite"] and result["step_clip"][0] == 2 and result["batch"] == 4


def test_a_batch_too_small_for_batchnorm_fails_as_the_real_run(tmp_path):
    """At batch 1 the recipe's own clips (2 frames, 32 px) end in one value per channel: the real run fails in its
    first step, so the dry run fails too (before any real work), naming the key."""
    cfg = _cfg(tmp_path, num_frames=2, crop_size=32, batch_size=1)
    assert _first_step_fails(cfg, 1)
    with pytest.raises(ConfigError, match="data.batch_size"):
        check_shapes(cfg)
    with pytest.raises(ConfigError, match="data.batch_size"):
        dry_run(cfg)
    # the recipe's batch counts, not the step's: batch 2 x 1 sample works, batch 1 x 2 samples (repeated
    # augmentation) too
    assert check_shapes(_cfg(tmp_path, num_frames=2, crop_size=32, batch_size=2))
    assert check_shapes(_cfg(tmp_path, num_frames=2, crop_size=32, batch_size=1, num_samples=2))["batch"] == 2


def test_missing_checkpoint_fails_naming_the_file(tmp_path):
    missing = tmp_path / "checkpoints" / "uniformer_small_in1k.pth"
    cfg = _cfg(tmp_path, {"checkpoint": str(missing)}, crop_size=64)
    with pytest.raises(CheckpointError, match="uniformer_small_in1k.pth: no such file"):
        dry_run(cfg)
    with pytest.raises(CheckpointError, match="uniformer_small_in1k.pth"):  # with a reduced step model too
        dry_run(cfg, step_options=STEP)


def test_skipping_the_weights_is_explicit_and_reported(tmp_path):
    missing = tmp_path / "checkpoints" / "uniformer_small_in1k.pth"
    cfg = _cfg(tmp_path, {"checkpoint": str(missing)}, crop_size=64)
    result = dry_run(cfg, check_weights=False, step_options=STEP)
    assert result["finite"] and not result["checkpoint_loaded"]
    assert result["weights"].startswith("not checked") and "check_weights=False" in result["weights"]
    no_checkpoint = dry_run(_cfg(tmp_path, crop_size=64), step_options=STEP)
    assert not no_checkpoint["checkpoint_loaded"] and no_checkpoint["weights"].startswith("none")


def test_an_existing_checkpoint_is_loaded_and_a_wrong_one_fails(tmp_path):
    options = tiny_config(tmp_path / "syn").model.options
    good, wrong = tmp_path / "good.safetensors", tmp_path / "wrong.safetensors"
    tubelet.save_model(tubelet.create_model("uniformer_small", num_classes=10, **options), good)
    tubelet.save_model(tubelet.create_model("uniformer_small", num_classes=10, **{**options, "head_dim": 32,
                                                                                  "embed_dim": [32, 64, 128, 256]}),
                       wrong)
    cfg = _cfg(tmp_path, {"checkpoint": str(good)}, crop_size=64)
    result = dry_run(cfg)
    assert result["checkpoint_loaded"] and result["weights"] == f"loaded from {good}"
    reduced = dry_run(cfg, step_options=STEP)  # loaded into the recipe's model, then the small step model steps
    assert reduced["checkpoint_loaded"] and "recipe's model" in reduced["weights"]
    bad = _cfg(tmp_path, {"checkpoint": str(wrong)}, crop_size=64)
    with pytest.raises(CheckpointError, match="wrong.safetensors"):
        dry_run(bad)


def test_command_line_dry_run_stops_on_a_missing_checkpoint(tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    missing = tmp_path / "checkpoints" / "k710_uniformerv2_b16_8x224.pyth"
    save_config(_cfg(tmp_path, {"checkpoint": str(missing)}, crop_size=64), recipe)
    assert main(["train", str(recipe), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tubelet train: error: model.checkpoint:") and str(missing) in err
