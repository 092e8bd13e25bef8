"""Every shipped config loads through Config.fromfile (custom_imports, mmseg::/mmpretrain:: bases) and builds."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmseg.registry import MODELS as SEG_MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', '*.py')) + glob.glob(osp.join(REPO, 'configs', 'demo', '*.py')))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(imports=['rs_ssl_plugin'], allow_failed_imports=False)
    init_default_scope(cfg.default_scope)
    model_cfg = cfg.model
    if cfg.default_scope == 'mmseg':
        assert model_cfg.pretrained is None and model_cfg.backbone.type == 'ResNet'
        assert model_cfg.backbone.init_cfg.prefix == 'backbone.'
        model_cfg.backbone.init_cfg = None  # the exported checkpoint does not exist in tests
        model = SEG_MODELS.build(model_cfg)
        assert type(model.backbone).__module__.startswith('mmseg')
        assert hasattr(model.backbone, 'conv1'), 'plain torchvision-style stem expected'
    else:
        model = PRETRAIN_MODELS.build(model_cfg)
        assert type(model).__name__ == 'FALSE'
        assert model.backbone.zero_init_residual is False
        assert isinstance(model.neck.activation, torch.nn.Identity)


def test_false_config_matches_official_hyperparameters():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'false_r50_potsdam.py'))
    assert cfg.train_dataloader.batch_size == 256 and cfg.train_dataloader.drop_last
    assert cfg.optim_wrapper.optimizer == dict(type='LARC', lr=4.8, momentum=0.9, weight_decay=1e-6,
                                               trust_coefficient=0.001, eps=1e-8)
    assert cfg.optim_wrapper.paramwise_cfg == dict(norm_decay_mult=0.0)
    assert cfg.model.head == dict(type='FALSEHead', temperature=0.5, confidence_weight=1.0,
                                  positive_threshold=0.9, sentinel=float('inf'))
    assert cfg.train_cfg.max_epochs == 200 and cfg.param_scheduler[0].type == 'VISSLCosineRestartLR'
