"""Checkpoints are written so that nothing is lost half-written, and --resume finds the one to continue:
atomic writes, the order of writing and deleting, the last_checkpoint pointer (empty, truncated target,
copied work_dir), random states, and the configs that use it all."""
import glob
import os
import os.path as osp
import random
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger

import rs_ssl_plugin  # noqa: F401
from helpers.configs import tiny_upernet_config
from helpers.distributed import run_in_processes
from helpers.tools import REPO, load_tool
from rs_ssl_plugin.checkpoints.integrity import AtomicLocalBackend, find_resume_checkpoint
from rs_ssl_plugin.checkpoints.reading import load_checkpoint_file
from rs_ssl_plugin.engine import ResumableCheckpointHook, capture_random_state, restore_random_state
from rs_ssl_plugin.utils.work_dir import write_atomically


def save(path, step):
    torch.save(dict(meta=dict(iter=step), state_dict=dict(w=torch.full((2, ), float(step)))), path)


def truncate(path):
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])


def test_resume_follows_the_pointer_inside_the_work_dir(tmp_path):
    assert find_resume_checkpoint(str(tmp_path)) is None  # no pointer: mmengine starts from scratch
    save(tmp_path / 'iter_4.pth', 4)
    (tmp_path / 'last_checkpoint').write_text('iter_4.pth')
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_4.pth')
    # written by the original run before this work_dir was copied here: the copy's own file is taken
    (tmp_path / 'last_checkpoint').write_text('/elsewhere/original_run/iter_4.pth')
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_4.pth')


@pytest.mark.parametrize('pointer, problem', [('', 'is empty'),
                                              ('iter_6.pth', r'names \S*iter_6.pth, which is truncated'),
                                              ('iter_8.pth', r'names \S*iter_8.pth, which is missing')])
def test_resume_falls_back_to_the_newest_intact_checkpoint(tmp_path, pointer, problem):
    for step in (2, 4, 6):
        save(tmp_path / f'iter_{step}.pth', step)
    truncate(tmp_path / 'iter_6.pth')
    (tmp_path / 'last_checkpoint').write_text(pointer)
    with pytest.warns(UserWarning, match=f'last_checkpoint {problem}.*; resuming from the newest intact checkpoint'):
        assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_4.pth')
    for step in (2, 4):
        truncate(tmp_path / f'iter_{step}.pth')
    with pytest.raises(FileNotFoundError, match='holds no other intact epoch_N.pth/iter_N.pth checkpoint'):
        find_resume_checkpoint(str(tmp_path))


def test_train_tool_names_what_it_cannot_resume_from(synthetic_potsdam, tmp_path, monkeypatch):
    config = str(tmp_path / 'upernet.py')
    tiny_upernet_config(synthetic_potsdam, tmp_path / 'work').dump(config)
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    (work_dir / 'last_checkpoint').write_text('')
    monkeypatch.setattr(sys, 'argv', ['train.py', config, '--resume', '--cfg-options', 'experiment_name=empty'])
    with pytest.raises(SystemExit, match='last_checkpoint is empty, and .*work holds no other intact'):
        load_tool('train').main()
    truncated = tmp_path / 'iter_3.pth'
    save(truncated, 3)
    truncate(truncated)
    monkeypatch.setattr(sys, 'argv', ['train.py', config, '--resume', '--cfg-options', f'load_from={truncated}',
                                      'experiment_name=truncated'])
    with pytest.raises(SystemExit, match=f'{truncated} is not a readable torch checkpoint'):
        load_tool('train').main()


def test_an_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'last_checkpoint'
    write_atomically(str(path), 'iter_2.pth')

    def power_cut(fd):
        raise OSError('disk gone')

    monkeypatch.setattr(os, 'fsync', power_cut)
    with pytest.raises(OSError, match='disk gone'):
        write_atomically(str(path), 'iter_4.pth')
    assert path.read_text() == 'iter_2.pth'
    monkeypatch.undo()
    write_atomically(str(path), b'iter_4.pth')
    assert path.read_text() == 'iter_4.pth' and os.listdir(tmp_path) == ['last_checkpoint']


def test_outdated_checkpoints_are_deleted_only_after_the_new_one_is_written(tmp_path):
    """With max_keep_ckpts=1 mmengine deletes the only checkpoint before writing the next one."""
    saved = []

    def save_checkpoint(out_dir, filename, *args, **kwargs):
        if len(saved) == 1:
            raise OSError('killed while writing')
        saved.append(filename)
        save(osp.join(out_dir, filename), len(saved))

    runner = SimpleNamespace(work_dir=str(tmp_path), message_hub=MessageHub.get_instance('checkpoint_writes'),
                             logger=MMLogger.get_current_instance(), save_checkpoint=save_checkpoint)
    hook = ResumableCheckpointHook(interval=1, by_epoch=False, max_keep_ckpts=1)
    hook.before_train(runner)
    assert isinstance(hook.file_backend, AtomicLocalBackend)  # checkpoints, best ones too, written atomically
    hook._save_checkpoint_with_step(runner, 1, dict(iter=1))
    with pytest.raises(OSError, match='killed while writing'):
        hook._save_checkpoint_with_step(runner, 2, dict(iter=2))
    assert osp.isfile(tmp_path / 'iter_1.pth')
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_1.pth')


def test_random_states_round_trip_through_a_weights_only_checkpoint(tmp_path):
    torch.save(dict(rng_states=[capture_random_state()]), tmp_path / 'states.pth')
    draws = (random.random(), np.random.rand(3), np.random.randn(), torch.rand(3))
    restore_random_state(load_checkpoint_file(str(tmp_path / 'states.pth'))['rng_states'][0])
    again = (random.random(), np.random.rand(3), np.random.randn(), torch.rand(3))
    assert draws[0] == again[0] and np.array_equal(draws[1], again[1]) and draws[2] == again[2]
    assert torch.equal(draws[3], again[3])


TRAINING_CONFIGS = [path for path in sorted(glob.glob(osp.join(REPO, 'configs', '*.py')))
                    if 'train_cfg' in open(path).read() or '_base_' in open(path).read()]


@pytest.mark.parametrize('path', TRAINING_CONFIGS, ids=osp.basename)
def test_shipped_configs_resume_exactly(path):
    cfg = Config.fromfile(path)
    assert cfg.default_hooks.checkpoint.type == 'ResumableCheckpointHook'
    assert cfg.randomness.seed is not None
    loader = cfg.train_dataloader
    if cfg.train_cfg.get('type') == 'EpochBasedTrainLoop':
        assert not loader.get('persistent_workers', False)
    else:
        assert loader.num_workers >= 1


def _gather_and_restore(rank):
    torch.manual_seed(100 + rank)
    hook = ResumableCheckpointHook(interval=1)
    hook._gather_rng_states()
    expected = torch.rand(4)
    torch.manual_seed(0)
    runner = SimpleNamespace(epoch=0, iter=3, train_loop=None,
                             train_dataloader=SimpleNamespace(num_workers=1, persistent_workers=False))
    hook._loaded = (0, 3, hook._rng_states)  # as after_load_checkpoint of a resumed checkpoint
    hook._restore_random_streams(runner)
    return len(hook._rng_states), torch.rand(4).numpy(), expected.numpy()


def test_every_rank_restores_its_own_random_streams():
    results = run_in_processes(_gather_and_restore, 2)
    assert [count for count, _, _ in results] == [2, 2]
    for _, drawn, expected in results:
        np.testing.assert_array_equal(drawn, expected)
    assert not np.array_equal(results[0][1], results[1][1])
