"""The parity fixtures' weight and input recipe (tests/parity/<case>/manifest.json), written from its description.

The fixtures record what the OFFICIAL implementations output for deterministic synthetic weights and inputs. No weights
are stored: one ``torch.Generator`` seeded with ``weight_seed`` walks the official state-dict entries in order and
draws every tensor in float32 by its role; the input comes from a second generator seeded with ``input_seed``.
The sha256 hashes in the manifest check the regeneration.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections import OrderedDict
from pathlib import Path

import torch

HERE = Path(__file__).parent

#: relative tolerance of the parity test (the official float32 result itself differs from float64 by 1e-7..1e-6).
RTOL = 1e-4


def cases(prefix: str = "") -> list[str]:
    return sorted(p.name for p in HERE.iterdir() if (p / "manifest.json").is_file() and p.name.startswith(prefix))


def load_case(case: str) -> tuple[dict, dict[str, torch.Tensor]]:
    manifest = json.loads((HERE / case / "manifest.json").read_text())
    expected = torch.load(HERE / case / "expected.pt", weights_only=True)
    return manifest, expected


def _draw(entry: dict, g: torch.Generator) -> torch.Tensor:
    shape, role = tuple(entry["shape"]), entry["role"]
    if role == "weight":
        t = torch.randn(shape, generator=g) * (1 / math.sqrt(math.prod(shape[1:])))
    elif role == "norm_weight":
        t = 1 + 0.1 * torch.randn(shape, generator=g)
    elif role in ("bias", "other"):
        t = 0.02 * torch.randn(shape, generator=g)
    elif role == "bn_mean":
        t = 0.1 * torch.randn(shape, generator=g)
    elif role == "bn_var":
        t = 0.5 + torch.rand(shape, generator=g)
    elif role == "zeros":
        t = torch.zeros(shape)
    else:
        raise ValueError(f"unknown role {role!r}")
    return t.to(getattr(torch, entry["dtype"]))


def make_state_dict(entries: list[dict], seed: int) -> "OrderedDict[str, torch.Tensor]":
    """Regenerate the official state dict: integer/bool buffers (role ``buffer``) are skipped, as the recipe says."""
    g = torch.Generator(device="cpu")
    g.manual_seed(seed)
    return OrderedDict((e["key"], _draw(e, g)) for e in entries if e["role"] != "buffer")


def mmaction2_state_dict(manifest: dict) -> tuple[dict, "OrderedDict[str, torch.Tensor]"]:
    """An MMAction2 case's weights by its recipe: generated in the OFFICIAL order of ``source_case``, then renamed
    with ``key_map``. Returns ``(mmaction2_state_dict, official_state_dict)``."""
    source, _ = load_case(manifest["source_case"])
    official = make_state_dict(source["manifest"], manifest["weight_seed"])
    sd = {e["key"]: official[manifest["key_map"][e["key"]]] for e in manifest["manifest"] if not e["buffer"]}
    return sd, official


def make_input(manifest: dict) -> torch.Tensor:
    g = torch.Generator(device="cpu")
    g.manual_seed(manifest["input_seed"])
    return torch.randn(manifest["input_shape"], generator=g)


def _bytes(t: torch.Tensor) -> bytes:
    t = t.detach().contiguous()
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    return t.reshape(-1).view(torch.uint8).numpy().tobytes()


def tensor_sha256(t: torch.Tensor) -> str:
    return hashlib.sha256(_bytes(t)).hexdigest()


def weights_sha256(sd: "OrderedDict[str, torch.Tensor]") -> str:
    h = hashlib.sha256()
    for k, t in sd.items():
        h.update(k.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(_bytes(t))
    return h.hexdigest()


def entry_mismatches(sd, entries: list[dict]) -> list[str]:
    """Keys whose tensor does not match the manifest's per-entry ``sha256_16`` (buffers without a hash skipped)."""
    return [e["key"] for e in entries if e.get("sha256_16") and tensor_sha256(sd[e["key"]])[:16] != e["sha256_16"]]


def max_rel_error(out: torch.Tensor, expected: torch.Tensor) -> float:
    """``max|out - expected| / max(1, max|expected|)``: the fixtures' error measure."""
    return float((out - expected).abs().max() / max(1.0, float(expected.abs().max())))


def check(out, expected, case: str, what: str, record) -> None:
    """The parity test: same shape, relative error within RTOL (recorded for the summary), equal argmax of logits."""
    import torch

    assert out.shape == expected.shape
    err = max_rel_error(out, expected)
    record(case, what, err)
    assert err <= RTOL, f"{case} {what}: relative error {err:.2e} > {RTOL}"
    if what == "logits":
        assert torch.equal(out.argmax(-1), expected.argmax(-1))


def low_precision_error(model, x: torch.Tensor, expected: torch.Tensor, dtype=torch.bfloat16) -> tuple[float, bool]:
    """``model(x)`` under CPU autocast at ``dtype``: (max |out - official| / max |official|, argmax per sample kept)."""
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype):
        out = model(x).float()
    rel = float((out - expected).abs().max() / expected.abs().max())
    return rel, bool(torch.equal(out.argmax(-1), expected.argmax(-1)))
