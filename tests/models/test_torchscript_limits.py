"""The TorchScript reader reads ``data.pkl`` (the pickled module tree) whole into memory, so it is bounded: a crafted
archive whose ``data.pkl`` is over the limit is a CheckpointError naming the file, refused before it is inflated."""
from __future__ import annotations

import zipfile

import pytest
import torch
from torch import nn

from tubelet import CheckpointError
from tubelet.models import _torchscript
from tubelet.models._files import read_checkpoint
from tubelet.models._torchscript import MAX_DATA_PKL_BYTES, read_torchscript


def _crafted(path, data_pkl: bytes) -> str:
    """A zip laid out as a TorchScript archive (``archive/data.pkl`` next to ``archive/code/``)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/code/__torch__.py", "class M(Module):\n  __parameters__ = []\n  __buffers__ = []\n")
        z.writestr("archive/version", "3\n")
    return str(path)


def test_data_pkl_over_the_limit_is_refused_by_its_declared_size(tmp_path):
    # 64 MiB + 1 of a pickle's opening bytes then zeros: deflated to ~64 KB on disk
    path = _crafted(tmp_path / "huge_tree.pt", b"\x80\x02" + bytes(MAX_DATA_PKL_BYTES - 1))
    assert zipfile.ZipFile(path).getinfo("archive/data.pkl").compress_size < 1 << 20
    for read in (read_torchscript, lambda p: read_checkpoint(p)):
        with pytest.raises(CheckpointError) as e:
            read(path)
        text = str(e.value)
        assert text.startswith(path) and "archive/data.pkl" in text
        assert f"declares {MAX_DATA_PKL_BYTES + 1:,} bytes, over tubelet's limit of {MAX_DATA_PKL_BYTES:,}" in text


class _Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.register_buffer("scale", torch.ones(2))

    def forward(self, x):
        return self.fc(x) * self.scale


@pytest.mark.filterwarnings("ignore:`torch.jit.(save|script)` is deprecated:DeprecationWarning")
def test_the_limit_is_the_size_of_data_pkl(tmp_path, monkeypatch):
    """A real archive: read at a limit equal to its data.pkl's size, refused one byte below."""
    path = tmp_path / "small.pt"
    module = _Small()
    torch.jit.save(torch.jit.script(module), str(path))
    with zipfile.ZipFile(path) as z:
        size = next(i.file_size for i in z.infolist() if i.filename.endswith("/data.pkl"))
    monkeypatch.setattr(_torchscript, "MAX_DATA_PKL_BYTES", size)
    sd = read_torchscript(str(path))
    assert set(sd) == set(module.state_dict()) and all(torch.equal(sd[k], v) for k, v in module.state_dict().items())
    monkeypatch.setattr(_torchscript, "MAX_DATA_PKL_BYTES", size - 1)
    with pytest.raises(CheckpointError, match=rf"small\.pt: .*data\.pkl declares {size:,} bytes, over tubelet's "
                                              rf"limit of {size - 1:,} bytes"):
        read_torchscript(str(path))
