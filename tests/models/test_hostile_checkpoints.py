"""A corpus of damaged, hostile and merely unusual checkpoint files, each with its expected outcome.

Every file is made here, small and deterministic. The rules: reading a file never runs code from it, never hangs,
never allocates beyond the file's own tensors, and never raises anything but :class:`tubelet.CheckpointError`
(naming the file, and the key where one is at fault); a valid file loads exactly, whatever its name.
"""
import gzip
import io
import json
import os
import re
import struct
import subprocess
import sys
import tarfile
import warnings
import zipfile

import pytest
import torch
from torch import nn

import tubelet
from tubelet import CheckpointError
from tubelet.engine.checkpoint import load_checkpoint, save_checkpoint
from tubelet.models._torchscript import read_torchscript

UF = dict(depth=[1, 1, 1, 1], embed_dim=[16, 32, 64, 128], head_dim=16, num_classes=5)
SWIN = dict(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=[2, 4, 4], num_classes=5)


@pytest.fixture(scope="module")
def uf_sd():
    torch.manual_seed(0)
    return tubelet.create_model("uniformer_small", **UF).state_dict()


@pytest.fixture(scope="module")
def swin_sd():
    torch.manual_seed(0)
    return tubelet.create_model("swin3d_tiny", **SWIN).state_dict()


def _save(obj, path):
    torch.save(obj, path)
    return path


def _load_uf(path, **kw):
    return tubelet.create_model("uniformer_small", checkpoint_path=path, **UF, **kw)


def _same(model, sd):
    got = model.state_dict()
    return set(got) == set(sd) and all(torch.equal(got[k], v) for k, v in sd.items())


# ---- TorchScript archives: read without executing them -------------------------------------------------------------

class _Tower(nn.Module):
    """A CLIP-like tree: parameters, a buffer, a plain tensor attribute (not state), an nn.MultiheadAttention."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 4, 4, bias=False)
        self.ln = nn.LayerNorm(8)
        self.attn = nn.MultiheadAttention(8, 2)
        self.register_buffer("index", torch.arange(6).view(2, 3))
        self.logit_scale = nn.Parameter(torch.tensor(4.6))
        self.mask = torch.ones(2, 2)  # an attribute, not a buffer: not in the state dict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(self.conv1(x).flatten(2).transpose(1, 2)) * self.mask.sum()


class _Noisy(nn.Module):
    """Its TorchScript ``__setstate__`` prints: torch.jit.load runs it, tubelet must not."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(3))

    @torch.jit.export
    def __getstate__(self):
        return (self.weight, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, bool]):
        print("CODE FROM THE ARCHIVE RAN")
        self.weight = state[0]
        self.training = state[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


class _Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = _Noisy()
        self.proj = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.inner(x))


def _script(module, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(module).save(str(path))
    return path


def _jit_state_dict(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path)).state_dict()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_torchscript_tensors_equal_jit_load(tmp_path, dtype):
    torch.manual_seed(0)
    path = _script(_Tower().to(dtype), tmp_path / "clip.pt")
    ours, reference = read_torchscript(str(path)), _jit_state_dict(path)
    assert list(ours) == list(reference) and "mask" not in ours
    assert all(ours[k].dtype == v.dtype and torch.equal(ours[k], v) for k, v in reference.items())


def test_torchscript_code_never_runs(tmp_path, capfd):
    path = _script(_Outer(), tmp_path / "noisy.pt")
    _jit_state_dict(path)
    assert "CODE FROM THE ARCHIVE RAN" in capfd.readouterr().out  # the archive does run code under torch.jit.load
    sd = read_torchscript(str(path))
    assert "CODE FROM THE ARCHIVE RAN" not in capfd.readouterr().out
    # the class with its own __getstate__ keeps a tuple, not attributes: its tensors are not guessed at
    assert set(sd) == {"proj.weight", "proj.bias"}


def _rewrite_member(src, dst, member_suffix, change):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info.filename, change(data) if info.filename.endswith(member_suffix) else data)
    return dst


def test_torchscript_hostile_and_damaged_archives(tmp_path):
    good = _script(_Tower(), tmp_path / "clip.pt")
    marker = tmp_path / "pwned"
    payload = b"cos\nmkdir\n(" + pickle_str(str(marker)) + b"tR."  # os.mkdir(marker) on unpickling
    hostile = _rewrite_member(good, tmp_path / "hostile.pt", "/data.pkl", lambda _: payload)
    with pytest.raises(CheckpointError, match=r"hostile\.pt: refused: .*os\.mkdir.*never runs code"):
        tubelet.create_model("uniformerv2_b16", checkpoint_path=hostile)
    assert not marker.exists()
    short = _rewrite_member(good, tmp_path / "short.pt", "/data/0", lambda b: b[: len(b) // 2])
    with pytest.raises(CheckpointError, match=r"short\.pt: .*data/0 holds \d+ bytes, not"):
        read_torchscript(str(short))
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(CheckpointError, match=r"cut\.pt: cannot be read"):
        tubelet.create_model("uniformerv2_b16", checkpoint_path=cut)


def pickle_str(text: str) -> bytes:
    return b"V" + text.encode() + b"\n"


# ---- containers that never end, metadata that asks for the impossible -----------------------------------------------

def test_a_container_that_holds_itself_is_refused(tmp_path, uf_sd):
    loop = {}
    loop["model"] = loop
    with pytest.raises(CheckpointError, match=r"loop\.pth: no weights found: .*nest without end"):
        _load_uf(_save(loop, tmp_path / "loop.pth"))
    deep = dict(uf_sd)
    for _ in range(20):
        deep = {"state_dict": deep}
    with pytest.raises(CheckpointError, match="nest without end"):
        _load_uf(_save(deep, tmp_path / "deep.pth"))
    three = {"model": {"state_dict": {"model_state": uf_sd}}}  # a few levels are normal
    assert _same(_load_uf(_save(three, tmp_path / "three.pth")), uf_sd)


def _tubelet_file(tmp_path, name="m.safetensors", **meta_changes):
    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    path = tmp_path / name
    tubelet.save_model(tubelet.create_model("uniformer_small", **UF), path)
    if meta_changes:
        from safetensors import safe_open
        with safe_open(str(path), "pt") as f:
            meta = f.metadata()
        args = json.loads(meta["model_args"])
        for k, v in meta_changes.items():
            if k in ("architecture", "format_version"):
                meta[k] = v
            else:
                args[k] = v
        meta["model_args"] = json.dumps(args)
        save_file(load_file(str(path)), str(path), metadata=meta)
    return path


def test_absurd_declared_width_fails_before_allocating(tmp_path):
    path = _tubelet_file(tmp_path, embed_dim=[2 ** 20] * 4)  # a real build would need terabytes
    with pytest.raises(CheckpointError, match=r"m\.safetensors: its tensors do not match the uniformer_small "
                                              r"architecture its metadata declares: .*mis-shaped"):
        tubelet.create_model(checkpoint_path=path)


@pytest.mark.parametrize("change, message", [
    (dict(architecture="uniformer_gigantic"), "architecture 'uniformer_gigantic', which this tubelet does not know"),
    (dict(no_such_option=3), "metadata records cannot build uniformer_small: .*no_such_option"),
    (dict(depth="abc"), "metadata records cannot build uniformer_small"),
    (dict(format_version="9"), "format version '9'"),
])
def test_damaged_tubelet_metadata(tmp_path, change, message):
    with pytest.raises(CheckpointError, match=r"m\.safetensors: .*" + message):
        tubelet.create_model(checkpoint_path=_tubelet_file(tmp_path, **change))


# ---- damaged weights: always a CheckpointError naming the file and the key ------------------------------------------

def _load_swin(path):
    return tubelet.create_model("swin3d_tiny", checkpoint_path=path, **SWIN)


def test_swin_file_with_a_key_missing_or_extra(tmp_path, swin_sd):
    assert _same(_load_swin(_save(swin_sd, tmp_path / "ok.pth")), swin_sd)
    for key in ("layers.0.blocks.0.mlp.fc1.weight", "patch_embed.proj.weight", "layers.3.blocks.0.attn.qkv.weight"):
        missing = {k: v for k, v in swin_sd.items() if k != key}
        with pytest.raises(CheckpointError, match=rf"missing\.pth: .*{key}"):
            _load_swin(_save(missing, tmp_path / "missing.pth"))
    for extra_key in ("layers.x.blocks.0.foo", "layers.0.blocks.y.foo", "layers.9.blocks.0.mlp.fc1.weight",
                      "head.extra"):
        extra = {**swin_sd, extra_key: torch.zeros(2)}
        with pytest.raises(CheckpointError, match=r"extra\.pth: "):
            _load_swin(_save(extra, tmp_path / "extra.pth"))


# ---- keys the architecture is not read from: the strict load names them (issue 23) -----------------------------------

def _official_swin(sd: dict, window=(2, 4, 4)) -> dict:
    """The mmcv runner layout of the official Video Swin code: ``backbone.*`` and ``cls_head.fc_cls.*`` under
    ``state_dict``, with the ``relative_position_index`` buffer it stores in every block."""
    from tubelet.models.video_swin import relative_position_index

    out = {}
    for k, v in sd.items():
        out[k.replace("head.", "cls_head.fc_cls.") if k.startswith("head.") else "backbone." + k] = v
        if k.endswith(".attn.relative_position_bias_table"):
            out["backbone." + k.replace("bias_table", "index")] = relative_position_index(window)
    return {"meta": {"epoch": 30, "mmcv_version": "1.3.1"}, "state_dict": out}


def test_official_swin_file_with_one_extra_key_names_it(tmp_path, swin_sd):
    """An otherwise valid official Video Swin file with ``layers.final.scale`` added: the architecture (the window
    too, from the tables) is read past the key, and the strict load names it."""
    no_window = {k: v for k, v in SWIN.items() if k != "window_size"}
    model = tubelet.create_model("swin3d_tiny", checkpoint_path=_save(_official_swin(swin_sd), tmp_path / "ok.pth"),
                                 **no_window)
    assert _same(model, swin_sd) and list(model.model_args["window_size"]) == SWIN["window_size"]
    extra = _official_swin(swin_sd)
    extra["state_dict"]["backbone.layers.final.scale"] = torch.ones(1)
    path = _save(extra, tmp_path / "extra.pth")
    for options in (SWIN, no_window):
        with pytest.raises(CheckpointError, match=r"extra\.pth: does not fit swin3d_tiny: 1 unexpected "
                                                  r"\(layers\.final\.scale\)$"):
            tubelet.create_model("swin3d_tiny", checkpoint_path=path, **options)


UF_DENSE = dict(depth=[1, 1, 2, 1], embed_dim=[16, 32, 64, 64], head_dim=32)
UF_LIGHT = dict(depth=[1, 1, 2, 2], embed_dim=[16, 32, 64, 128], head_dim=16, num_classes=5,
                prune_ratio=[[], [], [1, 0.5], [0.5, 0.5]], trade_off=[[], [], [1, 0.5], [0.5, 0.5]])
_ODD_KEYS = {  # variant: its options, and (key, tensor, what the strict load says of it) cases
    "swin3d_tiny": (SWIN, [
        ("layers.final.scale", torch.ones(1), "unexpected"),  # a name where the stage number should be
        ("layers.", torch.ones(1), "unexpected"),  # too few parts
        ("layers.0.blocks.", torch.ones(1), "unexpected"),
        ("layers.0.blocks.x.foo", torch.ones(2), "unexpected"),
        ("layers.1.blocks.².foo", torch.ones(2), "unexpected"),  # a digit int() does not read
        ("layers.9.blocks.0.mlp.fc1.weight", torch.ones(2, 2), "unexpected"),  # a stage after a gap
        ("layers.0.blocks.0.attn.relative_position_bias_table", torch.ones(147), "mis-shaped"),  # rank 1, not 2
        ("layers.3.blocks.0.attn.relative_position_bias_table", torch.tensor(1.0), "mis-shaped"),
        ("patch_embed.proj.weight", torch.ones(16, 3, 4), "mis-shaped"),  # neither a 2-D nor a 3-D kernel
        ("layers.0.blocks.0.mlp.fc1.weight", torch.ones(64), "mis-shaped"),
        ("head.weight", torch.ones(5), "mis-shaped"),
    ]),
    "uniformer_small": (UF, [
        ("blocks3.7.mlp.fc1.weight", torch.ones(2, 2), "unexpected"),  # a block after a gap
        ("blocks1.².x", torch.ones(2), "unexpected"),
        ("blocks2.", torch.ones(2), "unexpected"),
        ("patch_embed2.proj.weight", torch.ones(32, 16), "mis-shaped"),  # rank 2: no temporal kernel to read
        ("patch_embed1.proj.weight", torch.ones(16, 3), "mis-shaped"),
        ("head.weight", torch.ones(5), "mis-shaped"),
    ]),
    "uniformer_small_dense": (UF_DENSE, [
        ("blocks3.9.mlp.fc1.weight", torch.ones(2, 2), "unexpected"),
        ("blocks2.².x", torch.ones(2), "unexpected"),
    ]),
    "uniformer_xxs_2d": (UF_LIGHT, [
        ("blocks4.9.mlp.fc1.weight", torch.ones(2, 2), "unexpected"),
        ("blocks1.³.x", torch.ones(2), "unexpected"),
    ]),
}


@pytest.fixture(scope="module")
def odd_key_files(tmp_path_factory):
    """One valid file per variant of :data:`_ODD_KEYS` (its state dict kept to compare)."""
    folder, made = tmp_path_factory.mktemp("odd_keys"), {}
    for name, (options, _) in _ODD_KEYS.items():
        torch.manual_seed(0)
        sd = tubelet.create_model(name, **options).state_dict()
        made[name] = sd, _save(sd, folder / f"{name}.pth")
    return made


@pytest.mark.parametrize("name, key, value, what", [
    pytest.param(name, key, value, what, id=f"{name}-{key}") for name, (_, cases) in _ODD_KEYS.items()
    for key, value, what in cases])
def test_architecture_is_read_past_keys_it_does_not_understand(tmp_path, odd_key_files, name, key, value, what):
    """A key of an unknown form or a tensor of an unexpected rank is ignored when the architecture is inferred from
    the keys (no ValueError / IndexError from parsing it): the strict load names it in a CheckpointError."""
    sd, good = odd_key_files[name]
    options = _ODD_KEYS[name][0]
    assert _same(tubelet.create_model(name, checkpoint_path=good, **options), sd)
    path = _save({**sd, key: value}, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match=rf"odd\.pth: does not fit {name}: 1 {what} \({re.escape(key)}"):
        tubelet.create_model(name, checkpoint_path=path, **options)


@pytest.fixture(scope="module")
def v2_meta_sd():
    with torch.device("meta"):
        return tubelet.create_model("uniformerv2_b16", n_layers=2, no_lmhra=False, num_classes=5).state_dict()


@pytest.mark.parametrize("key, value, undetermined", [
    ("transformer.resblocks.final.scale", torch.ones(1), ()),
    ("transformer.resblocks.", torch.ones(1), ()),
    # a layer after a gap: the count is left to the model's options (the strict load names the stray block)
    ("transformer.resblocks.13.attn.in_proj_weight", torch.ones(2, 2), ("layers",)),
    ("transformer.dec.final.scale", torch.ones(1), ()),
    ("transformer.dec.².x", torch.ones(1), ()),
    ("transformer.dec.5.mlp.c_fc.weight", torch.ones(2, 2), ("n_layers",)),
    ("positional_embedding", torch.tensor(1.0), ("input_resolution",)),  # rank 0: no token count
    ("transformer.dec.0.mlp.c_fc.weight", torch.ones(3072), ("mlp_factor",)),  # rank 1: no ratio
    ("transformer.resblocks.0.lmhra1.pos_embed.1.weight", torch.ones(512), ("dw_reduction",)),
    ("conv1.weight", torch.ones(768, 3), ("width", "patch_size", "input_resolution", "dw_reduction")),
    ("transformer.proj.2.weight", torch.ones(5), ("num_classes",)),
])
def test_uniformerv2_architecture_is_read_past_keys_it_does_not_understand(v2_meta_sd, key, value, undetermined):
    """UniFormerV2 (a ViT-B: shapes only, on the meta device): the inference ignores keys it does not understand and
    leaves out what a tensor of an unexpected rank cannot tell; the rest is what the intact weights give."""
    from tubelet.models import uniformerv2

    sd = v2_meta_sd
    clean = uniformerv2.checkpoint_arch(sd, "v2.pth")
    assert clean["layers"] == 12 and clean["n_layers"] == 2 and clean["input_resolution"] == 224
    assert clean["mlp_factor"] == 4.0 and clean["dw_reduction"] == 1.5 and clean["num_classes"] == 5
    got = uniformerv2.checkpoint_arch({**sd, key: value.to("meta")}, "v2.pth")
    expected = {k: v for k, v in clean.items() if k not in undetermined}
    if "num_classes" in undetermined:
        expected["num_classes"] = None
    assert got == expected


@pytest.mark.filterwarnings("ignore:.*(quantized|TypedStorage).*:UserWarning")  # torch's own deprecations
@pytest.mark.parametrize("family", ["uniformer", "swin"])
def test_zero_dim_sparse_quantized_and_complex_tensors(tmp_path, family, uf_sd, swin_sd):
    sd, load = (uf_sd, _load_uf) if family == "uniformer" else (swin_sd, _load_swin)
    cases = {
        "0-d": ({**sd, "head.weight": torch.tensor(1.0)}, r"'head\.weight' is a 0-d tensor"),
        "sparse": ({**sd, "head.weight": sd["head.weight"].to_sparse()}, r"'head\.weight' is a sparse tensor"),
        "quantized": ({**sd, "head.bias": torch.quantize_per_tensor(sd["head.bias"], 0.1, 0, torch.qint8)},
                      r"'head\.bias' is a quantized tensor"),
        "complex": ({**sd, "head.bias": sd["head.bias"].to(torch.complex64)}, r"'head\.bias' is a complex tensor"),
    }
    for name, (bad, message) in cases.items():
        with pytest.raises(CheckpointError, match=rf"{name}\.pth: {message}"):
            load(_save(bad, tmp_path / f"{name}.pth"))


def test_keys_that_are_not_names(tmp_path, uf_sd):
    with pytest.raises(CheckpointError, match=r"ints\.pth: no weights found: .*not named tensors: 7"):
        _load_uf(_save({**uf_sd, 7: torch.zeros(1)}, tmp_path / "ints.pth"))
    with pytest.raises(CheckpointError, match=r"list\.pth: holds a list, not a state dict"):
        _load_uf(_save(list(uf_sd.values()), tmp_path / "list.pth"))


def test_non_finite_weights_warn_with_the_key(tmp_path, uf_sd):
    bad = dict(uf_sd)
    bad["head.bias"] = bad["head.bias"].clone()
    bad["head.bias"][1] = float("nan")
    bad["norm.weight"] = bad["norm.weight"].clone()
    bad["norm.weight"][0] = float("inf")
    with pytest.warns(RuntimeWarning, match=r"nan\.pth: 2 tensors hold NaN or Inf values \((head\.bias|norm\.weight)"):
        model = _load_uf(_save(bad, tmp_path / "nan.pth"))
    assert "NaN/Inf" in str(model.load_report)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a clean file loads without a word
        _load_uf(_save(uf_sd, tmp_path / "clean.pth"))


def _safetensors_bytes(tensors: dict, dtype_override: dict | None = None, metadata=None) -> bytes:
    """A safetensors file written by hand, so that the header can lie about the bytes."""
    header, blobs, offset = {}, [], 0
    names = {torch.float32: "F32", torch.int64: "I64"}
    for k, v in tensors.items():
        raw = v.contiguous().numpy().tobytes()
        header[k] = {"dtype": (dtype_override or {}).get(k, names[v.dtype]), "shape": list(v.shape),
                     "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def test_integer_dtype_over_float_bytes_is_refused(tmp_path, uf_sd):
    path = tmp_path / "ints.safetensors"
    path.write_bytes(_safetensors_bytes(uf_sd, {"head.weight": "I32"}))
    with pytest.raises(CheckpointError, match=r"ints\.safetensors: 1 tensors have a type that cannot be the "
                                              r"model's: head\.weight \(torch\.int32 for a torch\.float32"):
        _load_uf(path)
    path.write_bytes(_safetensors_bytes(uf_sd))  # the same bytes, honestly labelled
    assert _same(_load_uf(path), uf_sd)


@pytest.mark.parametrize("name, make, message", [
    ("offsets", lambda sd: _lie(sd, {"data_offsets": [0, 10 ** 12]}), "declares bytes 0..1000000000000"),
    ("shape", lambda sd: _lie(sd, {"shape": [-1, 5]}), "is malformed"),
    ("dtype", lambda sd: _lie(sd, {"dtype": "F128"}), "is malformed"),
    ("entry", lambda sd: struct.pack("<Q", 8) + b'{"w": 1}', "entry 'w' is malformed"),
    ("deep", lambda sd: struct.pack("<Q", 100_005) + b'{"a":' + b"[" * 100_000, "not valid JSON"),
    ("cut", lambda sd: _safetensors_bytes(sd)[:5000], "truncated"),
])
def test_damaged_safetensors_headers(tmp_path, uf_sd, name, make, message):
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(make(uf_sd))
    with pytest.raises(CheckpointError, match=rf"{name}\.safetensors: .*{message}"):
        _load_uf(path)


def _lie(sd, change):
    data = _safetensors_bytes(sd)
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header["head.weight"].update(change)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data[8 + n:]


# ---- what a file is, whatever its name --------------------------------------------------------------------------------

def test_safetensors_and_torch_files_load_whatever_their_suffix(tmp_path, uf_sd):
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in uf_sd.items()}, str(tmp_path / "w.pth"))
    assert _same(_load_uf(tmp_path / "w.pth"), uf_sd)
    assert _same(_load_uf(_save(uf_sd, tmp_path / "w.safetensors")), uf_sd)
    assert _same(_load_uf(_save(uf_sd, tmp_path / "weights")), uf_sd)
    legacy = tmp_path / "legacy.pth"
    torch.save(uf_sd, legacy, _use_new_zipfile_serialization=False)
    assert _same(_load_uf(legacy), uf_sd)


def test_a_path_that_is_not_utf8_loads(tmp_path, uf_sd):
    from safetensors.torch import save_file

    folder = os.fsencode(tmp_path)
    plain = os.fsdecode(folder + b"/caf\xe9.safetensors")  # Latin-1 bytes: not valid UTF-8
    save_file({k: v.contiguous() for k, v in uf_sd.items()}, str(tmp_path / "tmp.safetensors"))
    os.replace(tmp_path / "tmp.safetensors", plain)
    assert _same(_load_uf(plain), uf_sd)
    own = os.fsdecode(folder + b"/mod\xe8le.safetensors")
    os.replace(_tubelet_file(tmp_path), own)
    assert tubelet.create_model(checkpoint_path=own).model_args["embed_dim"] == UF["embed_dim"]
    twin = os.fsdecode(folder + b"/caf\xe9.pth")
    assert _same(_load_uf(_save(uf_sd, twin)), uf_sd)


def _gzip(tmp_path, sd):
    buf = io.BytesIO()
    torch.save(sd, buf)
    path = tmp_path / "gz.pth"
    path.write_bytes(gzip.compress(buf.getvalue()))
    return path


def _tar(tmp_path, sd):
    inner = _save(sd, tmp_path / "inner.pth")
    path = tmp_path / "tar.pth"
    with tarfile.open(path, "w") as t:
        t.add(inner, arcname="inner.pth")
    return path


def _zip_of(tmp_path, sd):
    path = tmp_path / "zip.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("README.md", "weights inside")
        z.writestr("model/weights.bin", b"\0" * 100)
    return path


def _write(name, data):
    def make(tmp_path, sd):
        path = tmp_path / name
        path.write_bytes(data)
        return path
    return make


@pytest.mark.parametrize("make, message", [
    (_gzip, r"gz\.pth: is a gzip-compressed file; decompress it first"),
    (_tar, r"tar\.pth: is a tar archive; extract it first"),
    (_zip_of, r"zip\.pth: is a zip archive \(README\.md, model/weights\.bin\), not a checkpoint"),
    (_write("page.pth", b"\n<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title>"),
     r"page\.pth: is a web page \(HTML\).*Google Drive's confirmation page"),
    (_write("lfs.pth", b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n"),
     r"lfs\.pth: is a Git LFS pointer.*git lfs pull"),
    (_write("notes.pth", b"epoch 3: top-1 81.2\n"), r"notes\.pth: is a text file \(it starts with 'epoch 3"),
    (_write("h5.pth", b"\x89HDF\r\n\x1a\n" + b"\0" * 100), r"h5\.pth: is an HDF5 file"),
    (_write("npy.pth", b"\x93NUMPY\x01\x00" + b"\0" * 100), r"npy\.pth: is a NumPy \.npy array"),
    (_write("bin.pth", bytes(range(7, 200))), r"bin\.pth: is not a checkpoint: no known format starts with"),
    (_write("short.pth", b"\x80\x02"), r"short\.pth: empty or truncated file \(2 bytes\)"),
])
def test_files_that_are_no_checkpoint_say_what_they_are(tmp_path, uf_sd, make, message):
    with pytest.raises(CheckpointError, match=message):
        _load_uf(make(tmp_path, uf_sd))


def test_folders_fifos_and_devices_are_refused_at_once(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder, not a checkpoint file"):
        _load_uf(tmp_path)
    fifo = tmp_path / "fifo.pth"
    os.mkfifo(fifo)  # reading it would block forever
    with pytest.raises(CheckpointError, match=r"fifo\.pth: not a regular file"):
        _load_uf(fifo)
    with pytest.raises(CheckpointError, match=r"/dev/zero: not a regular file"):
        _load_uf("/dev/zero")


def test_resume_from_a_file_that_is_no_training_checkpoint(tmp_path, uf_sd):
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in uf_sd.items()}, str(tmp_path / "w.safetensors"))
    with pytest.raises(CheckpointError, match="holds weights only, not a training state"):
        load_checkpoint(tmp_path / "w.safetensors")
    (tmp_path / "page.pt").write_bytes(b"<html><body>404</body></html>")
    with pytest.raises(CheckpointError, match=r"page\.pt: is a web page"):
        load_checkpoint(tmp_path / "page.pt")


# ---- temporaries of saves that were killed ----------------------------------------------------------------------------

def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".last.pt.tmp{dead_pid}"
    live = tmp_path / f".last.pt.tmp{os.getppid()}"  # a process that is running (pytest's parent)
    other = tmp_path / f".notes.txt.tmp{dead_pid}x"  # not our pattern
    for p in (stale, live, other):
        p.write_bytes(b"half a checkpoint")
    save_checkpoint({"model": {}, "step": 1}, tmp_path / "last.pt")
    assert not stale.exists() and live.exists() and other.exists()
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 1
    stale_weights = tmp_path / f".best.safetensors.tmp{dead_pid}"
    stale_weights.write_bytes(b"half")
    tubelet.save_model(tubelet.create_model("uniformer_small", **UF), tmp_path / "best.safetensors")
    assert not stale_weights.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["last.pt", "best.safetensors", live.name, other.name])


@pytest.mark.skipif(os.name != "posix", reason="permission bits")
def test_saved_weights_get_the_usual_file_mode(tmp_path):
    """safetensors writes through a 0600 temporary; tubelet's files follow the umask like every other file."""
    import stat

    old = os.umask(0o022)
    try:
        tubelet.save_model(tubelet.create_model("uniformer_small", **UF), tmp_path / "m.safetensors")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.safetensors").stat().st_mode) == 0o644
