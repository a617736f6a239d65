"""Released UniFormerV2 weights: one entry per checkpoint, addressed as ``ARCH.TAG`` (see :mod:`tubelet.models._pretrained`).

Sources: OpenGVLab/UniFormerV2 @ 722a434 (MODEL_ZOO.md), the Hugging Face repo Andy1621/uniformerv2 (sha256 and size
from the LFS pointers) and MMAction2 (ports with its key names and alphabetical label order: tags ending ``_mm``;
sha256 prefix in the file name). Every official Aliyun link is dead (bucket ``pjlab-gvm-data``: NoSuchBucket,
OpenGVLab/UniFormerV2#77): those entries are listed as ``dead`` so that a user who has the file can still load it by
tag. UniFormerV2 published its label files only on Google Drive; the K400 heads follow the UniFormer K400 order
(``kinetics400_uniformer``), as the author's demo (InternVideo, which loads ``k400+k710_uniformerv2_b16_8x224.pyth``
with that class index) shows. CLIP initialisation: ``clip`` (MMAction2's extracted visual towers) and
``clip_openai`` (OpenAI's TorchScript archives).
"""
from ._pretrained import Weights, dead, hf, http, page, register_weights

#: the architecture switches of the released models (the Kinetics recipe, its frozen L/14@336 mode, and the
#: Something-Something recipe)
_K_B16 = {'temporal_downsample': False, 'no_lmhra': True, 'n_layers': 4, 'return_list': [8, 9, 10, 11]}
_K_L14 = {'temporal_downsample': False, 'no_lmhra': True, 'n_layers': 4, 'return_list': [20, 21, 22, 23]}
_K_L14_FROZEN = {**_K_L14, 'frozen': True}
_SSV_B16 = {'temporal_downsample': True, 'no_lmhra': False, 'double_lmhra': True, 'n_layers': 8,
            'return_list': [4, 5, 6, 7, 8, 9, 10, 11]}
_SSV_L14 = {'temporal_downsample': True, 'no_lmhra': False, 'double_lmhra': True, 'n_layers': 16,
            'return_list': list(range(8, 24))}
_DRIVE_LABELS = ("UniFormerV2's label file for this head is published only in Google Drive folder "
                 "17VB-XdF3Kfr9ORmnGyXCxTMs86n0L4QL, so predictions show class indices")

WEIGHTS = register_weights([
    Weights('uniformerv2_b16', 'k710_8x224', dataset='kinetics710', num_classes=710, labels=None,
            labels_note=_DRIVE_LABELS + '; its first 400 rows are Kinetics-400 in the kinetics400_uniformer order',
            num_frames=8, img_size=224, sampler='segment', options=_K_B16, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k710/k710_uniformerv2_b16_8x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'k710_8x224', dataset='kinetics710', num_classes=710, labels=None,
            labels_note=_DRIVE_LABELS + '; its first 400 rows are Kinetics-400 in the kinetics400_uniformer order',
            num_frames=8, img_size=224, sampler='segment', options=_K_L14, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k710/k710_uniformerv2_l14_8x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k710_8x336', dataset='kinetics710', num_classes=710, labels=None,
            labels_note=_DRIVE_LABELS + '; its first 400 rows are Kinetics-400 in the kinetics400_uniformer order',
            num_frames=8, img_size=336, sampler='segment', options=_K_L14, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k710/k710_uniformerv2_l14_8x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k710_8x336_frozen', dataset='kinetics710', num_classes=710, labels=None,
            labels_note=_DRIVE_LABELS + '; its first 400 rows are Kinetics-400 in the kinetics400_uniformer order',
            num_frames=8, img_size=336, sampler='segment', options=_K_L14_FROZEN, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k710/frozen_k710_uniformerv2_l14_8x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_b16', 'k400_8x224', dataset='kinetics400', num_classes=400, labels='kinetics400_uniformer',
            num_frames=8, img_size=224, sampler='segment', test_views=(4, 3), options=_K_B16, top1=84.4,
            layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k400/k400_uniformerv2_b16_8x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_b16', 'k710_ft_k400_8x224', dataset='kinetics400', num_classes=400,
            labels='kinetics400_uniformer', num_frames=8, img_size=224, sampler='segment', test_views=(4, 3),
            options=_K_B16, top1=85.6, default=True, layout='flat', sources=(
        hf('Andy1621/uniformerv2', 'k400+k710_uniformerv2_b16_8x224.pyth',
            sha256='743da61c97f6281bd11ef1d364c2101698c8e89ff7722ee957378e36ef344005', size=458289355),
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k400/k400_k710_uniformerv2_b16_8x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k400_8x224', dataset='kinetics400', num_classes=400,
            labels='kinetics400_uniformer', num_frames=8, img_size=224, sampler='segment', test_views=(4, 3),
            options=_K_L14, top1=88.8, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k400/k400_k710_uniformerv2_l14_8x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k400_16x224', dataset='kinetics400', num_classes=400,
            labels='kinetics400_uniformer', num_frames=16, img_size=224, sampler='segment', test_views=(4, 3),
            options=_K_L14, top1=89.1, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k400/k400_k710_uniformerv2_l14_16x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k400_32x224', dataset='kinetics400', num_classes=400,
            labels='kinetics400_uniformer', num_frames=32, img_size=224, sampler='segment', test_views=(2, 3),
            options=_K_L14, top1=89.3, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k400/k400_k710_uniformerv2_l14_32x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k710_ft_k400_32x336', dataset='kinetics400', num_classes=400,
            labels='kinetics400_uniformer', num_frames=32, img_size=336, sampler='segment', test_views=(2, 3),
            options=_K_L14, top1=89.7, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k400/k400_k710_uniformerv2_l14_32x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k710_ft_k400_64x336', dataset='kinetics400', num_classes=400,
            labels='kinetics400_uniformer', num_frames=64, img_size=336, sampler='segment', test_views=(2, 3),
            options=_K_L14, top1=90.0, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k400/k400_k710_uniformerv2_l14_64x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k400_8x336_frozen', dataset='kinetics400', num_classes=400,
            labels='kinetics400_uniformer', num_frames=8, img_size=336, sampler='segment', test_views=(3, 1),
            options=_K_L14_FROZEN, top1=86.7, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k400/frozen_k400_uniformerv2_l14_8x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k710_ft_k400_8x336_frozen', dataset='kinetics400', num_classes=400,
            labels='kinetics400_uniformer', num_frames=8, img_size=336, sampler='segment', test_views=(3, 1),
            options=_K_L14_FROZEN, top1=87.8, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k400/frozen_k400_k710_uniformerv2_l14_8x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k710_ft_k400_32x336_frozen', dataset='kinetics400', num_classes=400,
            labels='kinetics400_uniformer', num_frames=32, img_size=336, sampler='segment', test_views=(4, 3),
            options=_K_L14_FROZEN, top1=88.9, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k400/frozen_k400_k710_uniformerv2_l14_32x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_b16', 'k600_8x224', dataset='kinetics600', num_classes=600, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=8, img_size=224, sampler='segment', test_views=(4, 3),
            options=_K_B16, top1=85.0, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k600/k600_uniformerv2_b16_8x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_b16', 'k710_ft_k600_8x224', dataset='kinetics600', num_classes=600, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=8, img_size=224, sampler='segment', test_views=(4, 3),
            options=_K_B16, top1=86.1, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k600/k600_k710_uniformerv2_b16_8x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k600_8x224', dataset='kinetics600', num_classes=600, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=8, img_size=224, sampler='segment', test_views=(4, 3),
            options=_K_L14, top1=89.0, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k600/k600_k710_uniformerv2_l14_8x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k600_16x224', dataset='kinetics600', num_classes=600, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=16, img_size=224, sampler='segment', test_views=(4, 3),
            options=_K_L14, top1=89.4, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k600/k600_k710_uniformerv2_l14_16x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k600_32x224', dataset='kinetics600', num_classes=600, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=32, img_size=224, sampler='segment', test_views=(2, 3),
            options=_K_L14, top1=89.5, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k600/k600_k710_uniformerv2_l14_32x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k710_ft_k600_32x336', dataset='kinetics600', num_classes=600, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=32, img_size=336, sampler='segment', test_views=(2, 3),
            options=_K_L14, top1=89.9, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k600/k600_k710_uniformerv2_l14_32x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k710_ft_k600_64x336', dataset='kinetics600', num_classes=600, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=64, img_size=336, sampler='segment', test_views=(2, 3),
            options=_K_L14, top1=90.1, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k600/k600_k710_uniformerv2_l14_64x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k600_8x336_frozen', dataset='kinetics600', num_classes=600, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=8, img_size=336, sampler='segment', test_views=(3, 1),
            options=_K_L14_FROZEN, top1=87.4, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k600/frozen_k600_uniformerv2_l14_8x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k710_ft_k600_8x336_frozen', dataset='kinetics600', num_classes=600, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=8, img_size=336, sampler='segment', test_views=(3, 1),
            options=_K_L14_FROZEN, top1=88.2, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k600/frozen_k600_k710_uniformerv2_l14_8x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k710_ft_k600_32x336_frozen', dataset='kinetics600', num_classes=600,
            labels=None, labels_note=_DRIVE_LABELS, num_frames=32, img_size=336, sampler='segment',
            test_views=(4, 3), options=_K_L14_FROZEN, top1=89.2, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k600/frozen_k600_k710_uniformerv2_l14_32x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_b16', 'k700_8x224', dataset='kinetics700', num_classes=700, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=8, img_size=224, sampler='segment', test_views=(4, 3),
            options=_K_B16, top1=75.8, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k700/k700_uniformerv2_b16_8x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_b16', 'k710_ft_k700_8x224', dataset='kinetics700', num_classes=700, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=8, img_size=224, sampler='segment', test_views=(4, 3),
            options=_K_B16, top1=76.3, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k700/k700_k710_uniformerv2_b16_8x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k700_8x224', dataset='kinetics700', num_classes=700, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=8, img_size=224, sampler='segment', test_views=(4, 3),
            options=_K_L14, top1=80.8, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k700/k700_k710_uniformerv2_l14_8x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k700_16x224', dataset='kinetics700', num_classes=700, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=16, img_size=224, sampler='segment', test_views=(4, 3),
            options=_K_L14, top1=81.2, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k700/k700_k710_uniformerv2_l14_16x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k700_32x224', dataset='kinetics700', num_classes=700, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=32, img_size=224, sampler='segment', test_views=(2, 3),
            options=_K_L14, top1=81.5, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k700/k700_k710_uniformerv2_l14_32x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k710_ft_k700_32x336', dataset='kinetics700', num_classes=700, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=32, img_size=336, sampler='segment', test_views=(2, 3),
            options=_K_L14, top1=82.1, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k700/k700_k710_uniformerv2_l14_32x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k710_ft_k700_64x336', dataset='kinetics700', num_classes=700, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=64, img_size=336, sampler='segment', test_views=(2, 3),
            options=_K_L14, top1=82.7, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k700/k700_k710_uniformerv2_l14_64x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k700_8x336_frozen', dataset='kinetics700', num_classes=700, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=8, img_size=336, sampler='segment', test_views=(3, 1),
            options=_K_L14_FROZEN, top1=79.6, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k700/frozen_k700_uniformerv2_l14_8x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k710_ft_k700_8x336_frozen', dataset='kinetics700', num_classes=700, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=8, img_size=336, sampler='segment', test_views=(3, 1),
            options=_K_L14_FROZEN, top1=79.7, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k700/frozen_k700_k710_uniformerv2_l14_8x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k710_ft_k700_32x336_frozen', dataset='kinetics700', num_classes=700,
            labels=None, labels_note=_DRIVE_LABELS, num_frames=32, img_size=336, sampler='segment',
            test_views=(4, 3), options=_K_L14_FROZEN, top1=80.8, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/k700/frozen_k700_k710_uniformerv2_l14_32x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_b16', 'k710_k400_ft_mit_8x224', dataset='mit_v1', num_classes=339, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=8, img_size=224, sampler='segment', test_views=(4, 3),
            options=_K_B16, top1=42.6, layout='flat', sources=(
        hf('Andy1621/uniformerv2', 'mit_uniformerv2_b16_8x224.pyth',
            sha256='99af00a793ca63b4f92885c1f50799e8140c22f2c0e790a22079c5772deb7d73', size=458101707),
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/mitv1/mit_uniformerv2_b16_8x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'k710_k400_ft_mit_8x224', dataset='mit_v1', num_classes=339, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=8, img_size=224, sampler='segment', test_views=(4, 3),
            options=_K_L14, top1=47.0, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/mitv1/mit_uniformerv2_l14_8x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14_336', 'k710_k400_ft_mit_8x336', dataset='mit_v1', num_classes=339, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=8, img_size=336, sampler='segment', test_views=(4, 3),
            options=_K_L14, top1=47.8, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/mitv1/mit_uniformerv2_l14_8x336.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_b16', 'sthv1_16x224', dataset='sthv1', num_classes=174, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=16, img_size=224, sampler='segment', test_views=(1, 3),
            options=_SSV_B16, top1=56.8, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/sthv1/sthv1_uniformerv2_b16_16x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_b16', 'sthv1_32x224', dataset='sthv1', num_classes=174, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=32, img_size=224, sampler='segment', test_views=(1, 3),
            options=_SSV_B16, top1=59.4, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/sthv1/sthv1_uniformerv2_b16_32x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'sthv1_16x224', dataset='sthv1', num_classes=174, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=16, img_size=224, sampler='segment', test_views=(1, 3),
            options=_SSV_L14, top1=60.5, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/sthv1/sthv1_uniformerv2_l14_16x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'sthv1_32x224', dataset='sthv1', num_classes=174, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=32, img_size=224, sampler='segment', test_views=(1, 3),
            options=_SSV_L14, top1=62.7, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/sthv1/sthv1_uniformerv2_l14_32x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_b16', 'sthv2_16x224', dataset='sthv2', num_classes=174, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=16, img_size=224, sampler='segment', test_views=(1, 3),
            options=_SSV_B16, top1=69.5, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/sthv2/sthv2_uniformerv2_b16_16x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_b16', 'sthv2_32x224', dataset='sthv2', num_classes=174, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=32, img_size=224, sampler='segment', test_views=(1, 3),
            options=_SSV_B16, top1=70.7, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/sthv2/sthv2_uniformerv2_b16_32x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'sthv2_16x224', dataset='sthv2', num_classes=174, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=16, img_size=224, sampler='segment', test_views=(1, 3),
            options=_SSV_L14, top1=72.1, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/sthv2/sthv2_uniformerv2_l14_16x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'sthv2_32x224', dataset='sthv2', num_classes=174, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=32, img_size=224, sampler='segment', test_views=(1, 3),
            options=_SSV_L14, top1=73.0, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/sthv2/sthv2_uniformerv2_l14_32x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'k710_k400_ft_anet_16x224', dataset='activitynet', num_classes=200, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=16, img_size=224, sampler='segment', test_views=(10, 3),
            options=_K_L14, top1=94.3, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/anet/anet_uniformerv2_l14_16x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'k710_k400_ft_anet_32x224', dataset='activitynet', num_classes=200, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=32, img_size=224, sampler='segment', test_views=(10, 3),
            options=_K_L14, top1=94.7, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/anet/anet_uniformerv2_l14_32x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'k710_k400_ft_hacs_16x224', dataset='hacs', num_classes=200, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=16, img_size=224, sampler='segment', test_views=(10, 3),
            options=_K_L14, top1=95.5, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/hacs/hacs_uniformerv2_l14_16x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_l14', 'k710_k400_ft_hacs_32x224', dataset='hacs', num_classes=200, labels=None,
            labels_note=_DRIVE_LABELS, num_frames=32, img_size=224, sampler='segment', test_views=(10, 3),
            options=_K_L14, top1=95.4, layout='flat', sources=(
        dead('https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/uniformerv2/hacs/hacs_uniformerv2_l14_32x224.pyth', 'the bucket pjlab-gvm-data returns NoSuchBucket (issue OpenGVLab/UniFormerV2#77, 2024-08; #81, #82 still open)'),
    )),
    Weights('uniformerv2_b16', 'k400_8x224_mm', dataset='kinetics400', num_classes=400, labels='kinetics400',
            num_frames=8, img_size=224, sampler='segment', test_views=(4, 3), options=_K_B16, top1=84.4, top5=96.3,
            layout='mmaction2', provenance='mmaction2-trained', sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/uniformerv2-base-p16-res224_clip_8xb32-u8_kinetics400-rgb/uniformerv2-base-p16-res224_clip_8xb32-u8_kinetics400-rgb_20230313-e29fc968.pth',
            sha256_prefix='e29fc968'),
    )),
    Weights('uniformerv2_b16', 'k710_ft_k400_8x224_mm', dataset='kinetics400', num_classes=400,
            labels='kinetics400', num_frames=8, img_size=224, sampler='segment', test_views=(4, 3), options=_K_B16,
            top1=85.8, top5=97.1, layout='mmaction2', provenance='mmaction2-trained', sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/uniformerv2-base-p16-res224_clip-kinetics710-pre_8xb32-u8_kinetics400-rgb/uniformerv2-base-p16-res224_clip-kinetics710-pre_8xb32-u8_kinetics400-rgb_20230313-75be0806.pth',
            sha256_prefix='75be0806'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k400_8x224_mm', dataset='kinetics400', num_classes=400,
            labels='kinetics400', num_frames=8, img_size=224, sampler='segment', test_views=(4, 3), options=_K_L14,
            top1=88.7, top5=98.1, default=True, layout='mmaction2', provenance='mmaction2-port',
            notes="MMA2 'top1/top5' = ported weights on the UF2 data list", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/kinetics400/uniformerv2-large-p14-res224_clip-kinetics710-pre_u8_kinetics400-rgb_20221219-972ea063.pth',
            sha256_prefix='972ea063'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k400_16x224_mm', dataset='kinetics400', num_classes=400,
            labels='kinetics400', num_frames=16, img_size=224, sampler='segment', test_views=(4, 3), options=_K_L14,
            top1=89.0, top5=98.2, layout='mmaction2', provenance='mmaction2-port',
            notes="MMA2 'top1/top5' = ported weights on the UF2 data list", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/kinetics400/uniformerv2-large-p14-res224_clip-kinetics710-pre_u16_kinetics400-rgb_20221219-6dc86d05.pth',
            sha256_prefix='6dc86d05'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k400_32x224_mm', dataset='kinetics400', num_classes=400,
            labels='kinetics400', num_frames=32, img_size=224, sampler='segment', test_views=(2, 3), options=_K_L14,
            top1=89.3, top5=98.2, layout='mmaction2', provenance='mmaction2-port',
            notes="MMA2 'top1/top5' = ported weights on the UF2 data list", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/kinetics400/uniformerv2-large-p14-res224_clip-kinetics710-pre_u32_kinetics400-rgb_20221219-56a46f64.pth',
            sha256_prefix='56a46f64'),
    )),
    Weights('uniformerv2_l14_336', 'k710_ft_k400_32x336_mm', dataset='kinetics400', num_classes=400,
            labels='kinetics400', num_frames=32, img_size=336, sampler='segment', test_views=(2, 3), options=_K_L14,
            top1=89.5, top5=98.4, default=True, layout='mmaction2', provenance='mmaction2-port',
            notes="MMA2 'top1/top5' = ported weights on the UF2 data list", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/kinetics400/uniformerv2-large-p14-res336_clip-kinetics710-pre_u32_kinetics400-rgb_20221219-1dd7650f.pth',
            sha256_prefix='1dd7650f'),
    )),
    Weights('uniformerv2_b16', 'k710_ft_k600_8x224_mm', dataset='kinetics600', num_classes=600,
            labels='kinetics600', num_frames=8, img_size=224, sampler='segment', test_views=(4, 3), options=_K_B16,
            top1=86.4, top5=97.3, layout='mmaction2', provenance='mmaction2-trained', sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/uniformerv2-base-p16-res224_clip-kinetics710-pre_8xb32-u8_kinetics600-rgb/uniformerv2-base-p16-res224_clip-kinetics710-pre_8xb32-u8_kinetics600-rgb_20230313-544f06f0.pth',
            sha256_prefix='544f06f0'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k600_8x224_mm', dataset='kinetics600', num_classes=600,
            labels='kinetics600', num_frames=8, img_size=224, sampler='segment', test_views=(4, 3), options=_K_L14,
            top1=89.0, top5=98.3, layout='mmaction2', provenance='mmaction2-port',
            notes="MMA2 'top1/top5' = ported weights on the UF2 data list", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/kinetics600/uniformerv2-large-p14-res224_clip-kinetics710-pre_u8_kinetics600-rgb_20221219-cf88e4c2.pth',
            sha256_prefix='cf88e4c2'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k600_16x224_mm', dataset='kinetics600', num_classes=600,
            labels='kinetics600', num_frames=16, img_size=224, sampler='segment', test_views=(4, 3), options=_K_L14,
            top1=89.4, top5=98.3, layout='mmaction2', provenance='mmaction2-port',
            notes="MMA2 'top1/top5' = ported weights on the UF2 data list", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/kinetics600/uniformerv2-large-p14-res224_clip-kinetics710-pre_u16_kinetics600-rgb_20221219-38ff0e3e.pth',
            sha256_prefix='38ff0e3e'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k600_32x224_mm', dataset='kinetics600', num_classes=600,
            labels='kinetics600', num_frames=32, img_size=224, sampler='segment', test_views=(2, 3), options=_K_L14,
            top1=89.2, top5=98.3, layout='mmaction2', provenance='mmaction2-port',
            notes="MMA2 'top1/top5' = ported weights on the UF2 data list", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/kinetics600/uniformerv2-large-p14-res224_clip-kinetics710-pre_u32_kinetics600-rgb_20221219-d450d071.pth',
            sha256_prefix='d450d071'),
    )),
    Weights('uniformerv2_l14_336', 'k710_ft_k600_32x336_mm', dataset='kinetics600', num_classes=600,
            labels='kinetics600', num_frames=32, img_size=336, sampler='segment', test_views=(2, 3), options=_K_L14,
            top1=89.8, top5=98.5, layout='mmaction2', provenance='mmaction2-port',
            notes="MMA2 'top1/top5' = ported weights on the UF2 data list", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/kinetics600/uniformerv2-large-p14-res336_clip-kinetics710-pre_u32_kinetics600-rgb_20221219-f984f5d2.pth',
            sha256_prefix='f984f5d2'),
    )),
    Weights('uniformerv2_b16', 'k700_8x224_mm', dataset='kinetics700', num_classes=700, labels='kinetics700',
            num_frames=8, img_size=224, sampler='segment', test_views=(4, 3), options=_K_B16, top1=75.9, top5=92.9,
            layout='mmaction2', provenance='mmaction2-trained', sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/uniformerv2-base-p16-res224_clip_8xb32-u8_kinetics700-rgb/uniformerv2-base-p16-res224_clip_8xb32-u8_kinetics700-rgb_20230313-f02e48ad.pth',
            sha256_prefix='f02e48ad'),
    )),
    Weights('uniformerv2_b16', 'k710_ft_k700_8x224_mm', dataset='kinetics700', num_classes=700,
            labels='kinetics700', num_frames=8, img_size=224, sampler='segment', test_views=(4, 3), options=_K_B16,
            top1=76.3, top5=92.9, layout='mmaction2', provenance='mmaction2-trained', sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/uniformerv2-base-p16-res224_clip-kinetics710-pre_8xb32-u8_kinetics700-rgb/uniformerv2-base-p16-res224_clip-kinetics710-pre_8xb32-u8_kinetics700-rgb_20230313-69070837.pth',
            sha256_prefix='69070837'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k700_8x224_mm', dataset='kinetics700', num_classes=700,
            labels='kinetics700', num_frames=8, img_size=224, sampler='segment', test_views=(4, 3), options=_K_L14,
            top1=80.8, top5=95.2, layout='mmaction2', provenance='mmaction2-port',
            notes="MMA2 'top1/top5' = ported weights on the UF2 data list", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/kinetics700/uniformerv2-large-p14-res224_clip-kinetics710-pre_u8_kinetics700-rgb_20221219-bfb9f401.pth',
            sha256_prefix='bfb9f401'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k700_16x224_mm', dataset='kinetics700', num_classes=700,
            labels='kinetics700', num_frames=16, img_size=224, sampler='segment', test_views=(4, 3), options=_K_L14,
            top1=81.2, top5=95.6, layout='mmaction2', provenance='mmaction2-port',
            notes="MMA2 'top1/top5' = ported weights on the UF2 data list", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/kinetics700/uniformerv2-large-p14-res224_clip-kinetics710-pre_u16_kinetics700-rgb_20221219-745209d2.pth',
            sha256_prefix='745209d2'),
    )),
    Weights('uniformerv2_l14', 'k710_ft_k700_32x224_mm', dataset='kinetics700', num_classes=700,
            labels='kinetics700', num_frames=32, img_size=224, sampler='segment', test_views=(2, 3), options=_K_L14,
            top1=81.4, top5=95.7, layout='mmaction2', provenance='mmaction2-port',
            notes="MMA2 'top1/top5' = ported weights on the UF2 data list", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/kinetics700/uniformerv2-large-p14-res224_clip-kinetics710-pre_u32_kinetics700-rgb_20221219-eebe7056.pth',
            sha256_prefix='eebe7056'),
    )),
    Weights('uniformerv2_l14_336', 'k710_ft_k700_32x336_mm', dataset='kinetics700', num_classes=700,
            labels='kinetics700', num_frames=32, img_size=336, sampler='segment', test_views=(2, 3), options=_K_L14,
            top1=82.1, top5=96.0, layout='mmaction2', provenance='mmaction2-port',
            notes="MMA2 'top1/top5' = ported weights on the UF2 data list", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/kinetics700/uniformerv2-large-p14-res336_clip-kinetics710-pre_u32_kinetics700-rgb_20221219-95cf9046.pth',
            sha256_prefix='95cf9046'),
    )),
    Weights('uniformerv2_b16', 'k710_k400_ft_mit_8x224_mm', dataset='mit_v1', num_classes=339, labels='mit',
            num_frames=8, img_size=224, sampler='segment', test_views=(4, 3), options=_K_B16, top1=42.3, top5=71.5,
            layout='mmaction2', provenance='mmaction2-trained', sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/uniformerv2-base-p16-res224_clip-kinetics710-kinetics-k400-pre_16xb32-u8_mitv1-rgb/uniformerv2-base-p16-res224_clip-kinetics710-kinetics-k400-pre_16xb32-u8_mitv1-rgb_20230313-a6f4a567.pth',
            sha256_prefix='a6f4a567'),
    )),
    Weights('uniformerv2_l14', 'k710_k400_ft_mit_8x224_mm', dataset='mit_v1', num_classes=339, labels='mit',
            num_frames=8, img_size=224, sampler='segment', test_views=(4, 3), options=_K_L14, top1=47.0, top5=76.1,
            layout='mmaction2', provenance='mmaction2-port',
            notes="MMA2 'top1/top5' = ported weights on the UF2 data list", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/mitv1/uniformerv2-large-p16-res224_clip-kinetics710-kinetics-k400-pre_u8_mitv1-rgb_20221219-882c0598.pth',
            sha256_prefix='882c0598'),
    )),
    Weights('uniformerv2_l14_336', 'k710_k400_ft_mit_8x336_mm', dataset='mit_v1', num_classes=339, labels='mit',
            num_frames=8, img_size=336, sampler='segment', test_views=(4, 3), options=_K_L14, top1=47.7, top5=76.8,
            layout='mmaction2', provenance='mmaction2-port',
            notes="MMA2 'top1/top5' = ported weights on the UF2 data list", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/mitv1/uniformerv2-large-p16-res336_clip-kinetics710-kinetics-k400-pre_u8_mitv1-rgb_20221219-9020986e.pth',
            sha256_prefix='9020986e'),
    )),
    Weights('uniformerv2_b16', 'k710_8x224_mm', dataset='kinetics710', num_classes=710, labels='kinetics710',
            num_frames=8, img_size=224, sampler='segment', options=_K_B16, top1=78.9, top5=94.2, layout='mmaction2',
            provenance='mmaction2-port', notes="MMA2 'top1/top5' = ported weights on the UF2 data list", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/uniformerv2-base-p16-res224_clip-pre_u8_kinetics710-rgb/uniformerv2-base-p16-res224_clip-pre_u8_kinetics710-rgb_20230612-63cdbad9.pth',
            sha256_prefix='63cdbad9'),
    )),
    Weights('uniformerv2_l14', 'k710_8x224_mm', dataset='kinetics710', num_classes=710, labels='kinetics710',
            num_frames=8, img_size=224, sampler='segment', options=_K_L14, layout='mmaction2',
            provenance='mmaction2-port', sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/kinetics710/uniformerv2-large-p14-res224_clip-pre_u8_kinetics710-rgb_20230612-d002a407.pth',
            sha256_prefix='d002a407'),
    )),
    Weights('uniformerv2_l14_336', 'k710_8x336_mm', dataset='kinetics710', num_classes=710, labels='kinetics710',
            num_frames=8, img_size=336, sampler='segment', options=_K_L14, layout='mmaction2',
            provenance='mmaction2-port', sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/kinetics710/uniformerv2-large-p14-res336_clip-pre_u8_kinetics710-rgb_20230612-d723ddc1.pth',
            sha256_prefix='d723ddc1'),
    )),
    Weights('uniformerv2_b16', 'k710_8x224_mm_20221219', dataset='kinetics710', num_classes=710,
            labels='kinetics710', num_frames=8, img_size=224, sampler='segment', options=_K_B16, layout='mmaction2',
            provenance='mmaction2-port', sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/kinetics710/uniformerv2-base-p16-res224_clip-pre_u8_kinetics710-rgb_20221219-77d34f81.pth',
            sha256_prefix='77d34f81'),
    )),
    Weights('uniformerv2_b16', 'k710_ft_k400_8x224_mm_20221219', dataset='kinetics400', num_classes=400,
            labels='kinetics400', num_frames=8, img_size=224, sampler='segment', options=_K_B16, layout='mmaction2',
            provenance='mmaction2-port', sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/kinetics400/uniformerv2-base-p16-res224_clip-kinetics710-pre_u8_kinetics400-rgb_20221219-203d6aac.pth',
            sha256_prefix='203d6aac'),
    )),
    Weights('uniformerv2_b16', 'clip', dataset='clip_400m', num_classes=None, labels=None, img_size=224,
            init_only=True, init_for=('uniformerv2_b16',), layout='clip-visual', provenance='mmaction2-rehost',
            sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/clipVisualEncoder/vit-base-p16-res224_clip-rgb_20221219-b8a5da86.pth',
            sha256_prefix='b8a5da86'),
    )),
    Weights('uniformerv2_l14', 'clip', dataset='clip_400m', num_classes=None, labels=None, img_size=224,
            init_only=True, init_for=('uniformerv2_l14',), layout='clip-visual', provenance='mmaction2-rehost',
            sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/clipVisualEncoder/vit-large-p14-res224_clip-rgb_20221219-9de7543e.pth',
            sha256_prefix='9de7543e'),
    )),
    Weights('uniformerv2_l14_336', 'clip', dataset='clip_400m', num_classes=None, labels=None, img_size=336,
            init_only=True, init_for=('uniformerv2_l14_336',), layout='clip-visual', provenance='mmaction2-rehost',
            sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/clipVisualEncoder/vit-large-p14-res336_clip-rgb_20221219-d370f9e5.pth',
            sha256_prefix='d370f9e5'),
    )),
    Weights('uniformerv2_b16', 'clip_openai', dataset='clip_400m', num_classes=None, labels=None, img_size=224,
            init_only=True, init_for=('uniformerv2_b16',), layout='torchscript', provenance='openai', license='MIT',
            sources=(
        http('https://openaipublic.azureedge.net/clip/models/5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt',
            sha256='5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f'),
    )),
    Weights('uniformerv2_l14', 'clip_openai', dataset='clip_400m', num_classes=None, labels=None, img_size=224,
            init_only=True, init_for=('uniformerv2_l14',), layout='torchscript', provenance='openai', license='MIT',
            sources=(
        http('https://openaipublic.azureedge.net/clip/models/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt',
            sha256='b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836'),
    )),
    Weights('uniformerv2_l14_336', 'clip_openai', dataset='clip_400m', num_classes=None, labels=None, img_size=336,
            init_only=True, init_for=('uniformerv2_l14_336',), layout='torchscript', provenance='openai',
            license='MIT', sources=(
        http('https://openaipublic.azureedge.net/clip/models/3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt',
            sha256='3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02'),
    )),
])
