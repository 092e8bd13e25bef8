"""Common mistakes end in one line naming the file or key, not in a traceback (issue 20, item 7): a typo'd
``--cfg-options`` key, an unwritable work_dir, a truncated zip, refused checkpoints and feature-cache files,
``tools/train.sh`` with a Python without torch, and the temporary file of a killed export."""
import argparse
import errno
import os
import subprocess
import traceback
import zipfile

import pytest
import torch

from helpers.tools import REPO, call_tool
from rs_ssl_plugin.checkpoints.export import export_backbone, partial_path
from rs_ssl_plugin.checkpoints.reading import CheckpointError, UnsafeCheckpointError, load_checkpoint_file
from rs_ssl_plugin.evaluation.features import FeatureCache

EPOCH_CONFIG = 'configs/demo/false_r18_synthetic.py'  # train_cfg = dict(max_epochs=...): EpochBasedTrainLoop


def assert_one_line(result, *expected):
    assert result.returncode == 1 and 'Traceback' not in result.stderr, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith('error: ') and all(part in line for part in expected), line


def test_a_cfg_options_key_the_loop_does_not_take_is_named_with_the_valid_ones(tmp_path):
    """mmengine raised ``TypeError: EpochBasedTrainLoop.__init__() got an unexpected keyword argument`` from
    deep inside ``runner.train()``."""
    result = call_tool('tools/train.py', EPOCH_CONFIG, '--work-dir', tmp_path / 'work', '--cfg-options',
                       'train_cfg.max_iter=10')
    assert_one_line(result, '--cfg-options train_cfg.max_iter', "EpochBasedTrainLoop takes no argument 'max_iter'",
                    'max_epochs, val_begin, val_interval')


def test_a_work_dir_that_cannot_be_written_is_named(tmp_path, monkeypatch):
    """A read-only work_dir, simulated (the tests may run as root, who may write anywhere)."""
    work_dir = str(tmp_path / 'read_only' / 'work')
    makedirs = os.makedirs

    def refuse_work_dir(path, *args, **kwargs):
        if os.path.abspath(path).startswith(work_dir):
            raise PermissionError(errno.EACCES, 'Permission denied', path)
        return makedirs(path, *args, **kwargs)

    monkeypatch.setattr(os, 'makedirs', refuse_work_dir)
    result = call_tool('tools/train.py', EPOCH_CONFIG, '--work-dir', work_dir)
    assert_one_line(result, f'cannot write to work_dir {work_dir}: Permission denied')


def test_a_truncated_potsdam_zip_is_named(tmp_path):
    for name in ('2_Ortho_RGB.zip', '5_Labels_all_noBoundary.zip'):
        with zipfile.ZipFile(tmp_path / name, 'w') as archive:
            archive.writestr('top_potsdam_2_10_RGB.tif', os.urandom(4096))
    whole = (tmp_path / '2_Ortho_RGB.zip').read_bytes()
    (tmp_path / '2_Ortho_RGB.zip').write_bytes(whole[:len(whole) // 2])  # an interrupted download
    result = call_tool('tools/dataset_converters/potsdam.py', tmp_path, '-o', tmp_path / 'out')
    assert_one_line(result, f'{tmp_path / "2_Ortho_RGB.zip"} is not a complete zip archive', 'download it again')


@pytest.mark.parametrize('content, error_type, reason', [
    (argparse.Namespace(lr=0.1), UnsafeCheckpointError, 'it needs argparse.Namespace'),
    (None, CheckpointError, 'not a readable torch checkpoint'),  # truncated
])
def test_refused_checkpoints_hide_torchs_advice_to_load_unsafely(tmp_path, content, error_type, reason):
    """The refusal keeps its reason; torch's chained error, which advises ``weights_only=False``, is not shown."""
    path = tmp_path / 'model.pth'
    torch.save(content or {'w': torch.zeros(1000)}, path)
    if content is None:
        path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(error_type, match=reason) as caught:
        load_checkpoint_file(str(path))
    shown = ''.join(traceback.format_exception(caught.value))
    assert 'direct cause' not in shown and 'During handling' not in shown and 'Weights only load failed' not in shown


def test_an_unsafe_feature_cache_file_is_named(tmp_path):
    cache = FeatureCache(str(tmp_path))
    path = cache.path('pooled', backbone='x')
    torch.save(argparse.Namespace(features=torch.zeros(2)), path)
    with pytest.raises(UnsafeCheckpointError, match=f'feature cache file {path} as unsafe: it needs argparse'):
        cache.load(path)


def test_train_sh_with_a_python_without_torch_says_what_to_do(tmp_path):
    fake = tmp_path / 'python'  # the python on PATH, as in an environment that was not activated
    fake.write_text('#!/bin/sh\necho "Traceback (most recent call last):" >&2\n'
                    'echo "ModuleNotFoundError: No module named \'torch\'" >&2\nexit 1\n')
    fake.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key != 'PYTHON'}
    result = subprocess.run(['tools/train.sh', EPOCH_CONFIG, '2'], cwd=REPO, capture_output=True, text=True,
                            env=dict(env, PATH=f'{tmp_path}:{env["PATH"]}'), timeout=60)
    assert result.returncode == 1
    assert f'tools/train.sh runs python ({fake}), which cannot import torch' in result.stderr
    assert 'PYTHON=/path/to/python tools/train.sh' in result.stderr


@pytest.fixture
def runner_checkpoint(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    torch.save(dict(state_dict={'backbone.conv1.weight': torch.zeros(4, 3, 3, 3)}, meta={}), path)
    return str(path)


def test_an_interrupted_export_leaves_no_partial_file(runner_checkpoint, tmp_path, monkeypatch):
    dst = str(tmp_path / 'backbone.pth')
    save = torch.save

    def interrupted(obj, path):
        save(obj, path)
        raise KeyboardInterrupt  # Ctrl-C after the temporary file was written

    monkeypatch.setattr(torch, 'save', interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_backbone(runner_checkpoint, dst)
    assert not os.path.exists(partial_path(dst)) and not os.path.exists(dst)


def test_the_next_export_removes_the_partial_file_of_a_killed_one(runner_checkpoint, tmp_path):
    dst = tmp_path / 'backbone.pth'
    dst.write_bytes(b'an earlier export')
    stale = tmp_path / 'backbone.pth.partial'
    stale.write_bytes(b'half of a 400 MB file')  # what a killed export --force left
    with pytest.warns(UserWarning, match='left by an interrupted write'), pytest.raises(FileExistsError):
        export_backbone(runner_checkpoint, str(dst))
    assert not stale.exists() and dst.read_bytes() == b'an earlier export'


@pytest.mark.parametrize('tool', ['tools/train.py', 'tools/test.py'])
def test_a_config_that_does_not_parse_is_named(tmp_path, tool):
    config = tmp_path / 'broken.py'
    config.write_text("model = dict(type='ResNet'\n")  # the closing parenthesis is missing
    checkpoint = tmp_path / 'model.pth'
    checkpoint.write_bytes(b'')
    result = call_tool(tool, config, *([checkpoint] if tool.endswith('test.py') else []))
    assert_one_line(result, f'{config}: invalid Python: ', 'line 1')
