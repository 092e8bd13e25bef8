"""Dataset preparation tools for IDDC: the IIC/STEGO Potsdam benchmark and the COCO-Stuff-27 layout."""
import os
import os.path as osp

import cv2
import numpy as np
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS
from scipy.io import loadmat, savemat

import rs_ssl_plugin  # noqa: F401  (registers the datasets)
from helpers.tools import REPO, call_tool

TOOLS = osp.join(REPO, 'tools', 'dataset_converters')


def run_converter(name, *args):
    return call_tool(osp.join(TOOLS, name), *args)


def write_iic_potsdam(root, rng):
    """Two labelled train crops (float RGBIR in [0, 1]), one test crop (uint8), one unlabelled crop."""
    splits = {'labelled_train.txt': ['0', '1'], 'labelled_test.txt': ['2'], 'unlabelled_train.txt': ['3']}
    os.makedirs(osp.join(root, 'imgs'))
    os.makedirs(osp.join(root, 'gt'))
    labels = {}
    for list_name, ids in splits.items():
        with open(osp.join(root, list_name), 'w') as f:
            f.write('\n'.join(ids) + '\n')
        for image_id in ids:
            img = rng.random((20, 24, 4)) if list_name == 'labelled_train.txt' else rng.integers(
                0, 256, (20, 24, 4)).astype(np.uint8)
            savemat(osp.join(root, 'imgs', f'{image_id}.mat'), dict(img=img))
            if list_name != 'unlabelled_train.txt':
                labels[image_id] = rng.choice(np.array([0, 1, 2, 3, 4, 5, 255]), size=(20, 24)).astype(np.uint8)
                savemat(osp.join(root, 'gt', f'{image_id}.mat'), dict(gt=labels[image_id]))
    return labels


def test_iic_potsdam_converter_feeds_potsdam3(tmp_path):
    rng = np.random.default_rng(0)
    src, out = tmp_path / 'iic', tmp_path / 'potsdam3'
    labels = write_iic_potsdam(str(src), rng)
    result = run_converter('potsdam_iic.py', src, out)
    assert result.returncode == 0, result.stderr
    assert 'train: 2 images, 2 labels' in result.stdout and 'unlabelled: 1 images, 0 labels' in result.stdout
    rgb = cv2.imread(str(out / 'img_dir' / 'val' / '2.png'))[..., ::-1]
    assert (rgb == loadmat(str(src / 'imgs' / '2.mat'))['img'][..., :3]).all()

    init_default_scope('mmseg')
    pipeline = [dict(type='CheckedLoadImageFromFile'), dict(type='CheckedLoadAnnotations', num_classes=3),
                dict(type='PackSegInputs')]
    dataset = DATASETS.build(dict(type='Potsdam3Dataset', data_root=str(out), pipeline=pipeline,
                                  data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train')))
    merge = {0: 0, 4: 0, 1: 1, 5: 1, 2: 2, 3: 2, 255: 255}
    for item in (dataset[0], dataset[1]):
        sample = item['data_samples']
        image_id = osp.splitext(osp.basename(sample.img_path))[0]
        expected = np.vectorize(merge.get)(labels[image_id])
        assert (sample.gt_sem_seg.data[0].numpy() == expected).all()

    again = run_converter('potsdam_iic.py', src, out)
    assert again.returncode != 0 and 'not empty' in again.stderr
    os.remove(src / 'gt' / '1.mat')
    missing = run_converter('potsdam_iic.py', src, tmp_path / 'other')
    assert missing.returncode != 0 and '1.mat' in missing.stderr


def test_cocostuff27_layout_tool(tmp_path):
    rng = np.random.default_rng(1)
    images, labels, curated, out = (tmp_path / n for n in ('coco', 'stuffthingmaps', 'curated', 'cocostuff'))
    for split, ids in (('train2017', ['000000000009', '000000000025']), ('val2017', ['000000000139'])):
        for folder in (images, labels, curated):
            os.makedirs(folder / split)
        for image_id in ids + ['000000000999']:  # one image outside the curated list
            cv2.imwrite(str(images / split / f'{image_id}.jpg'), rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
            cv2.imwrite(str(labels / split / f'{image_id}.png'), rng.integers(0, 182, (30, 40), dtype=np.uint8))
        (curated / split / 'Coco164kFull_Stuff_Coarse_7.txt').write_text('\n'.join(ids) + '\n')
    result = run_converter('cocostuff27.py', images, labels, curated, out)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out / 'images' / 'train2017')) == ['000000000009.jpg', '000000000025.jpg']
    assert osp.islink(out / 'annotations' / 'val2017' / '000000000139.png')

    init_default_scope('mmseg')
    dataset = DATASETS.build(dict(type='CocoStuff27Dataset', data_root=str(out), pipeline=[],
                                  ann_file='curated/train2017/Coco164kFull_Stuff_Coarse_7.txt',
                                  data_prefix=dict(img_path='images/train2017', seg_map_path='annotations/train2017')))
    assert len(dataset) == 2

    again = run_converter('cocostuff27.py', images, labels, curated, out)
    assert again.returncode != 0 and 'already exists' in again.stderr
    os.remove(labels / 'val2017' / '000000000139.png')
    missing = run_converter('cocostuff27.py', images, labels, curated, tmp_path / 'other')
    assert missing.returncode != 0 and '000000000139.png' in missing.stderr
    assert not osp.exists(tmp_path / 'other')  # checked before anything is written
