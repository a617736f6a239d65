"""A download that cannot happen (no network, a host that does not resolve or refuses the connection) fails at the
first attempt with the way forward: the URL to fetch elsewhere, the exact path in the cache, ``TUBELET_WEIGHTS_MIRROR``
and ``TUBELET_OFFLINE``, phrased for Python or, in the ``tubelet`` command, for its options.

Nothing here touches the network: the hosts are ``nonexistent.invalid`` (a name that never resolves, RFC 2606) and a
port of 127.0.0.1 that nothing listens on. Connection attempts are counted by wrapping ``socket.create_connection``
(which urllib, httpx and the hub's own test connection all call), so "no retries" is asserted without timing.
"""
from __future__ import annotations

import importlib.util
import socket
import time

import pytest

import tubelet
from tubelet import CheckpointError
from tubelet.cli import main
from tubelet.models._pretrained import Weights, hf, http, register_weights, unregister_weights

UNRESOLVABLE = "nonexistent.invalid"
HAS_HF_HUB = importlib.util.find_spec("huggingface_hub") is not None


def _refused_port() -> int:
    """A port of 127.0.0.1 that refuses connections: bound once to get a free number, then closed unlistened."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["unresolvable", "refused"])
def dead_host(request) -> tuple[str, str]:
    """``(base URL, host)`` of a server that cannot be reached."""
    if request.param == "unresolvable":
        return f"http://{UNRESOLVABLE}", UNRESOLVABLE
    return f"http://127.0.0.1:{_refused_port()}", "127.0.0.1"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty TUBELET_HOME, online, no mirror, no proxy; Hugging Face's cache in tmp too."""
    home = tmp_path / "home"
    monkeypatch.setenv("TUBELET_HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for var in ("TUBELET_OFFLINE", "HF_HUB_OFFLINE", "TUBELET_WEIGHTS_MIRROR", "HF_ENDPOINT", "http_proxy",
                "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TUBELET_DOWNLOAD_TIMEOUT", "5")
    if HAS_HF_HUB:
        from huggingface_hub import constants
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    return home / "weights"


@pytest.fixture
def attempts(monkeypatch):
    """The hosts of every ``socket.create_connection`` call, in order (the calls go through)."""
    hosts: list[str] = []
    real = socket.create_connection

    def counting(address, *args, **kwargs):
        hosts.append(address[0])
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", counting)
    return hosts


@pytest.fixture
def entries():
    """``uniformer_small.test_advice_hf`` (a Hugging Face file) and ``uniformer_small.test_advice_http`` (a plain
    URL, set by the test through ``set_url``)."""
    ws = [Weights("uniformer_small", "test_advice_hf", dataset="kinetics400", num_classes=400,
                  sources=(hf("org/tiny", "advice_hf.pth"),))]
    register_weights(ws)

    def set_url(url: str) -> Weights:
        w = Weights("uniformer_small", "test_advice_http", dataset="kinetics400", num_classes=400,
                    sources=(http(f"{url}/advice_http.pth"),))
        unregister_weights(w.name)
        register_weights([w])
        ws.append(w)
        return w

    yield set_url
    for w in ws:
        unregister_weights(w.name)


def _assert_advice(text: str, url: str, path, python: bool = True) -> None:
    assert url in text and str(path) in text, text
    assert "TUBELET_OFFLINE=1" in text and "TUBELET_WEIGHTS_MIRROR" in text, text
    if python:
        assert "checkpoint_path=FILE" in text and "--checkpoint" not in text, text
    else:
        assert "--checkpoint FILE" in text and "create_model(" not in text, text


@pytest.mark.skipif(not HAS_HF_HUB, reason="huggingface_hub not installed")
def test_hugging_face_endpoint_that_cannot_be_reached_fails_at_once(cache, entries, attempts, dead_host,
                                                                   monkeypatch):
    """huggingface_hub alone retries a failed connection 5 times (~25 s) and says nothing of where the file goes."""
    base, host = dead_host
    monkeypatch.setenv("HF_ENDPOINT", base)
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError) as e:
        tubelet.create_model("uniformer_small", pretrained="test_advice_hf")
    elapsed = time.perf_counter() - t0
    assert attempts.count(host) <= 2, attempts  # one test connection, not a retry loop
    assert elapsed < 10  # generous: the retry loop alone sleeps 23 s
    text = str(e.value)
    assert f"{base}/org/tiny/resolve/main/advice_hf.pth" in text  # what failed
    _assert_advice(text, "https://huggingface.co/org/tiny/resolve/main/advice_hf.pth", cache / "advice_hf.pth")


def test_plain_url_that_cannot_be_reached_gives_the_advice(cache, entries, attempts, dead_host):
    base, host = dead_host
    w = entries(base)
    with pytest.raises(CheckpointError) as e:
        tubelet.create_model("uniformer_small", pretrained="test_advice_http")
    assert attempts.count(host) == 1, attempts
    _assert_advice(str(e.value), w.sources[0].url, cache / "advice_http.pth")
    assert "nothing was written to the cache" in str(e.value)


def test_mirror_that_cannot_be_reached_gives_the_advice(cache, entries, attempts, monkeypatch):
    mirror = f"http://127.0.0.1:{_refused_port()}"
    monkeypatch.setenv("TUBELET_WEIGHTS_MIRROR", mirror)
    with pytest.raises(CheckpointError) as e:
        tubelet.create_model("uniformer_small", pretrained="test_advice_hf")
    assert attempts.count("127.0.0.1") == 1, attempts
    text = str(e.value)
    assert f"TUBELET_WEIGHTS_MIRROR: {mirror}/advice_hf.pth" in text and "refused" in text
    _assert_advice(text, "https://huggingface.co/org/tiny/resolve/main/advice_hf.pth", cache / "advice_hf.pth")


def test_the_command_line_is_advised_its_options(cache, entries, tmp_path, capsys, monkeypatch):
    """In ``tubelet``, the advice names ``--pretrained TAG --checkpoint FILE``; after the command, Python's again."""
    w = entries(f"http://{UNRESOLVABLE}")
    out = str(tmp_path / "x.safetensors")
    assert main(["convert", "--model", "uniformer_small", "--pretrained", "test_advice_http", "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tubelet convert: error: uniformer_small.test_advice_http: could not download") and \
        err.count("\n") == 1, err
    _assert_advice(err, w.sources[0].url, cache / "advice_http.pth", python=False)
    assert "--pretrained test_advice_http --checkpoint FILE" in err
    with pytest.raises(CheckpointError) as e:  # the command's setting ended with it
        tubelet.create_model("uniformer_small", pretrained="test_advice_http")
    _assert_advice(str(e.value), w.sources[0].url, cache / "advice_http.pth")
    # offline, and a file only a person can download (Google Drive): the same options
    monkeypatch.setenv("TUBELET_OFFLINE", "1")
    assert main(["convert", "--model", "uniformer_small", "--pretrained", "test_advice_http", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "TUBELET_OFFLINE=1 forbids downloading it" in err
    assert "--pretrained test_advice_http --checkpoint FILE" in err
    assert str(cache / "advice_http.pth") in err and "create_model(" not in err
    monkeypatch.delenv("TUBELET_OFFLINE")
    assert main(["convert", "--model", "uniformer_small", "--pretrained", "k400_8x8", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "drive.google.com" in err and "--pretrained k400_8x8 --checkpoint FILE" in err
    assert "checkpoint_path" not in err


def test_the_test_connection_goes_to_the_proxy(monkeypatch):
    """Behind ``HTTPS_PROXY`` the hub's test connection is to the proxy (which may resolve what this machine cannot);
    ``NO_PROXY`` hosts are tested directly."""
    from tubelet.hub import _unreachable

    port = _refused_port()
    for var in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    assert _unreachable(f"https://{UNRESOLVABLE}/f") == f"127.0.0.1:{port} refused the connection"
    monkeypatch.setenv("NO_PROXY", UNRESOLVABLE)
    assert f"{UNRESOLVABLE} does not resolve" in _unreachable(f"https://{UNRESOLVABLE}/f")
