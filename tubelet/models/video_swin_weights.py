"""Released Video Swin Transformer weights: one entry per checkpoint, addressed as ``ARCH.TAG`` (see :mod:`tubelet.models._pretrained`).

Sources: SwinTransformer/Video-Swin-Transformer @ db018fb (GitHub release files, no published hash: the sha256 is
recorded at the first download), microsoft/Swin-Transformer @ f82860b (ImageNet 2-D weights for initialisation),
MMAction2 (trained and re-hosted files, tags ending ``_mm``; sha256 prefix in the file name) and torchvision's ports
(tags ending ``_tv``: torchvision key names, its own test protocol at 15 fps).
"""
from ._pretrained import Weights, dead, hf, http, page, register_weights

WEIGHTS = register_weights([
    Weights('swin3d_tiny', 'in1k_ft_k400_32x2', dataset='kinetics400', num_classes=400, labels='kinetics400', num_frames=32, img_size=224, sampler='sample_frames', frame_interval=2, test_views=(4, 3), options={'window_size': (8, 7, 7)}, top1=78.8, top5=93.6, default=True, layout='mmcv', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.4/swin_tiny_patch244_window877_kinetics400_1k.pth'),
        page('https://pan.baidu.com/s/1mIqRzk8RILeRsP2KB5T6fg', "per-file link, access code 'swin'"),
    )),
    Weights('swin3d_small', 'in1k_ft_k400_32x2', dataset='kinetics400', num_classes=400, labels='kinetics400', num_frames=32, img_size=224, sampler='sample_frames', frame_interval=2, test_views=(4, 3), options={'window_size': (8, 7, 7)}, top1=80.6, top5=94.5, default=True, layout='mmcv', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.4/swin_small_patch244_window877_kinetics400_1k.pth'),
        page('https://pan.baidu.com/s/1imq7LFNtSu3VkcRjd04D4Q', "per-file link, access code 'swin'"),
    )),
    Weights('swin3d_base', 'in1k_ft_k400_32x2', dataset='kinetics400', num_classes=400, labels='kinetics400', num_frames=32, img_size=224, sampler='sample_frames', frame_interval=2, test_views=(4, 3), options={'window_size': (8, 7, 7)}, top1=80.6, top5=94.6, layout='mmcv', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.4/swin_base_patch244_window877_kinetics400_1k.pth'),
        page('https://pan.baidu.com/s/1bD2lxGxqIV7xECr1n2slng', "per-file link, access code 'swin'"),
    )),
    Weights('swin3d_base', 'in22k_ft_k400_32x2', dataset='kinetics400', num_classes=400, labels='kinetics400', num_frames=32, img_size=224, sampler='sample_frames', frame_interval=2, test_views=(4, 3), options={'window_size': (8, 7, 7)}, top1=82.7, top5=95.5, default=True, layout='mmcv', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.4/swin_base_patch244_window877_kinetics400_22k.pth'),
        page('https://pan.baidu.com/s/1CcCNzJAIud4niNPcREbDbQ', "per-file link, access code 'swin'"),
    )),
    Weights('swin3d_base', 'in22k_ft_k600_32x2', dataset='kinetics600', num_classes=600, labels='kinetics600', num_frames=32, img_size=224, sampler='sample_frames', frame_interval=2, test_views=(4, 3), options={'window_size': (8, 7, 7)}, top1=84.0, top5=96.5, layout='mmcv', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.4/swin_base_patch244_window877_kinetics600_22k.pth'),
        page('https://pan.baidu.com/s/1ZMeW6ylELTje-o3MiaZ-MQ', "per-file link, access code 'swin'"),
    )),
    Weights('swin3d_base', 'k400_ft_sthv2_32', dataset='sthv2', num_classes=174, labels='sthv2', num_frames=32, img_size=224, sampler='segment_middle', test_views=(1, 3), options={'window_size': (16, 7, 7)}, top1=69.6, top5=92.7, layout='mmcv', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.4/swin_base_patch244_window1677_sthv2.pth'),
        page('https://pan.baidu.com/s/18MOGf6L3LeUjrLoQEeA52Q', "per-file link, access code 'swin'"),
    )),
    Weights('swin3d_base', 'in22k_ft_k400_32x2_w16', dataset='kinetics400', num_classes=400, labels='kinetics400', num_frames=32, img_size=224, sampler='sample_frames', frame_interval=2, options={'window_size': (16, 7, 7)}, layout='mmcv', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.4/swin_base_patch244_window1677_kinetics400_22k.pth'),
        page('https://pan.baidu.com/s/1ZnJuX7-x2BflDKHpuvdLUg', "per-file link, access code 'swin'"),
    )),
    Weights('swin3d_tiny', 'in1k_ft_k400_32x2_mm', dataset='kinetics400', num_classes=400, labels='kinetics400', num_frames=32, img_size=224, sampler='sample_frames', frame_interval=2, test_views=(4, 3), options={'window_size': (8, 7, 7)}, top1=78.9, top5=93.77, layout='mmaction2', provenance='mmaction2-trained', notes="reference = author checkpoint tested on MMA2's data", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/swin/swin-tiny-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb/swin-tiny-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb_20220930-241016b2.pth', sha256_prefix='241016b2'),
    )),
    Weights('swin3d_small', 'in1k_ft_k400_32x2_mm', dataset='kinetics400', num_classes=400, labels='kinetics400', num_frames=32, img_size=224, sampler='sample_frames', frame_interval=2, test_views=(4, 3), options={'window_size': (8, 7, 7)}, top1=80.54, top5=94.46, layout='mmaction2', provenance='mmaction2-trained', notes="reference = author checkpoint tested on MMA2's data", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/swin/swin-small-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb/swin-small-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb_20220930-e91ab986.pth', sha256_prefix='e91ab986'),
    )),
    Weights('swin3d_base', 'in1k_ft_k400_32x2_mm', dataset='kinetics400', num_classes=400, labels='kinetics400', num_frames=32, img_size=224, sampler='sample_frames', frame_interval=2, test_views=(4, 3), options={'window_size': (8, 7, 7)}, top1=80.57, top5=94.49, layout='mmaction2', provenance='mmaction2-trained', notes="reference = author checkpoint tested on MMA2's data", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/swin/swin-base-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb/swin-base-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb_20220930-182ec6cc.pth', sha256_prefix='182ec6cc'),
    )),
    Weights('swin3d_large', 'in22k_ft_k400_32x2_mm', dataset='kinetics400', num_classes=400, labels='kinetics400', num_frames=32, img_size=224, sampler='sample_frames', frame_interval=2, test_views=(4, 3), options={'window_size': (8, 7, 7)}, top1=83.46, top5=95.91, default=True, layout='mmaction2', provenance='mmaction2-trained', sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/swin/swin-large-p244-w877_in22k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb/swin-large-p244-w877_in22k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb_20220930-78ad8b11.pth', sha256_prefix='78ad8b11'),
    )),
    Weights('swin3d_large', 'in22k_ft_k700_32x2_mm', dataset='kinetics700', num_classes=700, labels='kinetics700', num_frames=32, img_size=224, sampler='sample_frames', frame_interval=2, test_views=(4, 3), options={'window_size': (8, 7, 7)}, top1=75.92, top5=92.72, layout='mmaction2', provenance='mmaction2-trained', sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/swin/swin-large-p244-w877_in22k-pre_16xb8-amp-32x2x1-30e_kinetics700-rgb/swin-large-p244-w877_in22k-pre_16xb8-amp-32x2x1-30e_kinetics700-rgb_20220930-f8d74db7.pth', sha256_prefix='f8d74db7'),
    )),
    Weights('swin3d_small', 'in1k_ft_k710_32x2_mm', dataset='kinetics710', num_classes=710, labels='kinetics710', num_frames=32, img_size=224, sampler='sample_frames', frame_interval=2, test_views=(4, 3), options={'window_size': (8, 7, 7)}, top1=76.9, top5=92.96, layout='mmaction2', provenance='mmaction2-trained', sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/swin/swin-small-p244-w877_in1k-pre_32xb4-amp-32x2x1-30e_kinetics710-rgb/swin-small-p244-w877_in1k-pre_32xb4-amp-32x2x1-30e_kinetics710-rgb_20230612-8e082ff1.pth', sha256_prefix='8e082ff1'),
    )),
    Weights('swin3d_tiny', 'in1k_ft_k400_32x2_tv', dataset='kinetics400', num_classes=400, labels='kinetics400', num_frames=32, img_size=224, sampler='sample_frames', frame_interval=2, options={'window_size': (8, 7, 7)}, top1=77.715, top5=93.519, layout='torchvision', provenance='torchvision-port', license='BSD-3-Clause', notes='torchvision video-level accuracy (frame_rate 15, 12 clips x 32 frames), not the 4x3 protocol', sources=(
        http('https://download.pytorch.org/models/swin3d_t-7615ae03.pth', sha256_prefix='7615ae03'),
    )),
    Weights('swin3d_small', 'in1k_ft_k400_32x2_tv', dataset='kinetics400', num_classes=400, labels='kinetics400', num_frames=32, img_size=224, sampler='sample_frames', frame_interval=2, options={'window_size': (8, 7, 7)}, top1=79.521, top5=94.158, layout='torchvision', provenance='torchvision-port', license='BSD-3-Clause', notes='torchvision video-level accuracy (frame_rate 15, 12 clips x 32 frames), not the 4x3 protocol', sources=(
        http('https://download.pytorch.org/models/swin3d_s-da41c237.pth', sha256_prefix='da41c237'),
    )),
    Weights('swin3d_base', 'in1k_ft_k400_32x2_tv', dataset='kinetics400', num_classes=400, labels='kinetics400', num_frames=32, img_size=224, sampler='sample_frames', frame_interval=2, options={'window_size': (8, 7, 7)}, top1=79.427, top5=94.386, layout='torchvision', provenance='torchvision-port', license='BSD-3-Clause', notes='torchvision video-level accuracy (frame_rate 15, 12 clips x 32 frames), not the 4x3 protocol', sources=(
        http('https://download.pytorch.org/models/swin3d_b_1k-24f7c7c6.pth', sha256_prefix='24f7c7c6'),
    )),
    Weights('swin3d_base', 'in22k_ft_k400_32x2_tv', dataset='kinetics400', num_classes=400, labels='kinetics400', num_frames=32, img_size=224, sampler='sample_frames', frame_interval=2, options={'window_size': (8, 7, 7)}, top1=81.643, top5=95.574, layout='torchvision', provenance='torchvision-port', license='BSD-3-Clause', notes='torchvision video-level accuracy (frame_rate 15, 12 clips x 32 frames), not the 4x3 protocol', sources=(
        http('https://download.pytorch.org/models/swin3d_b_22k-7c6ae6fa.pth', sha256_prefix='7c6ae6fa'),
    )),
    Weights('swin3d_tiny', 'in1k', dataset='imagenet1k', num_classes=1000, labels=None, img_size=224, test_views=(1, 1), top1=81.2, top5=95.5, init_only=True, init_for=('swin3d_tiny',), layout='microsoft-swin', provenance='microsoft', license='MIT', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_tiny_patch4_window7_224.pth'),
        page('https://pan.baidu.com/s/156nWJy4Q28rDlrX-rRbI3w', 'per-file link'),
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/swin/swin_tiny_patch4_window7_224.pth'),
    )),
    Weights('swin3d_small', 'in1k', dataset='imagenet1k', num_classes=1000, labels=None, img_size=224, test_views=(1, 1), top1=83.2, top5=96.2, init_only=True, init_for=('swin3d_small',), layout='microsoft-swin', provenance='microsoft', license='MIT', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_small_patch4_window7_224.pth'),
        page('https://pan.baidu.com/s/1KFjpj3Efey3LmtE1QqPeQg', 'per-file link'),
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/swin/swin_small_patch4_window7_224.pth'),
    )),
    Weights('swin3d_base', 'in1k', dataset='imagenet1k', num_classes=1000, labels=None, img_size=224, test_views=(1, 1), top1=83.5, top5=96.5, init_only=True, init_for=('swin3d_base',), layout='microsoft-swin', provenance='microsoft', license='MIT', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_base_patch4_window7_224.pth'),
        page('https://pan.baidu.com/s/16bqCTEc70nC_isSsgBSaqQ', 'per-file link'),
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/swin/swin_base_patch4_window7_224.pth'),
    )),
    Weights('swin3d_tiny', 'in22k', dataset='imagenet22k', num_classes=21841, labels=None, img_size=224, test_views=(1, 1), init_only=True, init_for=('swin3d_tiny',), layout='microsoft-swin', provenance='microsoft', license='MIT', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.8/swin_tiny_patch4_window7_224_22k.pth'),
        page('https://pan.baidu.com/s/1vct0VYwwQQ8PYkBjwSSBZQ?pwd=swin', 'per-file link'),
    )),
    Weights('swin3d_small', 'in22k', dataset='imagenet22k', num_classes=21841, labels=None, img_size=224, test_views=(1, 1), init_only=True, init_for=('swin3d_small',), layout='microsoft-swin', provenance='microsoft', license='MIT', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.8/swin_small_patch4_window7_224_22k.pth'),
        page('https://pan.baidu.com/s/11NC1xdT5BAGBgazdTme5Sg?pwd=swin', 'per-file link'),
    )),
    Weights('swin3d_base', 'in22k', dataset='imagenet22k', num_classes=21841, labels=None, img_size=224, test_views=(1, 1), init_only=True, init_for=('swin3d_base',), layout='microsoft-swin', provenance='microsoft', license='MIT', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_base_patch4_window7_224_22k.pth'),
        page('https://pan.baidu.com/s/1y1Ec3UlrKSI8IMtEs-oBXA', 'per-file link'),
    )),
    Weights('swin3d_large', 'in22k', dataset='imagenet22k', num_classes=21841, labels=None, img_size=224, test_views=(1, 1), init_only=True, init_for=('swin3d_large',), layout='microsoft-swin', provenance='microsoft', license='MIT', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_large_patch4_window7_224_22k.pth'),
        page('https://pan.baidu.com/s/1pws3rOTFuOebBYP3h6Kx8w', 'per-file link'),
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/swin/swin_large_patch4_window7_224_22k.pth'),
    )),
    Weights('swin3d_tiny', 'in22k_ft_in1k', dataset='imagenet1k', num_classes=1000, labels=None, img_size=224, test_views=(1, 1), top1=80.9, top5=96.0, init_only=True, init_for=('swin3d_tiny',), layout='microsoft-swin', provenance='microsoft', license='MIT', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.8/swin_tiny_patch4_window7_224_22kto1k_finetune.pth'),
        page('https://pan.baidu.com/s/1K0OO-nGZDPkR8fm_r83e8Q?pwd=swin', 'per-file link'),
    )),
    Weights('swin3d_small', 'in22k_ft_in1k', dataset='imagenet1k', num_classes=1000, labels=None, img_size=224, test_views=(1, 1), top1=83.2, top5=97.0, init_only=True, init_for=('swin3d_small',), layout='microsoft-swin', provenance='microsoft', license='MIT', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.8/swin_small_patch4_window7_224_22kto1k_finetune.pth'),
        page('https://pan.baidu.com/s/10RFVfjQJhwPfeHrmxQUaLw?pwd=swin', 'per-file link'),
    )),
    Weights('swin3d_base', 'in22k_ft_in1k', dataset='imagenet1k', num_classes=1000, labels=None, img_size=224, test_views=(1, 1), top1=85.2, top5=97.5, init_only=True, init_for=('swin3d_base',), layout='microsoft-swin', provenance='microsoft', license='MIT', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_base_patch4_window7_224_22kto1k.pth'),
        page('https://pan.baidu.com/s/1n_wNkcbRxVXit8r_KrfAVg', 'per-file link'),
    )),
    Weights('swin3d_large', 'in22k_ft_in1k', dataset='imagenet1k', num_classes=1000, labels=None, img_size=224, test_views=(1, 1), top1=86.3, top5=97.9, init_only=True, init_for=('swin3d_large',), layout='microsoft-swin', provenance='microsoft', license='MIT', sources=(
        http('https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_large_patch4_window7_224_22kto1k.pth'),
        page('https://pan.baidu.com/s/1NkQApMWUhxBGjk1ne6VqBQ', 'per-file link'),
    )),
])
