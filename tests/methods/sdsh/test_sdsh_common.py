"""Shared tiny SDSH settings for the SDSH tests (no tests here).

A 2-block, 32-d ViT with patch 7: global crops 28 px (4 x 4 = 16 patches), local crops 14 px (2 x 2)."""
import os.path as osp

import numpy as np
from mmengine.registry import init_default_scope

TINY_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
TINY_BACKBONE = dict(type='SDSHViT', arch=TINY_ARCH, img_size=28, local_img_size=14, patch_size=7, hash_bits=16,
                     ibot_channels=16, drop_path_rate=0.05)
TINY_HEAD = dict(type='SDSHDINOHead', num_prototypes=64, hidden_channels=32, bottleneck_channels=16, num_layers=3)


def tiny_model_cfg(**overrides):
    cfg = dict(type='SDSH', backbone=dict(TINY_BACKBONE), dino_head=dict(TINY_HEAD), ibot_head=dict(TINY_HEAD),
               data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                                      std=[58.395, 57.12, 57.375], to_rgb=True))
    cfg.update(overrides)
    return cfg


def build_tiny_sdsh(**overrides):
    from mmpretrain.registry import MODELS

    import rs_ssl_plugin  # noqa: F401
    init_default_scope('mmpretrain')
    model = MODELS.build(tiny_model_cfg(**overrides))
    model.init_weights()
    return model


def write_class_folders(root, num_classes=3, per_class=4, size=40, seed=0):
    """``root/<class_i>/img_j.png`` with random colour images; returns the root."""
    import mmcv
    rng = np.random.default_rng(seed)
    for c in range(num_classes):
        for j in range(per_class):
            img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            img[..., c % 3] = 200  # a class-dependent tint
            mmcv.imwrite(img, osp.join(str(root), f'class_{c}', f'img_{j:02d}.png'))
    return str(root)
