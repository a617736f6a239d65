"""Released weights of the UniFormer dense-prediction models: COCO detection (backbones), ADE20K semantic
segmentation and COCO top-down pose, addressed as ``ARCH.TAG`` (see :mod:`tubelet.models._pretrained`).

Sources: Sense-X/UniFormer @ 52a0415 (``object_detection/README.md``, ``semantic_segmentation/README.md``,
``pose_estimation/README.md``) and the Hugging Face repo Andy1621/uniformer (sha256 and size from its LFS pointers).
The author's Google Drive and Baidu copies cannot be fetched by a program: those entries are manual.

Every file is a whole mmdet / mmseg / mmpose model (an mmcv runner file ``{"meta", "state_dict", "optimizer"}``).
Each entry names the tubelet architecture the file loads into completely: a segmentation file into
``uniformer_*_fpn`` / ``uniformer_*_upernet``, a pose file into ``uniformer_*_pose``; a detector file into the
detector ``uniformer_*_maskrcnn`` / ``uniformer_*_cascade_maskrcnn``; the same file is also listed under the
backbone ``uniformer_*_dense`` (the load report names the neck and heads it leaves out), with the same cache name. ``../reference/pretrained.json`` lists them all under ``uniformer_*_dense`` with a ``task_head``.

Stage-3 attention (global / window / hybrid and the window size) changes no weight, so the files do not record it:
each entry sets the mode the file was published with. The "global" segmentation files were trained global and also
tested with 32x32 windows (``windows=True, window_size=32``) and the hybrid mode (``hybrid=True, window_size=32``);
their results are in the notes.
"""
from ._pretrained import Weights, hf, page, register_weights

_DET_FOLDER = page('https://pan.baidu.com/s/16hSrbdPxodHvcx6GcSKGsw', "Baidu folder of the detection models")
_SEG_FOLDER = page('https://pan.baidu.com/s/12m09egivCGFkQosBRZb3NQ', "Baidu folder of the segmentation models")
_POSE_FOLDER = page('https://pan.baidu.com/s/1XqeHNNaxPGdb6BncG4TDCA', "Baidu folder of the pose models")
_H14 = {'hybrid': True, 'window_size': 14}
_GLOBAL = {'windows': False, 'hybrid': False}
_DET_NOTE = ("A whole Mask R-CNN; the backbone variant loads its backbone (the neck and the RPN/RoI heads are left "
             "out and named in the load report): the detector variant loads it all")


def _drive(file_id: str):
    return page(f'https://drive.google.com/file/d/{file_id}/view?usp=sharing')


def _det(arch: str, tag: str, box: float, mask: float, file_id: str, *, options=None, default: bool = False,
         extra=(), notes: str = "", file_name: str | None = None) -> Weights:
    return Weights(arch, tag, dataset='coco', num_classes=None, options=dict(options or {}),
                   metrics={'box AP': box, 'mask AP': mask}, default=default, layout='mmcv',
                   notes=" ".join(x for x in (_DET_NOTE, notes) if x), file_name=file_name,
                   sources=(*extra, _drive(file_id), _DET_FOLDER))


def _detector(arch: str, tag: str, box: float, mask: float, file_id: str, file_name: str, *, options=None,
              default: bool = False, extra=(), notes: str = "") -> Weights:
    """A released detector, whole (the same file as the backbone entry of the same ``file_name``: one download
    serves both)."""
    return Weights(arch, tag, dataset='coco', num_classes=80, labels='coco', options=dict(options or {}),
                   metrics={'box AP': box, 'mask AP': mask}, default=default, layout='mmcv', file_name=file_name,
                   notes=" ".join(x for x in ("COCO val2017, single scale (1333x800).", notes) if x),
                   sources=(*extra, _drive(file_id), _DET_FOLDER))


def _seg(arch: str, tag: str, miou: float, file_id: str, *, options=None, default: bool = False, extra=(),
         notes: str = "") -> Weights:
    return Weights(arch, tag, dataset='ade20k', num_classes=150, labels='ade20k', options=dict(options or {}),
                   metrics={'mIoU': miou}, default=default, layout='mmcv', notes=notes,
                   sources=(*extra, _drive(file_id), _SEG_FOLDER))


def _pose(arch: str, height: int, width: int, ap: float, file_id: str, *, default: bool = False,
          notes: str = "") -> Weights:
    return Weights(arch, f'coco_topdown_{height}x{width}', dataset='coco_keypoints', num_classes=17,
                   labels='coco_keypoints', img_size=(height, width), metrics={'AP': ap}, default=default,
                   layout='mmcv', notes=" ".join(x for x in (
                       "COCO val2017 with the person detections of AP 56, flip test", notes) if x),
                   sources=(_drive(file_id), _POSE_FOLDER))


_BROKEN = ("reported broken (Sense-X/UniFormer#144): the file may not load; a whole Cascade Mask R-CNN, of which "
           "tubelet takes the backbone")
_G_NOTE = "mIoU tested global; with 32x32 windows {w}, hybrid 32 {h} (same file)"

WEIGHTS = register_weights([
    # -- COCO detection: backbones ------------------------------------------------------------------------------
    _det('uniformer_xxs_dense', 'coco_mask_rcnn_1x', 42.8, 39.2, '1CUyS-hWbpLvOXHZ35n4BZPmiCbMXt0mc', default=True,
         file_name='mask_rcnn_1x_xxs.pth'),
    _det('uniformer_xs_dense', 'coco_mask_rcnn_1x', 44.6, 40.9, '1CRHb-W5Csy_509J4Ux62TOT7dpixdsOi', default=True,
         file_name='mask_rcnn_1x_xs.pth'),
    _det('uniformer_small_dense', 'coco_mask_rcnn_1x_h14', 45.6, 41.6, '13KhBYkHKQg-CyhAgn1LQM1K0R4bwSpWT',
         options=_H14, file_name='mask_rcnn_1x_hybrid_small.pth'),
    _det('uniformer_small_dense', 'coco_mask_rcnn_3x_ms_h14', 48.2, 43.4, '13O6P-spXbWuXgUjLw8AyRITYTwhdOwuD',
         options=_H14, default=True, extra=(
        hf('Andy1621/uniformer', 'mask_rcnn_3x_ms_hybrid_small.pth',
           sha256='ca5469b0889f10c82522c97ac116c78aabe8628a6fd1453a9fced62453f4986c', size=164955531),
    ), notes="The Hugging Face copy backs the author's detection Space; its equality with the Drive file is not "
             "verified."),
    _det('uniformer_small_dense', 'coco_cascade_mask_rcnn_3x_ms_h14', 52.1, 45.2, '13IhpRkh2hE8WfDyw-5-NXSUVZjn9DX20',
         options=_H14, notes=_BROKEN, file_name='cascade_mask_rcnn_3x_ms_hybrid_small.pth'),
    _det('uniformer_base_dense', 'coco_mask_rcnn_1x_h14', 47.4, 43.1, '13YrVEiqFraSuX1NzdhPnhw7bFXTvEii1',
         options=_H14, file_name='mask_rcnn_1x_hybrid_base.pth'),
    _det('uniformer_base_dense', 'coco_mask_rcnn_3x_ms_h14', 50.3, 44.8, '12xyS2xqFSYMkHUiVYVGVW7gaLIxuK2q6',
         options=_H14, default=True, file_name='mask_rcnn_3x_ms_hybrid_base.pth'),
    _det('uniformer_base_dense', 'coco_cascade_mask_rcnn_3x_ms_h14', 53.8, 46.4, '13G9wc73CmS1Kb-kVelFSDlK-ezUBadzQ',
         options=_H14, notes=_BROKEN, file_name='cascade_mask_rcnn_3x_ms_hybrid_base.pth'),
    # -- COCO detection: the whole detectors (the same files) -----------------------------------------------------
    _detector('uniformer_xxs_maskrcnn', 'coco_1x', 42.8, 39.2, '1CUyS-hWbpLvOXHZ35n4BZPmiCbMXt0mc',
              'mask_rcnn_1x_xxs.pth', default=True),
    _detector('uniformer_xs_maskrcnn', 'coco_1x', 44.6, 40.9, '1CRHb-W5Csy_509J4Ux62TOT7dpixdsOi',
              'mask_rcnn_1x_xs.pth', default=True),
    _detector('uniformer_small_maskrcnn', 'coco_1x_h14', 45.6, 41.6, '13KhBYkHKQg-CyhAgn1LQM1K0R4bwSpWT',
              'mask_rcnn_1x_hybrid_small.pth', options=_H14),
    _detector('uniformer_small_maskrcnn', 'coco_3x_ms_h14', 48.2, 43.4, '13O6P-spXbWuXgUjLw8AyRITYTwhdOwuD',
              'mask_rcnn_3x_ms_hybrid_small.pth', options=_H14, default=True, extra=(
        hf('Andy1621/uniformer', 'mask_rcnn_3x_ms_hybrid_small.pth',
           sha256='ca5469b0889f10c82522c97ac116c78aabe8628a6fd1453a9fced62453f4986c', size=164955531),
    ), notes="Trained 3x with multi-scale inputs. The Hugging Face copy backs the author's detection Space; its "
             "equality with the Drive file is not verified."),
    _detector('uniformer_small_cascade_maskrcnn', 'coco_3x_ms_h14', 52.1, 45.2, '13IhpRkh2hE8WfDyw-5-NXSUVZjn9DX20',
              'cascade_mask_rcnn_3x_ms_hybrid_small.pth', options=_H14, default=True,
              notes="Trained 3x with multi-scale inputs. Reported broken (Sense-X/UniFormer#144): the file may not load."),
    _detector('uniformer_base_maskrcnn', 'coco_1x_h14', 47.4, 43.1, '13YrVEiqFraSuX1NzdhPnhw7bFXTvEii1',
              'mask_rcnn_1x_hybrid_base.pth', options=_H14),
    _detector('uniformer_base_maskrcnn', 'coco_3x_ms_h14', 50.3, 44.8, '12xyS2xqFSYMkHUiVYVGVW7gaLIxuK2q6',
              'mask_rcnn_3x_ms_hybrid_base.pth', options=_H14, default=True,
              notes="Trained 3x with multi-scale inputs."),
    _detector('uniformer_base_cascade_maskrcnn', 'coco_3x_ms_h14', 53.8, 46.4, '13G9wc73CmS1Kb-kVelFSDlK-ezUBadzQ',
              'cascade_mask_rcnn_3x_ms_hybrid_base.pth', options=_H14, default=True,
              notes="Trained 3x with multi-scale inputs. Reported broken (Sense-X/UniFormer#144): the file may not load."),
    # -- ADE20K semantic segmentation ----------------------------------------------------------------------------
    _seg('uniformer_xxs_fpn', 'ade20k_fpn_80k', 42.3, '1DPakdzr6G7n8t3_ZAFCx8wFX1r5h_V7-', default=True),
    _seg('uniformer_xs_fpn', 'ade20k_fpn_80k', 44.4, '1Dj3GiQLK7YZPKSgz_Uk8JL1J66XEvw0Y', default=True),
    _seg('uniformer_base_fpn', 'ade20k_fpn_80k_h14', 47.0, '14XokJDp1oYDV9jZnniMXyk3AnVfk1S1-', options=_H14,
         notes="trained and tested hybrid, window 14"),
    _seg('uniformer_small_fpn', 'ade20k_fpn_80k_g', 46.6, '14bEsZqMw35tmDgrvYA_dRMsSC0Z4TX2Y', options=_GLOBAL,
         default=True, notes=_G_NOTE.format(w=45.6, h=46.2)),
    _seg('uniformer_base_fpn', 'ade20k_fpn_80k_g', 48.0, '14dLoIcAUWjyo1d5XXuo1yb2jcslt_t4P', options=_GLOBAL,
         default=True, notes=_G_NOTE.format(w=47.0, h=47.7)),
    _seg('uniformer_small_upernet', 'ade20k_upernet_160k_g', 47.6, '13hOneJiFqwEneUz1Zpqo1W2uv7BsoXGF',
         options=_GLOBAL, default=True, extra=(
        hf('Andy1621/uniformer', 'upernet_global_small.pth',
           sha256='bebfa1264c10381e389d8065056baaadbdadee8ddc6e36770d1ec339dc84d970', size=206313115),
    ), notes=_G_NOTE.format(w=46.6, h=47.0) + "; multi-scale 48.5. The Hugging Face copy is widely mirrored (ControlNet "
             "annotators); its equality with the Drive file is not verified"),
    _seg('uniformer_base_upernet', 'ade20k_upernet_160k_g', 50.0, '14bEgmFbTijBoTKTwny_aCJlARs6z31mP',
         options=_GLOBAL, default=True, notes=_G_NOTE.format(w=49.1, h=49.5) + "; multi-scale 50.8"),
    # -- COCO top-down pose --------------------------------------------------------------------------------------
    _pose('uniformer_small_pose', 256, 192, 74.0, '162R0JuTpf3gpLe1IK6oxRoQK7JSj4ylx', default=True),
    _pose('uniformer_small_pose', 384, 288, 75.9, '163vuFkpcgVOthC05jCwjGzo78Nr0eikW'),
    _pose('uniformer_small_pose', 448, 320, 76.2, '165nQRsT58SXJegcttksHwDn46Fme5dGX'),
    _pose('uniformer_base_pose', 256, 192, 75.0, '15tzJaRyEzyWp2mQhpjDbBzuGoyCaJJ-2', default=True),
    _pose('uniformer_base_pose', 384, 288, 76.7, '15qtUaOR_C7-vooheJE75mhA9oJQt3gSx'),
    _pose('uniformer_base_pose', 448, 320, 77.4, '156iNxetiCk8JJz41aFDmFh9cQbCaMk3D'),
])
