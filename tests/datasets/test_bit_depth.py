"""The one bit-depth policy (``to_pipeline_values``): 16-bit imagery reaches the SSL and segmentation pipelines
as the same 8-bit values once the loader's ``value_range`` says how to map it, and is refused, naming the file,
when nothing says so."""
import copy
import os.path as osp
import random

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from helpers.tools import REPO
from rs_ssl_plugin.datasets.checks import to_pipeline_values
from rs_ssl_plugin.datasets.pipeline_config import find_transform

TWELVE_BIT = (0, 4095)


def twelve_bit_pair(tmp_path, size=96):
    """A 12-bit BGR image stored as a 16-bit PNG and its 8-bit version (reference mapping 0..4095 -> 0..255)
    as an 8-bit PNG."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 4096, (size // 8, size // 8, 3)).astype(np.float32)
    deep = np.clip(cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC), 0, 4095).astype(np.uint16)
    eight = np.rint(deep.astype(np.float64) * 255 / 4095).astype(np.uint8)
    cv2.imwrite(str(tmp_path / 'deep.png'), deep)
    cv2.imwrite(str(tmp_path / 'eight.png'), eight)
    cv2.imwrite(str(tmp_path / 'label.png'), rng.integers(1, 7, (size, size)).astype(np.uint8))
    return str(tmp_path / 'deep.png'), str(tmp_path / 'eight.png'), str(tmp_path / 'label.png')


def run_seeded(pipeline, sample, seed=0):
    np.random.seed(seed)
    random.seed(seed)
    torch.manual_seed(seed)
    return pipeline(copy.deepcopy(sample))  # transforms append to the sample's lists


def test_mapping_follows_the_formula_per_band():
    img = np.array([[[0, 100, 5000], [4095, 50, 2000]]], np.uint16)  # 1 x 2 pixels, 3 bands
    out = to_pipeline_values(img, 'x.tif', value_range=[(0, 4095), (50, 100), (1000, 3000)])
    bounds = np.array([[0, 4095], [50, 100], [1000, 3000]], np.float64)
    expected = np.clip(np.rint((img - bounds[:, 0]) * 255 / (bounds[:, 1] - bounds[:, 0])), 0, 255)
    assert out.dtype == np.uint8 and np.array_equal(out, expected.astype(np.uint8))
    bands_first = to_pipeline_values(img.transpose(2, 0, 1), 'x.tif', [(0, 4095), (50, 100), (1000, 3000)],
                                     band_axis=0)
    assert np.array_equal(bands_first, out.transpose(2, 0, 1))
    assert to_pipeline_values(img, 'x.tif', unchanged=True) is img
    with pytest.raises(ValueError, match='value_range gives 2 .* x.tif has 3 band'):
        to_pipeline_values(img, 'x.tif', [(0, 1), (0, 1)])
    with pytest.raises(ValueError, match='low < high'):
        to_pipeline_values(img, 'x.tif', (10, 10))


def test_ssl_pipeline_gets_the_8_bit_values(tmp_path):
    deep, eight, _ = twelve_bit_pair(tmp_path)
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', 'potsdam_unlabeled_simclr.py'))
    init_default_scope('mmpretrain')
    with pytest.raises(ValueError, match=r'deep.png is uint16 .* set value_range=\(low, high\)'):
        Compose(cfg.train_pipeline)(dict(img_path=deep))
    reference = run_seeded(Compose(cfg.train_pipeline), dict(img_path=eight))
    find_transform(cfg.train_pipeline, 'CheckedLoadImageFromFile')['value_range'] = TWELVE_BIT
    mapped = run_seeded(Compose(cfg.train_pipeline), dict(img_path=deep))
    for view, expected in zip(mapped['inputs'], reference['inputs']):
        assert torch.equal(view, expected)


def test_segmentation_pipeline_gets_the_8_bit_values(tmp_path):
    deep, eight, label = twelve_bit_pair(tmp_path)
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'upernet_r50_random_potsdam.py'))
    init_default_scope('mmseg')
    sample = dict(seg_map_path=label, reduce_zero_label=True, seg_fields=[], num_classes=6)
    with pytest.raises(ValueError, match=r'deep.png is uint16 .* set value_range'):
        Compose(cfg.train_pipeline)(dict(sample, img_path=deep))
    # the test loader is CheckedLoadImageFromFile under mmseg's name (configs/_base_/datasets/potsdam_checked.py)
    for pipeline, loader in ((cfg.train_pipeline, 'CheckedLoadImageFromFile'),
                             (cfg.test_pipeline, 'LoadImageFromFile')):
        reference = run_seeded(Compose(pipeline), dict(sample, img_path=eight))
        find_transform(pipeline, loader)['value_range'] = TWELVE_BIT
        mapped = run_seeded(Compose(pipeline), dict(sample, img_path=deep))
        assert torch.equal(mapped['inputs'], reference['inputs'])
        assert torch.equal(mapped['data_samples'].gt_sem_seg.data, reference['data_samples'].gt_sem_seg.data)


@pytest.mark.parametrize('loader', [dict(value_range=(0, 1)), dict(color_type='unchanged')])
def test_loader_refuses_nan_naming_the_file(tmp_path, loader):
    """A float32 GeoTIFF with a NaN block: cast to uint8 NaN used to become a class-like value (0 here)."""
    import rasterio
    from rasterio.transform import from_origin

    from rs_ssl_plugin.datasets.transforms.loading import CheckedLoadImageFromFile
    pixels = np.random.default_rng(0).random((3, 16, 16)).astype(np.float32)
    pixels[:, 4:8, 4:8] = np.nan
    path = str(tmp_path / 'reflectance.tif')
    with rasterio.open(path, 'w', driver='GTiff', width=16, height=16, count=3, dtype='float32', crs='EPSG:32633',
                       transform=from_origin(368000.0, 5808000.0, 1.0, 1.0)) as dst:
        dst.write(pixels)
    with pytest.raises(ValueError, match=r'reflectance.tif holds 48 NaN or infinite value\(s\)'):
        CheckedLoadImageFromFile(**loader).transform(dict(img_path=path))
    pixels[:, 4:8, 4:8] = 0.5
    with rasterio.open(path, 'r+') as dst:
        dst.write(pixels)
    assert CheckedLoadImageFromFile(**loader).transform(dict(img_path=path))['img'].shape == (16, 16, 3)
