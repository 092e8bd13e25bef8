"""Shipped configs shrunk for CPU runs: small fine-tuning and pre-training setups on a tiny synthetic set."""
import os.path as osp

from helpers.tools import REPO
from rs_ssl_plugin.datasets.pipeline_config import find_transform


def shrink_finetune_data(cfg, data_root, crop=32, num_workers=0):
    """A shipped UperNet fine-tuning config (the demo's or one of the Potsdam configs) with ``RandomCrop``
    on ``data_root`` with ``crop`` px crops, batches of 2 and ``num_workers`` non-persistent loader workers."""
    cfg.model.data_preprocessor.size = (crop, crop)
    find_transform(cfg.train_dataloader.dataset.pipeline, 'RandomCrop').crop_size = (crop, crop)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(num_workers=num_workers, persistent_workers=False)
        cfg[loader].dataset.data_root = str(data_root)
    cfg.train_dataloader.batch_size = 2


def make_false_pretraining_learn(cfg, data_root, work_dir):
    """A shipped FALSE pre-training config on the 8 unlabelled crops of a tiny synthetic set for 4 iterations
    that learn: every batch holds all 8 crops, the views are easy (32 px crops and flips, no photometric stage)
    and the LR is high, so that the loss falls within the run."""
    cfg.work_dir = work_dir
    cfg.train_dataloader.update(batch_size=8, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = data_root
    pipeline = cfg.train_dataloader.dataset.pipeline
    crop = find_transform(pipeline, ('FastRandomResizedCrop', 'RandomResizedCrop'))  # RGB or 4-band FALSE
    crop.update(scale=32, crop_ratio_range=(0.5, 1.0))
    pipeline.remove(find_transform(pipeline, 'PhotometricAugment'))
    cfg.optim_wrapper.optimizer.lr = 48.
    cfg.train_cfg.max_epochs = 4
    cfg.param_scheduler[0].end = 4
    cfg.default_hooks.checkpoint.interval = 4
    cfg.default_hooks.logger.interval = 1
    return cfg


def tiny_upernet_config(data_root, work_dir, num_workers=0):
    """configs/demo/upernet_r18_false_synthetic.py (UperNet R18, dropout 0.1, ResumableCheckpointHook, seed 0)
    shrunk for CPU tests: 8-channel stem, 32 px crops, 16-channel heads, no pre-trained backbone, 6 iterations
    validated and checkpointed every 3."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo', 'upernet_r18_false_synthetic.py'))
    cfg.work_dir = str(work_dir)
    cfg.model.backbone.update(init_cfg=None, stem_channels=8, base_channels=8)
    cfg.model.decode_head.update(in_channels=[8, 16, 32, 64], channels=16)
    cfg.model.auxiliary_head.update(in_channels=32, channels=8)
    find_transform(cfg.train_dataloader.dataset.pipeline, 'RandomResize').scale = (64, 64)
    shrink_finetune_data(cfg, data_root, num_workers=num_workers)
    cfg.train_cfg.update(max_iters=6, val_interval=3)
    cfg.param_scheduler[0].end = 6
    cfg.default_hooks.checkpoint.update(interval=3, max_keep_ckpts=2)
    cfg.default_hooks.logger.interval = 1
    return cfg
