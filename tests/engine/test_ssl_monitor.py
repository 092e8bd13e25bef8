"""SSLMonitorHook: the collapse statistics against references, the warning on a collapsed batch (and not on a
healthy one), and the hook in a real FALSE run with the online kNN."""
import glob
import json
import logging
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from torch import nn

from helpers.logs import LogRecords
from helpers.tools import REPO
from rs_ssl_plugin.datasets.pipeline_config import find_transform
from rs_ssl_plugin.datasets.synthetic import make_synthetic_potsdam
from rs_ssl_plugin.engine.ssl_monitor import SSLMonitorHook, collapse_reasons, embedding_statistics


def reference_statistics(x):
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    n, d = z.shape
    cosines = z @ z.T
    singular = np.linalg.svd(z, compute_uv=False)
    p = singular / singular.sum()
    p = p[p > 0]
    return dict(std_ratio=z.std(axis=0, ddof=1).mean() * np.sqrt(d),
                mean_cosine=(cosines.sum() - np.trace(cosines)) / (n * (n - 1)),
                effective_rank=np.exp(-(p * np.log(p)).sum()))


def test_statistics_equal_references_and_flag_only_collapse():
    healthy = np.random.default_rng(0).normal(size=(64, 32))
    stats = embedding_statistics(torch.from_numpy(healthy).float())
    for key, value in reference_statistics(healthy).items():
        assert stats[key] == pytest.approx(value, rel=1e-5), key
    assert stats['std_ratio'] > 0.9 and abs(stats['mean_cosine']) < 0.05 and stats['effective_rank'] > 20
    assert collapse_reasons(stats, 0.05, 0.99, 1.5) == []
    collapsed = embedding_statistics(torch.randn(1, 32).repeat(64, 1))
    assert collapsed['std_ratio'] == pytest.approx(0, abs=1e-6) and collapsed['mean_cosine'] == pytest.approx(1)
    assert collapsed['effective_rank'] == pytest.approx(1, abs=1e-3)
    assert len(collapse_reasons(collapsed, 0.05, 0.99, 1.5)) == 3
    with pytest.raises(ValueError, match='N >= 2'):
        embedding_statistics(torch.randn(1, 8))


class TinyAlgorithm(nn.Module):
    """Stands in for an SSL algorithm: ``neck`` makes the embeddings (collapsed: every row the same)."""
    embedding_module = 'neck'

    def __init__(self, collapsed):
        super().__init__()
        self.neck = nn.Linear(8, 16)
        if collapsed:
            with torch.no_grad():
                self.neck.weight.zero_()


def run_iterations(hook, model, iterations, batch, records):
    scalars = []
    logger = MMLogger.get_instance('ssl_monitor_test')
    logger.addHandler(records)
    runner = SimpleNamespace(model=model, iter=0, logger=logger,
                             visualizer=SimpleNamespace(add_scalars=lambda values, step: scalars.append(values)))
    hook.before_train(runner)
    for it in range(iterations):
        runner.iter = it
        hook.before_train_iter(runner, it)
        model.neck(torch.randn(batch, 8))
        model.neck(torch.randn(batch, 8))  # a second call in the same iteration is not measured
        hook.after_train_iter(runner, it)
    hook.after_train(runner)
    logger.removeHandler(records)
    return scalars


@pytest.mark.parametrize('collapsed', [False, True])
def test_hook_warns_once_on_a_collapsed_batch_only(collapsed):
    hook, records = SSLMonitorHook(interval=2), LogRecords(logging.INFO)
    scalars = run_iterations(hook, TinyAlgorithm(collapsed), iterations=6, batch=32, records=records)
    assert len(scalars) == 3 and set(scalars[0]) == {'ssl_monitor/std_ratio', 'ssl_monitor/mean_cosine',
                                                     'ssl_monitor/effective_rank'}
    warnings = [message for level, message in records.records if level == 'WARNING']
    assert hook.warned == collapsed and len(warnings) == int(collapsed)
    if collapsed:
        assert 'std_ratio 0.0000 < 0.05' in warnings[0] and 'mean_cosine 1.0000 > 0.99' in warnings[0]


def test_hook_names_a_missing_module():
    hook = SSLMonitorHook(module='projector')
    with pytest.raises(ValueError, match="no module 'projector'"):
        hook.before_train(SimpleNamespace(model=TinyAlgorithm(False)))
    with pytest.raises(ValueError, match='knn needs data_root'):
        SSLMonitorHook(knn=dict(interval=1))


def test_hook_in_a_false_run_with_online_knn(tmp_path):
    data = make_synthetic_potsdam(str(tmp_path / 'data'), num_train=0, num_val=0, num_unlabeled=8, size=48, seed=0)
    labelled = tmp_path / 'labelled'
    for c, colour in enumerate(((200, 40, 40), (40, 200, 40))):
        (labelled / f'class{c}').mkdir(parents=True)
        for j in range(4):
            image = np.full((24, 24, 3), colour, np.uint8) + np.random.default_rng(j).integers(0, 30, (24, 24, 3),
                                                                                                dtype=np.uint8)
            cv2.imwrite(str(labelled / f'class{c}' / f'{j}.png'), image)
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo', 'false_r18_synthetic.py'))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_dataloader.update(batch_size=4, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = data['out_dir']
    find_transform(cfg.train_dataloader.dataset.pipeline, 'FastRandomResizedCrop').scale = 32
    cfg.train_cfg.max_epochs = 2
    cfg.param_scheduler[0].end = 2
    cfg.default_hooks.checkpoint.interval = 2
    assert [h.type for h in cfg.custom_hooks] == ['CorruptImageReportHook', 'SSLMonitorHook', 'ChannelsLastHook',
                                                    'ScheduleLengthHook']
    cfg.custom_hooks = [dict(type='SSLMonitorHook', interval=1, knn=dict(data_root=str(labelled), img_size=32, k=3))]
    Runner.from_cfg(cfg).train()
    records = [json.loads(line) for line in open(glob.glob(str(tmp_path / 'work' / '*' / 'vis_data' /
                                                                'scalars.json'))[0])]
    monitored = [r for r in records if 'ssl_monitor/std_ratio' in r]
    knn = [r['ssl_monitor/knn_top1'] for r in records if 'ssl_monitor/knn_top1' in r]
    assert [r['step'] for r in monitored] == [1, 2, 3, 4]  # 8 images, batch 4, 2 epochs
    assert all(0 < r['ssl_monitor/std_ratio'] <= 1.5 for r in monitored)
    assert len(knn) == 2 and all(0 <= v <= 100 for v in knn)  # once per epoch
