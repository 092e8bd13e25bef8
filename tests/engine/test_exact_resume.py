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
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import Runner

from conftest import assert_identical, load_tool, tiny_false_config, tiny_upernet_config
from rs_ssl_plugin.checkpoints.reading import load_checkpoint_file


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
