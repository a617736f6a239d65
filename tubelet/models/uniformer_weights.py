"""Released UniFormer weights: one entry per checkpoint, addressed as ``ARCH.TAG`` (see :mod:`tubelet.models._pretrained`).

Sources: Sense-X/UniFormer @ 52a0415 (READMEs and model_path tables), the Hugging Face repos Sense-X/uniformer_video,
Sense-X/uniformer_image and Andy1621/uniformer (sha256 and size from their LFS pointers), MMAction2 (sha256 prefix in
the file name). The author's Google Drive and Baidu copies cannot be fetched by a program: those entries are manual.
The token-labeling (TL) S and B image models exist with head_dim 32 and 64 and identical tensor shapes: the
head_dim-32 ones are the ``uniformer_*_hd32_2d`` architectures, and every TL entry states its head_dim.
"""
from ._pretrained import Weights, dead, hf, http, page, register_weights

#: the author's whole-folder copies (Google Drive and Baidu with access codes): a person can browse them, no program can
_VIDEO_FOLDERS = (
    page('https://pan.baidu.com/s/1lewLGZvPcf9ff3BCT4jpGw', "folder 'total_models' for all video models, access code gphp; not per-file"),
    page('https://drive.google.com/drive/folders/18LRT7FoCtH6LNGl6QNag58XEYoV_htbl?usp=sharing', "Drive folder 'total_models' holding all video models"),
)
_TL_FOLDERS = (
    page('https://pan.baidu.com/s/1y1TnUvaXteHZd-CMbm3vPA', "folder 'total_models' (Token Labeling and 384 models), access code p05h; not per-file"),
    page('https://drive.google.com/drive/folders/16iRLUaaxRHLzHg-LMJ3HUOK3dE8WHDPs?usp=sharing', "Drive folder 'total_models' (Token Labeling and 384 models)"),
)
_IMAGE_FOLDERS = (
    page('https://pan.baidu.com/s/1tLvcwGquAsQdGRAiKR0Jcg', "folder 'total_models' (IN-1K and light image models), access code bdkq; not per-file"),
    page('https://drive.google.com/drive/folders/1-sqWoelz3agOG74VkNwadY8RHR28o4Wv?usp=sharing', "Drive folder 'total_models' (IN-1K and light image models)"),
)

WEIGHTS = register_weights([
    Weights('uniformer_small', 'k400_8x8', dataset='kinetics400', num_classes=400, labels='kinetics400_uniformer',
            num_frames=8, img_size=224, sampler='dense', frame_interval=8, test_views=(4, 1), top1=78.4,
            layout='pyslowfast', file_name='uniformer_small_k400_8x8.pth', sources=(
        page('https://drive.google.com/file/d/1-kitVTkWErHXI_x-sLItvK9-sOmb53j6/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_small', 'k400_16x4', dataset='kinetics400', num_classes=400, labels='kinetics400_uniformer',
            num_frames=16, img_size=224, sampler='dense', frame_interval=4, test_views=(4, 1), top1=80.8,
            layout='pyslowfast', file_name='uniformer_small_k400_16x4.pth', sources=(
        page('https://drive.google.com/file/d/1-jGZIIuTM5IYIpqkNTojhGhfMc7Gu9Kt/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_small', 'k400_16x8', dataset='kinetics400', num_classes=400, labels='kinetics400_uniformer',
            num_frames=16, img_size=224, sampler='dense', frame_interval=8, test_views=(4, 1), top1=80.8,
            default=True, layout='flat', sources=(
        hf('Sense-X/uniformer_video', 'uniformer_small_k400_16x8.pth',
            sha256='d5fd7b0c49ee6a5422ef5d0c884d962c742003bfbd900747485eb99fa269d0db', size=85735325),
        page('https://drive.google.com/file/d/174muWZJcZHieABDZMKiJ0tNeFLoEkJLx/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_base', 'k400_8x8', dataset='kinetics400', num_classes=400, labels='kinetics400_uniformer',
            num_frames=8, img_size=224, sampler='dense', frame_interval=8, test_views=(4, 1), top1=79.8,
            layout='pyslowfast', file_name='uniformer_base_k400_8x8.pth', sources=(
        page('https://drive.google.com/file/d/1hBxGU-QE8hGRBjSNCymJ7Au06LhluvTv/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_base', 'k400_16x4', dataset='kinetics400', num_classes=400, labels='kinetics400_uniformer',
            num_frames=16, img_size=224, sampler='dense', frame_interval=4, test_views=(4, 1), top1=82.0,
            layout='flat', notes='removed from the repository main branch; fetched at a pinned revision', sources=(
        hf('Andy1621/uniformer', 'uniformer_base_k400_16x4.pth',
            sha256='a36e08ecff0a2b11020d6e88046353f80fdeb10b40fe167f2fbc0c1d976fb873', size=199525573,
            revision='d89142ae405c18269be497f1a3cbcbe924237435'),
        page('https://drive.google.com/file/d/15ipzFaZdTt-aHv7jcr_h_vgYD2X7D6AD/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_base', 'k400_16x8', dataset='kinetics400', num_classes=400, labels='kinetics400_uniformer',
            num_frames=16, img_size=224, sampler='dense', frame_interval=8, test_views=(4, 1), top1=81.7,
            layout='pyslowfast', sources=(
        page('https://drive.google.com/file/d/1VoZcpFZbk9lEyRQ7gqRgT4CsnVt9g7uk/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_base', 'k400_32x4', dataset='kinetics400', num_classes=400, labels='kinetics400_uniformer',
            num_frames=32, img_size=224, sampler='dense', frame_interval=4, test_views=(4, 1), top1=82.9,
            default=True, layout='flat', sources=(
        hf('Sense-X/uniformer_video', 'uniformer_base_k400_32x4.pth',
            sha256='b432450566cdc4f50222e4851b5d304bba4444a699cdbb43fa529ceb18ae1f8e', size=199525573),
        page('https://drive.google.com/file/d/1gHxx8cr1H0CNvngj1kB9ArgcPfJtqjCV/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_small', 'k600_16x4', dataset='kinetics600', num_classes=600, labels='kinetics600_uniformer',
            num_frames=16, img_size=224, sampler='dense', frame_interval=4, test_views=(4, 1), top1=82.8,
            layout='pyslowfast', file_name='uniformer_small_k600_16x4.pth', sources=(
        page('https://drive.google.com/file/d/1-dqzjm5RZVspWHQLRD4S1vo4_6jyVltb/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_small', 'k600_16x8', dataset='kinetics600', num_classes=600, labels='kinetics600_uniformer',
            num_frames=16, img_size=224, sampler='dense', frame_interval=8, test_views=(4, 1), top1=82.7,
            layout='flat', sources=(
        hf('Sense-X/uniformer_video', 'uniformer_small_k600_16x8.pth',
            sha256='2a9143a63691c442b23f912ed3489e5800fc5916fb7aa1b25322ad5da2466c6f', size=86145693),
        page('https://drive.google.com/file/d/1-c835NJjg_015WxLBQF-1cPdQsyWMWfY/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_base', 'k600_16x4', dataset='kinetics600', num_classes=600, labels='kinetics600_uniformer',
            num_frames=16, img_size=224, sampler='dense', frame_interval=4, test_views=(4, 1), top1=84.0,
            layout='pyslowfast', file_name='uniformer_base_k600_16x4.pth', sources=(
        page('https://drive.google.com/file/d/1nBQCBCsCflhZ4OGUoGB3pAkc_GDau7vd/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_base', 'k600_16x8', dataset='kinetics600', num_classes=600, labels='kinetics600_uniformer',
            num_frames=16, img_size=224, sampler='dense', frame_interval=8, test_views=(4, 1), top1=83.4,
            layout='pyslowfast', sources=(
        page('https://drive.google.com/file/d/1aidHdSd-h65-_EUkfNOdMMw0ZB8G5maY/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_base', 'k600_32x4', dataset='kinetics600', num_classes=600, labels='kinetics600_uniformer',
            num_frames=32, img_size=224, sampler='dense', frame_interval=4, test_views=(4, 1), top1=84.5,
            layout='flat', sources=(
        hf('Sense-X/uniformer_video', 'uniformer_base_k600_32x4.pth',
            sha256='d44685e1d12e5aa413032e7719a8be45b95a19da4e7f76ac0e811f9a6f4825ae', size=199935941),
        page('https://drive.google.com/file/d/1-DwdVf8w8lYj-iFpU40pfEpog9VE5PQB/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_small', 'k400_ft_sthv1_16', dataset='sthv1', num_classes=174, labels='sthv1_uniformer',
            num_frames=16, img_size=224, sampler='segment', test_views=(1, 3), top1=57.2, layout='pyslowfast',
            sources=(
        page('https://drive.google.com/file/d/1-bdFsmXt2Ztf43lrVgmqS8_VYJ8tub6J/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_small', 'k600_ft_sthv1_16', dataset='sthv1', num_classes=174, labels='sthv1_uniformer',
            num_frames=16, img_size=224, sampler='segment', test_views=(1, 3), top1=57.6, layout='flat', sources=(
        hf('Sense-X/uniformer_video', 'uniformer_small_sthv1_16_prek600.pth',
            sha256='9a4dbb1e6e2adeb817959edcfbd43cdbb41c7e5c1393f6a3335d0a089d4ba424'),
        page('https://drive.google.com/file/d/1-YbYGjM15MDtQnrmCeZ9H2ybNdYTFkgO/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_small', 'k400_ft_sthv1_32', dataset='sthv1', num_classes=174, labels='sthv1_uniformer',
            num_frames=32, img_size=224, sampler='segment', test_views=(1, 3), top1=58.8, layout='pyslowfast',
            sources=(
        page('https://drive.google.com/file/d/1-Y5ADssqM2C8o_1jix48fQM788mVGWQ3/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_small', 'k600_ft_sthv1_32', dataset='sthv1', num_classes=174, labels='sthv1_uniformer',
            num_frames=32, img_size=224, sampler='segment', test_views=(1, 3), top1=59.9, layout='pyslowfast',
            sources=(
        page('https://drive.google.com/file/d/1-XEgaGqXGp1EGzFl63ctApnvU54X27WP/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_base', 'k400_ft_sthv1_16', dataset='sthv1', num_classes=174, labels='sthv1_uniformer',
            num_frames=16, img_size=224, sampler='segment', test_views=(1, 3), top1=59.1, layout='pyslowfast',
            sources=(
        page('https://drive.google.com/file/d/1uMq4W5lf17vOHUmccNjYLeTMqaWHSh6v/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_base', 'k600_ft_sthv1_16', dataset='sthv1', num_classes=174, labels='sthv1_uniformer',
            num_frames=16, img_size=224, sampler='segment', test_views=(1, 3), top1=58.8, layout='pyslowfast',
            sources=(
        page('https://drive.google.com/file/d/1xpiL8zEDWYHFR55gOsbQiI41YEjTD89J/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_base', 'k400_ft_sthv1_32', dataset='sthv1', num_classes=174, labels='sthv1_uniformer',
            num_frames=32, img_size=224, sampler='segment', test_views=(1, 3), top1=60.9, layout='pyslowfast',
            sources=(
        page('https://drive.google.com/file/d/18A3FuUUbdQ8ehMQ0D78qTTtm6YmIVWaO/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_base', 'k600_ft_sthv1_32', dataset='sthv1', num_classes=174, labels='sthv1_uniformer',
            num_frames=32, img_size=224, sampler='segment', test_views=(1, 3), top1=61.0, layout='flat', sources=(
        hf('Sense-X/uniformer_video', 'uniformer_base_sthv1_32_prek600.pth',
            sha256='8da7f948d7fcc72444dd3783ff12fb18e997d78acc3d70135d14687433448090', size=199061829),
        page('https://drive.google.com/file/d/1xE1aJYAYFOlXOkpiIbJFHu_jSrr8reKm/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_small', 'k400_ft_sthv2_16', dataset='sthv2', num_classes=174, labels='sthv2', num_frames=16,
            img_size=224, sampler='segment', test_views=(1, 3), top1=67.7, layout='pyslowfast', sources=(
        page('https://drive.google.com/file/d/1-Wq22024HB7tT8kPX6eSMn2GUNMI-_gY/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_small', 'k600_ft_sthv2_16', dataset='sthv2', num_classes=174, labels='sthv2', num_frames=16,
            img_size=224, sampler='segment', test_views=(1, 3), top1=69.4, layout='flat', sources=(
        hf('Sense-X/uniformer_video', 'uniformer_small_sthv2_16_prek600.pth',
            sha256='6b085f96980edf491386893902a5a304a63f4da395d528bcdeef6e7464bd160f', size=85271581),
        page('https://drive.google.com/file/d/1-V1mQp4fIIYhaXUWCgZXkJ0H6ne0Z8rz/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_small', 'k400_ft_sthv2_32', dataset='sthv2', num_classes=174, labels='sthv2', num_frames=32,
            img_size=224, sampler='segment', test_views=(1, 3), top1=69.0, layout='pyslowfast', sources=(
        page('https://drive.google.com/file/d/1-5Q5S-NRmHFkIBygaRYpJLT7aI9cpmky/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_small', 'k600_ft_sthv2_32', dataset='sthv2', num_classes=174, labels='sthv2', num_frames=32,
            img_size=224, sampler='segment', test_views=(1, 3), top1=70.4, layout='pyslowfast', sources=(
        page('https://drive.google.com/file/d/1-1K5R3Ed4t8d_DZnJ62xysIt1dBNmx96/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_base', 'k400_ft_sthv2_16', dataset='sthv2', num_classes=174, labels='sthv2', num_frames=16,
            img_size=224, sampler='segment', test_views=(1, 3), top1=70.4, layout='pyslowfast', sources=(
        page('https://drive.google.com/file/d/1s78JBpnykyJ7pYEGRDK8BZL9seIRIUlC/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_base', 'k600_ft_sthv2_16', dataset='sthv2', num_classes=174, labels='sthv2', num_frames=16,
            img_size=224, sampler='segment', test_views=(1, 3), top1=70.2, layout='pyslowfast', sources=(
        page('https://drive.google.com/file/d/16nCBGWzMM8n8Vr_EY0UmvgzLG0S_QYef/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_base', 'k400_ft_sthv2_32', dataset='sthv2', num_classes=174, labels='sthv2', num_frames=32,
            img_size=224, sampler='segment', test_views=(1, 3), top1=71.1, layout='pyslowfast', sources=(
        page('https://drive.google.com/file/d/1-rpMARXnyvyj6YUJkIvVqtna86egpjoS/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_base', 'k600_ft_sthv2_32', dataset='sthv2', num_classes=174, labels='sthv2', num_frames=32,
            img_size=224, sampler='segment', test_views=(1, 3), top1=71.2, layout='flat', sources=(
        hf('Sense-X/uniformer_video', 'uniformer_base_sthv2_32_prek600.pth',
            sha256='b7a74408ed230e9671d30da2f596bef84900aaaa325a5793f6cb3ba25f721eae', size=199061829),
        page('https://drive.google.com/file/d/1-lkRB3546l_ECuObN_IrHws1C9a-qKPr/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_small', 'k400_ft_ucf101_16x4', dataset='ucf101_split1', num_classes=101, labels='ucf101',
            num_frames=16, img_size=224, sampler='dense', frame_interval=4, test_views=(5, 3), top1=98.3,
            layout='pyslowfast', sources=(
        page('https://drive.google.com/file/d/1Ey8JIGcP8G2H0bKxyNnD61lvHV1eerVt/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_small', 'k400_ft_hmdb51_16x4', dataset='hmdb51_split1', num_classes=51, labels='hmdb51',
            num_frames=16, img_size=224, sampler='dense', frame_interval=4, test_views=(5, 3), top1=77.5,
            layout='pyslowfast', sources=(
        page('https://drive.google.com/file/d/1Es4xtcEvQSomnbp6Eo7TC3JejIwHf5yS/view?usp=sharing'),
        *_VIDEO_FOLDERS,
    )),
    Weights('uniformer_small', 'k400_16x4_mm', dataset='kinetics400', num_classes=400, labels='kinetics400',
            num_frames=16, img_size=224, sampler='dense', frame_interval=4, test_views=(4, 1), top1=80.9, top5=94.6,
            layout='mmaction2', provenance='mmaction2-port',
            notes="MMA2 top1/top5 on the UF data list; 'reference' = UF numbers quoted by MMA2", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv1/uniformer-small_imagenet1k-pre_16x4x1_kinetics400-rgb_20221219-c630a037.pth',
            sha256_prefix='c630a037'),
    )),
    Weights('uniformer_base', 'k400_16x4_mm', dataset='kinetics400', num_classes=400, labels='kinetics400',
            num_frames=16, img_size=224, sampler='dense', frame_interval=4, test_views=(4, 1), top1=82.0, top5=95.0,
            layout='mmaction2', provenance='mmaction2-port',
            notes="MMA2 top1/top5 on the UF data list; 'reference' = UF numbers quoted by MMA2", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv1/uniformer-base_imagenet1k-pre_16x4x1_kinetics400-rgb_20221219-157c2e66.pth',
            sha256_prefix='157c2e66'),
    )),
    Weights('uniformer_base', 'k400_32x4_mm', dataset='kinetics400', num_classes=400, labels='kinetics400',
            num_frames=32, img_size=224, sampler='dense', frame_interval=4, test_views=(4, 1), top1=83.1, top5=95.3,
            layout='mmaction2', provenance='mmaction2-port',
            notes="MMA2 top1/top5 on the UF data list; 'reference' = UF numbers quoted by MMA2", sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv1/uniformer-base_imagenet1k-pre_32x4x1_kinetics400-rgb_20221219-b776322c.pth',
            sha256_prefix='b776322c'),
    )),
    Weights('uniformer_small_2d', 'in1k', dataset='imagenet1k', num_classes=1000, labels=None,
            labels_note='ImageNet-1K class names are not shipped', img_size=224, test_views=(1, 1), top1=82.9,
            init_for=('uniformer_small', 'uniformer_small_dense', 'uniformer_small_fpn', 'uniformer_small_upernet',
                      'uniformer_small_pose'), default=True, layout='flat', sources=(
        hf('Andy1621/uniformer', 'uniformer_small_in1k.pth',
            sha256='fd192c31f8bd77670de8f171111bd51f56fd87e6aea45043ab2edc181e1fa775', size=86314461),
        hf('Sense-X/uniformer_image', 'uniformer_small_in1k.pth'),
        page('https://drive.google.com/file/d/1-uepH3Q3BhTmWU6HK-sGAGQC_MpfIiPD/view?usp=sharing'),
        *_IMAGE_FOLDERS,
    )),
    Weights('uniformer_small_plus_2d', 'in1k', dataset='imagenet1k', num_classes=1000, labels=None,
            labels_note='ImageNet-1K class names are not shipped', img_size=224, test_views=(1, 1), top1=83.4,
            default=True, layout='flat', sources=(
        hf('Sense-X/uniformer_image', 'uniformer_small_plus_in1k.pth',
            sha256='53bc55180eb750f00b12933c75fefb5f9ee652bea606cd26104b738f0c4c472e'),
        page('https://drive.google.com/file/d/10IN5ULcjz0Ld_lDokkTGOSmRFXLzUkEs/view?usp=sharing'),
        *_IMAGE_FOLDERS,
    )),
    Weights('uniformer_base_2d', 'in1k', dataset='imagenet1k', num_classes=1000, labels=None,
            labels_note='ImageNet-1K class names are not shipped', img_size=224, test_views=(1, 1), top1=83.8,
            init_for=('uniformer_base', 'uniformer_base_dense', 'uniformer_base_fpn', 'uniformer_base_upernet',
                      'uniformer_base_pose'), default=True, layout='flat', sources=(
        hf('Sense-X/uniformer_image', 'uniformer_base_in1k.pth',
            sha256='82c01015818cb897b00a29352043053df53ce4c02c2d012226b3a8a12ccb60eb', size=199378501),
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv1/uniformer_base_in1k_20221219-82c01015.pth',
            sha256_prefix='82c01015'),
        page('https://drive.google.com/file/d/1-wT39QazTGELxgrQIu6J12D3qcla3hui/view?usp=sharing'),
        *_IMAGE_FOLDERS,
    )),
    Weights('uniformer_base_ls_2d', 'in1k', dataset='imagenet1k', num_classes=1000, labels=None,
            labels_note='ImageNet-1K class names are not shipped', img_size=224, test_views=(1, 1), top1=83.9,
            default=True, layout='deit', sources=(
        page('https://drive.google.com/file/d/10FnwzMVgGL8bPO3EMZ7oG4vDvqnPoBK5/view?usp=sharing'),
        *_IMAGE_FOLDERS,
    )),
    Weights('uniformer_small_plus_dim64_2d', 'in1k', dataset='imagenet1k', num_classes=1000, labels=None,
            labels_note='ImageNet-1K class names are not shipped', img_size=224, test_views=(1, 1), top1=83.4,
            default=True, layout='deit', sources=(
        page('https://drive.google.com/file/d/178ipRvMBKeAP_Fzy6fEr2HQkIQWdgEY6/view?usp=sharing'),
        *_IMAGE_FOLDERS,
    )),
    Weights('uniformer_small_2d', 'in1k_mm', dataset='imagenet1k', num_classes=1000, labels=None,
            labels_note='ImageNet-1K class names are not shipped', img_size=224, test_views=(1, 1), top1=82.9,
            init_for=('uniformer_small',), layout='flat', provenance='mmaction2-rehost', sources=(
        http('https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv1/uniformer_small_in1k_20221219-fe0a7ae0.pth',
            sha256_prefix='fe0a7ae0'),
    )),
    Weights('uniformer_small_hd32_2d', 'in1k_tl', dataset='imagenet1k', num_classes=1000, labels=None,
            labels_note='ImageNet-1K class names are not shipped', img_size=224, test_views=(1, 1),
            options={'aux_head': True}, top1=83.4, layout='timm', sources=(
        page('https://drive.google.com/file/d/16wjfeyqQFZ2x9W91EXf0Py1bfv4Fydfr/view?usp=sharing'),
        *_TL_FOLDERS,
    )),
    Weights('uniformer_small_plus_2d', 'in1k_tl', dataset='imagenet1k', num_classes=1000, labels=None,
            labels_note='ImageNet-1K class names are not shipped', img_size=224, test_views=(1, 1),
            options={'aux_head': True, 'head_dim': 32}, top1=83.9, layout='timm', sources=(
        page('https://drive.google.com/file/d/16rgtEVEeX3jVTQaiLsojBQP5sRaj_2aZ/view?usp=sharing'),
        *_TL_FOLDERS,
    )),
    Weights('uniformer_base_hd32_2d', 'in1k_tl', dataset='imagenet1k', num_classes=1000, labels=None,
            labels_note='ImageNet-1K class names are not shipped', img_size=224, test_views=(1, 1),
            options={'aux_head': True}, top1=85.1, layout='timm', sources=(
        page('https://drive.google.com/file/d/16nsTjawiYZuoCHBRarr58zA7vCFcmQmL/view?usp=sharing'),
        *_TL_FOLDERS,
    )),
    Weights('uniformer_large_ls_2d', 'in1k_tl', dataset='imagenet1k', num_classes=1000, labels=None,
            labels_note='ImageNet-1K class names are not shipped', img_size=224, test_views=(1, 1),
            options={'aux_head': True}, top1=85.6, default=True, layout='timm', sources=(
        page('https://drive.google.com/file/d/173e2qaJhOwbuC_DbNQSH47Oo_04mSfDj/view?usp=sharing'),
        *_TL_FOLDERS,
    )),
    Weights('uniformer_small_2d', 'in1k_tl', dataset='imagenet1k', num_classes=1000, labels=None,
            labels_note='ImageNet-1K class names are not shipped', img_size=224, test_views=(1, 1),
            options={'aux_head': True, 'head_dim': 64}, top1=83.4, layout='timm', sources=(
        page('https://drive.google.com/file/d/17NC5qqAWCT2gI_jY_cJnFTOqRQTSwsoz/view?usp=sharing'),
        *_TL_FOLDERS,
    )),
    Weights('uniformer_small_plus_dim64_2d', 'in1k_tl', dataset='imagenet1k', num_classes=1000, labels=None,
            labels_note='ImageNet-1K class names are not shipped', img_size=224, test_views=(1, 1),
            options={'aux_head': True, 'head_dim': 64}, top1=83.6, layout='timm', sources=(
        page('https://drive.google.com/file/d/17OfoDWt2_nA0BYN0OuLPpG8mHJDTluQQ/view?usp=sharing'),
        *_TL_FOLDERS,
    )),
    Weights('uniformer_base_2d', 'in1k_tl', dataset='imagenet1k', num_classes=1000, labels=None,
            labels_note='ImageNet-1K class names are not shipped', img_size=224, test_views=(1, 1),
            options={'aux_head': True, 'head_dim': 64}, top1=84.8, layout='timm', sources=(
        page('https://drive.google.com/file/d/17MneG9CnZG6zBvXYUr4WUXoTYc4rjJj5/view?usp=sharing'),
        *_TL_FOLDERS,
    )),
    Weights('uniformer_small_hd32_2d', 'in1k_tl_384', dataset='imagenet1k', num_classes=1000, labels=None,
            labels_note='ImageNet-1K class names are not shipped', img_size=384, test_views=(1, 1),
            options={'aux_head': True}, top1=84.6, layout='timm', sources=(
        page('https://drive.google.com/file/d/16p4CXzuXC5J4_SJK67dsvnc8gTKmtKN1/view?usp=sharing'),
        *_TL_FOLDERS,
    )),
    Weights('uniformer_small_plus_2d', 'in1k_tl_384', dataset='imagenet1k', num_classes=1000, labels=None,
            labels_note='ImageNet-1K class names are not shipped', img_size=384, test_views=(1, 1),
            options={'aux_head': True, 'head_dim': 32}, top1=84.9, layout='timm', sources=(
        page('https://drive.google.com/file/d/16wJT87vTc43Dt1q2sXrxZRUuEdrNdFdk/view?usp=sharing'),
        *_TL_FOLDERS,
    )),
    Weights('uniformer_base_hd32_2d', 'in1k_tl_384', dataset='imagenet1k', num_classes=1000, labels=None,
            labels_note='ImageNet-1K class names are not shipped', img_size=384, test_views=(1, 1),
            options={'aux_head': True}, top1=86.0, layout='timm', sources=(
        page('https://drive.google.com/file/d/16kZlIarIwf9ldkCdHVKTQfFmDgfkucQ7/view?usp=sharing'),
        *_TL_FOLDERS,
    )),
    Weights('uniformer_large_ls_2d', 'in1k_tl_384', dataset='imagenet1k', num_classes=1000, labels=None,
            labels_note='ImageNet-1K class names are not shipped', img_size=384, test_views=(1, 1),
            options={'aux_head': True}, top1=86.3, layout='timm', sources=(
        page('https://drive.google.com/file/d/174rcA6rNzYVG9Ya9ik-NwTGoxW1M79ez/view?usp=sharing'),
        *_TL_FOLDERS,
    )),
])
