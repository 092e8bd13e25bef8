"""Building extraction data, unlabeled data from folders and lists (GeoTIFF, corrupt files), splits and label
fractions, multi-band transforms, 3-band -> N-band weight adaptation and the configs of this part."""
import os.path as osp
import runpy
import sys
import warnings

import cv2
import numpy as np
import pytest
import rasterio
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS as PRETRAIN_DATASETS
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmpretrain.registry import TRANSFORMS as PRETRAIN_TRANSFORMS
from mmseg.registry import DATASETS, METRICS, MODELS, TRANSFORMS

import rs_ssl_plugin  # noqa: F401
from helpers.tools import REPO
from rs_ssl_plugin.checkpoints.channel_adapt import (
    adapt_checkpoint_input_channels,
    adapt_input_channels,
    adapt_state_dict_input_channels,
)
from rs_ssl_plugin.datasets.pipeline_config import find_transform
from rs_ssl_plugin.datasets.preparation.splits import label_fraction_subsets, split_counts, split_samples


def write_tiff(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    bands = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with rasterio.open(path, 'w', driver='GTiff', width=array.shape[1], height=array.shape[0],
                           count=bands.shape[0], dtype=array.dtype) as raster:
            raster.write(bands)


def write_png(path, array):
    """Write with OpenCV, which picks the format from the file name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)


def run_tool(name, argv, monkeypatch, capsys):
    """Run ``tools/dataset_converters/<name>.py`` in this process (a subprocess would re-import mmseg); its
    standard output."""
    monkeypatch.setattr(sys, 'argv', argv)
    runpy.run_path(osp.join(REPO, 'tools', 'dataset_converters', f'{name}.py'), run_name='__main__')
    return capsys.readouterr().out


def random_image(seed, size=32, bands=3, dtype=np.uint8):
    return np.random.default_rng(seed).integers(0, 255, (size, size, bands)).astype(dtype)


def random_mask(seed, size=32):
    return np.random.default_rng(seed).integers(0, 2, (size, size)).astype(np.uint8)


@pytest.fixture
def buildings(tmp_path):
    """Two tiles: PNG image with a 0/255 PNG mask, 4-band GeoTIFF image with a 0/1 GeoTIFF mask."""
    masks = {'a': random_mask(1), 'b': random_mask(2)}
    write_png(tmp_path / 'images' / 'a.png', random_image(0))
    write_png(tmp_path / 'masks' / 'a.png', masks['a'] * 255)
    write_tiff(tmp_path / 'images' / 'b.tif', random_image(3))
    write_tiff(tmp_path / 'masks' / 'b.tif', masks['b'])
    return tmp_path, masks


def build_buildings(root, **kwargs):
    init_default_scope('mmseg')
    return DATASETS.build(dict(type='ShaanxiBuildingsDataset', data_root=str(root),
                               pipeline=[dict(type='CheckedLoadImageFromFile', color_type='unchanged'),
                                         dict(type='CheckedLoadBinaryMask')], **kwargs))


def test_building_masks_0_255_and_0_1_load_as_class_indices(buildings):
    root, masks = buildings
    dataset = build_buildings(root)
    assert dataset.metainfo['classes'] == ('background', 'building') and len(dataset) == 2
    for index, name in enumerate('ab'):
        sample = dataset[index]
        np.testing.assert_array_equal(sample['gt_seg_map'], masks[name])
    assert dataset[1]['img'].shape == (32, 32, 3)


def test_building_mask_errors_name_the_file(buildings):
    root, masks = buildings
    write_png(root / 'masks' / 'a.png', np.dstack([masks['a'] * 255] * 3))  # 3 equal channels are fine
    assert build_buildings(root)[0]['gt_seg_map'].max() == 1
    bad = masks['a'] * 255
    bad[0, 0] = 128
    write_png(root / 'masks' / 'a.png', bad)
    with pytest.raises(ValueError, match=r'masks/a.png holds values \[128\]; expected only 0'):
        build_buildings(root)[0]
    (root / 'masks' / 'b.tif').unlink()
    with pytest.raises(FileNotFoundError, match='1 image.* without a mask .*images/b.tif'):
        build_buildings(root)


def test_split_tool_and_split_files(buildings, monkeypatch, capsys):
    root, masks = buildings
    for i in range(8):  # 10 pairs in all
        write_png(root / 'images' / 'more' / f'{i}.png', random_image(10 + i))
        write_png(root / 'masks' / 'more' / f'{i}.png', random_mask(i) * 255)
    argv = ['split_dataset.py', str(root), '--ratios', '0.6', '0.2', '0.2', '--seed', '3']
    assert '10 image/mask pairs: 6 train, 2 val, 2 test' in run_tool('split_dataset', argv, monkeypatch, capsys)
    lines = {s: (root / 'splits' / f'{s}.txt').read_text().splitlines() for s in ('train', 'val', 'test')}
    assert sorted(sum(lines.values(), [])) == sorted(set(sum(lines.values(), [])))  # disjoint
    assert 'images/a.png masks/a.png' in sum(lines.values(), [])
    assert {s: len(v) for s, v in lines.items()} == dict(train=6, val=2, test=2)
    everything = ['images/a.png masks/a.png', 'images/b.tif masks/b.tif'] + [
        f'images/more/{i}.png masks/more/{i}.png' for i in range(8)]
    assert sorted(sum(lines.values(), [])) == sorted(everything)  # every pair once, in exactly one split
    with pytest.raises(SystemExit, match='already exist'):  # nothing overwritten
        run_tool('split_dataset', argv, monkeypatch, capsys)
    dataset = build_buildings(root, ann_file='splits/val.txt')
    assert len(dataset) == 2 and dataset[0]['gt_seg_map'].max() <= 1


def test_split_counts_and_reproducibility():
    assert split_counts(10, dict(train=0.6, val=0.2, test=0.2)) == dict(train=6, val=2, test=2)
    assert split_counts(7, dict(train=0.5, val=0.5)) == dict(train=4, val=3)
    samples = [f's{i}' for i in range(50)]
    first = split_samples(samples, dict(train=0.7, val=0.3), seed=1)
    assert first == split_samples(samples, dict(train=0.7, val=0.3), seed=1)
    assert first != split_samples(samples, dict(train=0.7, val=0.3), seed=2)
    assert sorted(first['train'] + first['val']) == sorted(samples)


def test_label_fractions_are_nested_and_seeded(tmp_path, monkeypatch, capsys):
    samples = [f'crop_{i:03d}' for i in range(300)]
    subsets = label_fraction_subsets(samples, [1, 5, 10, 100], seed=0)
    assert [len(subsets[p]) for p in (1, 5, 10, 100)] == [3, 15, 30, 300]
    assert set(subsets[1]) < set(subsets[5]) < set(subsets[10]) < set(subsets[100])
    assert subsets == label_fraction_subsets(samples, [1, 5, 10, 100], seed=0)
    assert subsets[10] != label_fraction_subsets(samples, [10], seed=1)[10]
    assert label_fraction_subsets(samples[:20], [1], seed=0)[1].__len__() == 1  # at least one sample
    folder = tmp_path / 'img_dir' / 'train'
    for i in range(40):
        write_png(folder / f'2_10_{i}.png', random_image(i, size=4))
    run_tool('label_fraction_split', ['label_fraction_split.py', str(folder), str(tmp_path / 'splits'), '--percents',
                                      '5', '50', '--seed', '7'], monkeypatch, capsys)
    small = (tmp_path / 'splits' / 'train_5pct.txt').read_text().split()
    large = (tmp_path / 'splits' / 'train_50pct.txt').read_text().split()
    assert len(small) == 2 and len(large) == 20 and set(small) < set(large) and small[0].startswith('2_10_')


def build_unlabeled(root, **kwargs):
    init_default_scope('mmpretrain')
    return PRETRAIN_DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(root),
                                        pipeline=[dict(type='CheckedLoadImageFromFile', **kwargs.pop('loader', {}))],
                                        **kwargs))


def image_paths(dataset, root):
    return [osp.relpath(dataset.get_data_info(i)['img_path'], root) for i in range(len(dataset))]


def test_unlabeled_million_aid_tree_and_list_file(tmp_path):
    # Million-AID: train/<level 1>/<level 2>/<level 3>/*.jpg and a flat test folder
    paths = ['train/agriculture_land/arable_land/dry_field/P0001.jpg',
             'train/transportation_land/airport_area/runway/P0002.jpg', 'test/P0003.jpg']
    for i, path in enumerate(paths):
        write_png(tmp_path / path, random_image(i))  # OpenCV picks the format (JPEG) from the name
    dataset = build_unlabeled(tmp_path)
    assert image_paths(dataset, tmp_path) == sorted(paths)
    assert dataset[0]['img'].shape == (32, 32, 3)
    (tmp_path / 'list.txt').write_text(f'# pre-training subset\n{paths[0]} 3\n\ntest/P0003.jpg\n')
    listed = build_unlabeled(tmp_path, ann_file='list.txt')
    assert image_paths(listed, tmp_path) == [paths[0], paths[2]]
    (tmp_path / 'list.txt').write_text('test/missing.jpg\n')
    with pytest.raises(FileNotFoundError, match='missing.jpg'):
        build_unlabeled(tmp_path, ann_file='list.txt')


def test_multiband_geotiff_loads_in_file_band_order(tmp_path):
    image = random_image(0, bands=5, dtype=np.uint16) * 200
    write_tiff(tmp_path / 'crops' / 'x.tif', image)
    dataset = build_unlabeled(tmp_path, data_prefix='crops',
                              loader=dict(expected_channels=5, color_type='unchanged'))
    loaded = dataset[0]['img']
    assert loaded.dtype == np.uint16
    np.testing.assert_array_equal(loaded, image)
    rgb = random_image(1)
    write_tiff(tmp_path / 'rgb' / 'y.tif', rgb)  # 3-band rasters are BGR like every other image
    loaded = build_unlabeled(tmp_path, data_prefix='rgb')[0]['img']
    np.testing.assert_array_equal(loaded, rgb[..., ::-1])


def test_corrupt_files_skip_with_count_or_fail(tmp_path):
    for i in range(3):
        write_png(tmp_path / f'{i}.png', random_image(i))
    (tmp_path / '1.png').write_bytes(b'broken')
    with pytest.raises(OSError, match='cannot decode image .*1.png'):
        build_unlabeled(tmp_path)[1]
    dataset = build_unlabeled(tmp_path, on_corrupt='skip')
    with pytest.warns(UserWarning, match=r'skipped a corrupt image \(1 so far\).*1.png'):
        sample = dataset[1]
    assert sample['img'].shape == (32, 32, 3) and dataset.num_skipped == 1
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # a file already counted is skipped silently
        dataset[1]
    assert dataset.skipped_paths == [str(tmp_path / '1.png')]
    (tmp_path / '3.tif').write_bytes(b'II*\x00broken tiff')
    (tmp_path / 'list.txt').write_text('3.tif\n0.png\n')
    listed = build_unlabeled(tmp_path, ann_file='list.txt', on_corrupt='skip')
    with pytest.warns(UserWarning, match=r'\(1 so far\).*3.tif'):
        listed[0]
    with pytest.raises(ValueError, match="on_corrupt must be one of"):
        build_unlabeled(tmp_path, on_corrupt='ignore')


@pytest.mark.parametrize('dtype', [np.uint8, np.uint16])
def test_band_transforms_keep_shape_dtype_and_range(dtype):
    np.random.seed(0)
    image = random_image(0, bands=4, dtype=dtype)
    init_default_scope('mmpretrain')
    jitter = PRETRAIN_TRANSFORMS.build(dict(type='RandomBandJitter', brightness=0.5, contrast=0.5, band_gain=0.2,
                                            prob=1.0))
    out = jitter(dict(img=image.copy()))['img']
    assert out.shape == image.shape and out.dtype == image.dtype and not np.array_equal(out, image)
    # brightness and contrast act on all bands alike, so per-band gains explain the rest: ratios differ
    blur = PRETRAIN_TRANSFORMS.build(dict(type='RandomBandGaussianBlur', sigma_range=(1.0, 1.0), prob=1.0))
    blurred = blur(dict(img=image.copy()))['img']
    assert blurred.shape == image.shape and blurred.dtype == image.dtype
    np.testing.assert_array_equal(blurred[..., 3], cv2.GaussianBlur(image[..., 3], (0, 0), 1.0))
    constant = np.full((8, 8, 6), 100, dtype)
    assert (blur(dict(img=constant))['img'] == 100).all()  # > 4 bands are blurred band by band


def test_jitter_factors_follow_the_formula(monkeypatch):
    factors = iter([0.0, 1.2, 0.5, np.array([1.0, 2.0])])  # draw < prob, brightness, contrast, band gains
    monkeypatch.setattr(np.random, 'rand', lambda: next(factors))
    monkeypatch.setattr(np.random, 'uniform', lambda *a, **k: next(factors))
    init_default_scope('mmseg')
    jitter = TRANSFORMS.build(dict(type='RandomBandJitter', brightness=0.4, contrast=0.6, band_gain=0.5, prob=0.5))
    image = np.array([[[10., 20.], [30., 40.]]], np.float32)
    bright = image * 1.2
    expected = (bright.mean() + 0.5 * (bright - bright.mean())) * np.array([1.0, 2.0])
    np.testing.assert_allclose(jitter(dict(img=image))['img'], expected, rtol=1e-6)


def test_channel_adaptation_keeps_the_response_to_grey_input():
    weight = torch.randn(8, 3, 3, 3)
    for bands in (1, 4, 6):
        adapted = adapt_input_channels(weight, bands)
        assert adapted.shape == (8, bands, 3, 3)
        grey = torch.full((1, 3, 7, 7), 0.7)
        torch.testing.assert_close(torch.conv2d(grey[:, :1].expand(1, bands, 7, 7), adapted),
                                   torch.conv2d(grey, weight))
    adapted = adapt_input_channels(weight, 4)
    torch.testing.assert_close(adapted[:, :3], weight * 0.75)
    torch.testing.assert_close(adapted[:, 3], weight.mean(1) * 0.75)
    swapped = adapt_input_channels(weight, 4, rgb_indices=(1, 2, 3))  # e.g. NIR, R, G, B
    torch.testing.assert_close(swapped[:, 1:], weight * 0.75)
    with pytest.raises(ValueError, match='3 input channels'):
        adapt_input_channels(torch.randn(8, 4, 3, 3), 5)


def test_rgb_weights_initialise_a_four_band_resnet(tmp_path):
    init_default_scope('mmseg')
    rgb = MODELS.build(dict(type='ResNet', depth=18))
    path = tmp_path / 'rgb_backbone.pth'
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in rgb.state_dict().items()}), path)
    four = MODELS.build(dict(type='ResNet', depth=18, in_channels=4, init_cfg=dict(
        type='ChannelAdaptedPretrained', checkpoint=str(path), prefix='backbone.')))
    four.init_weights()
    state = four.state_dict()
    torch.testing.assert_close(state['conv1.weight'], adapt_input_channels(rgb.conv1.weight.detach(), 4))
    for key, value in rgb.state_dict().items():
        if key != 'conv1.weight':
            torch.testing.assert_close(state[key], value, msg=key)
    rgb_state = rgb.state_dict()
    untouched = adapt_state_dict_input_channels(rgb_state, rgb_state)  # nothing to adapt
    assert all(untouched[k] is v for k, v in rgb_state.items())


def test_adapted_checkpoint_loads_into_a_four_band_vit(tmp_path):
    """ViTs re-initialise parts of themselves unless init_cfg is 'Pretrained': adapt the file, then load it."""
    init_default_scope('mmpretrain')
    arch = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
    rgb = PRETRAIN_MODELS.build(dict(type='VisionTransformer', arch=arch, img_size=32, patch_size=8))
    src, dst = tmp_path / 'vit.pth', tmp_path / 'vit_4band.pth'
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in rgb.state_dict().items()}), src)
    key = adapt_checkpoint_input_channels(str(src), str(dst), 4, prefix='backbone.')
    assert key == 'backbone.patch_embed.projection.weight'
    with pytest.raises(FileExistsError, match='vit_4band.pth already exists'):
        adapt_checkpoint_input_channels(str(src), str(dst), 4, prefix='backbone.')
    four = PRETRAIN_MODELS.build(dict(type='VisionTransformer', arch=arch, img_size=32, patch_size=8, in_channels=4,
                                      init_cfg=dict(type='Pretrained', checkpoint=str(dst), prefix='backbone.')))
    four.init_weights()
    torch.testing.assert_close(four.patch_embed.projection.weight,
                               adapt_input_channels(rgb.patch_embed.projection.weight.detach(), 4))
    for name, value in rgb.state_dict().items():
        if name != 'patch_embed.projection.weight':
            torch.testing.assert_close(four.state_dict()[name], value, msg=name)


MY_CONFIGS = ['configs/upernet_r50_false_shaanxi-buildings.py', 'configs/upernet_r50_false_potsdam-rgbir.py',
              'configs/false_r50_potsdam-rgbir.py']


@pytest.mark.parametrize('path', MY_CONFIGS)
def test_configs_build_tiny(path):
    cfg = Config.fromfile(osp.join(REPO, path))
    init_default_scope(cfg.default_scope)
    model_cfg = cfg.model
    bands = 4 if 'rgbir' in path else 3
    model_cfg.backbone.depth = 18
    if cfg.default_scope == 'mmseg':
        model_cfg.backbone.init_cfg = None
        model_cfg.backbone.norm_cfg = model_cfg.decode_head.norm_cfg = model_cfg.auxiliary_head.norm_cfg = \
            dict(type='BN', requires_grad=True)
        model_cfg.decode_head.update(in_channels=[64, 128, 256, 512], channels=16)
        model_cfg.auxiliary_head.update(in_channels=256, channels=8)
        model_cfg.data_preprocessor.size = (64, 64)
        model = MODELS.build(model_cfg).eval()
        assert model.decode_head.num_classes == (2 if 'shaanxi' in path else 6)
        data = dict(inputs=[torch.randint(0, 255, (bands, 64, 64), dtype=torch.uint8)], data_samples=None)
        batch = model.data_preprocessor(data, training=False)
        assert model(batch['inputs'], mode='tensor').shape[:2] == (1, model.decode_head.num_classes)
        assert type(METRICS.build(cfg.test_evaluator)).__name__ == 'PerClassSegMetric'
    else:
        model_cfg.backbone.norm_cfg = dict(type='BN')
        model_cfg.neck.update(in_channels=512, hid_channels=32, out_channels=16)
        model = PRETRAIN_MODELS.build(model_cfg)
        views = [torch.randint(0, 255, (2, bands, 32, 32), dtype=torch.uint8) for _ in range(2)]
        batch = model.data_preprocessor(dict(inputs=views, data_samples=None), training=True)
        assert batch['inputs'][0].shape == (2, bands, 32, 32)
        # no channel flip: band k is normalised with the k-th mean/std
        for band in range(bands):
            expected = (views[0][:, band].float() - cfg.band_mean[band]) / cfg.band_std[band]
            torch.testing.assert_close(batch['inputs'][0][:, band], expected)
    assert model.backbone.conv1.in_channels == bands
    pipeline_types = [t['type'] for t in (cfg.train_dataloader.dataset.pipeline)]
    assert 'PhotoMetricDistortion' not in pipeline_types or bands == 3


def test_rgbir_pretraining_pipeline_runs_on_four_band_crops(tmp_path):
    write_tiff(tmp_path / 'unlabeled' / 'a.tif', random_image(0, size=64, bands=4))
    cfg = Config.fromfile(osp.join(REPO, 'configs/false_r50_potsdam-rgbir.py'))
    init_default_scope('mmpretrain')
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.data_root = str(tmp_path)
    find_transform(dataset_cfg.pipeline, 'RandomResizedCrop').scale = 32
    sample = PRETRAIN_DATASETS.build(dataset_cfg)[0]
    assert [tuple(v.shape) for v in sample['inputs']] == [(4, 32, 32), (4, 32, 32)]
