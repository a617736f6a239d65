"""Make the pictures of docs/applications.md from a `tubelet demo` run: the web page (`tubelet serve`, in Debian's
chromium through Playwright), a saliency grid (`tubelet explain`) and the window features of an untrimmed clip
(`tubelet features`).

    python docs/make_pictures.py --run runs/demo      # after `tubelet demo`; writes docs/*.png
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def long_clip(path: Path) -> Path:
    """An 8 s clip of four synthetic actions in a row (what the serve page offers as a sample)."""
    from tubelet.data.synthetic import render_clip, write_video

    rng = np.random.default_rng(3)
    parts = [render_clip(label, 50, 128, 160, rng) for label in (0, 1, 4, 5)]
    write_video(path, np.concatenate(parts))
    return path


def short_clip(path: Path) -> Path:
    """A 2 s clip of one action ("moving right"), as the demo's validation clips."""
    from tubelet.data.synthetic import render_clip, write_video

    write_video(path, render_clip(1, 50, 128, 160, np.random.default_rng(7)))
    return path


def serve_screenshot(checkpoint: Path, clip: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    from tubelet import serve

    demo = serve.build_app(checkpoint=str(checkpoint))
    url = serve.launch(demo, port=7861, quiet=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True,
                                        args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("#tubelet-video input[type=file]", state="attached", timeout=30_000)
            page.set_input_files("#tubelet-video input[type=file]", str(clip))
            page.get_by_role("button", name="Classify").click()
            page.wait_for_selector("#tubelet-top5 table", timeout=60_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(out), full_page=True)
            browser.close()
    finally:
        serve.close(demo)


def features_picture(checkpoint: Path, clip: Path, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import tubelet

    model = tubelet.create_model(checkpoint_path=str(checkpoint)).eval()
    feats, windows = tubelet.extract_features(model, str(clip), window=1.0, stride=0.25)
    f = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    sim = f @ f.T
    fig, ax = plt.subplots(figsize=(4.2, 3.6), dpi=110)
    ends = windows[-1][1]
    im = ax.imshow(sim, extent=(0, ends, ends, 0), cmap="viridis")
    for t in (2, 4, 6):
        ax.axhline(t, color="w", lw=0.6, ls="--")
        ax.axvline(t, color="w", lw=0.6, ls="--")
    ax.set_xlabel("window start (s)")
    ax.set_ylabel("window start (s)")
    ax.set_title("cosine similarity of window features\n(4 actions of 2 s in a row)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="runs/demo", help="a tubelet demo run folder (holds best.safetensors)")
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args()
    checkpoint = Path(args.run) / "best.safetensors"
    if not checkpoint.is_file():
        print(f"{checkpoint}: no such file: run `tubelet demo --out {args.run}` first", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        clip = short_clip(Path(tmp) / "moving_right.mp4")
        serve_screenshot(checkpoint, clip, out / "serve.png")
        subprocess.run([sys.executable, "-m", "tubelet", "explain", str(clip), "--checkpoint", str(checkpoint),
                        "--stage", "1", "-o", tmp], check=True)
        shutil.copy(Path(tmp) / "moving_right.explain.stage1.png", out / "explain.png")
        features_picture(checkpoint, long_clip(Path(tmp) / "four_actions.mp4"), out / "features.png")
    for name in ("serve.png", "explain.png", "features.png"):
        print(out / name, f"{(out / name).stat().st_size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
