"""Where the models look, measured: pointing game and saliency mass inside the moving object's box on the synthetic
dataset's validation clips (the generator knows the box in every frame), per family and method, against a uniform
map (both measures = box area / crop area) and a map that points at the crop centre (the objects' paths are
centred, so the pointing game has a strong centre bias).

    python benchmarks/saliency.py [--out runs/saliency] [--clips 50] [--others-seconds 240] [--retrain]

* UniFormer: the ``tubelet demo`` model (trained here with the demo recipe unless ``OUT/demo/best.safetensors``
  exists), Grad-CAM on the last stage (the default; 1x1 in space at the demo's 32x32 input, so only its time
  profile says anything), on stages 3, 2 and 1, and attention rollout through the SABlocks;
* UniFormerV2 and Video Swin: small models trained here from scratch for ``--others-seconds`` each on the same
  clips (rendered, sampled and transformed as the demo model's input) with a plain AdamW loop; ``0`` measures them
  with random weights instead (labelled so).

Prints a Markdown table for BENCHMARKS.md (command, machine, date included).
"""
from __future__ import annotations

import argparse
import datetime
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tubelet  # noqa: E402
from tubelet.data import eval_clip  # noqa: E402
from tubelet.data.presets import eval_indices  # noqa: E402
from tubelet.data.synthetic import dataset_clip  # noqa: E402
from tubelet.engine.demo import DEMO_CONFIG, run_demo  # noqa: E402
from tubelet.tasks.explain import evaluate_synthetic, methods_for  # noqa: E402

SYN = DEMO_CONFIG["data"]["synthetic"]


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        name = platform.processor() or "unknown CPU"
    return f"{name}, {torch.get_num_threads()} torch threads"


def demo_model(out: Path, retrain: bool):
    ckpt = out / "demo" / "best.safetensors"
    if retrain or not ckpt.is_file():
        run_demo(out / "demo")
    return tubelet.create_model(checkpoint_path=ckpt).eval()


def clips(split: str, count: int, cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """The demo model's inputs of ``count`` rendered clips of ``split``, and their labels."""
    xs, ys = [], []
    for i in range(count):
        frames, label = dataset_clip(split, i, SYN["num_frames"], SYN["height"], SYN["width"], SYN["seed"])
        xs.append(eval_clip(frames[eval_indices(cfg, len(frames))], cfg)[0])
        ys.append(label)
    return torch.stack(xs), torch.tensor(ys)


def train_small(model, cfg, seconds: float, num_train: int = 1000, batch: int = 16, lr: float = 1e-3) -> dict:
    """A plain AdamW loop (cosine lr, label smoothing 0.1) on the rendered training clips for ``seconds``."""
    x, y = clips("train", num_train, cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    gen = torch.Generator().manual_seed(0)
    t0, steps, epochs = time.perf_counter(), 0, 0
    model.train()
    while time.perf_counter() - t0 < seconds:
        for idx in torch.randperm(len(x), generator=gen).split(batch):
            frac = min((time.perf_counter() - t0) / seconds, 1.0)
            for g in opt.param_groups:
                g["lr"] = lr * 0.5 * (1 + np.cos(np.pi * frac))
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
            if time.perf_counter() - t0 >= seconds:
                break
        epochs += 1
    model.eval()
    for p in model.parameters():
        p.grad = None
    return {"steps": steps, "epochs": epochs, "seconds": round(time.perf_counter() - t0, 1)}


def others(cfg, seconds: float):
    """(name, model, how it was made) for UniFormerV2 and Video Swin at the demo's input (8x32x32)."""
    from tubelet.models.uniformerv2 import UniFormerV2

    torch.manual_seed(0)
    v2 = UniFormerV2(input_resolution=32, patch_size=8, width=64, layers=4, heads=2, no_lmhra=False,
                     return_list=[2, 3], n_dim=64, n_head=2, num_classes=10, mlp_dropout=0.0, cls_dropout=0.0)
    swin = tubelet.create_model("swin3d_tiny", embed_dim=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8],
                                window_size=[2, 4, 4], num_classes=10, patch_size=(2, 4, 4))
    out = []
    for name, model in (("UniFormerV2 (ViT 4x64, patch 8)", v2), ("Video Swin (C=32, depths 1-1-2-1)", swin)):
        model.pretrained_cfg = cfg  # the demo model's data contract: 8 frames, 32x32, segment sampling
        if seconds > 0:
            info = train_small(model, cfg, seconds)
            how = f"trained here {info['seconds']:.0f} s ({info['epochs']} epochs, {info['steps']} steps)"
        else:
            how = "random weights"
        out.append((name, model, how))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/saliency")
    ap.add_argument("--clips", type=int, default=50, help="validation clips per row")
    ap.add_argument("--others-seconds", type=float, default=240.0,
                    help="training time of the UniFormerV2 and Video Swin models (0: random weights)")
    ap.add_argument("--threads", type=int, help="torch threads outside the demo's training (default: torch's)")
    ap.add_argument("--retrain", action="store_true", help="train the demo model even if OUT/demo has one")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    t0 = time.perf_counter()
    demo = demo_model(out, args.retrain)
    cfg = demo.pretrained_cfg
    kw = dict(num_frames=SYN["num_frames"], height=SYN["height"], width=SYN["width"], seed=SYN["seed"])
    rows = []
    for method, stage, note in (("gradcam", None, "last stage (default; 1x1 in space here)"),
                                ("gradcam", 3, "stage 3 (2x2)"), ("gradcam", 2, "stage 2 (4x4)"),
                                ("gradcam", 1, "stage 1 (8x8)"),
                                ("rollout", None, "SABlocks of stages 3-4")):
        r = evaluate_synthetic(demo, args.clips, method=method, stage=stage, **kw)
        rows.append(("UniFormer demo model (tubelet demo)", f"{method}: {note}", r))
        print(rows[-1], flush=True)
    for name, model, how in others(cfg, args.others_seconds):
        for method in methods_for(model):
            stages = (None, 2, 1) if method == "gradcam" else (None,)
            for stage in stages:
                r = evaluate_synthetic(model, args.clips, method=method, stage=stage, **kw)
                label = method + ("" if stage is None else f" stage {stage}")
                rows.append((f"{name}, {how}", label, r))
                print(rows[-1], flush=True)
    print()
    threads = f" --threads {args.threads}" if args.threads else ""
    print(f"Command: `python benchmarks/saliency.py --clips {args.clips} --others-seconds {args.others_seconds:g}"
          f"{threads}`; "
          f"{machine()}; {datetime.date.today().isoformat()}; {time.perf_counter() - t0:.0f} s in all. "
          f"Validation clips of the demo's synthetic set (32x40 frames, 8 sampled, 32x32 centre crop), "
          f"{rows[0][2]['clips']} clips, {rows[0][2]['frames']} frames with a visible object. Pointing game: the "
          f"saliency maximum (centre of tied maxima) inside the object's box; mass: the share of the saliency inside "
          f"the box. A uniform map scores box area / crop area on both; a map pointing at the crop centre scores the "
          f"'centre' column on the pointing game.")
    print()
    print("| model | method | top-1 % | pointing game | mass in box | uniform | centre |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for model, method, r in rows:
        print(f"| {model} | {method} | {r['top1']:.0f} | {r['pointing']:.3f} | {r['mass']:.3f} | "
              f"{r['uniform']:.3f} | {r['centre']:.3f} |")


if __name__ == "__main__":
    main()
