"""Problems a user causes raise a TubeletError subclass naming the file, key or value (and keep their old built-in
base, so ``except ValueError`` / ``except ImportError`` code still works); the CLI side is in test_cli.py."""
import json
import sys

import pytest
import torch

from tubelet.errors import (AnnotationError, CheckpointError, ConfigError, DependencyError, TubeletError, UsageError,
                            VideoDecodeError)


def test_annotation_files_that_cannot_be_read_name_the_file(tmp_path):
    from tubelet.data import read_class_folders, read_kinetics_csv, read_list_file, read_ssv2

    missing = tmp_path / "missing.txt"
    with pytest.raises(AnnotationError, match=f"{missing}: no such annotation file"):
        read_list_file(missing)
    with pytest.raises(AnnotationError, match=f"{tmp_path}: cannot read the annotation file"):
        read_list_file(tmp_path)  # a folder
    binary = tmp_path / "list.txt"
    binary.write_bytes(b"\xff\xfe\x00 video.mp4 1\n")
    with pytest.raises(AnnotationError, match=f"{binary}: not a UTF-8 text file"):
        read_list_file(binary)
    with pytest.raises(AnnotationError, match="no such annotation file"):
        read_kinetics_csv(missing, tmp_path, ["a"])
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"Holding something": "0"}))
    with pytest.raises(AnnotationError, match=f"{missing}: no such annotation file"):
        read_ssv2(labels, missing, tmp_path)
    split = tmp_path / "validation.json"
    split.write_text("[]")
    with pytest.raises(AnnotationError, match=f"{split}: no samples"):
        read_ssv2(labels, split, tmp_path)
    with pytest.raises(AnnotationError, match=f"{tmp_path / 'nope'}: no such folder"):
        read_class_folders(tmp_path / "nope")
    (tmp_path / "classes" / "a").mkdir(parents=True)
    with pytest.raises(AnnotationError, match="no video files"):
        read_class_folders(tmp_path / "classes")
    # the old built-in base still catches them
    with pytest.raises(ValueError):
        read_list_file(missing)


def test_csv_and_list_files_read_as_before(tmp_path):
    from tubelet.data import read_kinetics_csv, read_list_file

    lst = tmp_path / "list.txt"
    lst.write_bytes(b"a.mp4 1\r\n\r\nb c.mp4 2\n")
    assert read_list_file(lst, "/r") == [("/r/a.mp4", 1), ("/r/b c.mp4", 2)]
    bad = tmp_path / "bad.txt"
    bad.write_text("a.mp4 1\nb.mp4 x\n")
    with pytest.raises(AnnotationError, match=f"{bad}:2: expected 'PATH LABEL'"):
        read_list_file(bad)
    csv = tmp_path / "k.csv"
    csv.write_text('label,youtube_id,time_start,time_end,split\n"a, b",abc,1,11,val\r\n')
    assert read_kinetics_csv(csv, "/k", ["a, b"]) == [("/k/a, b/abc_000001_000011.mp4", 0)]


def test_config_files_and_values(tmp_path):
    from tubelet.config import load_config

    with pytest.raises(ConfigError, match=f"{tmp_path / 'none.yaml'}: no such config file"):
        load_config(tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match=f"{tmp_path}: not a regular file"):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match="--set data.rand_augment=m9-n2: RandAugment policy must start with .rand."):
        load_config(None, ["data.rand_augment=m9-n2"])
    assert load_config(None, ["data.rand_augment=rand-m9-n2-mstd0.5"]).data.rand_augment == "rand-m9-n2-mstd0.5"


def test_hostile_config_files(tmp_path):
    """A config file with a byte-order mark loads; one that would block, recurse or expand without end, or that is
    not UTF-8, is a ConfigError naming the file."""
    import os

    from tubelet.config import load_config

    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbfmodel:\n  name: uniformer_base\n")
    assert load_config(tmp_path / "bom.yaml").model.name == "uniformer_base"
    laughs = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9))
    cases = {
        "deep.yaml": (b"model: " + b"[" * 50_000, "nested too deeply"),
        "laughs.yaml": (("l0: &l0 [x, x, x, x, x, x, x, x, x]\n" + laughs).encode(), "more than 100000 values"),
        "latin1.yaml": (b"model:\n  name: caf\xe9\n", r"not a UTF-8 text file \(byte 0xe9"),
        "utf16.yaml": ("model:\n  name: x\n".encode("utf-16"), r"not a UTF-8 text file \(byte 0xff"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ConfigError, match=rf"{name}: .*{message}"):
            load_config(tmp_path / name)
    os.mkfifo(tmp_path / "fifo.yaml")  # opening it would wait for a writer
    with pytest.raises(ConfigError, match=r"fifo\.yaml: not a regular file"):
        load_config(tmp_path / "fifo.yaml")


@pytest.mark.parametrize("text,value", [("8", 8), ("1e-4", 1e-4), ("-2.5E3", -2500.0), ("1.5", 1.5), ("true", True),
                                        ("null", None), ("[1, 1, 2, 1]", [1, 1, 2, 1]), ("[1e-4,2]", [1e-4, 2]),
                                        ("{a: 1}", {"a": 1}), ("abc", "abc"), ('"1e-4"', "1e-4"), ("", ""),
                                        ("a: b: c", "a: b: c"), ("rand-m7-n4", "rand-m7-n4")])
def test_set_values_are_yaml_with_numbers_as_numbers(text, value):
    from tubelet.config import parse_value

    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_set_keys_are_dotted_paths_into_the_run_config():
    from tubelet.config import parse_overrides

    assert parse_overrides(["optim.lr=1e-4", "model.options.depth=[1,1,2,1]"]) == \
        {"optim": {"lr": 1e-4}, "model": {"options": {"depth": [1, 1, 2, 1]}}}
    scoped = parse_overrides(["depth=[1,1,2,1]", "model.options.head_dim=16"], within="model.options")
    assert scoped == {"depth": [1, 1, 2, 1], "head_dim": 16}
    for bad in ("optim.lr=1", "model.name=x", "model.optionsx.depth=1"):
        with pytest.raises(ConfigError, match=rf"--set {bad.split('=')[0]}: this command takes only model.options"):
            parse_overrides([bad], within="model.options")
    for bad in ("depth", "=1", "model.options.=1"):
        with pytest.raises(ConfigError, match="--set expects key=value"):
            parse_overrides([bad], within="model.options")
    with pytest.raises(ConfigError, match="was already set to a value"):
        parse_overrides(["optim=1", "optim.lr=2"])


def test_missing_optional_packages_say_what_to_install(tmp_path, monkeypatch):
    import tubelet.export as ex
    from tubelet.engine.plots import plot_confusion

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import matplotlib.figure now fails
    with pytest.raises(DependencyError, match="pip install matplotlib") as info:
        plot_confusion([[1, 0], [0, 1]], ["a", "b"], tmp_path / "c.png")
    assert isinstance(info.value, ImportError) and isinstance(info.value, TubeletError)
    # onnxruntime for the check is asked for before a (slow) export, not after it
    monkeypatch.setattr(ex, "_missing", lambda name: name == "onnxruntime")
    model = torch.nn.Conv3d(3, 2, 1)
    with pytest.raises(DependencyError, match=r"onnxruntime: pip install \"tubelet\[export\]\""):
        ex.export_model(model, tmp_path / "m.onnx", (3, 2, 4, 4))
    assert not (tmp_path / "m.onnx").exists()


def test_other_user_errors_are_tubelet_errors(tmp_path):
    from tubelet.benchmark import benchmark
    from tubelet.data import make_synthetic_dataset
    from tubelet.engine.checkpoint import load_checkpoint
    from tubelet.engine.evaluate import evaluate
    from tubelet.engine.inference import expand_videos, resolve_labels

    with pytest.raises(VideoDecodeError, match=f"{tmp_path / 'x.mp4'}: no such file or folder"):
        expand_videos([str(tmp_path / "x.mp4")])
    with pytest.raises(VideoDecodeError, match=f"{tmp_path}: no video files"):
        expand_videos([str(tmp_path)])
    with pytest.raises(UsageError, match="--labels: 'k401' is neither a file nor a shipped list"):
        resolve_labels("k401", None)
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="last.pt: not a readable training checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(UsageError, match="even frame sizes"):
        make_synthetic_dataset(tmp_path / "syn", height=33)
    with pytest.raises(UsageError, match="--device 'gpu0'"):
        benchmark("uniformer_small", device="gpu0")
    loader = [(torch.zeros(1, 1, 3, 2, 4, 4), torch.tensor([0]))]
    with pytest.raises(UsageError, match="frame_order must be 'keep' or 'shuffle'"):
        evaluate(torch.nn.Identity(), loader, num_classes=2, device=torch.device("cpu"), frame_order="reverse")
