"""RandomWindowDataset on small rasters written here: valid windows holding the scene's pixels, draws that depend
on (seed, epoch, index) alone, disjoint windows on two gloo ranks, resampling to a ground sampling distance, band
selection and the value policy, one open file per process, the errors, and the three shipped configs."""
import os.path as osp
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
import torch
from mmengine.config import Config
from mmengine.dataset import DefaultSampler
from mmengine.registry import FUNCTIONS, init_default_scope
from mmpretrain.registry import DATASETS, MODELS
from rasterio.enums import ColorInterp
from rasterio.env import get_gdal_config
from rasterio.transform import from_origin

from helpers.distributed import run_in_processes
from helpers.tools import REPO
from rs_ssl_plugin.datasets import RandomWindowDataset, RandomWindowEpochHook, raster_windows
from rs_ssl_plugin.datasets.checks import to_pipeline_values

LOADER = [dict(type='CheckedLoadImageFromFile')]
WINDOW = 32


def write_raster(path, pixels, gsd=None, crs='EPSG:32633', alpha=False, **profile):
    """``(bands, rows, cols)`` pixels as a GeoTIFF; georeferenced at ``gsd`` metres per pixel when given; with
    ``alpha`` the 4 bands are R, G, B and alpha."""
    if gsd is not None:
        profile.update(crs=crs, transform=from_origin(500000, 5000000, gsd, gsd))
    with rasterio.open(path, 'w', driver='GTiff', count=pixels.shape[0], height=pixels.shape[1],
                       width=pixels.shape[2], dtype=pixels.dtype, **profile) as dst:
        dst.write(pixels)
        if alpha:
            dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]


def random_pixels(seed, bands, rows, cols, dtype=np.uint8, high=255):
    return np.random.default_rng(seed).integers(1, high, (bands, rows, cols)).astype(dtype)


TILED = dict(tiled=True, blockxsize=64, blockysize=64, compress='deflate')


@pytest.fixture(scope='module')
def scenes(tmp_path_factory):
    """Folders of scenes, by what they test."""
    root = tmp_path_factory.mktemp('scenes')
    folders = {name: root / name for name in ('nodata', 'alpha', 'zero_border', 'gsd', 'rgbnir', 'two')}
    for folder in folders.values():
        folder.mkdir()
    pixels = random_pixels(0, 3, 160, 200)
    pixels[:, :, :80] = 0  # a no-data border: 40 % of the scene
    write_raster(folders['nodata'] / 'tiled.tif', pixels, gsd=0.1, nodata=0, **TILED)
    rgba = np.concatenate([random_pixels(1, 3, 150, 120, np.uint16, 4000), np.full((1, 150, 120), 4000, np.uint16)])
    rgba[3, :70] = 0  # transparent top rows; the pixels under them hold values
    write_raster(folders['alpha'] / 'striped.tif', rgba, alpha=True)  # in strips: GDAL's default layout
    pixels = random_pixels(2, 3, 100, 140)
    pixels[:, :, 90:] = 0  # black border, no nodata value in the file
    write_raster(folders['zero_border'] / 'border.tif', pixels, **TILED)
    # the same 25.6 m of ground at 10 and at 20 cm: squares of 0.8 m (8 and 4 pixels)
    for name, gsd, size in (('fine', 0.1, 256), ('coarse', 0.2, 128)):
        side = int(round(0.8 / gsd))
        checker = ((np.arange(size)[:, None] // side + np.arange(size)[None] // side) % 2) * 150 + 50
        write_raster(folders['gsd'] / f'{name}.tif', np.repeat(checker[None].astype(np.uint8), 3, 0), gsd=gsd, **TILED)
    write_raster(folders['rgbnir'] / 'rgbnir.tif', random_pixels(3, 4, 96, 96, np.uint16, 4000), gsd=0.5, **TILED)
    for i in range(2):
        write_raster(folders['two'] / f'scene_{i}.tif', random_pixels(4 + i, 3, 160, 200), **TILED)
    return {name: str(folder) for name, folder in folders.items()}


def window_key(sample):
    return osp.basename(sample['img_path']), sample['scene_window']


def dataset(folder, **kwargs):
    kwargs.setdefault('epoch_length', 40)
    kwargs.setdefault('window_size', WINDOW)
    kwargs.setdefault('pipeline', LOADER)
    return RandomWindowDataset(folder, **kwargs)


def stored_window(sample, bands=None):
    """The window's ``(bands, rows, cols)`` as stored in its scene file."""
    top, left, rows, cols = sample['scene_window']
    with rasterio.open(sample['img_path']) as raster:
        return raster.read(bands, window=rasterio.windows.Window(left, top, cols, rows))


@pytest.mark.parametrize('case, loader, missing_of', [
    ('nodata', LOADER, lambda stored: (stored == 0).all(0)),  # the file's nodata value, 0
    ('alpha', [dict(type='CheckedLoadImageFromFile', value_range=(0, 4000))], lambda stored: stored[3] == 0),
    ('zero_border', LOADER, lambda stored: (stored == 0).all(0)),  # no mask in the file: black pixels
])
def test_windows_are_mostly_valid_and_hold_the_scene_pixels(scenes, case, loader, missing_of):
    windows = dataset(scenes[case], pipeline=loader)
    fractions = []
    for index in range(20):
        sample = windows[index]
        stored = stored_window(sample)
        missing = missing_of(stored)
        fractions.append(1 - missing.mean())
        assert sample['valid_fraction'] == pytest.approx(fractions[-1]) and fractions[-1] >= 0.5
        expected = np.where(missing, 0, stored[2::-1]).transpose(1, 2, 0)  # BGR, no data set to 0
        if case == 'alpha':
            expected = to_pipeline_values(expected, 'x', (0, 4000))
        np.testing.assert_array_equal(sample['img'], expected)
        assert sample['img_shape'] == (WINDOW, WINDOW)
    assert min(fractions) < 1, 'windows overlapping the no-data part are drawn too, while mostly valid'


def test_windows_depend_on_seed_epoch_and_index_alone(scenes):
    first, resumed = dataset(scenes['nodata']), dataset(scenes['nodata'])
    epoch0 = [window_key(first.load_window(i)) for i in range(10)]
    first.set_epoch(1)
    epoch1 = [window_key(first.load_window(i)) for i in range(10)]
    assert epoch0 != epoch1 and len(set(epoch0 + epoch1)) == 20
    resumed.set_epoch(1)  # a resumed run: nothing drawn before, indices in another order
    assert [window_key(resumed.load_window(i)) for i in reversed(range(10))] == epoch1[::-1]
    assert [window_key(dataset(scenes['nodata'], seed=1).load_window(i)) for i in range(10)] != epoch0

    # persistent loader workers started in epoch 0 draw epoch 1's windows once it is set
    first.set_epoch(0)
    loader = torch.utils.data.DataLoader(first, batch_size=5, num_workers=2, persistent_workers=True,
                                         sampler=range(10), collate_fn=lambda batch: [window_key(s) for s in batch])
    assert sum(loader, []) == epoch0
    runner = SimpleNamespace(train_loop=SimpleNamespace(dataloader=loader), epoch=1)
    RandomWindowEpochHook().before_train_epoch(runner)
    assert first.epoch == 1 and sum(loader, []) == epoch1
    with pytest.raises(TypeError, match='needs a RandomWindowDataset'):
        RandomWindowEpochHook().before_train_epoch(
            SimpleNamespace(train_loop=SimpleNamespace(dataloader=SimpleNamespace(dataset=[])), epoch=0))


def draw_on_rank(rank, folder):
    """The windows mmengine's sampler gives this rank, in epochs 0 and 1."""
    windows = dataset(folder, epoch_length=16)
    sampler = DefaultSampler(windows, shuffle=True, seed=0)
    drawn = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        windows.set_epoch(epoch)
        drawn += [(epoch, index, window_key(windows.load_window(index))) for index in sampler]
    return drawn


def test_two_ranks_draw_different_windows(scenes):
    ranks = run_in_processes(draw_on_rank, 2, scenes['two'])
    assert [len(drawn) for drawn in ranks] == [16, 16]
    keys = [{key for _, _, key in drawn} for drawn in ranks]
    assert not keys[0] & keys[1]
    single = dataset(scenes['two'], epoch_length=16)
    for drawn in ranks:  # each rank drew what any process draws for those (epoch, index)
        for epoch, index, key in drawn:
            single.set_epoch(epoch)
            assert window_key(single.load_window(index)) == key


def test_windows_resampled_to_a_ground_sampling_distance_cover_the_same_ground(scenes, tmp_path):
    windows = dataset(scenes['gsd'], gsd=0.2)  # 32 px of 0.2 m: 6.4 m
    assert {osp.basename(s.path): s.window for s in windows.scenes} == {'fine.tif': (64, 64), 'coarse.tif': (32, 32)}
    drawn = set()
    for index in range(12):
        sample = windows[index]
        drawn.add(osp.basename(sample['img_path']))
        img = sample['img'][..., 0].astype(float)
        assert img.shape == (WINDOW, WINDOW)
        # squares of 0.8 m are 4 px at 0.2 m in both scenes: the pattern repeats after 8 px, flips after 4
        assert np.abs(img[:, 8:] - img[:, :-8]).mean() < 20 < 60 < np.abs(img[:, 4:] - img[:, :-4]).mean()
    assert drawn == {'fine.tif', 'coarse.tif'}

    write_raster(tmp_path / 'plain.tif', random_pixels(0, 3, 64, 64))
    with pytest.raises(ValueError, match=r'plain\.tif has no CRS or geotransform'):
        dataset(str(tmp_path), gsd=0.2)
    write_raster(tmp_path / 'plain.tif', random_pixels(0, 3, 64, 64), gsd=1e-6, crs='EPSG:4326')
    with pytest.raises(ValueError, match=r'plain\.tif is in a geographic CRS'):
        dataset(str(tmp_path), gsd=0.2)


def test_band_selection_value_range_and_the_multiband_path(scenes):
    loader = dict(type='CheckedLoadImageFromFile', value_range=(0, 4000))
    sample = dataset(scenes['rgbnir'], bands=(1, 2, 3), pipeline=[loader])[0]
    expected = to_pipeline_values(stored_window(sample, [3, 2, 1]).transpose(1, 2, 0), 'x', (0, 4000))
    np.testing.assert_array_equal(sample['img'], expected)  # R, G, B read, handed on as BGR

    # all 4 bands in file order, then through the RGBIR pre-training pipeline and its multi-band device stage
    loader = dict(type='CheckedLoadImageFromFile', expected_channels=4, color_type='unchanged', value_range=(0, 4000))
    sample = dataset(scenes['rgbnir'], pipeline=[loader])[0]
    expected = to_pipeline_values(stored_window(sample).transpose(1, 2, 0), 'x', (0, 4000))
    np.testing.assert_array_equal(sample['img'], expected)
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'false_r50_potsdam-rgbir.py'))
    four = dataset(scenes['rgbnir'], pipeline=[loader] + cfg.train_dataloader.dataset.pipeline[1:])
    batch = FUNCTIONS.get('default_collate')([four[0], four[1]])
    inputs = MODELS.build(cfg.model.data_preprocessor)(batch, training=True)['inputs']
    assert [tuple(view.shape) for view in inputs] == [(2, 4, 224, 224)] * 2

    with pytest.raises(ValueError, match=r'rgbnir\.tif is uint16 .* expects 8-bit values'):
        dataset(scenes['rgbnir'], bands=(1, 2, 3))[0]


def test_one_open_file_per_scene_and_process_and_a_bounded_gdal_cache(scenes, monkeypatch):
    windows = dataset(scenes['two'], gdal_cache_mb=24)
    opened = []
    monkeypatch.setattr(raster_windows, 'open_raster', lambda path: opened.append(path) or rasterio.open(path))
    keys = [window_key(windows.load_window(i)) for i in range(30)]
    assert sorted(opened) == sorted(s.path for s in windows.scenes), 'each scene opened once for 30 windows'
    assert get_gdal_config('GDAL_CACHEMAX') == 24 * 2 ** 20
    assert pickle.loads(pickle.dumps(windows))._rasters == {}  # a spawned worker opens its own files
    one = dataset(scenes['two'], max_open_files=1)
    opened.clear()
    assert [window_key(one.load_window(i)) for i in range(30)] == keys and len(one._rasters) == 1
    assert 2 < len(opened) < 30


def test_errors_name_the_scene_and_what_was_expected(scenes, tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    write_raster(empty / 'nodata_only.tif', np.zeros((3, 64, 64), np.uint8), nodata=0)
    with pytest.raises(ValueError, match=r'nodata_only\.tif has no window of 32x32 px with at least 50% valid'):
        dataset(str(empty))
    sparse = tmp_path / 'sparse'
    sparse.mkdir()
    pixels = np.zeros((3, 64, 64), np.uint8)
    pixels[:, ::2, ::2] = 200  # a quarter valid; the validity grid samples only these pixels
    write_raster(sparse / 'grid.tif', pixels, nodata=0)
    with pytest.raises(ValueError, match=r'4 windows of scene .*grid\.tif drawn for sample 0 all had less than 50%'):
        dataset(str(sparse), max_redraws=3)[0]
    with pytest.raises(ValueError, match=r'scene_0\.tif gives 3 band\(s\) \(all bands\), expected 4'):
        dataset(scenes['two'], pipeline=[dict(type='CheckedLoadImageFromFile', expected_channels=4)])
    with pytest.raises(ValueError, match=r'scene_0\.tif has 3 band\(s\); bands=\(1, 2, 3, 4\) asks for band\(s\) .4'):
        dataset(scenes['two'], bands=(1, 2, 3, 4))
    with pytest.raises(ValueError, match=r'scene_0\.tif is 200x160 px \(WxH\), smaller than a window of 170x170 px'):
        dataset(scenes['two'], window_size=170)
    with pytest.raises(ValueError, match='the pipeline must start with the image loader'):
        dataset(scenes['two'], pipeline=[dict(type='RandomFlip', prob=0.5)])
    broken = tmp_path / 'broken'
    broken.mkdir()
    (broken / 'truncated.tif').write_bytes(b'II*\x00 not a tiff')
    with pytest.raises(OSError, match=r'cannot read scene .*truncated\.tif'):
        dataset(str(broken))


CONFIG_SCENES = {  # config -> scenes its dataset can draw from: (name, bands, rows/cols, gsd)
    'false_r50_geotiff-folder.py': [('tile', 3, 600, None)],
    'sdcluster_swin-s_geotiff-folder.py': [('fine', 3, 1100, 0.25), ('coarse', 3, 300, 1.0)],
    'sdsh_vit-s14_geotiff-folder.py': [('rgbnir', 4, 640, None)],
}


@pytest.mark.parametrize('name', sorted(CONFIG_SCENES))
def test_configs_build_their_datasets_and_feed_the_device_stage(name, tmp_path):
    for i, (scene, bands, size, gsd) in enumerate(CONFIG_SCENES[name]):
        write_raster(tmp_path / f'{scene}.tif', random_pixels(i, bands, size, size), gsd=gsd, **TILED)
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    init_default_scope(cfg.default_scope)
    loader_cfg = cfg.train_dataloader
    windows = DATASETS.build(dict(loader_cfg.dataset, data_root=str(tmp_path)))
    if cfg.train_cfg.type == 'EpochBasedTrainLoop':
        assert 'RandomWindowEpochHook' in [hook['type'] for hook in cfg.custom_hooks]
    else:  # one epoch: it must cover the run
        assert len(windows) >= cfg.train_cfg.max_iters * loader_cfg.batch_size
    collate = loader_cfg.collate_fn
    batch = FUNCTIONS.get(collate['type'])([windows[0], windows[1]],
                                           **{k: v for k, v in collate.items() if k != 'type'})
    inputs = MODELS.build(cfg.model.data_preprocessor)(batch, training=True)['inputs']
    assert all(view.shape[:2] == (2, 3) and view.isfinite().all() for view in inputs)
