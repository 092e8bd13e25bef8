"""A short CPU training of the demo config through tools/train.py says nothing the plugin causes: no
deprecation of mmengine's FileClient (built unused by the checkpoint hook), no pin_memory warning of torch
(the configs pin for GPUs), no setuptools pkg_resources warning; and the console leaves out the details the log
file keeps (the whole config, the hooks' order, each parameter's optimiser options: hundreds of lines before the
first iteration), naming the copy of the config in the work_dir instead."""
import glob
import os.path as osp
import warnings

import pytest
import torch
from mmengine.config import Config

from helpers.tools import REPO, call_tool
from rs_ssl_plugin.engine.runner_config import build_runner

PLUGIN_CAUSED = ('"FileClient" will be deprecated', '"HardDiskBackend" is the alias', "'pin_memory' argument",
                 'pkg_resources is deprecated')


@pytest.fixture(scope='module')
def demo_training(synthetic_potsdam, tmp_path_factory):
    """Two epochs of the demo's pre-training config through tools/train.py: the warnings raised, the tool's
    result (console output), its log file's text and its work_dir."""
    work_dir = tmp_path_factory.mktemp('train_noise') / 'work'
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        result = call_tool(osp.join(REPO, 'tools', 'train.py'),
                           osp.join(REPO, 'configs', 'demo', 'false_r18_synthetic.py'), '--work-dir', work_dir,
                           '--cfg-options', f'train_dataloader.dataset.data_root={synthetic_potsdam}',
                           'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
                           'train_dataloader.pin_memory=True', 'train_cfg.max_epochs=2')
    assert result.returncode == 0, result.stderr[-3000:]
    with open(glob.glob(str(work_dir / '*' / '*.log'))[0]) as log:
        return caught, result, log.read(), work_dir


@pytest.mark.skipif(torch.cuda.is_available(), reason='pin_memory is kept on a machine with CUDA')
def test_short_cpu_training_of_the_demo_config_warns_nothing_the_plugin_causes(demo_training):
    caught, result, log, _ = demo_training
    said = [str(w.message) for w in caught] + log.splitlines() + result.stderr.splitlines()
    assert [line for line in said if any(text in line for text in PLUGIN_CAUSED)] == []


def test_the_console_names_the_config_instead_of_printing_it(demo_training):
    _, result, log, work_dir = demo_training
    dumped = work_dir / 'false_r18_synthetic.py'
    assert result.stdout.count(f'config: {dumped}') == 1 and 'custom_imports = dict(' in dumped.read_text()
    for detail in ('Config:', 'custom_imports = dict(', 'Hooks will be executed', 'paramwise_options'):
        assert detail not in result.stdout and detail in log, detail
    assert 'Epoch(train) [2]' in result.stdout  # the console still shows the training


@pytest.mark.parametrize('verbose', [False, True])
def test_verbose_puts_the_details_back_on_the_console(verbose, tmp_path, capsys):
    cfg = Config(dict(model=dict(type='ImageClassifier', backbone=dict(type='LeNet5', num_classes=2)),
                      work_dir=str(tmp_path), default_scope='mmpretrain',
                      experiment_name=f'{tmp_path.name}_{verbose}'))  # a logger (and log file) of its own
    runner = build_runner(cfg, verbose)
    console = capsys.readouterr().out
    with open(osp.join(runner.log_dir, f'{runner.timestamp}.log')) as log:
        text = log.read()
    for detail in ('Config:\n', 'Hooks will be executed'):
        assert detail in text and (detail in console) == verbose, detail
    assert (f'config: {tmp_path / runner.timestamp}.py' in console) != verbose  # the whole config, or where it is
