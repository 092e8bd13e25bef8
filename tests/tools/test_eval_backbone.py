"""tools/eval_backbone.py end to end on tiny data: kNN / linear on a class folder, the seg probe on a
segmentation config's datasets, strict loading errors, results that are not overwritten."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from helpers.tools import REPO, load_tool
from rs_ssl_plugin.datasets.synthetic import make_synthetic_potsdam


@pytest.fixture(scope='module')
def tool():
    return load_tool('eval_backbone')


def class_folder(root, per_class=6):
    for c, colour in enumerate(((220, 30, 30), (30, 220, 30), (30, 30, 220))):
        (root / f'class{c}').mkdir(parents=True)
        for j in range(per_class):
            noise = np.random.default_rng(10 * c + j).integers(0, 40, (28, 28, 3), dtype=np.uint8)
            cv2.imwrite(str(root / f'class{c}' / f'{j}.png'), np.clip(np.array(colour) + noise, 0, 255)[..., ::-1])
    return str(root)


def test_knn_and_linear_against_random_init(tool, tmp_path):
    root = class_folder(tmp_path / 'scenes')
    config = tmp_path / 'backbone.py'
    config.write_text("default_scope = 'mmpretrain'\nbackbone = dict(type='ResNet', depth=18)\n")
    from mmpretrain.models import ResNet
    torch.manual_seed(1)
    weights = {f'backbone.{k}': v for k, v in ResNet(depth=18).state_dict().items()}
    torch.save(dict(state_dict=weights, meta={}), tmp_path / 'exported.pth')
    common = ['--data-root', root, '--img-size', '32', '--work-dir', str(tmp_path / 'work'), '--device', 'cpu']
    report = tool.main([str(config), str(tmp_path / 'exported.pth'), 'random', '--task', 'knn', '--k', '3', *common])
    assert [r['label'] for r in report['results']] == ['exported.pth', 'random init']
    assert all(r['metrics']['top1'] >= 50 for r in report['results'])  # colour classes: easy for any backbone
    saved = json.load(open(tmp_path / 'work' / 'knn_results.json'))
    assert saved['settings']['train_images'] == 9 and set(saved['results'][0]['per_class']) == {
        'class0', 'class1', 'class2'}
    assert len(open(tmp_path / 'work' / 'knn_results.csv').read().splitlines()) == 1 + 2 * 3
    assert len(list((tmp_path / 'work' / 'feature_cache').iterdir())) == 4  # 2 backbones x (train, test)
    with pytest.raises(SystemExit, match='knn_results.json already exists'):
        tool.main([str(config), 'random', '--task', 'knn', *common])
    linear = tool.main([str(config), 'random', '--task', 'linear', '--weight-decay', '0.1', *common])
    assert linear['results'][0]['metrics']['weight_decay'] == 0.1
    del weights['backbone.conv1.weight']
    torch.save(weights, tmp_path / 'broken.pth')
    with pytest.raises(SystemExit, match='(?s)does not fit the backbone exactly.*missing: conv1.weight'):
        tool.main([str(config), str(tmp_path / 'broken.pth'), '--task', 'knn', '--force', *common])


def test_seg_probe_on_a_segmentation_config(tool, tmp_path):
    info = make_synthetic_potsdam(str(tmp_path / 'data'), num_train=3, num_val=2, num_unlabeled=0, size=64, seed=0)
    config = osp.join(REPO, 'configs', 'demo', 'upernet_r18_false_synthetic.py')
    report = tool.main([config, 'random', '--task', 'seg-probe', '--data-root', info['out_dir'], '--work-dir',
                        str(tmp_path / 'work'), '--device', 'cpu'])
    result = report['results'][0]
    assert report['settings']['train_images'] == 3 and report['settings']['test_images'] == 2
    assert set(result['per_class']) == set(info['classes']) and 0 <= result['metrics']['mIoU'] <= 100
    assert result['metrics']['train_pixels'] == 3 * 8 * 8  # every labelled cell of the 8 x 8 grids


def test_seg_probe_takes_a_package_data_config(tool, tmp_path):
    """The documented ``--data-config mmseg::_base_/datasets/loveda.py`` (a path inside the installed mmseg)."""
    rng = np.random.default_rng(0)
    for split, count in (('train', 2), ('val', 1)):
        for folder in ('img_dir', 'ann_dir'):
            (tmp_path / 'loveDA' / folder / split).mkdir(parents=True)
        for i in range(count):
            cv2.imwrite(str(tmp_path / 'loveDA' / 'img_dir' / split / f'{i}.png'),
                        rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
            cv2.imwrite(str(tmp_path / 'loveDA' / 'ann_dir' / split / f'{i}.png'),
                        rng.integers(0, 8, (64, 64), dtype=np.uint8))  # 0: no data, 1..7 the classes
    config = osp.join(REPO, 'configs', 'false_r50_potsdam.py')  # the command of docs/evaluation.md
    report = tool.main([config, 'random', '--task', 'seg-probe', '--data-config',
                        'mmseg::_base_/datasets/loveda.py', '--data-root', str(tmp_path / 'loveDA'),
                        '--work-dir', str(tmp_path / 'work'), '--device', 'cpu'])
    assert report['settings']['data_config'] == 'mmseg::_base_/datasets/loveda.py'
    assert report['settings']['train_images'] == 2 and report['settings']['test_images'] == 1
    assert set(report['results'][0]['per_class']) == {'background', 'building', 'road', 'water', 'barren', 'forest',
                                                      'agricultural'}
