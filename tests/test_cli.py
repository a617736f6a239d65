"""The `tubelet` command, called through main(argv) as the console script does."""
import numpy as np
import torch

import tubelet
from tubelet.cli import main, model_table
from tubelet.data import synthetic_clip


def test_models(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in tubelet.list_models():
        assert name in out
    assert "21,400,400" in out
    assert main(["models", "uniformer_*_2d", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| model |") and "uniformer_small " not in out.replace("uniformer_small_", "")
    assert main(["models", "zzz*"]) == 2


def test_predict_on_a_synthetic_clip(capsys):
    assert main(["predict", "--model", "uniformer_small", "--set", "depth=[1,1,1,1]", "--set", "num_frames=4",
                 "--top-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "synthetic clip" in out and "(1, 3, 4, 224, 224)" in out and "random" in out
    assert len([line for line in out.splitlines() if line.startswith("  ")]) == 3


def test_predict_a_video_with_a_checkpoint(tmp_path, capsys):
    from tests.data.test_data import write_video
    video = tmp_path / "clip.mp4"
    write_video(video, synthetic_clip(num_frames=12, height=64, width=80))
    torch.manual_seed(0)
    model = tubelet.create_model("uniformer_small", depth=[1, 1, 1, 1], num_frames=4)
    ckpt = tmp_path / "m.safetensors"
    tubelet.save_model(model, ckpt)
    assert main(["predict", str(video), "--model", "uniformer_small", "--checkpoint", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "clip.mp4" in out and "random" not in out
    names = [line.split(None, 2)[2] for line in out.splitlines() if line.startswith("  ")]
    assert len(names) == 5 and all(not n.startswith("class ") for n in names)  # Kinetics names


def test_convert(tmp_path, capsys):
    torch.manual_seed(0)
    sd = tubelet.create_model("uniformer_small_2d").state_dict()
    src = tmp_path / "deit.pth"
    torch.save({"model": sd}, src)
    out = tmp_path / "out.safetensors"
    assert main(["convert", str(src), "--model", "uniformer_small_2d", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    again = tubelet.create_model(checkpoint_path=out)
    assert all(torch.equal(again.state_dict()[k], v) for k, v in sd.items())


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["predict", "--model", "uniformer_small", "--checkpoint", str(tmp_path / "x.pth")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tubelet predict: error:") and "x.pth: no such checkpoint file" in err
    assert main(["predict", str(tmp_path / "v.mp4"), "--model", "uniformer_small_2d"]) == 2
    assert "v.mp4: no such file or folder" in capsys.readouterr().err
    assert main(["predict", "--model", "uniformer_small", "--set", "depth"]) == 2
    assert "key=value" in capsys.readouterr().err


def test_model_table_matches_params():
    table = model_table("uniformer_small")
    assert "21,400,400" in table and np.all([len(line) > 0 for line in table.splitlines()])


def test_data_synthetic(tmp_path, capsys):
    assert main(["data", "synthetic", str(tmp_path / "syn"), "--train", "3", "--val", "2", "--frames", "4",
                 "--height", "32", "--width", "48"]) == 0
    assert "wrote 3 train + 2 val clips" in capsys.readouterr().out
    assert len((tmp_path / "syn" / "train.txt").read_text().splitlines()) == 3
    assert main(["data", "synthetic", str(tmp_path / "odd"), "--height", "33"]) == 2
    assert "even frame sizes" in capsys.readouterr().err
