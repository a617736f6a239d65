"""Released weights of the light UniFormer models (XXS / XS, token pruning): Kinetics-400 video classifiers and
ImageNet-1K image classifiers, addressed as ``ARCH.TAG`` (see :mod:`tubelet.models._pretrained`).

Sources: Sense-X/UniFormer @ 52a0415 (``video_classification/README.md``, ``image_classification/README.md``, the
``exp_light/*`` configs) and the Hugging Face repo Andy1621/uniformer_light (sha256 and size from its LFS pointers).
The author's Google Drive and Baidu copies cannot be fetched by a program: those entries are manual.

Four of the eight Kinetics configs build the layer-scale class (``Uniformer_light_ls_fp32``, ``INIT_VALUE 0.1``):
their entries set ``layer_scale=True``. Every Kinetics model samples sparsely (``kinetics_sparse``: one frame per
segment) and is tested on 1 clip x 1 crop. The ImageNet files initialise the light video models (``in1k_128`` /
``in1k_160`` / ``in1k_192``, as each config's ``PRETRAIN_NAME``) and the light dense models (``in1k_224``).
"""
from ._pretrained import Weights, hf, page, register_weights

_VIDEO_FOLDERS = (
    page('https://pan.baidu.com/s/1lewLGZvPcf9ff3BCT4jpGw', "folder 'total_models' for all video models, access code gphp; not per-file"),
    page('https://drive.google.com/drive/folders/18LRT7FoCtH6LNGl6QNag58XEYoV_htbl?usp=sharing', "Drive folder 'total_models' holding all video models"),
)
_IMAGE_FOLDERS = (
    page('https://pan.baidu.com/s/1tLvcwGquAsQdGRAiKR0Jcg', "folder 'total_models' (IN-1K and light image models), access code bdkq; not per-file"),
    page('https://drive.google.com/drive/folders/1-sqWoelz3agOG74VkNwadY8RHR28o4Wv?usp=sharing', "Drive folder 'total_models' (IN-1K and light image models)"),
)
_LS = "config class Uniformer_light_ls_fp32: layer scale (gamma, INIT_VALUE 0.1) in every block"


def _k400(arch: str, frames: int, size: int, top1: float, drive_id: str, *, layer_scale: bool = False,
          default: bool = False, extra=(), notes: str = "") -> Weights:
    return Weights(arch, f'k400_{frames}x{size}', dataset='kinetics400', num_classes=400,
                   labels='kinetics400_uniformer', num_frames=frames, img_size=size, sampler='segment',
                   test_views=(1, 1), top1=top1, options={'layer_scale': True} if layer_scale else {},
                   default=default, layout='pyslowfast', notes=" ".join(x for x in (_LS if layer_scale else "", notes)
                                                                       if x),
                   sources=(*extra, page(f'https://drive.google.com/file/d/{drive_id}/view?usp=sharing'),
                            *_VIDEO_FOLDERS))


def _in1k(arch: str, size: int, top1: float, drive_id: str, *, init_for=(), default: bool = False,
          extra=()) -> Weights:
    return Weights(arch, f'in1k_{size}', dataset='imagenet1k', num_classes=1000, labels=None,
                   labels_note='ImageNet-1K class names are not shipped', img_size=size, test_views=(1, 1),
                   top1=top1, init_for=init_for, default=default, layout='flat',
                   file_name=f"{arch.replace('_2d', '')}_{size}_in1k.pth",
                   sources=(*extra, page(f'https://drive.google.com/file/d/{drive_id}/view?usp=sharing'),
                            *_IMAGE_FOLDERS))


WEIGHTS = register_weights([
    _k400('uniformer_xxs', 4, 128, 63.2, '1EFBxDS2m4mpk_sYejnPuGSDRH_1ELDhx', layer_scale=True),
    _k400('uniformer_xxs', 4, 160, 65.8, '1DtTFT7FZ_kUjxqXAYyWhfXSr_EIHQi8a', layer_scale=True),
    _k400('uniformer_xxs', 8, 128, 68.3, '1E9VwV-XJQCmo9nBhxLxa9DdphZiIg38z', layer_scale=True),
    _k400('uniformer_xxs', 8, 160, 71.4, '1Dxq82X8mBsfVOzij0HSeb1g4sdez71FM'),
    _k400('uniformer_xxs', 16, 128, 73.3, '1DngSOmw0rStnYZlaCnz1xII6CU2d2R_j'),
    _k400('uniformer_xxs', 16, 160, 75.1, '1DxqrNHb4h1ZKnEFaqbkKJAXQsyIFeD7b', default=True, extra=(
        hf('Andy1621/uniformer_light', 'uniformer_xxs16_160_k400.pth',
           sha256='af23d3492192993cc88d72cffc9accb27cd38a4d74acd5f721f62d6314d144a2', size=39459173),
    ), notes="the Hugging Face copy backs the author's uniformer_light Space; its equality with the Drive file is "
             "not verified"),
    _k400('uniformer_xxs', 32, 160, 77.9, '1EIVXRYn5UIkLaJGDpTBxTcyog_dKbcZe'),
    _k400('uniformer_xs', 32, 192, 78.6, '1DtdX-keSB-RkH23KqtQH36IMOUmol1kw', default=True),
    _in1k('uniformer_xxs_2d', 128, 76.8, '1Cr7uB5hUck1BHioEROWZjfLpYRwg4Zps', init_for=('uniformer_xxs',)),
    _in1k('uniformer_xxs_2d', 160, 79.1, '1CsXCzfVFPyM2mY8BA_1fO3q_VBngnF44', init_for=('uniformer_xxs',),
          default=True, extra=(
        hf('Andy1621/uniformer_light', 'uniformer_xxs_160_in1k.pth',
           sha256='f53dffcfdd608ca9c0ccd339ea1b02338bc0e23416e471f699d3a83bf431f2f8', size=40984485),
    )),
    _in1k('uniformer_xxs_2d', 192, 79.9, '1CjrCEnZCk2aLrN7nVG8vFvu3FAUL4_Y_'),
    _in1k('uniformer_xxs_2d', 224, 80.6, '1Cw9r_3c30N-esFI8RFYa6rQXJrr1rAHY',
          init_for=('uniformer_xxs_dense', 'uniformer_xxs_fpn')),
    _in1k('uniformer_xs_2d', 192, 81.5, '1Ce2Dk9-k_-sHt5dXp-gfNOEK37Jdcffv', init_for=('uniformer_xs',)),
    _in1k('uniformer_xs_2d', 224, 82.0, '1CwQ91fjuAu3Rhn3zV4vjAmQ8v36AfYPT',
          init_for=('uniformer_xs_dense', 'uniformer_xs_fpn'), default=True),
])
