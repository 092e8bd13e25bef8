"""Band statistics (rs_ssl_plugin/datasets/band_stats.py, tools/analysis_tools/band_stats.py) against numpy on the
whole arrays, and the check of a data preprocessor's mean/std count against the images' band count."""
import json
import logging
import os.path as osp
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
import torch
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS as SEG_MODELS
from PIL import Image
from rasterio.transform import from_origin

from helpers.logs import LogRecords
from helpers.tools import REPO, call_tool
from rs_ssl_plugin.datasets.band_stats import (
    PixelReservoir,
    band_statistics,
    config_training_images,
    preprocessor_lines,
)
from rs_ssl_plugin.datasets.checks import to_pipeline_values
from rs_ssl_plugin.engine import BandCountCheckHook
from rs_ssl_plugin.evaluation.features import load_config
from rs_ssl_plugin.models import BatchAugmentSelfSupDataPreprocessor, MultiBandSelfSupDataPreprocessor

TOOL = 'tools/analysis_tools/band_stats.py'
EVERY_WINDOW = dict(window_size=32, windows_per_scene=1000)  # more windows than the scenes have: all are read


def write_geotiff(path, pixels, nodata):
    with rasterio.open(path, 'w', driver='GTiff', width=pixels.shape[2], height=pixels.shape[1],
                      count=pixels.shape[0], dtype=pixels.dtype, crs='EPSG:32632', nodata=nodata,
                      transform=from_origin(500000, 5800000, 0.5, 0.5)) as raster:
        raster.write(pixels)


def sixteen_bit_scene(height, width, seed):
    """4 bands of 12-bit values in 16 bits, a different range per band, nodata 0 on a border; a few pixels hold 0
    in one band only, which is data (a pixel is no data when every band holds the nodata value)."""
    rng = np.random.default_rng(seed)
    pixels = np.stack([rng.integers(1 + 200 * band, 4096 - 300 * band, (height, width)) for band in range(4)])
    pixels = pixels.astype(np.uint16)
    pixels[:, :7] = 0
    pixels[:, :, -5:] = 0
    pixels[1, 20:23, 10] = 0
    return pixels


@pytest.fixture(scope='module')
def rasters(tmp_path_factory):
    """``{kind: (paths, valid pixels as a (bands, pixels) float64 array)}``: two 16-bit 4-band GeoTIFFs with nodata
    borders, a float GeoTIFF with NaN and nodata pixels, an 8-bit RGBA PNG transparent in one corner."""
    root = tmp_path_factory.mktemp('band_stats')
    (root / 'uint16').mkdir()
    scenes = [sixteen_bit_scene(90, 130, seed=1), sixteen_bit_scene(70, 50, seed=2)]
    paths = [str(root / 'uint16' / f'scene_{i}.tif') for i in range(2)]
    for path, pixels in zip(paths, scenes):
        write_geotiff(path, pixels, nodata=0)
    found = {'uint16': (paths, np.concatenate([p[:, ~(p == 0).all(0)] for p in scenes], 1).astype(np.float64))}

    rng = np.random.default_rng(3)
    floats = rng.normal(0.2, 0.05, (4, 40, 60)).astype(np.float32)
    floats[2, 5:9, 7:30] = np.nan
    floats[:, 30:, 40:] = -9999
    write_geotiff(str(root / 'float.tif'), floats, nodata=-9999)
    missing = np.isnan(floats).any(0) | (floats == -9999).all(0)
    found['float32'] = ([str(root / 'float.tif')], floats[:, ~missing].astype(np.float64))

    rgba = rng.integers(0, 256, (60, 80, 4)).astype(np.uint8)
    rgba[..., 3] = 255
    rgba[:20, :30, 3] = 0
    Image.fromarray(rgba, 'RGBA').save(root / 'rgba.png')
    found['png'] = ([str(root / 'rgba.png')], rgba[rgba[..., 3] > 0][:, :3].T.astype(np.float64))
    return found


def assert_equals_numpy(stats, valid):
    np.testing.assert_allclose(stats['mean'], valid.mean(1), rtol=1e-12)
    np.testing.assert_allclose(stats['std'], valid.std(1), rtol=1e-12)
    for key, expected in (('min', valid.min(1)), ('max', valid.max(1)), ('p1', np.percentile(valid, 1, axis=1)),
                          ('p99', np.percentile(valid, 99, axis=1))):
        np.testing.assert_array_equal(stats[key], expected, err_msg=key)
    assert stats['sampling']['pixels'] == stats['sampling']['percentile_pixels'] == valid.shape[1]


@pytest.mark.parametrize('kind', ['uint16', 'float32', 'png'])
def test_every_pixel_read_gives_numpy_statistics_without_no_data(rasters, kind):
    paths, valid = rasters[kind]
    stats = band_statistics(paths, **EVERY_WINDOW)
    assert stats['sampling']['every_pixel_read'] and stats['bands'] == list(range(1, len(valid) + 1))
    assert_equals_numpy(stats, valid)


def test_no_data_pixels_are_counted(rasters):
    paths, valid = rasters['uint16']
    stats = band_statistics(paths, **EVERY_WINDOW)
    assert stats['sampling']['no_data_pixels'] == 90 * 130 + 70 * 50 - valid.shape[1]


def test_seeded_subsample_is_close_and_repeatable(rasters):
    paths, valid = rasters['uint16']
    sampled = dict(window_size=16, windows_per_scene=12, percentile_pixels=1500)
    stats = band_statistics(paths, seed=3, **sampled)
    assert not stats['sampling']['every_pixel_read'] and stats['sampling']['percentile_pixels'] == 1500
    assert 1500 < stats['sampling']['pixels'] < valid.shape[1] / 2
    # about 3000 pixels of values spread over some 3500 levels: 5 standard errors of each estimate
    np.testing.assert_allclose(stats['mean'], valid.mean(1), atol=80)
    np.testing.assert_allclose(stats['std'], valid.std(1), atol=60)
    np.testing.assert_allclose(stats['p1'], np.percentile(valid, 1, axis=1), atol=60)
    np.testing.assert_allclose(stats['p99'], np.percentile(valid, 99, axis=1), atol=60)
    assert band_statistics(paths, seed=3, **sampled) == stats
    assert band_statistics(paths, seed=4, **sampled)['mean'] != stats['mean']


def test_reservoir_keeps_a_uniform_sample_of_distinct_pixels():
    counts = np.zeros(5000)
    for seed in range(200):
        reservoir = PixelReservoir(500, 1, np.random.default_rng(seed))
        for chunk in np.array_split(np.arange(5000.0)[:, None], [300, 320, 2000, 2001, 4000]):
            reservoir.add(chunk)
        kept = reservoir.pixels[:, 0]
        assert reservoir.seen == 5000 and len(np.unique(kept)) == 500
        counts[kept.astype(int)] += 1
    # every tenth of the stream is kept at the rate 500 / 5000 (about 10000 draws per tenth: +-3 %)
    np.testing.assert_allclose(counts.reshape(10, 500).mean(1) / 200, 0.1, rtol=0.03)


def test_band_selection(rasters):
    paths, valid = rasters['uint16']
    stats = band_statistics(paths, bands=[4, 2], **EVERY_WINDOW)
    assert stats['bands'] == [4, 2]
    assert_equals_numpy(stats, valid[[3, 1]])
    with pytest.raises(ValueError, match=r'band 5 does not exist: .*scene_0.tif has bands 1..4'):
        band_statistics(paths, bands=[5])
    with pytest.raises(ValueError, match=r'band 4 of .*rgba.png is its alpha band'):
        band_statistics(rasters['png'][0], bands=[4])


def test_scenes_of_another_band_layout_are_refused(rasters):
    with pytest.raises(ValueError, match=r'rgba.png has 4 band\(s\) \(alpha: band 4\) but .*scene_0.tif has 4 '
                                         r'\(alpha: none\)'):
        band_statistics(rasters['uint16'][0] + rasters['png'][0])


def test_eight_bit_paste_lines_in_the_preprocessor_band_order(rasters):
    stats = band_statistics(rasters['png'][0], **EVERY_WINDOW)
    rgb_lines = preprocessor_lines(stats)
    assert '0-255 values: 8-bit files' in rgb_lines and 'R, G, B for RGB files' in rgb_lines
    assert f'mean=[{", ".join(f"{m:.3f}" for m in stats["mean"])}],' in rgb_lines
    bgr_lines = preprocessor_lines(stats, flips_to_rgb=False)
    assert 'bands 3, 2, 1' in bgr_lines
    assert f'std=[{", ".join(f"{s:.3f}" for s in stats["std"][::-1])}],' in bgr_lines


def write_config(path, root, loader):
    path.write_text(f"""
default_scope = 'mmpretrain'
custom_imports = dict(imports=['rs_ssl_plugin'], allow_failed_imports=False)
train_dataloader = dict(dataset=dict(type='RepeatDataset', times=3, dataset=dict(
    type='UnlabeledImageFolder', data_root={root!r}, pipeline=[{loader}])))
model = dict(data_preprocessor=dict(type='MultiBandSelfSupDataPreprocessor', mean=[0.0] * 4, std=[1.0] * 4))
""")
    return str(path)


def test_config_input_takes_its_images_and_loader_values(rasters, tmp_path):
    paths, valid = rasters['uint16']
    mapped = dict(type='CheckedLoadImageFromFile', expected_channels=4, value_range=(0, 4095))
    config = write_config(tmp_path / 'mapped.py', osp.dirname(paths[0]), mapped)
    images = config_training_images(load_config(config), config)
    assert images.paths == paths and not images.unchanged and not images.flips_to_rgb
    assert tuple(images.value_range) == (0, 4095)
    stats = band_statistics(images.paths, value_range=images.value_range, unchanged=images.unchanged,
                            **EVERY_WINDOW)
    assert_equals_numpy(stats, to_pipeline_values(valid[..., None], 'reference', (0, 4095), band_axis=0)[..., 0]
                        .astype(np.float64))
    assert 'value_range=[0, 4095] maps the file' in preprocessor_lines(stats, images.flips_to_rgb)

    refused = dict(type='CheckedLoadImageFromFile', expected_channels=4)  # color_type='color': 8-bit only
    config = write_config(tmp_path / 'refused.py', osp.dirname(paths[0]), refused)
    images = config_training_images(load_config(config), config)
    with pytest.raises(ValueError, match=r'image .*scene_0.tif is uint16 .* set value_range'):
        band_statistics(images.paths, value_range=images.value_range, unchanged=images.unchanged)


def test_tool_prints_paste_lines_writes_json_and_refuses_to_overwrite(rasters, tmp_path):
    paths, valid = rasters['uint16']
    work_dir = tmp_path / 'work'
    out = work_dir / 'band_stats.json'
    args = [osp.dirname(paths[0]), '--window-size', '32', '--work-dir', work_dir]
    result = subprocess.run([sys.executable, TOOL, *map(str, args)], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f'mean=[{", ".join(f"{m:.3f}" for m in valid.mean(1))}],' in result.stdout
    assert "the file's units (uint16), as an image loader with color_type='unchanged'" in result.stdout
    assert result.stdout.rstrip().endswith(f'wrote {out}')
    report = json.loads(out.read_text())
    assert report['source'] == [osp.dirname(paths[0])] and report['bands'] == [1, 2, 3, 4]
    np.testing.assert_allclose(report['std'], valid.std(1), rtol=1e-12)

    out.write_text('{}')
    again = call_tool(TOOL, *args)
    assert again.returncode == 1 and f'error: {out} exists; nothing was overwritten' in again.stderr
    assert out.read_text() == '{}'
    assert call_tool(TOOL, *args, '--force').returncode == 0
    assert json.loads(out.read_text())['mean'] == report['mean']


def test_tool_names_an_unreadable_file(rasters, tmp_path):
    (tmp_path / 'broken.tif').write_bytes(b'not a raster')
    result = call_tool(TOOL, tmp_path, '--work-dir', tmp_path / 'work')
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert f'error: cannot read scene {tmp_path / "broken.tif"}' in result.stderr
    assert not (tmp_path / 'work').exists()


def test_tool_refuses_options_that_do_not_apply(rasters, tmp_path):
    config = write_config(tmp_path / 'c.py', osp.dirname(rasters['uint16'][0][0]), dict(type='LoadImageFromFile'))
    result = call_tool(TOOL, config, '--bands', '1', '--work-dir', tmp_path)
    assert result.returncode == 1 and '--bands applies to image inputs only' in result.stderr
    result = call_tool(TOOL, rasters['png'][0][0], '--value-range', '0', '4095', '1', '--work-dir', tmp_path)
    assert result.returncode == 1 and '--value-range takes LOW HIGH pairs, got 3' in result.stderr


def four_band_batch():
    """What mmseg's dataloader gives the model for two 4-band images: a ``(C, H, W)`` uint8 tensor each."""
    return dict(inputs=[torch.randint(0, 256, (4, 8, 8), dtype=torch.uint8) for _ in range(2)],
                data_samples=None)


def hook_runner(preprocessor):
    return SimpleNamespace(model=SimpleNamespace(data_preprocessor=preprocessor))


@pytest.fixture
def logged():
    """The warnings the current mmengine logger logs during the test (a list filled as they come)."""
    logger, records = MMLogger.get_current_instance(), LogRecords(logging.WARNING)
    logger.addHandler(records)
    yield records.records
    logger.removeHandler(records)


def test_mmseg_broadcasting_error_becomes_a_clear_one():
    init_default_scope('mmseg')
    preprocessor = SEG_MODELS.build(dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                                         std=[58.395, 57.12, 57.375], bgr_to_rgb=True))
    with pytest.raises(RuntimeError, match='must match the size of tensor b'):  # what the hook prevents
        preprocessor(four_band_batch())
    with pytest.raises(ValueError, match=r'SegDataPreProcessor normalises with 3 mean/std value\(s\) but the images '
                                         r'have 4 band\(s\), .*band_stats.py'):
        BandCountCheckHook().before_train_iter(hook_runner(preprocessor), 0, four_band_batch())


def test_hook_warns_once_about_one_band_images_broadcast_to_three(logged):
    init_default_scope('mmseg')
    preprocessor = SEG_MODELS.build(dict(type='SegDataPreProcessor', mean=[1., 2., 3.], std=[1., 1., 1.]))
    batch = dict(inputs=[torch.zeros(1, 8, 8, dtype=torch.uint8)], data_samples=None)
    hook = BandCountCheckHook()
    for _ in range(2):
        hook.before_train_iter(hook_runner(preprocessor), 0, batch)
        hook.before_val_iter(hook_runner(preprocessor), 0, batch)
    assert len(logged) == 1
    assert "normalises with 3 mean/std value(s) but the images have 1 band(s): each image's band is normalised " \
           'into 3 channels' in logged[0][1] and 'band_stats.py' in logged[0][1]


def test_plugin_preprocessor_warns_once_when_its_flip_drops_bands(logged):
    preprocessor = BatchAugmentSelfSupDataPreprocessor(mean=[1., 2., 3.], std=[1., 1., 1.], to_rgb=True)
    views = dict(inputs=[torch.zeros(2, 4, 8, 8, dtype=torch.uint8)], data_samples=None)
    for _ in range(2):
        out = preprocessor(views)
    assert out['inputs'][0].shape[1] == 3
    assert len(logged) == 1
    assert 'images have 4 band(s): its channel flip (to_rgb/bgr_to_rgb) keeps bands 3, 2, 1 and drops the other 1' \
        in logged[0][1]
    BandCountCheckHook().before_train_iter(hook_runner(preprocessor), 0, views)  # left to the preprocessor
    assert len(logged) == 1


def test_multiband_preprocessor_refuses_another_band_count(logged):
    with pytest.raises(ValueError, match=r'MultiBandSelfSupDataPreprocessor normalises with 3 mean/std value\(s\) '
                                         r'but the images have 4 band\(s\), so the normalisation cannot broadcast'):
        MultiBandSelfSupDataPreprocessor(mean=[1., 2., 3.], std=[1., 1., 1.])(
            dict(inputs=[torch.zeros(2, 4, 8, 8, dtype=torch.uint8)], data_samples=None))
    fitting = MultiBandSelfSupDataPreprocessor(mean=[1., 2., 3., 4.], std=[1., 1., 1., 1.])
    fitting(dict(inputs=[torch.zeros(2, 4, 8, 8, dtype=torch.uint8)], data_samples=None))
    assert logged == []


def test_segmentation_configs_check_the_band_count():
    for name in ('upernet_r50_false_potsdam-rgbir.py', 'upernet_r50_random_shaanxi-buildings.py'):
        hooks = [hook['type'] for hook in load_config(osp.join(REPO, 'configs', name)).custom_hooks]
        assert 'BandCountCheckHook' in hooks, name
