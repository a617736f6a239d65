"""The parity fixtures' weight and input recipe (tests/parity/<case>/manifest.json), written from its description.

The fixtures record what the OFFICIAL implementations output for deterministic synthetic weights and inputs. No weights
are stored: one ``torch.Generator`` seeded with ``weight_seed`` walks the official state-dict entries in order and
draws every tensor in float32 by its role; the input comes from a second generator seeded with ``input_seed``.
The sha256 hashes in the manifest check the regeneration.

The official-size weights take seconds to draw and to hash, and their files up to 1.4 GB: :func:`state_dict` and
:func:`mmaction2_state_dict` regenerate a case once per test session (kept while its tests run, see
:class:`SizedCache`; the parity modules run each case's tests together) and :func:`weights_sha256` hashes those once;
``tests/conftest.py``'s ``parity_files`` fixture writes each checkpoint file once.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import torch

HERE = Path(__file__).parent

#: relative tolerance of the parity test (the official float32 result itself differs from float64 by 1e-7..1e-6).
RTOL = 1e-4


def cases(prefix: str = "") -> list[str]:
    return sorted(p.name for p in HERE.iterdir() if (p / "manifest.json").is_file() and p.name.startswith(prefix))


@functools.lru_cache(maxsize=None)
def load_case(case: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """``(manifest, expected outputs)`` of a case, read once per session (do not modify them)."""
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
    with ``key_map``. Returns ``(mmaction2_state_dict, official_state_dict)`` (once per session per case: do not
    modify them)."""
    def make():
        source, _ = load_case(manifest["source_case"])
        official = _remember(make_state_dict(source["manifest"], manifest["weight_seed"]))
        sd = {e["key"]: official[manifest["key_map"][e["key"]]] for e in manifest["manifest"] if not e["buffer"]}
        return _remember(sd), official
    return WEIGHTS.get(("mmaction2", manifest["case"]), make, lambda v: _nbytes(v[1]))


# -- once per session: regenerated weights, their hashes ----------------------------------------------------------

def _nbytes(sd: dict) -> int:
    return sum(t.numel() * t.element_size() for t in sd.values())


class SizedCache:
    """``key -> value``, made on first use and kept while the values fit in ``budget`` bytes: the least recently
    used are dropped first (through ``on_drop``), except the newest and the keys in ``pinned``."""

    def __init__(self, budget: int, on_drop: Callable[[object], None] | None = None):
        self.budget, self.on_drop = budget, on_drop
        self.items: "OrderedDict[object, tuple[object, int]]" = OrderedDict()
        self.pinned: set = set()

    def get(self, key, make: Callable[[], object], size: Callable[[object], int]):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key][0]
        value = make()
        self.items[key] = (value, size(value))
        total = sum(n for _, n in self.items.values())
        for old_key in [k for k in self.items if k != key and k not in self.pinned]:
            if total <= self.budget:
                break
            old, n = self.items.pop(old_key)
            total -= n
            if self.on_drop is not None:
                self.on_drop(old)
        return value

    def clear(self) -> None:
        while self.items:
            _, (old, _) = self.items.popitem(last=False)
            if self.on_drop is not None:
                self.on_drop(old)


#: id(cached state dict) -> its weights_sha256 (None until asked for); an entry lives as long as its state dict is
#: in WEIGHTS (dropped with it)
_HASHES: dict[int, str | None] = {}


def _forget(value) -> None:
    for sd in value if isinstance(value, tuple) else (value,):
        _HASHES.pop(id(sd), None)


#: regenerated state dicts (the largest case is 1.4 GB; TUBELET_PARITY_CACHE_MB sets the budget)
WEIGHTS = SizedCache(int(os.environ.get("TUBELET_PARITY_CACHE_MB", "2048")) << 20, on_drop=_forget)


def _remember(sd):
    """Mark a cached (never modified) state dict, so :func:`weights_sha256` hashes it once."""
    _HASHES[id(sd)] = None
    return sd


def state_dict(case: str, entries: str = "manifest") -> "OrderedDict[str, torch.Tensor]":
    """:func:`make_state_dict` of the case's ``entries`` (``manifest``, ``image_manifest``) with its
    ``weight_seed``, regenerated once per session (do not modify it: copy it first)."""
    def make():
        manifest, _ = load_case(case)
        return _remember(make_state_dict(manifest[entries], manifest["weight_seed"]))
    return WEIGHTS.get((case, entries), make, _nbytes)


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
    """The manifest's aggregate hash of a state dict (computed once for the session's cached state dicts)."""
    if id(sd) not in _HASHES:
        return _weights_sha256(sd)
    if _HASHES[id(sd)] is None:
        _HASHES[id(sd)] = _weights_sha256(sd)
    return _HASHES[id(sd)]


def _weights_sha256(sd) -> str:
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


#: The CPU autocast check that runs on every CPU (the smallest video fixture, ~2 s with bf16/fp16 emulated); the
#: others run where the CPU has native bf16 (AVX-512 BF16 / AMX).
EMULATED_LOW_PRECISION_CASE = "uniformer_video_small_k400_4x160__public"


def skip_if_low_precision_is_emulated(case: str) -> None:
    """Skip a bf16/fp16 autocast check of an official-size fixture on a CPU without native bf16 (AVX2 only): there
    autocast is emulated, up to ~50x slower than float32, so it would take minutes; one fixture still runs."""
    import pytest

    from tubelet.runtime import cpu_has_native_bf16

    if case != EMULATED_LOW_PRECISION_CASE and not cpu_has_native_bf16():
        pytest.skip("this CPU has no native bf16 (torch.ops.mkldnn._is_mkldnn_bf16_supported() is False, e.g. AVX2 "
                    "only): CPU bf16/fp16 autocast is emulated, up to ~50x slower than float32, so this fixture's "
                    f"low-precision check runs only on CPUs with AVX-512 BF16 / AMX; {EMULATED_LOW_PRECISION_CASE} "
                    "is still checked here")


def low_precision_error(model, x: torch.Tensor, expected: torch.Tensor, dtype=torch.bfloat16) -> tuple[float, bool]:
    """``model(x)`` under CPU autocast at ``dtype``: (max |out - official| / max |official|, argmax per sample kept)."""
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype):
        out = model(x).float()
    rel = float((out - expected).abs().max() / expected.abs().max())
    return rel, bool(torch.equal(out.argmax(-1), expected.argmax(-1)))
