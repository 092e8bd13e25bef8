"""A run stopped after a checkpoint and continued with ``--resume`` repeats the uninterrupted run bitwise:
UperNet with dropout 0.1 (one data worker) continued by mmseg's stock tools/train.py, and FALSE with its
SimCLR augmentations (drawn in the main process) continued by tools/train.py from a copied work_dir whose
newest checkpoint is truncated. The runs share this process, each under its own experiment name."""
import contextlib
import glob
import hashlib
import importlib.util
import os.path as osp
import shutil
import sys

import mmseg
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import Runner

from helpers.configs import tiny_upernet_config
from helpers.tools import REPO, load_tool
from rs_ssl_plugin.checkpoints.reading import load_checkpoint_file
from rs_ssl_plugin.datasets.pipeline_config import find_transform


class Killed(Exception):
    pass


@HOOKS.register_module(force=True)
class KillAfter(Hook):
    """Stops the run right after the checkpoint of iteration (or epoch) ``step`` is written."""

    priority = 'LOWEST'  # after CheckpointHook

    def __init__(self, step):
        self.step = step

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if not runner.train_loop.__class__.__name__.startswith('Epoch') and runner.iter + 1 == self.step:
            raise Killed

    def after_train_epoch(self, runner):
        if runner.epoch + 1 == self.step:
            raise Killed


def tiny_false_config(data_root, work_dir, num_workers=0):
    """configs/demo/false_r18_synthetic.py (FALSE, ResNet-18, SimCLR augmentations) shrunk for CPU tests:
    8-channel stem, 32 px views, batches of 4 (2 per epoch), 3 epochs checkpointed every epoch."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo', 'false_r18_synthetic.py'))
    cfg.work_dir = str(work_dir)
    cfg.model.backbone.update(stem_channels=8, base_channels=8)
    cfg.model.neck.update(in_channels=64, hid_channels=32, out_channels=16)
    cfg.train_dataloader.update(batch_size=4, num_workers=num_workers, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = str(data_root)
    find_transform(cfg.train_dataloader.dataset.pipeline, 'FastRandomResizedCrop').scale = 32
    cfg.train_cfg.max_epochs = 3
    cfg.param_scheduler[0].end = 3
    cfg.default_hooks.checkpoint.update(interval=1, max_keep_ckpts=3)
    cfg.default_hooks.logger.interval = 1
    return cfg


def assert_identical(a, b, where='checkpoint'):
    """``a`` and ``b`` hold the same values bitwise: tensors, numpy arrays, mmengine's HistoryBuffers and
    the containers and plain values around them."""
    from mmengine.logging import HistoryBuffer
    assert type(a) is type(b), f'{where}: {type(a).__name__} vs {type(b).__name__}'
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), f'{where} differs'
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b), f'{where} differs'
    elif isinstance(a, dict):
        assert list(a) == list(b), f'{where}: keys {list(a)} vs {list(b)}'
        for key in a:
            assert_identical(a[key], b[key], f'{where}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f'{where}: {len(a)} vs {len(b)} items'
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f'{where}[{i}]')
    elif isinstance(a, HistoryBuffer):
        assert_identical(vars(a), vars(b), where)
    else:
        assert a == b, f'{where}: {a!r} vs {b!r}'


def train(cfg, work_dir, kill_after=None):
    cfg = cfg.copy()
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = osp.basename(work_dir)
    if kill_after:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(type='KillAfter', step=kill_after)]
    with pytest.raises(Killed) if kill_after else contextlib.nullcontext():
        Runner.from_cfg(cfg).train()


def run_script(module, monkeypatch, *argv):
    monkeypatch.setattr(sys, 'argv', ['train.py', *map(str, argv)])
    module.main()


def assert_same_run(full_checkpoint, resumed_checkpoint):
    full = torch.load(full_checkpoint, weights_only=False)
    resumed = torch.load(resumed_checkpoint, weights_only=False)
    # the plugin's weights-only loader reads these Runner checkpoints exactly as full unpickling does
    assert_identical(load_checkpoint_file(str(full_checkpoint)), full)
    for key in ('state_dict', 'optimizer', 'param_schedulers', 'rng_states'):
        assert_identical(full[key], resumed[key], key)
    assert (full['meta']['epoch'], full['meta']['iter']) == (resumed['meta']['epoch'], resumed['meta']['iter'])
    assert_identical(full['message_hub']['log_scalars']['train/loss'],
                     resumed['message_hub']['log_scalars']['train/loss'], 'loss history')


def test_stopped_upernet_with_dropout_resumes_exactly_through_mmseg_train(synthetic_potsdam, tmp_path,
                                                                          monkeypatch):
    cfg = tiny_upernet_config(synthetic_potsdam, tmp_path, num_workers=1)
    assert cfg.model.decode_head.dropout_ratio == 0.1
    train(cfg, tmp_path / 'full')
    train(cfg, tmp_path / 'stopped', kill_after=3)
    config = str(tmp_path / 'upernet.py')
    cfg.dump(config)
    spec = importlib.util.spec_from_file_location('mmseg_train', osp.join(osp.dirname(mmseg.__file__), '.mim',
                                                                          'tools', 'train.py'))
    mmseg_train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mmseg_train)
    run_script(mmseg_train, monkeypatch, config, '--work-dir', tmp_path / 'stopped', '--resume', '--cfg-options',
               'experiment_name=resumed')
    assert_same_run(tmp_path / 'full' / 'iter_6.pth', tmp_path / 'stopped' / 'iter_6.pth')


def folder_digest(folder):
    digest = hashlib.sha256()
    for path in sorted(glob.glob(osp.join(folder, '**', '*'), recursive=True)):
        if osp.isfile(path):
            digest.update(path.encode() + open(path, 'rb').read())
    return digest.hexdigest()


def test_stopped_false_resumes_exactly_from_a_copy_with_a_truncated_checkpoint(synthetic_potsdam, tmp_path,
                                                                               monkeypatch):
    cfg = tiny_false_config(synthetic_potsdam, tmp_path, num_workers=0)
    cfg.model.head.sentinel = 1e6  # the same selection as inf (distances stay below e^2); dump writes inf bare
    train(cfg, tmp_path / 'full')
    train(cfg, tmp_path / 'stopped', kill_after=2)
    original = folder_digest(tmp_path / 'stopped')
    copy = tmp_path / 'copy'
    shutil.copytree(tmp_path / 'stopped', copy)
    assert open(copy / 'last_checkpoint').read() == str(tmp_path / 'stopped' / 'epoch_2.pth')
    newest = copy / 'epoch_2.pth'
    newest.write_bytes(newest.read_bytes()[:newest.stat().st_size // 2])
    config = str(tmp_path / 'false.py')
    cfg.dump(config)
    with pytest.warns(UserWarning, match=r'epoch_2\.pth, which is truncated.*newest intact checkpoint, .*epoch_1'):
        run_script(load_tool('train'), monkeypatch, config, '--work-dir', copy, '--resume', '--cfg-options',
                   'experiment_name=resumed')
    assert folder_digest(tmp_path / 'stopped') == original  # the copy never touched the original run
    assert_same_run(tmp_path / 'full' / 'epoch_3.pth', copy / 'epoch_3.pth')
