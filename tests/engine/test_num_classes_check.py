"""NumClassesCheckHook: a head's num_classes that differs from the dataset's classes fails before the first
iteration, with the plugin's tools and with mmseg's own train tool."""
import os
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmseg.registry import DATASETS, MODELS

from helpers.configs import shrink_finetune_data
from helpers.tools import REPO, call_tool
from rs_ssl_plugin.datasets.synthetic import make_synthetic_potsdam
from rs_ssl_plugin.engine import NumClassesCheckHook

CONFIG = osp.join(REPO, 'configs', 'demo', 'upernet_r18_false_synthetic.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic') / 'potsdam'
    make_synthetic_potsdam(str(root), num_train=2, num_val=1, num_unlabeled=0, size=32, seed=3)
    return str(root)


def tiny_runner(data_root, work_dir, **heads):
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = work_dir
    cfg.model.backbone.init_cfg = None
    shrink_finetune_data(cfg, data_root)
    cfg.train_cfg.update(max_iters=1, val_interval=1)
    for head, num_classes in heads.items():
        cfg.model[head].num_classes = num_classes
    return Runner.from_cfg(cfg)


def stub_runner(model, train_classes, val_classes=None):
    """What the hook reads of a Runner: the model and the loops' datasets."""
    def loop(classes):
        return SimpleNamespace(dataloader=SimpleNamespace(dataset=SimpleNamespace(metainfo=dict(classes=classes))))
    return SimpleNamespace(model=model, train_loop=loop(train_classes), test_loop=loop(train_classes),
                           val_loop=None if val_classes is None else loop(val_classes))


def segmentor(decode_head=6, auxiliary_head=6):
    init_default_scope('mmseg')
    norm = dict(type='BN')
    head = dict(in_channels=8, in_index=0, channels=4, num_convs=1, norm_cfg=norm)
    return MODELS.build(dict(
        type='EncoderDecoder', backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8, norm_cfg=norm),
        decode_head=dict(type='FCNHead', num_classes=decode_head, **head),
        auxiliary_head=[dict(type='FCNHead', num_classes=n, **head) for n in np.atleast_1d(auxiliary_head)]))


CLASSES = ('impervious_surface', 'building', 'low_vegetation', 'tree', 'car', 'clutter')


@pytest.mark.parametrize('heads, message', [
    (dict(decode_head=4), r'model.decode_head.num_classes is 4 but the training dataset SimpleNamespace has '
                          r'6 classes \(impervious_surface, building'),
    (dict(decode_head=10, auxiliary_head=10), r'decode_head.num_classes is 10, model.auxiliary_head.num_classes is 10'),
    (dict(auxiliary_head=(6, 7)), r'^model.auxiliary_head\[1\].num_classes is 7 but'),
])
def test_every_head_is_checked(heads, message):
    with pytest.raises(ValueError, match=message):
        NumClassesCheckHook().before_train(stub_runner(segmentor(**heads), CLASSES))


def test_a_label_loader_with_other_classes_than_the_dataset_fails_before_training():
    """With a dataset that does not check its pipeline itself (mmseg's own), CheckedLoadAnnotations(num_classes=5)
    on 6 classes would refuse correct label files at the first sample; the hook stops the run before it."""
    init_default_scope('mmseg')
    dataset = DATASETS.build(dict(type='PotsdamDataset', data_root='unused', lazy_init=True,
                                  pipeline=[dict(type='CheckedLoadAnnotations', num_classes=5)]))
    runner = stub_runner(segmentor(), CLASSES)
    runner.train_loop.dataloader.dataset = dataset
    with pytest.raises(ValueError, match=r'^CheckedLoadAnnotations\(num_classes=5\) in the pipeline of the training '
                                         r'dataset PotsdamDataset, which has 6 classes'):
        NumClassesCheckHook().before_train(runner)


def test_validation_and_test_sets_are_checked():
    hook, model = NumClassesCheckHook(), segmentor()
    hook.before_train(stub_runner(model, CLASSES, CLASSES))
    hook.before_test(stub_runner(model, CLASSES))
    with pytest.raises(ValueError, match='the validation dataset SimpleNamespace has 2 classes'):
        hook.before_train(stub_runner(model, CLASSES, ('background', 'building')))
    with pytest.raises(ValueError, match='the test dataset SimpleNamespace has 2 classes'):
        hook.before_test(stub_runner(model, ('background', 'building')))


def test_shipped_config_fails_before_the_first_iteration(data_root, tmp_path):
    """The demo config (which enables the hook) with 10 classes for Potsdam's 6: today it would train silently."""
    runner = tiny_runner(data_root, str(tmp_path), decode_head=10)
    with pytest.raises(ValueError, match='num_classes is 10 but the training dataset CheckedPotsdamDataset'):
        runner.train()
    assert runner.iter == 0 and not [f for f in os.listdir(tmp_path) if f.endswith('.pth')]


def test_mmseg_stock_train_tool_checks_num_classes(data_root, tmp_path):
    import mmseg
    stock_train = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
    options = [f'{loader}.dataset.data_root={data_root}' for loader in ('train_dataloader', 'val_dataloader')]
    options += ['model.backbone.init_cfg=None', 'model.decode_head.num_classes=10', 'train_dataloader.num_workers=0',
                'train_dataloader.persistent_workers=False']
    result = call_tool(stock_train, CONFIG, '--work-dir', str(tmp_path), '--cfg-options', *options)
    assert result.returncode != 0
    assert 'model.decode_head.num_classes is 10 but the training dataset' in result.stderr
