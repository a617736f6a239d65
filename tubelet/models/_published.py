"""The published per-view FLOPs of every variant, as the papers and READMEs print them (compared with our counts by
:mod:`tubelet.flops` and ``tests/test_flops.py``). Data only: it imports nothing of tubelet, so the released-weights
tables (:mod:`._pretrained`) can read it without importing the FLOP counter."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PUBLISHED", "Published"]


@dataclass(frozen=True)
class Published:
    """A published per-view figure: ``gflops`` as printed (e.g. ``"87.9G"``, ``"0.7T"``), ``source`` (the document
    that prints it); ``kwargs`` build the published configuration; ``note`` explains a mismatch."""

    name: str
    input_shape: tuple[int, ...]
    gflops: str
    source: str
    kwargs: dict | None = None
    note: str = ""  # why our count differs, ending with "ours X.XXG"

    @property
    def value(self) -> float:
        """In GMACs."""
        return float(self.gflops[:-1]) * (1000.0 if self.gflops.endswith("T") else 1.0)

    @property
    def tolerance(self) -> float:
        """2 % of the figure, or half a unit of its last printed digit when that is coarser ("0.1T" = 50-150 G)."""
        digits = self.gflops[:-1].split(".")[1] if "." in self.gflops else ""
        unit = 10.0 ** -len(digits) * (1000.0 if self.gflops.endswith("T") else 1.0)
        return max(0.02 * self.value, unit / 2)


# Where the figures are printed: Sense-X/UniFormer video_classification/README.md (FLOPs summed over the test views;
# divided by the views here) and image_classification/README.md; open-mmlab/mmaction2
# configs/recognition/uniformerv2/README.md and configs/recognition/swin/README.md; the README.md of
# SwinTransformer/Video-Swin-Transformer. All but the first are per view.
_UF, _UFI, _UF2, _VS = ("UniFormer video README (total / views)", "UniFormer image README",
                        "MMAction2 UniFormerV2 README", "Video Swin README")
_L_NOTE = ("published 12.6G/39.2G cannot be right for depth [5,10,24,7], dims [128,192,448,640]: stage 3 alone is "
           "24 x (12 C^2 N + 2 N^2 C) = 12.2 GMACs at 224 (C=448, N=196); our count matches the parameters "
           "(100,103,888, as published)")
_UFL, _UFLI, _UFS, _UFP = ("UniFormer video README (light models, per view)", "UniFormer image README (light models)",
                            "UniFormer segmentation README (input not stated; 512x2048 reproduces every figure)",
                            "UniFormer pose README")
_UFD = "UniFormer detection README (FLOPs at 800x1280)"
_POSE_B_NOTE = ("published 14.8G (the figure of S at 448x320) cannot be right for B at 384x288: B is 9.2G at 256x192, "
                "and the count scales with the pixels (x2.25: ~20.7G); our count matches the parameters "
                "(53,464,785, as the official build)")
_LIGHT_NOTE = ("the other 12 light figures agree within 2 % with the same count (token pruning included), this one "
               "does not; the README does not say how the light models were counted (norms and pooling, which "
               "fvcore counts and we do not, are below 0.01G here)")
_W32 = {"windows": True, "window_size": 32}
_H32 = {"hybrid": True, "window_size": 32}
PUBLISHED: list[Published] = [
    Published("uniformer_small", (3, 8, 224, 224), "17.5G", _UF),
    Published("uniformer_small", (3, 16, 224, 224), "41.8G", _UF),
    Published("uniformer_small", (3, 32, 224, 224), "109.5G", _UF),
    Published("uniformer_base", (3, 8, 224, 224), "40.3G", _UF),
    Published("uniformer_base", (3, 16, 224, 224), "96.8G", _UF),
    Published("uniformer_base", (3, 32, 224, 224), "259G", _UF),
    Published("uniformer_small_2d", (3, 224, 224), "3.6G", _UFI),
    Published("uniformer_small_2d", (3, 384, 384), "11.9G", _UFI),
    Published("uniformer_small_plus_2d", (3, 224, 224), "4.2G", _UFI),
    Published("uniformer_small_plus_2d", (3, 384, 384), "13.7G", _UFI),
    Published("uniformer_small_plus_dim64_2d", (3, 224, 224), "4.2G", _UFI),
    Published("uniformer_base_2d", (3, 224, 224), "8.3G", _UFI),
    Published("uniformer_base_2d", (3, 384, 384), "27.2G", _UFI),
    Published("uniformer_base_ls_2d", (3, 224, 224), "8.3G", _UFI),
    Published("uniformer_large_ls_2d", (3, 224, 224), "12.6G", _UFI, note=_L_NOTE + "; ours 19.71G"),
    Published("uniformer_large_ls_2d", (3, 384, 384), "39.2G", _UFI, note=_L_NOTE + "; ours 62.76G"),
    Published("uniformerv2_b16", (3, 8, 224, 224), "0.1T", _UF2),
    Published("uniformerv2_l14", (3, 8, 224, 224), "0.7T", _UF2),
    Published("uniformerv2_l14", (3, 16, 224, 224), "1.3T", _UF2),
    Published("uniformerv2_l14", (3, 32, 224, 224), "2.7T", _UF2),
    Published("uniformerv2_l14_336", (3, 8, 336, 336), "1.6T", _UF2),
    Published("uniformerv2_l14_336", (3, 32, 336, 336), "6.3T", _UF2),
    Published("swin3d_tiny", (3, 32, 224, 224), "87.9G", _VS),
    Published("swin3d_small", (3, 32, 224, 224), "165.9G", _VS),
    Published("swin3d_base", (3, 32, 224, 224), "281.6G", _VS),
    Published("swin3d_base", (3, 32, 224, 224), "320.6G", _VS + " (SSv2: window 16x7x7, 174 classes)",
              kwargs={"window_size": (16, 7, 7), "num_classes": 174}),
    Published("swin3d_large", (3, 32, 224, 224), "604G", "MMAction2 Video Swin README"),
    # light models (token pruning): per view, 1 clip x 1 crop
    Published("uniformer_xxs", (3, 4, 128, 128), "1.0G", _UFL, kwargs={"layer_scale": True}),
    Published("uniformer_xxs", (3, 4, 160, 160), "1.6G", _UFL, kwargs={"layer_scale": True}),
    Published("uniformer_xxs", (3, 8, 128, 128), "2.0G", _UFL, kwargs={"layer_scale": True}),
    Published("uniformer_xxs", (3, 8, 160, 160), "3.3G", _UFL, note=_LIGHT_NOTE + "; ours 3.22G (2.4 % lower)"),
    Published("uniformer_xxs", (3, 16, 128, 128), "4.2G", _UFL),
    Published("uniformer_xxs", (3, 16, 160, 160), "6.9G", _UFL),
    Published("uniformer_xxs", (3, 32, 160, 160), "15.4G", _UFL),
    Published("uniformer_xs", (3, 32, 192, 192), "34.2G", _UFL),
    Published("uniformer_xxs_2d", (3, 128, 128), "0.43G", _UFLI),
    Published("uniformer_xxs_2d", (3, 160, 160), "0.67G", _UFLI),
    Published("uniformer_xxs_2d", (3, 192, 192), "0.96G", _UFLI),
    Published("uniformer_xxs_2d", (3, 224, 224), "1.3G", _UFLI),
    Published("uniformer_xs_2d", (3, 192, 192), "1.4G", _UFLI),
    Published("uniformer_xs_2d", (3, 224, 224), "2.0G", _UFLI, note=_LIGHT_NOTE + "; ours 1.93G (3.4 % lower)"),
    # ADE20K segmentation (whole models: backbone, neck and heads; UperNet with its auxiliary head)
    Published("uniformer_small_fpn", (3, 512, 2048), "247G", _UFS),
    Published("uniformer_small_fpn", (3, 512, 2048), "199G", _UFS + " (hybrid 32)", kwargs=_H32),
    Published("uniformer_small_fpn", (3, 512, 2048), "183G", _UFS + " (window 32)", kwargs=_W32),
    Published("uniformer_base_fpn", (3, 512, 2048), "471G", _UFS),
    Published("uniformer_base_fpn", (3, 512, 2048), "350G", _UFS + " (hybrid 32)", kwargs=_H32),
    Published("uniformer_base_fpn", (3, 512, 2048), "310G", _UFS + " (window 32)", kwargs=_W32),
    Published("uniformer_small_upernet", (3, 512, 2048), "1004G", _UFS),
    Published("uniformer_small_upernet", (3, 512, 2048), "955G", _UFS + " (hybrid 32)", kwargs=_H32),
    Published("uniformer_small_upernet", (3, 512, 2048), "939G", _UFS + " (window 32)", kwargs=_W32),
    Published("uniformer_base_upernet", (3, 512, 2048), "1227G", _UFS),
    Published("uniformer_base_upernet", (3, 512, 2048), "1106G", _UFS + " (hybrid 32)", kwargs=_H32),
    Published("uniformer_base_upernet", (3, 512, 2048), "1066G", _UFS + " (window 32)", kwargs=_W32),
    # COCO top-down pose (backbone and heatmap head)
    Published("uniformer_small_pose", (3, 256, 192), "4.7G", _UFP),
    Published("uniformer_small_pose", (3, 384, 288), "11.1G", _UFP),
    Published("uniformer_small_pose", (3, 448, 320), "14.8G", _UFP),
    Published("uniformer_base_pose", (3, 256, 192), "9.2G", _UFP),
    Published("uniformer_base_pose", (3, 384, 288), "14.8G", _UFP, note=_POSE_B_NOTE + "; ours 22.05G"),
    Published("uniformer_base_pose", (3, 448, 320), "29.6G", _UFP),
    # COCO detection (whole detectors at 800x1280: mmdet's forward_dummy, the heads on 1000 RoIs, masks on 100)
    Published("uniformer_small_maskrcnn", (3, 800, 1280), "269G", _UFD),
    Published("uniformer_base_maskrcnn", (3, 800, 1280), "399G", _UFD),
    Published("uniformer_small_cascade_maskrcnn", (3, 800, 1280), "747G", _UFD),
    Published("uniformer_base_cascade_maskrcnn", (3, 800, 1280), "878G", _UFD),
]
