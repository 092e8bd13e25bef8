"""A retrieval index records the fingerprint of the model that encoded it and is refused by another model;
malformed index files are refused naming the file and what was expected."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from test_sdsh_common import build_tiny_sdsh, tiny_model_cfg, write_class_folders

from helpers.tools import load_tool
from rs_ssl_plugin.datasets.pipeline_config import find_transform
from rs_ssl_plugin.methods.sdsh.retrieval import model_fingerprint, read_index, write_index


def eval_pipeline(size=28):
    return [dict(type='LoadImageFromFile'),
            dict(type='MultiView', num_views=1, transforms=[[dict(type='Resize', scale=(size, size))]]),
            dict(type='PackInputs', algorithm_keys=('is_query', ))]


def write_config(path, resize=28, **backbone):
    model = tiny_model_cfg()
    model['backbone'].update(backbone)
    Config(dict(model=model, default_scope='mmpretrain', custom_imports=dict(imports=['rs_ssl_plugin']),
                test_dataloader=dict(dataset=dict(pipeline=eval_pipeline(resize))))).dump(str(path))
    return str(path)


def test_an_index_is_used_only_by_the_model_that_encoded_it(tmp_path):
    root = write_class_folders(tmp_path / 'data', num_classes=2, per_class=2)
    config = write_config(tmp_path / 'cfg.py')
    for seed, name in ((0, 'ckpt.pth'), (1, 'other.pth')):
        torch.manual_seed(seed)
        torch.save(dict(state_dict=build_tiny_sdsh().state_dict()), tmp_path / name)
    retrieve = load_tool('retrieve').main
    query = osp.join(root, 'class_1', 'img_00.png')
    index = str(tmp_path / 'index.pth')
    first = retrieve(['search', config, str(tmp_path / 'ckpt.pth'), '--folder', root, '--query', query,
                      '--show-dir', str(tmp_path / 'a'), '--save-index', index])
    again = retrieve(['search', config, str(tmp_path / 'ckpt.pth'), '--load-index', index, '--query', query,
                      '--show-dir', str(tmp_path / 'b')])
    assert again == first
    saved = torch.load(index, weights_only=True)['fingerprint']
    assert saved['bits'] == 16 and len(saved['config']) == len(saved['weights']) == 64
    with pytest.raises(SystemExit, match=r'index.pth was encoded by another model .*weights sha256'):
        retrieve(['search', config, str(tmp_path / 'other.pth'), '--load-index', index, '--query', query,
                  '--show-dir', str(tmp_path / 'c')])
    with pytest.raises(SystemExit, match=r'index.pth was encoded by another model .*config sha256'):
        retrieve(['search', write_config(tmp_path / 'cfg_resize29.py', resize=29), str(tmp_path / 'ckpt.pth'),
                  '--load-index', index, '--query', query, '--show-dir', str(tmp_path / 'd')])


@pytest.mark.parametrize('content, expected', [
    ([1, 2, 3], 'holds a list, not a retrieval index'),
    (dict(paths=['a.png']), 'it has no codes, fingerprint'),
    (dict(paths=['a', 'b', 'c'], codes=torch.ones(8, 16), fingerprint=dict(bits=16)), 'holds 3 paths for 8 codes'),
    (dict(paths=['a'], codes=torch.ones(16), fingerprint=dict(bits=16)), r'codes must be a \(images, bits\) tensor'),
    (dict(paths='a.png', codes=torch.ones(1, 16), fingerprint=dict(bits=16)), 'paths must be a list of file names'),
])
def test_malformed_indexes_are_named(tmp_path, content, expected):
    path = tmp_path / 'index.pth'
    torch.save(content, path)
    with pytest.raises(ValueError, match=f'{path}.*{expected}|{path} {expected}'):
        read_index(str(path))


def test_an_index_is_used_by_another_file_holding_the_same_weights(tmp_path):
    """The fingerprint is of the weights, not of the file: a Runner checkpoint and a bare state dict of the
    same model (other bytes, other key order) share an index; changing one weight breaks the match."""
    root = write_class_folders(tmp_path / 'data', num_classes=2, per_class=2)
    config = write_config(tmp_path / 'cfg.py')
    torch.manual_seed(0)
    state = build_tiny_sdsh().state_dict()
    torch.save(dict(meta=dict(iter=30), state_dict=state), tmp_path / 'iter_30.pth')
    torch.save(dict(reversed(list(state.items()))), tmp_path / 'weights_only.pth')
    state['backbone.hash_layer.2.bias'] = state['backbone.hash_layer.2.bias'] + 1e-3
    torch.save(dict(state_dict=state), tmp_path / 'changed.pth')
    retrieve = load_tool('retrieve').main
    query = osp.join(root, 'class_0', 'img_00.png')
    index = str(tmp_path / 'index.pth')
    first = retrieve(['search', config, str(tmp_path / 'iter_30.pth'), '--folder', root, '--query', query,
                      '--show-dir', str(tmp_path / 'a'), '--save-index', index])
    assert retrieve(['search', config, str(tmp_path / 'weights_only.pth'), '--load-index', index, '--query', query,
                     '--show-dir', str(tmp_path / 'b')]) == first
    with pytest.raises(SystemExit, match=r'index.pth was encoded by another model .*weights sha256'):
        retrieve(['search', config, str(tmp_path / 'changed.pth'), '--load-index', index, '--query', query,
                  '--show-dir', str(tmp_path / 'c')])


def test_fingerprint_ignores_init_cfg_and_follows_the_pipeline(tmp_path):
    cfg = Config.fromfile(write_config(tmp_path / 'cfg.py'))
    model = build_tiny_sdsh()
    reference = model_fingerprint(cfg, model)
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint='elsewhere.pth')
    assert model_fingerprint(cfg, model) == reference
    find_transform(cfg.test_dataloader.dataset.pipeline, 'Resize').scale = (32, 32)
    assert model_fingerprint(cfg, model)['config'] != reference['config']
    write_index(str(tmp_path / 'index.pth'), ['a.png'], torch.ones(1, 16), reference)
    paths, codes, saved = read_index(str(tmp_path / 'index.pth'))
    assert paths == ['a.png'] and torch.equal(codes, torch.ones(1, 16)) and saved == dict(reference, bits=16)
