"""Seconds per COCO-size image of the UniFormer detectors on CPU, and where the time goes.

The input is a 480x640 image (COCO's most common size) through mmdet's test pipeline: resized keeping the ratio to
800x1067, padded to 800x1088. Random weights, except that each box head's ``fc_cls`` is scaled (as the parity
fixtures' recipe does) so that the detector keeps its full ``max_per_img`` = 100 detections with masks, the
released models' typical load on a busy COCO image; the RPN always keeps 1000 proposals. Rows: the stages of
``model.detect`` timed one by one (best of ``--repeat`` runs after a warm-up):

* backbone + FPN (``forward_features``);
* RPN (its convolutions, then the proposals: top-k per level, decoding, NMS);
* RoI heads: box head(s) on the 1000 proposals (RoIAlign 7x7 included), per-class NMS, mask head(s) on the 100
  detections (RoIAlign 14x14 included) and the pasting of the masks at 480x640.

    python benchmarks/detect_cpu.py [--models uniformer_xxs_maskrcnn uniformer_small_maskrcnn] [--threads 1 2]
"""
from __future__ import annotations

import argparse
import platform
import subprocess
import time

import torch

import tubelet


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                flags = next((x for x in out.splitlines() if x.startswith("Flags:")), "")
                extra = " (AVX-512)" if "avx512f" in flags else " (AVX2)" if "avx2" in flags else ""
                return line.split(":", 1)[1].strip() + extra
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def build(name: str) -> torch.nn.Module:
    model = tubelet.create_model(name).eval()
    heads = model.roi_head.bbox_head if model.cascade else [model.roi_head.bbox_head]
    with torch.no_grad():
        for head in heads:  # confident class scores: 100 detections kept (see the module docstring)
            head.fc_cls.weight.mul_(8.0)
            head.fc_cls.bias.mul_(8.0)
    return model


def stages(model, x, img_shape, ori_shape, scale) -> tuple[dict, int]:
    t = {}
    with torch.no_grad():
        t0 = time.perf_counter()
        feats = model.forward_features(x)
        t1 = time.perf_counter()
        proposals = model.rpn_head.simple_test_rpn(feats, [img_shape])[0]
        t2 = time.perf_counter()
        det = model.roi_head.simple_test(feats, proposals, img_shape, scale, ori_shape)
        t3 = time.perf_counter()
    t["backbone + FPN"], t["RPN"], t["RoI heads"] = t1 - t0, t2 - t1, t3 - t2
    return t, len(det.labels)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["uniformer_xxs_maskrcnn", "uniformer_small_maskrcnn"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    h0, w0, h, w = 480, 640, 800, 1067
    x = torch.zeros(1, 3, 800, 1088)
    x[:, :, :h, :w] = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    scale = torch.tensor([w / w0, h / h0] * 2, dtype=torch.float32)
    print(f"CPU: {cpu_name()}, torch {torch.__version__}; input 800x1088 (image 480x640 resized to 800x1067)")
    print("| model | threads | s / image | backbone + FPN | RPN | RoI heads (box, NMS, masks, pasting) | detections |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        model = build(name)
        for threads in args.threads:
            torch.set_num_threads(threads)
            stages(model, x, (h, w), (h0, w0), scale)  # warm-up
            best, n = None, 0
            for _ in range(args.repeat):
                t, n = stages(model, x, (h, w), (h0, w0), scale)
                if best is None or sum(t.values()) < sum(best.values()):
                    best = t
            total = sum(best.values())
            cells = " | ".join(f"{v:.2f} s ({100 * v / total:.0f} %)" for v in best.values())
            print(f"| {name} | {threads} | {total:.2f} | {cells} | {n} |", flush=True)


if __name__ == "__main__":
    main()
