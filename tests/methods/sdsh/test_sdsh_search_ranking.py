"""retrieve.py search: an indexed query ranks first among images with the same code; PR curves of small
databases use every cutoff."""
import os.path as osp
import shutil

import torch
from mmengine.config import Config
from test_sdsh_common import build_tiny_sdsh, tiny_model_cfg, write_class_folders

from helpers.tools import load_tool
from rs_ssl_plugin.methods.sdsh.metric import default_cutoffs


def test_query_inside_the_index_ranks_first(tmp_path):
    root = write_class_folders(tmp_path / 'data', num_classes=2, per_class=3)
    query = osp.join(root, 'class_1', 'img_02.png')
    shutil.copy(query, osp.join(root, 'class_0', 'copy.png'))  # the same pixels, earlier in index order
    torch.save(dict(state_dict=build_tiny_sdsh().state_dict()), tmp_path / 'ckpt.pth')
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='MultiView', num_views=1, transforms=[[dict(type='Resize', scale=(28, 28))]]),
                dict(type='PackInputs')]
    Config(dict(model=tiny_model_cfg(), default_scope='mmpretrain',
                test_dataloader=dict(dataset=dict(pipeline=pipeline)))).dump(str(tmp_path / 'cfg.py'))
    results = load_tool('retrieve').main(['search', str(tmp_path / 'cfg.py'), str(tmp_path / 'ckpt.pth'),
                                          '--folder', root, '--query', query, '--topk', '3',
                                          '--show-dir', str(tmp_path)])
    assert results[0] == (query, 0.0)
    assert results[1] == (osp.join(root, 'class_0', 'copy.png'), 0.0)


def test_small_databases_use_every_cutoff():
    assert default_cutoffs(128) == list(range(1, 129))
    large = default_cutoffs(5000)
    assert large[0] == 1 and large[-1] == 5000 and 100 <= len(large) <= 102 and 500 in large
    assert default_cutoffs(100_000) == sorted({1, *range(500, 100_001, 500)})  # the official pattern
