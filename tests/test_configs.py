"""Every shipped config loads through Config.fromfile (custom_imports, mmseg::/mmpretrain:: bases) and builds."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmseg.registry import MODELS as SEG_MODELS

from helpers.tools import REPO
from rs_ssl_plugin.datasets.pipeline_config import find_transform

CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', '*.py')) + glob.glob(osp.join(REPO, 'configs', 'demo', '*.py')))


def without_pretrained_weights(node):
    """A copy of a model config with every ``init_cfg`` of type Pretrained removed (the checkpoints named by
    the configs do not exist in tests)."""
    if isinstance(node, dict):
        return {k: (None if k == 'init_cfg' and isinstance(v, dict) and v.get('type') == 'Pretrained'
                    else without_pretrained_weights(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [without_pretrained_weights(v) for v in node]
    return node


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(imports=['rs_ssl_plugin'], allow_failed_imports=False)
    init_default_scope(cfg.default_scope)
    model_cfg = without_pretrained_weights(cfg.model.to_dict())
    if cfg.default_scope == 'mmseg':
        # mmseg's base configs name ImageNet weights through `pretrained`; the plugin's configs must not
        assert model_cfg.get('pretrained') is None
        model = SEG_MODELS.build(model_cfg)
        if model_cfg['backbone']['type'] == 'ResNet':
            assert type(model.backbone).__module__.startswith('mmseg')
            assert hasattr(model.backbone, 'conv1'), 'plain torchvision-style stem expected'
    else:
        PRETRAIN_MODELS.build(model_cfg)


def test_hooks_of_the_bases_survive_in_every_config():
    """A config's own ``custom_hooks`` replace its bases' list: the data bases' checks must still be there
    (pre-training on ``UnlabeledImageFolder``: the corrupt-image report; segmentation on the checked datasets:
    the num_classes check), and every self-supervised pre-training config runs the collapse monitor."""
    for path in CONFIGS:
        cfg = Config.fromfile(path)
        hooks = [h['type'] for h in cfg.get('custom_hooks', [])]
        name = osp.relpath(path, REPO)
        dataset = cfg.train_dataloader.dataset
        if dataset.type == 'UnlabeledImageFolder':
            assert 'CorruptImageReportHook' in hooks, name
        if dataset.type in ('CheckedPotsdamDataset', 'ShaanxiBuildingsDataset'):
            assert 'NumClassesCheckHook' in hooks, name
        if cfg.model.type in ('FALSE', 'SDCluster', 'SDSH'):
            assert 'SSLMonitorHook' in hooks, name


def test_schedules_follow_the_run_length():
    """Every config (pre-training, IDDC, fine-tuning) leaves ``end`` out of its decay, the last param scheduler
    (mmengine ends it with the training loop; a warm-up before it keeps its length), and names its configured
    length for the report: ``ScheduleLengthHook`` or ``SDSHScheduleHook(epochs=...)``, equal to the config's
    own ``train_cfg``."""
    for path in CONFIGS:
        cfg = Config.fromfile(path)
        name = osp.relpath(path, REPO)
        hooks = {h['type']: h for h in cfg.get('custom_hooks', [])}
        if cfg.model.type == 'SDSH':
            sdsh = hooks['SDSHScheduleHook']
            assert sdsh.epochs * sdsh.epoch_length == cfg.train_cfg.max_iters, name
            continue
        assert 'end' not in cfg.param_scheduler[-1], name
        length = hooks['ScheduleLengthHook']
        assert (length.get('max_epochs'), length.get('max_iters')) == (cfg.train_cfg.get('max_epochs'),
                                                                       cfg.train_cfg.get('max_iters')), name


# the demo trains FALSE's CPU-scale recipe, whose differences from the paper docs/false.md lists
CPU_SCALE_FALSE = osp.join(REPO, 'configs', 'demo', 'false_r18_synthetic.py')


@pytest.mark.parametrize('path', [p for p in CONFIGS if Config.fromfile(p).model.type == 'FALSE'],
                         ids=lambda p: osp.relpath(p, REPO))
def test_false_configs_follow_the_official_model(path):
    cfg = Config.fromfile(path)
    init_default_scope('mmpretrain')
    model = PRETRAIN_MODELS.build(without_pretrained_weights(cfg.model.to_dict()))
    assert model.backbone.zero_init_residual is False
    if path == CPU_SCALE_FALSE:  # the BatchNorm head at T=0.1, LARC's peak LR unscaled
        assert isinstance(model.neck.activation, torch.nn.ReLU) and isinstance(model.neck.norm0, torch.nn.BatchNorm1d)
        assert model.head.temperature == 0.1 and cfg.optim_wrapper.optimizer.lr == 4.8
    else:
        assert isinstance(model.neck.activation, torch.nn.Identity)
        assert model.head.temperature == 0.5


def test_sdcluster_config_matches_official_hyperparameters():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'sdcluster_swin-s_millionaid.py'))
    assert cfg.train_dataloader.batch_size == 64 and cfg.train_dataloader.drop_last
    # the official AMP: float16 with a dynamic loss scale on GPUs (bfloat16 without one)
    assert cfg.optim_wrapper.type == 'MixedPrecisionOptimWrapper' and cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.get('dtype') is None
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=1.25e-3, betas=(0.9, 0.999), eps=1e-8,
                                               weight_decay=0.05)
    assert 'paramwise_cfg' not in cfg.optim_wrapper  # weight decay on every parameter
    assert cfg.train_cfg.max_epochs == 100 and cfg.param_scheduler[0].type == 'TimmWarmupCosineLR'
    assert cfg.param_scheduler[0].warmup_ratio == 0.2
    model = cfg.model
    assert model.backbone.drop_path_rate == 0.2 and model.base_momentum == 0.99
    assert (model.student_temperature, model.teacher_temperature, model.contrast_temperature) == (0.1, 0.07, 0.2)
    assert model.prototypes.num_prototypes == 256 and model.distill_weight == 0.5 and model.teacher_drop_path
    crops = find_transform(cfg.train_dataloader.dataset.pipeline, 'OverlappingMultiCrop')
    assert (crops.num_global, crops.num_local, crops.global_scale) == (2, 0, (0.25, 1.0))


def test_false_config_matches_official_hyperparameters():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'false_r50_potsdam.py'))
    assert cfg.train_dataloader.batch_size == 256 and cfg.train_dataloader.drop_last
    assert cfg.optim_wrapper.optimizer == dict(type='LARC', lr=4.8, momentum=0.9, weight_decay=1e-6,
                                               trust_coefficient=0.001, eps=1e-8)
    assert cfg.optim_wrapper.paramwise_cfg == dict(norm_decay_mult=0.0)
    assert cfg.model.head == dict(type='FALSEHead', temperature=0.5, confidence_weight=1.0,
                                  positive_threshold=0.9, sentinel=float('inf'))
    assert cfg.train_cfg.max_epochs == 200 and cfg.param_scheduler[0].type == 'VISSLCosineRestartLR'
