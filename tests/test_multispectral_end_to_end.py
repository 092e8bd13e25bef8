"""4-band (R, G, B, IR) end to end with the shipped RGBIR configs, shrunk: FALSE pre-training on 4-band
GeoTIFF crops -> backbone export -> UperNet fine-tuning -> validation, on CPU."""
import glob
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import rasterio
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmseg.registry import MODELS as SEG_MODELS

from helpers.configs import make_false_pretraining_learn, shrink_finetune_data
from helpers.runner import StateAtStart, assert_loss_falls, assert_same_metrics, assert_trained, last_val_metrics
from helpers.tools import REPO
from rs_ssl_plugin.checkpoints.export import export_backbone


def png_to_rgbir(png: str) -> None:
    """Replace an RGB PNG by a 4-band GeoTIFF (R, G, B, a made-up IR band) next to it."""
    rgb = cv2.imread(png, cv2.IMREAD_COLOR)[..., ::-1]
    ir = np.clip(rgb[..., 1].astype(np.int32) * 3 // 2 - rgb[..., 0] // 2, 0, 255).astype(np.uint8)
    bands = np.concatenate([rgb, ir[..., None]], axis=2).transpose(2, 0, 1)
    with rasterio.open(png[:-4] + '.tif', 'w', driver='GTiff', width=bands.shape[2], height=bands.shape[1],
                       count=4, dtype='uint8') as dst:
        dst.write(bands)
    os.remove(png)


@pytest.fixture(scope='module')
def data_root(synthetic_potsdam, tmp_path_factory):
    """A copy of the shared synthetic Potsdam with its images as 4-band GeoTIFFs."""
    root = str(tmp_path_factory.mktemp('rgbir') / 'potsdam_rgbir')
    shutil.copytree(synthetic_potsdam, root)
    for png in glob.glob(osp.join(root, 'img_dir', '*', '*.png')) + glob.glob(osp.join(root, 'unlabeled', '*.png')):
        png_to_rgbir(png)
    return root


def pretrain_config(data_root, work_dir):
    """The 4-band FALSE config with a small ResNet-18 in 4 iterations that learn (the band transforms have their
    own tests)."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'false_r50_potsdam-rgbir.py'))
    cfg.model.backbone.update(depth=18, norm_cfg=dict(type='BN'))
    cfg.model.neck.update(in_channels=512, hid_channels=64, out_channels=32)
    return make_false_pretraining_learn(cfg, data_root, work_dir)


def test_rgbir_pretrain_export_finetune(data_root, tmp_path):
    cfg = pretrain_config(data_root, str(tmp_path / 'pretrain'))
    runner = Runner.from_cfg(cfg)
    start = StateAtStart()
    runner.register_hook(start)
    runner.train()
    assert runner.model.backbone.conv1.weight.shape[1] == 4
    assert_loss_falls(runner, iterations=4)

    init_default_scope('mmseg')
    backbone_path = str(tmp_path / 'backbone.pth')
    export_backbone(osp.join(cfg.work_dir, 'epoch_4.pth'), backbone_path,
                    target_module=SEG_MODELS.build(dict(type='ResNet', depth=18, in_channels=4)))
    assert_trained(torch.load(backbone_path, map_location='cpu')['state_dict'],
                   {k[len('backbone.'):]: v for k, v in start.state.items() if k.startswith('backbone.')})

    cfg = Config.fromfile(osp.join(REPO, 'configs', 'upernet_r50_false_potsdam-rgbir.py'))
    cfg.work_dir = str(tmp_path / 'finetune')
    cfg.model.backbone.update(depth=18, norm_cfg=dict(type='BN'))
    cfg.model.backbone.init_cfg.checkpoint = backbone_path
    cfg.model.decode_head.update(in_channels=[64, 128, 256, 512], channels=32, norm_cfg=dict(type='BN'))
    cfg.model.auxiliary_head.update(in_channels=256, channels=16, norm_cfg=dict(type='BN'))
    shrink_finetune_data(cfg, data_root)
    cfg.train_cfg.update(max_iters=2, val_interval=2)
    cfg.param_scheduler = [dict(type='PolyLR', power=1.0, begin=0, end=2, by_epoch=False)]
    cfg.default_hooks.checkpoint.interval = 2
    runner = Runner.from_cfg(cfg)
    exported = torch.load(backbone_path, map_location='cpu')['state_dict']
    runner.model.init_weights()
    torch.testing.assert_close(runner.model.backbone.conv1.weight, exported['backbone.conv1.weight'])
    runner.train()
    validated = last_val_metrics(runner)  # logged by the validation at iteration 2
    metrics = runner.val_loop.run()
    assert 'aAcc' in metrics and 0 <= metrics['aAcc'] <= 100
    assert_same_metrics(metrics, validated)  # the same weights and data
