"""Tiny runs of the real training code: a narrowed UniFormer / Video Swin on a few synthetic clips."""
import pytest

from tubelet.config import load_config


def tiny_config(root, out=None, **sections):
    """A config that trains in seconds on CPU; ``sections`` are nested overrides, e.g. optim={"epochs": 3}."""
    values = {
        "model": {"name": "uniformer_small",
                  "options": {"depth": [1, 1, 1, 1], "embed_dim": [16, 32, 64, 128], "head_dim": 16}},
        "data": {"format": "synthetic", "root": str(root), "num_frames": 4, "sampler": "segment", "crop_size": 32,
                 "short_side": None, "scale": [0.7, 1.0], "flip": False, "batch_size": 4, "num_workers": 0,
                 "test_clips": 1, "test_crops": 1,
                 "synthetic": {"num_train": 16, "num_val": 10, "num_frames": 8, "height": 32, "width": 40}},
        "optim": {"lr": 1e-3, "epochs": 2, "warmup_epochs": 0.5},
        "train": {"log_every": 1, "progress": False},
    }
    for section, changes in sections.items():
        if isinstance(changes, dict):
            for k, v in changes.items():
                if k == "synthetic":
                    values[section][k].update(v)
                else:
                    values.setdefault(section, {})[k] = v
        else:
            values[section] = changes
    return load_config(None, values)


TINY_SWIN = {"name": "swin3d_tiny", "options": {"embed_dim": 16, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 2, 2],
                                                 "window_size": [2, 4, 4], "patch_size": [2, 4, 4],
                                                 "drop_path_rate": 0.0, "dropout_ratio": 0.0}}


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """One tiny synthetic dataset shared by the engine tests (written on first use)."""
    return tmp_path_factory.mktemp("synthetic")
