"""The run-length rule: the schedules (pre-training, IDDC, fine-tuning) follow the run's length unless pinned,
and a run whose schedule was squeezed, stretched or cannot finish says so once at the start; full-length runs
are unchanged."""
import glob
import math
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from mmengine.runner import Runner

from helpers.logs import LogRecords
from helpers.tools import REPO
from rs_ssl_plugin.engine.schedule_length import leave_out_schedulers_after_run
from rs_ssl_plugin.methods.false.scheduler import vissl_warmup_cosine_restart_factor
from rs_ssl_plugin.methods.sdcluster.scheduler import timm_warmup_cosine_factor
from rs_ssl_plugin.methods.sdsh.hooks import SDSHScheduleHook

FALSE_CONFIG = osp.join(REPO, 'configs', 'false_r50_potsdam.py')
SDCLUSTER_CONFIG = osp.join(REPO, 'configs', 'sdcluster_swin-s_millionaid.py')
IDDC_CONFIG = osp.join(REPO, 'configs', 'iddc_vit-s16_cocostuff27.py')
UPERNET_R50_CONFIG = osp.join(REPO, 'configs', 'upernet_r50_random_potsdam.py')
DEEPLAB_CONFIG = osp.join(REPO, 'configs', 'deeplabv3plus_r50-d8_false-frozen_potsdam.py')
SWIN_40K_CONFIG = osp.join(REPO, 'configs', 'upernet_swin-s-os16_random_shaanxi-buildings.py')


class LinearModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return dict(loss=self.linear(inputs).pow(2).mean())


class RecordLR(Hook):
    def __init__(self):
        self.lrs = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.lrs.append(runner.optim_wrapper.optimizer.param_groups[0]['lr'])


def train_with_config_schedule(config, work_dir, epoch_length=2, **options):
    """Train a linear model with ``config``'s ``param_scheduler``, ``train_cfg`` and ``ScheduleLengthHook``
    (after ``options``, as ``--cfg-options``, and the schedulers left out as tools/train.py leaves them out)
    for epochs of ``epoch_length`` iterations; the learning rate of every iteration and the run's log."""
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    leave_out_schedulers_after_run(cfg)
    recorder = RecordLR()
    runner = Runner(
        model=LinearModel(), work_dir=str(work_dir),
        # one name per run: mmengine caches its logger, with its log file, by experiment name
        experiment_name=f'{work_dir.parent.name}_{work_dir.name}',
        train_dataloader=dict(dataset=[dict(inputs=torch.ones(2))] * epoch_length, batch_size=1,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=cfg.optim_wrapper.optimizer.lr)),
        param_scheduler=cfg.param_scheduler, train_cfg=cfg.train_cfg,
        custom_hooks=[h for h in cfg.custom_hooks if h.type == 'ScheduleLengthHook'] + [recorder],
        default_hooks=dict(checkpoint=None), default_scope='mmpretrain')
    runner.train()
    with open(glob.glob(osp.join(str(work_dir), '*', '*.log'))[0]) as log:
        return recorder.lrs, log.read()


def test_shortened_false_run_squeezes_the_lr_curve_and_says_so(tmp_path):
    lrs, log = train_with_config_schedule(FALSE_CONFIG, tmp_path, **{'train_cfg.max_epochs': 2})
    # the whole curve (warm-up, cosine restarts) within the run's 4 iterations, not its first 4 of 400
    assert lrs == pytest.approx([4.8 * vissl_warmup_cosine_restart_factor(i / 4) for i in range(4)])
    assert log.count('VISSLCosineRestartLR: squeezed from the configured 200 epochs (400 iterations) to the run\'s '
                     '2 epochs (4 iterations) (schedules follow the run\'s length)') == 1


def test_shortened_sdcluster_run_squeezes_lr_and_momentum_and_says_so(tmp_path):
    lrs, log = train_with_config_schedule(SDCLUSTER_CONFIG, tmp_path, **{'train_cfg.max_epochs': 5})
    assert lrs == pytest.approx([1.25e-3 * timm_warmup_cosine_factor(i / 10, 0.2, 2e-4, 2e-4) for i in range(10)])
    assert log.count('TimmWarmupCosineLR and teacher momentum: squeezed from the configured 100 epochs (200 '
                     'iterations) to the run\'s 5 epochs (10 iterations)') == 1


def test_pinned_end_beyond_a_shortened_run_is_warned_once(tmp_path):
    lrs, log = train_with_config_schedule(FALSE_CONFIG, tmp_path, **{'train_cfg.max_epochs': 2,
                                                                    'param_scheduler.0.end': 200})
    assert lrs == pytest.approx([4.8 * vissl_warmup_cosine_restart_factor(i / 400) for i in range(4)])
    assert log.count('VISSLCosineRestartLR: pinned to 200 epochs (400 iterations) but the run has 2 epochs (4 '
                     'iterations), so it cannot finish') == 1


@pytest.mark.parametrize('config', [FALSE_CONFIG, SDCLUSTER_CONFIG])
def test_full_length_run_keeps_the_lr_of_every_iteration(config, tmp_path):
    """The configs before the rule pinned ``end=max_epochs``; a full-length run gives the same LR bitwise."""
    max_epochs = Config.fromfile(config).train_cfg.max_epochs
    following, log = train_with_config_schedule(config, tmp_path / 'follows', epoch_length=1)
    pinned, _ = train_with_config_schedule(config, tmp_path / 'pinned', epoch_length=1,
                                           **{'param_scheduler.0.end': max_epochs})
    assert len(following) == max_epochs and following == pinned
    assert 'schedules follow the run\'s length' not in log and 'cannot finish' not in log


def test_shortened_iddc_run_decays_as_the_official_code_over_the_run_and_says_so(tmp_path):
    lrs, log = train_with_config_schedule(IDDC_CONFIG, tmp_path, **{'train_cfg.max_epochs': 4})
    # 5e-4 (1 - epoch / 4)^0.9 per epoch of 2 iterations: the last epoch at the official curve's last value
    # (its 0 lies one epoch after the run), not the first 4 epochs of 20
    assert lrs == pytest.approx([5e-4 * (1 - (i // 2) / 4) ** 0.9 for i in range(8)])
    assert log.count('PolyLR: squeezed from the configured 20 epochs (40 iterations) to the run\'s 4 epochs (8 '
                     'iterations) (schedules follow the run\'s length)') == 1


def test_full_length_iddc_run_keeps_the_former_pinned_lr_of_every_epoch(tmp_path):
    """The config pinned ``begin=0, end=21`` before the rule: 20 epochs give the same LR bitwise."""
    following, log = train_with_config_schedule(IDDC_CONFIG, tmp_path / 'follows', epoch_length=1)
    pinned, _ = train_with_config_schedule(IDDC_CONFIG, tmp_path / 'pinned', epoch_length=1,
                                           **{'param_scheduler.0.begin': 0, 'param_scheduler.0.end': 21})
    assert following == pinned and following == pytest.approx([5e-4 * (1 - e / 20) ** 0.9 for e in range(20)])
    assert 'schedules follow the run\'s length' not in log and 'cannot finish' not in log


@pytest.mark.parametrize('config, configured_iters', [(UPERNET_R50_CONFIG, 80000), (DEEPLAB_CONFIG, 1300)])
def test_shortened_fine_tuning_run_decays_to_eta_min_at_its_last_iteration_and_says_so(config, configured_iters,
                                                                                      tmp_path):
    lrs, log = train_with_config_schedule(config, tmp_path, **{'train_cfg.max_iters': 10})
    # mmseg's poly decay (0.01 -> 1e-4, power 0.9) within the run, not its first 10 of configured_iters
    assert lrs == pytest.approx([(0.01 - 1e-4) * (1 - i / 9) ** 0.9 + 1e-4 for i in range(10)])
    assert lrs[-1] == pytest.approx(1e-4)
    assert log.count(f'PolyLR: squeezed from the configured {configured_iters} iterations to the run\'s 10 '
                     'iterations (schedules follow the run\'s length)') == 1


def test_swin_recipe_keeps_its_warm_up_and_decays_to_zero_at_the_runs_end(tmp_path):
    """The warm-up keeps its (here shortened, for a short test) pinned length; the decay after it follows."""
    lrs, log = train_with_config_schedule(SWIN_40K_CONFIG, tmp_path, **{
        'train_cfg.max_iters': 10, 'param_scheduler.0.end': 4, 'param_scheduler.1.begin': 4})
    assert lrs[4] == pytest.approx(6e-5) and lrs[-1] == pytest.approx(0, abs=1e-12)
    assert lrs[4:] == pytest.approx([6e-5 * (1 - i / 5) for i in range(6)])
    assert log.count('PolyLR: squeezed from the configured 40000 iterations to the run\'s 10 iterations') == 1
    assert 'LinearLR' not in log  # a warm-up that ends before the run is not reported


def test_run_shorter_than_the_swin_warm_up_trains_in_the_warm_up_and_says_so(tmp_path):
    lrs, log = train_with_config_schedule(SWIN_40K_CONFIG, tmp_path, **{'train_cfg.max_iters': 6})
    assert lrs == pytest.approx([6e-5 * (1e-6 + (1 - 1e-6) * i / 1499) for i in range(6)])
    assert log.count('LinearLR: pinned to 1500 iterations but the run has 6 iterations, so it cannot finish') == 1


def test_a_following_scheduler_that_would_begin_after_the_run_is_left_out_with_a_warning():
    cfg = Config.fromfile(SWIN_40K_CONFIG)
    logger = MMLogger.get_current_instance()
    collect = LogRecords()
    logger.addHandler(collect)
    try:
        leave_out_schedulers_after_run(cfg)  # the configured 40000 iterations: both kept
        assert [scheduler.type for scheduler in cfg.param_scheduler] == ['LinearLR', 'PolyLR']
        cfg.merge_from_dict({'train_cfg.max_iters': 1500})
        leave_out_schedulers_after_run(cfg)
    finally:
        logger.removeHandler(collect)
    # mmengine would end the decay with the run, at iteration 1500, and refuse to build it
    assert [scheduler.type for scheduler in cfg.param_scheduler] == ['LinearLR']
    assert collect.records == [('WARNING', 'PolyLR: begins at iteration 1500, after the run\'s 1500 iterations, so '
                                           'it is left out')]


def sdsh_schedules(max_iters, **options):
    """The ``SDSHScheduleHook`` (2-iteration epochs, 2 warm-up epochs, 1 freeze epoch, 4 epochs of teacher-
    temperature warm-up) after building its per-iteration arrays for a run of ``max_iters`` iterations, and
    the messages it logged."""
    logger = MMLogger.get_current_instance()
    collect = LogRecords()
    logger.addHandler(collect)
    hook = SDSHScheduleHook(epoch_length=2, warmup_epochs=2, freeze_last_layer_epochs=1,
                            warmup_teacher_temp_epochs=4, global_batch_size=1024, **options)
    runner = SimpleNamespace(max_iters=max_iters, train_dataloader=SimpleNamespace(batch_size=1),
                             logger=logger)
    try:
        hook.before_train(runner)
    finally:
        logger.removeHandler(collect)
    return hook, collect.messages


def test_sdsh_schedule_is_scaled_as_a_whole_to_a_shortened_run():
    hook, messages = sdsh_schedules(10, epochs=10)
    # the configured 4 warm-up iterations of 20 become 2 of 10, the freeze 1, the temperature warm-up 4
    np.testing.assert_allclose(hook.lr_schedule[:3], [0.0, 1e-3, 1e-3])
    assert len(hook.lr_schedule) == 10 and hook.lr_schedule[-1] < 1e-4
    assert list(hook.last_layer_lr_schedule[:2]) == [0.0, hook.lr_schedule[1]]
    assert len(hook.temp_schedule) == 4
    assert [m for m in messages if 'configured' in m] == [
        'SDSH schedule (lr, weight decay, last-layer freeze, teacher temperature and momentum): squeezed from the '
        'configured 10 epochs (20 iterations) to the run\'s 5 epochs (10 iterations) (schedules follow the run\'s '
        'length)']


def test_sdsh_schedule_at_full_length_is_unchanged():
    configured, messages = sdsh_schedules(20, epochs=10)
    run_length, _ = sdsh_schedules(20)
    for name in ('lr_schedule', 'last_layer_lr_schedule', 'wd_schedule', 'momentum_schedule', 'temp_schedule'):
        assert np.array_equal(getattr(configured, name), getattr(run_length, name)), name
    assert math.isclose(configured.lr_schedule[4], 1e-3)  # warm-up of 2 epochs of 2 iterations, then the peak
    assert not [m for m in messages if 'configured' in m]


def test_sdsh_pinned_schedule_keeps_its_length_and_warns():
    hook, messages = sdsh_schedules(10, epochs=10, pin_length=True)
    assert len(hook.lr_schedule) == 20 and hook.lr_schedule[4] == pytest.approx(1e-3)
    assert sum('pinned to 10 epochs (20 iterations) but the run has 5 epochs (10 iterations), so it cannot finish'
               in m for m in messages) == 1
