"""The CPU/device split of the shipped pre-training pipelines: the documented --cfg-options switch, and
Runners training FALSE, SDCluster and SDSH on CPU with the all-CPU pipeline it selects (the device pipeline,
the configs' default, is trained by test_end_to_end, test_multispectral_end_to_end, test_sdcluster_transfer
and test_sdsh_train)."""
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from helpers.tools import REPO
from rs_ssl_plugin.datasets.synthetic import make_synthetic_potsdam

# config -> the --cfg-options key that switches its photometric augmentation to the CPU (docs/input_pipeline.md)
SWITCHES = {
    'false_r50_potsdam.py': 'train_dataloader.dataset.pipeline.2.on_device',
    'false_r50_potsdam-rgbir.py': 'train_dataloader.dataset.pipeline.2.on_device',
    'demo/false_r18_synthetic.py': 'train_dataloader.dataset.pipeline.2.on_device',
    'sdcluster_swin-s_millionaid.py': 'train_dataloader.dataset.pipeline.3.on_device',
    'sdsh_vit-s14_aid-16bit.py': 'train_dataloader.dataset.pipeline.1.on_device',
    'sdsh_vit-s14_ucmd-64bit.py': 'train_dataloader.dataset.pipeline.1.on_device',
}
TINY_SWIN = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4))
TINY_VIT = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def load(name, on_device=None):
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    if on_device is not None:
        cfg.merge_from_dict({SWITCHES[name]: on_device})  # what tools/train.py does with --cfg-options
    return cfg


@pytest.mark.parametrize('name', sorted(SWITCHES))
def test_documented_switch_selects_the_all_cpu_pipeline(name, tmp_path):
    init_default_scope('mmpretrain')
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 4 if 'rgbir' in name else 3), dtype=np.uint8)
    path = str(tmp_path / ('img.tif' if 'rgbir' in name else 'img.png'))
    if 'rgbir' in name:
        import rasterio
        with rasterio.open(path, 'w', driver='GTiff', width=64, height=64, count=4, dtype='uint8') as raster:
            raster.write(img.transpose(2, 0, 1))
    else:
        mmcv.imwrite(img, path)
    default = load(name)
    assert default.train_dataloader.dataset.pipeline[int(SWITCHES[name].split('.')[3])].on_device is True
    for on_device in (True, False):
        pipeline = Compose(load(name, on_device).train_dataloader.dataset.pipeline)
        sample = pipeline(dict(img_path=path))['data_samples']
        assert ('photometric_params' in sample) == on_device
        assert ('photometric_recipe' in sample) == on_device


@pytest.fixture(scope='module')
def potsdam_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('switch') / 'potsdam')
    make_synthetic_potsdam(root, num_train=1, num_val=1, num_unlabeled=4, size=64, seed=5)
    return root


def false_config(root, on_device):
    cfg = load('demo/false_r18_synthetic.py', on_device)
    cfg.model.backbone.update(depth=18, base_channels=16, norm_cfg=dict(type='BN'))
    cfg.model.neck.in_channels = 128
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = root
    cfg.train_dataloader.dataset.pipeline[1].transforms[0][0].scale = 32
    cfg.model.neck.update(hid_channels=32, out_channels=16)
    return cfg


def sdcluster_config(root, on_device):
    cfg = load('sdcluster_swin-s_millionaid.py', on_device)
    cfg.model.backbone.update(TINY_SWIN)
    cfg.model.neck.update(in_channels=128, hidden_channels=32, out_channels=16)
    cfg.model.prototypes.update(num_prototypes=8, dim=16)
    cfg.model.predictor.update(in_channels=16, hidden_channels=32, out_channels=16)
    cfg.optim_wrapper = dict(type='OptimWrapper', optimizer=cfg.optim_wrapper.optimizer)  # no AMP on CPU
    cfg.pop('model_wrapper_cfg')
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False, pin_memory=False)
    cfg.train_dataloader.dataset.update(data_root=root, data_prefix='unlabeled')
    cfg.train_dataloader.dataset.pipeline[1].update(global_size=64)
    return cfg


def sdsh_config(root, on_device):
    rng = np.random.default_rng(0)
    for c in range(2):
        for j in range(2):
            mmcv.imwrite(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), osp.join(root, f'class_{c}', f'{j}.png'))
    cfg = load('sdsh_vit-s14_ucmd-64bit.py', on_device)
    cfg.train_dataloader.dataset.update(data_root=root, expected_num_classes=None)
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False, pin_memory=False)
    cfg.train_dataloader.dataset.pipeline[1].update(global_size=28, local_size=14, num_local=2)
    cfg.train_dataloader.collate_fn.update(mask_grid=(4, 4), max_mask_patches=None)
    cfg.model.backbone.update(arch=TINY_VIT, img_size=28, local_img_size=14, patch_size=7, hash_bits=16,
                              ibot_channels=16, init_cfg=None)
    for head in ('dino_head', 'ibot_head'):
        cfg.model[head].update(num_prototypes=32, hidden_channels=16, bottleneck_channels=16)
    cfg.custom_hooks[0].epoch_length = 1
    cfg.pop('val_dataloader'), cfg.pop('val_evaluator'), cfg.pop('val_cfg')
    cfg.pop('test_dataloader'), cfg.pop('test_evaluator'), cfg.pop('test_cfg')
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=2)
    return cfg


@pytest.mark.parametrize('method', ['false', 'sdcluster', 'sdsh'])
def test_runner_trains_with_the_all_cpu_pipeline(method, potsdam_root, tmp_path):
    on_device = False
    if method == 'sdsh':
        cfg = sdsh_config(str(tmp_path / 'scenes'), on_device)
    else:
        cfg = (false_config if method == 'false' else sdcluster_config)(potsdam_root, on_device)
        cfg.train_cfg.max_epochs = 1
        cfg.param_scheduler[0].end = 1
        cfg.default_hooks.checkpoint.interval = 1
    cfg.work_dir = str(tmp_path / 'work')
    cfg.default_hooks.logger.interval = 1
    cfg.experiment_name = f'cpu_pipeline_{method}'
    runner = Runner.from_cfg(cfg)
    batch = default_collate([runner.train_dataloader.dataset[0]] * 2)
    assert 'photometric_params' not in batch['data_samples'][0]
    runner.train()
    assert np.isfinite(runner.message_hub.get_scalar('train/loss').current())
    assert torch.isfinite(next(runner.model.parameters())).all()
