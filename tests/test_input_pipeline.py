"""The CPU/device split of the shipped pre-training pipelines: the --augment-on-cpu switch (it reaches every
pipeline of every pre-training config, and refuses configs without a device stage), and Runners training
FALSE, SDCluster and SDSH on CPU with the all-CPU pipeline it selects (the device pipeline, the configs'
default, is trained by test_end_to_end, test_multispectral_end_to_end, test_sdcluster_transfer and
test_sdsh_train)."""
import glob
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

from helpers.tools import REPO, call_tool, train_tool_config
from rs_ssl_plugin.datasets.pipeline_config import find_transform, set_augment_on_device
from rs_ssl_plugin.datasets.synthetic import make_synthetic_potsdam

# config -> the transform whose on_device flag holds its photometric stage (docs/input_pipeline.md)
SWITCHES = {
    'false_r50_potsdam.py': 'PhotometricAugment',
    'false_r50_potsdam-rgbir.py': 'PhotometricAugment',
    'demo/false_r18_synthetic.py': 'PhotometricAugment',
    'sdcluster_swin-s_millionaid.py': 'PhotometricAugment',
    'sdsh_vit-s14_aid-16bit.py': 'SDSHMultiCrop',
    'sdsh_vit-s14_ucmd-64bit.py': 'SDSHMultiCrop',
}
# configs of CPU-only runs put the photometric stage in the loader by default (docs/false.md#cpu-scale-recipe)
LOADER_FIRST = ('demo/false_r18_synthetic.py', )
CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', '*.py')) + glob.glob(osp.join(REPO, 'configs', 'demo', '*.py')))
PRETRAINING_METHODS = ('FALSE', 'SDCluster', 'SDSH')  # their configs split the photometric stage
TINY_SWIN = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4))
TINY_VIT = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def load(name, on_device=None):
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    if on_device is not None:
        set_augment_on_device(cfg, on_device)  # what tools/train.py does with --augment-on-cpu
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
    assert find_transform(default.train_dataloader.dataset.pipeline, SWITCHES[name]).on_device is (
        name not in LOADER_FIRST)
    for on_device in (True, False):
        pipeline = Compose(load(name, on_device).train_dataloader.dataset.pipeline)
        sample = pipeline(dict(img_path=path))['data_samples']
        assert ('photometric_params' in sample) == on_device
        assert ('photometric_recipe' in sample) == on_device


def has_device_stage(node):
    """Whether a transform of ``node`` (a config as plain dicts and lists) has ``on_device=True``."""
    if isinstance(node, dict):
        return node.get('on_device') is True or any(has_device_stage(v) for v in node.values())
    return isinstance(node, (list, tuple)) and any(has_device_stage(v) for v in node)


def count_switches(node, value):
    """How many dicts of ``node`` hold ``on_device=value``."""
    if isinstance(node, dict):
        return (node.get('on_device') is value) + sum(count_switches(v, value) for v in node.values())
    return sum(count_switches(v, value) for v in node) if isinstance(node, (list, tuple)) else 0


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_augment_on_cpu_reaches_every_pipeline_of_every_pretraining_config(path):
    """Every FALSE, SDCluster and SDSH config has a device stage (on by default except in the CPU-only
    ``LOADER_FIRST`` configs) and the switch turns off each of its transforms, in every pipeline of the config
    and in the pipeline the dataset builds; any other config is refused with an error that says why."""
    cfg = Config.fromfile(path)
    if osp.relpath(path, osp.join(REPO, 'configs')) in LOADER_FIRST:
        assert not has_device_stage(cfg.to_dict())
        set_augment_on_device(cfg, True)
    before = count_switches(cfg.to_dict(), True)
    if cfg.model.type not in PRETRAINING_METHODS:
        assert not has_device_stage(cfg.to_dict())
        with pytest.raises(ValueError, match='the config has no transform with an on_device argument'):
            set_augment_on_device(cfg, False)
        return
    assert before >= 1 and has_device_stage(cfg.train_dataloader.dataset.pipeline)
    keys = set_augment_on_device(cfg, False)
    assert 'train_dataloader.dataset.pipeline' in {key.rsplit('.', 1)[0] for key in keys}
    assert not has_device_stage(cfg.to_dict())
    assert count_switches(cfg.to_dict(), False) == before == len(keys)
    init_default_scope('mmpretrain')
    built = Compose(cfg.train_dataloader.dataset.pipeline).transforms
    assert [t.on_device for t in built if hasattr(t, 'on_device')] == [False]
    assert set_augment_on_device(cfg, True) == keys
    assert count_switches(cfg.to_dict(), True) == before


def test_switch_refuses_wrong_uses():
    cfg = load('demo/false_r18_synthetic.py')
    with pytest.raises(TypeError, match="on_device must be True or False, got 'False'"):
        set_augment_on_device(cfg, 'False')
    cfg.model.data_preprocessor = dict(type='SelfSupDataPreprocessor', to_rgb=True)
    set_augment_on_device(cfg, False)
    with pytest.raises(ValueError, match="needs a data preprocessor that applies .*'SelfSupDataPreprocessor'"):
        set_augment_on_device(cfg, True)
    assert find_transform(cfg.train_dataloader.dataset.pipeline, 'PhotometricAugment').on_device is False
    pipeline = [dict(type='LoadImageFromFile'), dict(type='MultiView', num_views=2, transforms=[
        [dict(type='RandomFlip', prob=0.5)], [dict(type='mmpretrain.RandomFlip', prob=1.0)]])]
    loader, views = pipeline
    assert find_transform(pipeline, 'MultiView') is views
    assert find_transform(pipeline, ('Resize', 'LoadImageFromFile')) is loader
    with pytest.raises(ValueError, match='2 transforms of type RandomFlip, expected one'):
        find_transform(pipeline, 'RandomFlip')
    with pytest.raises(ValueError, match=r'no transforms of type Resize, expected one \(its transforms: '
                                         r'LoadImageFromFile, MultiView, RandomFlip, RandomFlip\)'):
        find_transform(pipeline, 'Resize')


def test_train_tool_switches_the_pipeline_or_says_why_not(monkeypatch, tmp_path):
    result = call_tool('tools/train.py', 'configs/upernet_r50_random_potsdam.py', '--augment-on-cpu',
                       '--work-dir', str(tmp_path / 'seg'))
    assert result.returncode == 1
    assert ('error: --augment-on-cpu: configs/upernet_r50_random_potsdam.py: the config has no transform with an '
            'on_device argument') in result.stderr

    cfg = train_tool_config(monkeypatch, osp.join(REPO, 'configs', 'sdsh_vit-s14_ucmd-64bit.py'), '--work-dir',
                            tmp_path / 'sdsh', '--augment-on-cpu')
    assert find_transform(cfg.train_dataloader.dataset.pipeline, 'SDSHMultiCrop').on_device is False


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
    find_transform(cfg.train_dataloader.dataset.pipeline, 'FastRandomResizedCrop').scale = 32
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
    find_transform(cfg.train_dataloader.dataset.pipeline, 'OverlappingMultiCrop').update(global_size=64)
    return cfg


def sdsh_config(root, on_device):
    rng = np.random.default_rng(0)
    for c in range(2):
        for j in range(2):
            mmcv.imwrite(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), osp.join(root, f'class_{c}', f'{j}.png'))
    cfg = load('sdsh_vit-s14_ucmd-64bit.py', on_device)
    cfg.train_dataloader.dataset.update(data_root=root, expected_num_classes=None)
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False, pin_memory=False)
    find_transform(cfg.train_dataloader.dataset.pipeline, 'SDSHMultiCrop').update(global_size=28, local_size=14,
                                                                                   num_local=2)
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
