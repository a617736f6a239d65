"""One small configuration per family (seconds on CPU), shared by the export and compile tests."""
import tubelet
from tubelet.models.uniformerv2 import UniFormerV2

#: family -> (constructor, input shape without the batch)
SMALL = {
    "uniformer": (lambda: tubelet.create_model("uniformer_small", depth=[1, 1, 2, 1], embed_dim=[16, 32, 64, 128],
                                               head_dim=16, num_classes=5), (3, 4, 64, 64)),
    "uniformer_2d": (lambda: tubelet.create_model("uniformer_small_2d", depth=[1, 1, 1, 1],
                                                  embed_dim=[16, 32, 64, 128], head_dim=16, num_classes=5),
                     (3, 64, 64)),
    "uniformerv2": (lambda: UniFormerV2(input_resolution=32, patch_size=16, width=64, layers=2, heads=2,
                                        no_lmhra=False, return_list=[1], n_dim=64, n_head=2, num_classes=5),
                    (3, 4, 32, 32)),
    # window 2x4x4 on a 2x8x8 token grid: shifted windows, so the attention mask is exported too
    "swin": (lambda: tubelet.create_model("swin3d_tiny", embed_dim=16, depths=[2, 2, 1, 1], num_heads=[1, 1, 2, 2],
                                          window_size=[2, 4, 4], num_classes=5), (3, 4, 32, 32)),
}
