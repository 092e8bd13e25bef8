"""A short CPU training of the demo config through tools/train.py says nothing the plugin causes: no
deprecation of mmengine's FileClient (built unused by the checkpoint hook), no pin_memory warning of torch
(the configs pin for GPUs), no setuptools pkg_resources warning."""
import glob
import os.path as osp
import warnings

import pytest
import torch

from helpers.tools import REPO, call_tool

PLUGIN_CAUSED = ('"FileClient" will be deprecated', '"HardDiskBackend" is the alias', "'pin_memory' argument",
                 'pkg_resources is deprecated')


@pytest.mark.skipif(torch.cuda.is_available(), reason='pin_memory is kept on a machine with CUDA')
def test_short_cpu_training_of_the_demo_config_warns_nothing_the_plugin_causes(synthetic_potsdam, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        result = call_tool(osp.join(REPO, 'tools', 'train.py'),
                           osp.join(REPO, 'configs', 'demo', 'false_r18_synthetic.py'), '--work-dir',
                           tmp_path / 'work', '--cfg-options',
                           f'train_dataloader.dataset.data_root={synthetic_potsdam}', 'train_dataloader.batch_size=4',
                           'train_dataloader.num_workers=0', 'train_dataloader.pin_memory=True',
                           'train_cfg.max_epochs=2')
    assert result.returncode == 0, result.stderr[-3000:]
    with open(glob.glob(str(tmp_path / 'work' / '*' / '*.log'))[0]) as log:
        said = [str(w.message) for w in caught] + log.read().splitlines() + result.stderr.splitlines()
    assert [line for line in said if any(text in line for text in PLUGIN_CAUSED)] == []
