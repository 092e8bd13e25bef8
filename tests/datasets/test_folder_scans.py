"""Every folder scan of the datasets enters each real folder once and never leaves the folder it scans: a
directory link to '.' used to repeat the data 41 times (until the OS's symlink limit), one to '..' walked
the siblings of the data folder."""
import os.path as osp
import re

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS as PRETRAIN_DATASETS
from mmseg.registry import DATASETS

import rs_ssl_plugin  # noqa: F401
from rs_ssl_plugin.datasets.checks import collect_image_files, list_images
from rs_ssl_plugin.datasets.class_folders import list_class_folder
from rs_ssl_plugin.datasets.shaanxi_buildings import pair_images_and_masks


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), array)


def image(seed):
    return np.random.default_rng(seed).integers(0, 255, (16, 16, 3), dtype=np.uint8)


LINK_TARGETS = ['.', '..']


def scanned(leaves, scan):
    """``scan()``, which must warn about the link when it ``leaves`` the scanned folder (a link to '..' in the
    folder itself; deeper down, '..' stays inside and is skipped without a word)."""
    if leaves:
        with pytest.warns(UserWarning, match='not followed'):
            return scan()
    return scan()


def relative(paths, root):
    return sorted(osp.relpath(p, root) for p in paths)


@pytest.fixture
def unlabeled(tmp_path):
    """``data/`` with 6 images in two sub-folders, and a sibling folder with 4 more images that a link to
    '..' reaches (one link per test: two loops in one tree would multiply, 2^40 paths before the fix)."""
    data = tmp_path / 'data'
    names = [f'{part}/{i}.png' for part in ('a', 'b') for i in range(3)]
    for seed, name in enumerate(names):
        write_png(data / name, image(seed))
    for seed in range(4):
        write_png(tmp_path / 'elsewhere' / f'{seed}.png', image(seed))
    return data, names


@pytest.mark.parametrize('target', LINK_TARGETS)
@pytest.mark.parametrize('where', ['', 'a'])
def test_list_images_enters_each_folder_once_and_stays_inside(unlabeled, target, where):
    data, names = unlabeled
    (data / where / 'loop').symlink_to(target)
    found = scanned(target == '..' and not where, lambda: list_images(str(data), ('.png', )))
    assert relative(found, data) == names


def test_the_warning_names_the_link_and_where_it_leads(unlabeled):
    data, _ = unlabeled
    (data / 'up').symlink_to('..')
    expected = f'folder link {data / "up"} leads to {osp.realpath(data.parent)}, outside {data}'
    with pytest.warns(UserWarning, match=re.escape(expected)):
        list_images(str(data), ('.png', ))


@pytest.mark.parametrize('target', LINK_TARGETS)
def test_unlabeled_image_folder_with_a_loop_has_the_six_images(unlabeled, target):
    data, names = unlabeled
    (data / 'loop').symlink_to(target)
    init_default_scope('mmpretrain')
    dataset = scanned(target == '..', lambda: PRETRAIN_DATASETS.build(dict(type='UnlabeledImageFolder',
                                                                   data_root=str(data))))
    assert relative((dataset.get_data_info(i)['img_path'] for i in range(len(dataset))), data) == names


@pytest.mark.parametrize('target', LINK_TARGETS)
def test_collect_image_files_of_a_folder_with_a_loop(unlabeled, target):
    data, names = unlabeled
    (data / 'loop').symlink_to(target)
    assert relative(scanned(target == '..', lambda: collect_image_files([str(data)], ('.png', ))), data) == names


def test_links_inside_the_folder_are_not_entered_twice(tmp_path):
    """A second link to a sub-folder does not count its images twice."""
    write_png(tmp_path / 'a' / '0.png', image(0))
    (tmp_path / 'a_again').symlink_to('a')
    assert relative(list_images(str(tmp_path), ('.png', )), tmp_path) == ['a/0.png']


def test_a_linked_root_is_scanned(tmp_path):
    """The scanned folder itself may be a link; only links below it are checked."""
    write_png(tmp_path / 'real' / 'x' / '0.png', image(0))
    (tmp_path / 'linked').symlink_to('real')
    assert relative(list_images(str(tmp_path / 'linked'), ('.png', )), tmp_path / 'linked') == ['x/0.png']


@pytest.mark.parametrize('target', LINK_TARGETS)
def test_potsdam_dataset_with_a_loop_in_the_image_folder(tmp_path, target):
    """mmseg's own scan of ``img_dir`` followed the link too: 246 samples for 6, and through '..' the images of
    ``val``, whose labels are not in ``ann_dir/train``."""
    for split in ('train', 'val'):
        for i in range(6 if split == 'train' else 2):
            write_png(tmp_path / 'img_dir' / split / f'{split}{i}.png', image(i))
            write_png(tmp_path / 'ann_dir' / split / f'{split}{i}.png', np.ones((16, 16), np.uint8))
    (tmp_path / 'img_dir' / 'train' / 'loop').symlink_to(target)
    init_default_scope('mmseg')
    dataset = scanned(target == '..', lambda: DATASETS.build(dict(
        type='CheckedPotsdamDataset', data_root=str(tmp_path),
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'))))
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [osp.relpath(info['img_path'], tmp_path) for info in infos] == [f'img_dir/train/train{i}.png'
                                                                           for i in range(6)]
    assert [osp.relpath(info['seg_map_path'], tmp_path) for info in infos] == [f'ann_dir/train/train{i}.png'
                                                                               for i in range(6)]
    assert all(info['reduce_zero_label'] and info['seg_fields'] == [] for info in infos)


@pytest.mark.parametrize('target', LINK_TARGETS)
def test_building_pairs_with_a_loop(tmp_path, target):
    for i in range(3):
        write_png(tmp_path / 'images' / f'{i}.png', image(i))
        write_png(tmp_path / 'masks' / f'{i}.png', np.zeros((16, 16), np.uint8))
    (tmp_path / 'images' / 'loop').symlink_to(target)
    pairs = scanned(target == '..', lambda: pair_images_and_masks(str(tmp_path / 'images'), str(tmp_path / 'masks')))
    assert [(osp.basename(i), osp.basename(m)) for i, m in pairs] == [(f'{i}.png', f'{i}.png') for i in range(3)]


@pytest.mark.parametrize('target', LINK_TARGETS)
@pytest.mark.parametrize('depth, where', [(1, ''), (2, ''), (2, 'land')])
def test_class_folders_with_a_loop(tmp_path, depth, where, target):
    """A link to '.' or '..' at any level of a class-folder tree adds no class and no image; the images
    beside the root do not become a class."""
    root = tmp_path / 'scenes'
    classes = ['farm', 'port'] if depth == 1 else ['land/farm', 'water/port']
    for name in classes:
        for i in range(2):
            write_png(root / name / f'{i}.png', image(i))
    write_png(tmp_path / 'stray.png', image(9))
    (root / (where if depth == 2 else '') / 'loop').symlink_to(target)
    found_classes, files = scanned(target == '..' and not where, lambda: list_class_folder(str(root), depth=depth))
    assert found_classes == classes
    assert [relative(f, root) for f in files] == [[f'{name}/0.png', f'{name}/1.png'] for name in classes]
