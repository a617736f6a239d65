"""``tubelet serve``: the web page, driven in headless chromium (Debian's, through Playwright's client: no browser is
downloaded), with every request that leaves 127.0.0.1 blocked, so the page is shown to work offline. Plus the
pieces that need no browser: the refusals before decoding, the missing-gradio message and the command's errors."""
from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
import urllib.request
from fractions import Fraction

import numpy as np
import pytest
import torch

from tubelet.errors import DependencyError, TubeletError, UsageError, VideoDecodeError

pytest.importorskip("gradio", reason="gradio (tubelet[app]) is not installed")

SMALL = {"depth": [1, 1, 2, 1], "embed_dim": [16, 32, 64, 128], "head_dim": 16, "num_classes": 7, "num_frames": 4,
         "img_size": 64}


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clip(path, label=1, frames=24, seed=0):
    from tubelet.data.synthetic import render_clip, write_video
    write_video(path, render_clip(label, frames, 64, 80, np.random.default_rng(seed)))
    return str(path)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A page serving a small saved checkpoint, on a free port; ``(url, demo, checkpoint, clip, folder)``."""
    from tubelet import save_model
    from tubelet.models import create_model
    from tubelet import serve

    folder = tmp_path_factory.mktemp("serve")
    torch.manual_seed(0)
    checkpoint = folder / "small.safetensors"
    save_model(create_model("uniformer_small", **SMALL), checkpoint)
    clip = _clip(folder / "clip.mp4")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(folder / "unused"))  # build_app points it at its folder: restored after
        mp.setenv("GRADIO_ANALYTICS_ENABLED", "True")  # build_app turns Gradio's telemetry off, whatever it was
        t0 = time.perf_counter()
        demo = serve.build_app(checkpoint=str(checkpoint), work_dir=str(folder / "work"), max_file_size="1mb")
        url = serve.launch(demo, port=_free_port(), quiet=True)
        demo.tubelet_startup_s = time.perf_counter() - t0
        assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False" and not demo.analytics_enabled
        assert os.environ["GRADIO_TEMP_DIR"].startswith(str(folder / "work"))
        try:
            yield url, demo, str(checkpoint), clip, folder
        finally:
            serve.close(demo)
    assert not (folder / "work").exists()  # uploads, samples and plots go with the server
    assert not (folder / "work").exists()  # uploads, samples and plots are removed with the server


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install "
                                                                  "playwright; CI installs it)")
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; Playwright's own browsers are never downloaded)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True,
                              args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        yield b
        b.close()


def _offline_page(browser, url):
    """A page whose requests to anywhere but the server are aborted and recorded (the offline check)."""
    host = url.rstrip("/").split("//", 1)[1]
    outside: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 1600})

    def route(r):
        if r.request.url.split("//", 1)[-1].startswith(host) or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("#tubelet-video input[type=file]", state="attached", timeout=30_000)
    return context, page, outside


def _top5_from_page(page) -> list[dict]:
    page.wait_for_selector("#tubelet-top5 table", timeout=60_000)
    rows = page.locator("#tubelet-top5 table tbody tr")
    out = []
    for i in range(rows.count()):
        cells = [c.strip() for c in rows.nth(i).locator("td").all_inner_texts()]
        out.append({"index": int(cells[2]), "label": cells[1], "score": float(cells[3])})
    return out


def _screenshot(page, path) -> str:
    """Save a full-page screenshot at ``path`` (under the test's tmp_path, removed when the test passes) and, when
    ``TUBELET_SCREENSHOT_DIR`` is set, a copy there that outlives the run."""
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("TUBELET_SCREENSHOT_DIR")
    if keep:
        os.makedirs(keep, exist_ok=True)
        path = shutil.copy(path, os.path.join(keep, os.path.basename(path)))
    print(f"\nscreenshot: {path}", file=sys.stderr)
    return str(path)


def _status(page) -> str:
    return page.locator("#tubelet-status").inner_text()


def _independent_top5(checkpoint: str, clip: str, k: int = 5) -> tuple[list[dict], list[int]]:
    """The top-k of the weights on ``clip`` and the frame numbers of the view, worked out here without tubelet's data
    path (which the page and ``tubelet predict`` share, bugs included): the frames decoded with PyAV, the one test
    view of PySlowFast's dense sampling (the centred window of ``num_frames * frame_interval`` frames, ``linspace``
    then truncation), the centre crop, ``(x / 255 - mean) / std`` as the weights' pretrained_cfg says, the model's
    forward and a softmax. Labels as the page shows unnamed classes: ``class N``."""
    import av

    from tubelet.models import create_model

    model = create_model(checkpoint_path=checkpoint).eval()
    cfg = model.pretrained_cfg
    with av.open(clip) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])  # (N, H, W, 3)
    n, h, w = frames.shape[:3]
    assert cfg.sampler == "dense" and cfg.class_names is None and cfg.label_names is None
    span = cfg.num_frames * cfg.frame_interval
    start = max(n - span, 0) // 2
    idx = np.clip(np.linspace(start, start + span - 1, cfg.num_frames), 0, n - 1).astype(np.int64)
    size = cfg.input_size[-1]
    assert min(h, w) == (cfg.resize_size or size), "the clip is made at the short side the weights resize to"
    top, left = (h - size) // 2, (w - size) // 2
    x = torch.from_numpy(frames[idx, top:top + size, left:left + size]).float() / 255  # (T, S, S, 3)
    x = (x - torch.tensor(cfg.mean)) / torch.tensor(cfg.std)
    with torch.no_grad():
        probs = model(x.permute(3, 0, 1, 2)[None]).softmax(-1)[0]  # (1, 3, T, S, S) -> (K,)
    scores, index = probs.topk(k)
    return [{"index": int(i), "label": f"class {int(i)}", "score": float(p)} for p, i in zip(scores, index)], \
        idx.tolist()


def test_page_offline_top5_matches_an_independent_forward_and_errors_stay_on_page(served, browser, tmp_path):
    url, demo, checkpoint, clip, folder = served
    context, page, outside = _offline_page(browser, url)
    try:
        assert "checkpoint" in _status(page) and "small.safetensors" in _status(page)  # the weights in use
        t0 = time.perf_counter()
        page.locator("#tubelet-video input[type=file]").set_input_files(clip)
        shown = _top5_from_page(page)
        first = time.perf_counter() - t0
        page.wait_for_selector("#tubelet-frames img", timeout=30_000)
        frames = page.locator("#tubelet-frames").inner_text()
        shot = _screenshot(page, tmp_path / "serve_top5.png")

        expected, indices = _independent_top5(checkpoint, clip)
        assert all(f"frame {i}" in frames for i in indices), (indices, frames)  # the frames the model saw
        assert [r["index"] for r in shown] == [r["index"] for r in expected]
        assert [r["label"] for r in shown] == [r["label"] for r in expected]
        assert [r["score"] for r in shown] == pytest.approx([r["score"] for r in expected], abs=1.5e-6)

        # a text file named .mp4: a readable message on the page
        fake = folder / "notes.mp4"
        fake.write_text("these are my notes, not a video\n" * 20)
        page.reload(wait_until="domcontentloaded")
        page.wait_for_selector("#tubelet-video input[type=file]", state="attached", timeout=30_000)
        page.locator("#tubelet-video input[type=file]").set_input_files(str(fake))
        page.wait_for_function("document.querySelector('#tubelet-status').innerText.includes('Error')",
                               timeout=60_000)
        message = _status(page)
        assert "notes.mp4" in message and ("not a video" in message or "cannot be opened as a video" in message), \
            message
        error_shot = _screenshot(page, tmp_path / "serve_error.png")

        # a file over the upload limit (1 MB here): refused by the server, said on the page
        big = tmp_path / "big.mp4"
        big.write_bytes(np.random.default_rng(0).bytes(2 << 20))
        page.reload(wait_until="domcontentloaded")
        page.wait_for_selector("#tubelet-video input[type=file]", state="attached", timeout=30_000)
        page.locator("#tubelet-video input[type=file]").set_input_files(str(big))
        page.wait_for_function("/exceed the maximum allowed size/.test(document.body.innerText)", timeout=30_000)
        _screenshot(page, tmp_path / "serve_too_large.png")
        assert not any(p.name == "big.mp4" for p in (folder / "work").rglob("*"))  # never written

        # the server still answers, and still classifies
        assert urllib.request.urlopen(url, timeout=10).status == 200
        page.reload(wait_until="domcontentloaded")
        page.wait_for_selector("#tubelet-video input[type=file]", state="attached", timeout=30_000)
        page.locator("#tubelet-video input[type=file]").set_input_files(clip)
        assert _top5_from_page(page) == shown
        assert outside == [], f"the page asked for outside resources: {outside}"
        print(f"\nserve: startup {demo.tubelet_startup_s:.2f} s, first prediction through the page {first:.2f} s; "
              f"screenshots {shot} and {error_shot}", file=sys.stderr)
    finally:
        context.close()


def test_sample_clip_and_timeline(served, browser, tmp_path):
    """A bundled sample (the 8 s one): clicking it classifies it, and the page shows the timeline plot."""
    url, demo, checkpoint, clip, folder = served
    context, page, outside = _offline_page(browser, url)
    try:
        page.get_by_text("four actions in a row").first.click()
        page.wait_for_function("document.querySelector('#tubelet-status').innerText.includes('timeline')",
                               timeout=60_000)
        assert "four_actions_8s.mp4" in _status(page)
        page.wait_for_selector("#tubelet-timeline img", timeout=30_000)
        _screenshot(page, tmp_path / "serve_timeline.png")
        assert outside == []
    finally:
        context.close()


# ------------------------------------------------------------------------------------------------ no browser
def _long_video(path, seconds=7200):
    """A valid H.264 file whose header says it lasts ``seconds`` (one 16x16 frame a minute)."""
    import av

    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=Fraction(1, 60))
        s.width = s.height = 16
        s.pix_fmt = "yuv420p"
        for _ in range(seconds // 60):
            for packet in s.encode(av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")):
                out.mux(packet)
        for packet in s.encode():
            out.mux(packet)
    return str(path)


def test_refusals_before_decoding(tmp_path):
    from tubelet import serve

    long = _long_video(tmp_path / "film.mp4")
    with pytest.raises(VideoDecodeError, match=r"film.mp4: the video is 2:0\d:\d\d long.*up to 10:00"):
        serve.check_video(long, max_duration=600)
    serve.check_video(long, max_duration=None)
    with pytest.raises(VideoDecodeError, match="up to 0 MB"):
        serve.check_video(long, max_bytes=10)
    with pytest.raises(VideoDecodeError, match="no such file"):
        serve.check_video(str(tmp_path / "missing.mp4"))
    assert serve._parse_size("200mb") == 200 << 20 and serve._parse_size(1000) == 1000
    with pytest.raises(UsageError, match="--max-file-size"):
        serve._parse_size("lots")


def test_request_errors_are_messages(tmp_path):
    """classify() raises TubeletErrors for what a user got wrong (the page shows them); the state goes on."""
    from tubelet import serve

    state = serve.ServeState([serve.random_choice()])
    with pytest.raises(UsageError, match="upload a video"):
        serve.classify(state, None, None)
    with pytest.raises(UsageError, match="unknown model"):
        serve.classify(state, _clip(tmp_path / "a.mp4", frames=8), "no_such_model")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 4096)
    with pytest.raises(VideoDecodeError, match="bad.mp4"):
        serve.classify(state, str(bad), None)
    out = serve.classify(state, str(tmp_path / "a.mp4"), None, show_saliency=False)
    assert len(out["topk"]) == 5 and "random weights" in out["status"].lower()


def test_released_weights_offline_is_a_message(tmp_path, monkeypatch):
    """Picking released weights that cannot be fetched (offline here) is a message, and the default still works."""
    from tubelet import serve

    monkeypatch.setenv("TUBELET_OFFLINE", "1")
    monkeypatch.setenv("TUBELET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TUBELET_WEIGHTS_MIRROR", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    choices = [serve.random_choice()] + serve.released_choices()
    state = serve.ServeState(choices)
    clip = _clip(tmp_path / "a.mp4", frames=8)
    download = next(c.key for c in choices[1:] if "downloaded once" in c.label)
    with pytest.raises(TubeletError, match="not cached|cannot be downloaded"):
        serve.classify(state, clip, download)
    manual = [c.key for c in choices[1:] if "manual" in c.label]
    if manual:
        with pytest.raises(UsageError, match="cannot be downloaded by tubelet"):
            serve.classify(state, clip, manual[0])
    assert len(serve.classify(state, clip, None, show_saliency=False)["topk"]) == 5


def test_released_choices_are_classifiers():
    from tubelet import serve
    from tubelet.models._registry import get_task

    choices = serve.released_choices()
    assert choices and all(get_task(c.model.split(".")[0]) == "classification" for c in choices)
    assert all(any(word in c.label for word in ("downloaded once", "manual", "no longer")) for c in choices)


def test_without_gradio_names_the_extra(monkeypatch):
    from tubelet import cli, serve

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")  # restored after the test
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio -> ImportError
    with pytest.raises(DependencyError, match=r'pip install "tubelet\[app\]"'):
        serve._import_gradio()
    assert cli.main(["serve", "--port", "1", "--no-released"]) == 2


def test_serve_command_user_errors(capsys, monkeypatch, tmp_path):
    from tubelet import cli

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))  # both restored after the test
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")

    assert cli.main(["serve", "--pretrained"]) == 2
    assert "--pretrained needs --model" in capsys.readouterr().err
    assert cli.main(["serve", "--model", "uniformer_small_fpn"]) == 2
    assert "segmentation" in capsys.readouterr().err
    assert cli.main(["serve", "--max-duration", "0"]) == 2


def test_views_model_gives_each_model_its_own_published_views(tmp_path, monkeypatch):
    """``tubelet serve --views model``: the default weights run with their own test views, and released weights
    picked in the list with theirs (they were all given the default's)."""
    import hashlib
    import io

    from tubelet import cli, serve
    from tubelet.engine.inference import predict_videos, topk
    from tubelet.models import create_model
    from tubelet.models._pretrained import Weights, http, register_weights, unregister_weights

    small = {"depth": (1, 1, 1, 1), "embed_dim": (16, 32, 64, 128), "head_dim": 16}
    torch.manual_seed(1)
    buf = io.BytesIO()
    torch.save(create_model("uniformer_small", **small).state_dict(), buf)
    data = buf.getvalue()
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "serve_views.pth").write_bytes(data)
    w = Weights("uniformer_small", "test_serve_views", dataset="kinetics400", num_classes=400,
                labels="kinetics400_uniformer", num_frames=4, img_size=64, sampler="dense", frame_interval=2,
                test_views=(2, 1), options=small, top1=1.0,
                sources=(http("https://weights.invalid/serve_views.pth", sha256=hashlib.sha256(data).hexdigest()),))
    register_weights([w])
    monkeypatch.setenv("TUBELET_WEIGHTS_MIRROR", str(mirror))
    monkeypatch.setenv("TUBELET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))  # both restored after the test
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    clip = _clip(tmp_path / "a.mp4", frames=40)
    seen = {}

    def launch(demo, host="127.0.0.1", port=None, block=False, quiet=False):  # serve the page to nobody: ask it
        state = demo.tubelet_state
        for key in (None, w.name):
            out = serve.classify(state, clip, key, show_saliency=False)
            model = state.model(key)
            seen[key] = (tuple(model.pretrained_cfg.test_views), out)
            (pred,) = predict_videos(model, [clip], views=tuple(model.pretrained_cfg.test_views), num_workers=0)
            seen[key] += (topk(pred.probs, None, 5),)
        return "http://127.0.0.1"

    monkeypatch.setattr(serve, "launch", launch)
    try:
        assert cli.main(["serve", "--views", "model", "--max-duration", "60"]) == 0
    finally:
        unregister_weights(w.name)
    (default_views, default_out, default_expected), (views, out, expected) = seen[None], seen[w.name]
    assert views == (2, 1) and default_views != views  # the released entry's protocol differs from the default's
    assert "2x1 views" in out["status"] and f"{default_views[0]}x{default_views[1]} views" in default_out["status"]
    for got, want in ((out, expected), (default_out, default_expected)):  # run with those views, as predict does
        assert [r["index"] for r in got["topk"]] == [r["index"] for r in want]
        assert [r["score"] for r in got["topk"]] == pytest.approx([r["score"] for r in want], abs=1e-6)


def test_page_builds_and_serves_without_a_browser(tmp_path, monkeypatch):
    """The page is built and launched by the installed Gradio (every argument tubelet passes must exist there: a
    Gradio older than the one pyproject.toml asks for fails here), and its config lists tubelet's components."""
    from tubelet import serve

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "unused"))  # both restored after the test
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    demo = serve.build_app(released=False, samples=False, work_dir=str(tmp_path / "work"), views="model")
    try:
        url = serve.launch(demo, port=_free_port(), quiet=True)
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.status == 200 and "<html" in r.read().decode("utf-8", "replace").lower()
        with urllib.request.urlopen(url.rstrip("/") + "/config", timeout=30) as r:
            config = json.loads(r.read())
        ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
        assert {"tubelet-model", "tubelet-video", "tubelet-classify", "tubelet-status", "tubelet-top5",
                "tubelet-frames", "tubelet-saliency"} <= ids
        assert demo.tubelet_state.views == "model"
    finally:
        serve.close(demo)
    assert not (tmp_path / "work").exists()


def test_an_older_gradio_is_named(monkeypatch):
    """A Gradio older than :data:`tubelet.serve.GRADIO_MIN_VERSION` is a DependencyError naming the version needed
    (the page uses Gradio 6's arguments: on Gradio 5 launch() failed with a TypeError)."""
    import gradio

    from tubelet import serve

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")  # restored after the test
    assert serve._import_gradio() is gradio  # the installed one is new enough
    monkeypatch.setattr(gradio, "__version__", "5.49.1")
    with pytest.raises(DependencyError, match=rf"gradio>={serve.GRADIO_MIN_VERSION}, this is gradio 5\.49\.1"):
        serve._import_gradio()
    assert serve._version_tuple("6.0.0b2") == (6, 0) and serve._version_tuple("6.31.0") == (6, 31, 0)


def test_saliency_note_claims_a_class_only_where_the_map_has_one():
    """UniFormerV2's default map (query-attention rollout) is the same for every class: the page says so instead of
    "for the top class", which it says for Grad-CAM (UniFormer's default)."""
    import numpy as np
    import torch

    import tubelet
    from tubelet import serve
    from tubelet.models import get_pretrained_cfg
    from tubelet.models.uniformerv2 import UniFormerV2

    torch.manual_seed(0)
    frames = np.random.default_rng(0).integers(0, 256, (8, 48, 48, 3), dtype=np.uint8)
    v2 = UniFormerV2(input_resolution=32, patch_size=8, width=32, layers=2, heads=2, no_lmhra=False,
                     return_list=[0, 1], n_dim=32, n_head=2, num_classes=5).eval()
    v2.pretrained_cfg = get_pretrained_cfg("uniformerv2_b16").replace(input_size=(3, 8, 32, 32), num_frames=8,
                                                                      resize_size=32)
    images, note = serve.saliency_overlays(v2, frames, np.arange(8))
    assert len(images) == 8 and note == "saliency: rollout, where the model looks (the same for every class)"
    uf = tubelet.create_model("uniformer_small", depth=[1, 1, 2, 1], embed_dim=[16, 32, 64, 128], head_dim=16,
                              num_classes=5, num_frames=8, img_size=32).eval()
    images, note = serve.saliency_overlays(uf, frames, np.arange(8))
    assert len(images) == 8 and note == "saliency: gradcam, for the top class"
