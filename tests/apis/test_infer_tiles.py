"""Tiled inference of large scenes (rs_ssl_plugin.apis, tools/infer_tiles.py) with a tiny UperNet on CPU."""

import cv2
import numpy as np
import pytest
import rasterio
import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import get_palette
from PIL import Image
from rasterio.transform import from_origin

from helpers.tools import load_tool
from rs_ssl_plugin.apis.scene_io import ArrayScene
from rs_ssl_plugin.apis.tiled_inference import blend_weights, iter_blended_logits, iter_class_rows
from rs_ssl_plugin.datasets.synthetic import POTSDAM_CLASSES
from rs_ssl_plugin.utils.windows import slide_windows

PALETTE = [[255, 255, 255], [0, 0, 255], [0, 255, 255], [0, 255, 0], [255, 255, 0], [255, 0, 0]]
CROP, STRIDE = (64, 64), (43, 43)
NORM = dict(type='BN', requires_grad=True)
MODEL_CFG = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True, pad_val=0, seg_pad_val=255),
    backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8, norm_cfg=NORM),
    decode_head=dict(type='UPerHead', in_channels=[8, 16, 32, 64], in_index=[0, 1, 2, 3], pool_scales=(1, 2, 3, 6),
                     channels=16, dropout_ratio=0.1, num_classes=6, norm_cfg=NORM, align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    test_cfg=dict(mode='slide', crop_size=CROP, stride=STRIDE))


def rgb_scene(height, width, seed=0):
    """A smooth-ish random ``(3, H, W)`` uint8 RGB scene, so windows see structure, not only noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (3, height // 8 + 2, width // 8 + 2)).astype(np.float32)
    smooth = np.stack([cv2.resize(c, (width, height), interpolation=cv2.INTER_CUBIC) for c in coarse])
    return np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)


def tiny_upernet():
    """The tiny UperNet in eval mode, with non-trivial BN statistics and logits of order 1."""
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(MODEL_CFG))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
    torch.nn.init.normal_(model.decode_head.conv_seg.weight, std=1.0)
    return model.eval()


@pytest.fixture(scope='module')
def model():
    return tiny_upernet()


def stock_inputs(model, rgb):
    """The scene as mmseg feeds it: BGR (as OpenCV loads it) through the model's data preprocessor."""
    shape = rgb.shape[1:]
    sample = SegDataSample(metainfo=dict(ori_shape=shape, img_shape=shape, pad_shape=shape))
    return model.data_preprocessor(dict(inputs=[torch.from_numpy(rgb[::-1].copy())], data_samples=[sample]), False)


def stock_slide_logits(model, rgb):
    data = stock_inputs(model, rgb)
    with torch.no_grad():
        return model.slide_inference(data['inputs'], [s.metainfo for s in data['data_samples']])[0]


def stock_prediction(model, rgb):
    data = stock_inputs(model, rgb)
    with torch.no_grad():
        return model.predict(data['inputs'], data['data_samples'])[0].pred_sem_seg.data[0].numpy()


def blended(model, rgb, **options):
    """Blended logits of the whole scene, checking that bands arrive in order and cover every row."""
    bands = list(iter_blended_logits(model, ArrayScene(rgb), CROP, STRIDE, **options))
    tops = [top for top, _ in bands]
    assert tops == sorted(tops) and tops[0] == 0
    assert all(top + logits.shape[1] == next_top for (top, logits), next_top in zip(bands, tops[1:] + [None])
               if next_top is not None)
    logits = torch.cat([logits for _, logits in bands], 1)
    assert logits.shape[1:] == rgb.shape[1:]
    return logits, len(bands)


def test_windows_cover_the_scene_with_mmseg_placement():
    windows = slide_windows(150, 190, CROP, STRIDE)
    # max(size - crop + stride - 1, 0) // stride + 1 windows per axis: 3 rows x 4 columns
    assert len(windows) == 12 and {(w[1] - w[0], w[3] - w[2]) for w in windows} == {CROP}
    assert windows[:4] == [(0, 64, 0, 64), (0, 64, 43, 107), (0, 64, 86, 150), (0, 64, 126, 190)]
    assert windows[-1] == (86, 150, 126, 190)  # the last window ends at the border
    covered = np.zeros((150, 190), int)
    for y1, y2, x1, x2 in windows:
        covered[y1:y2, x1:x2] += 1
    assert covered.min() >= 1
    assert slide_windows(40, 100, CROP, STRIDE) == [(0, 40, 0, 64), (0, 40, 36, 100)]  # shorter than the crop
    with pytest.raises(ValueError, match='stride'):
        slide_windows(100, 100, 32, 40)


@pytest.mark.parametrize('height, width, batch_size', [(150, 190, 5), (150, 190, 1), (40, 100, 64), (300, 70, 3)])
def test_uniform_blending_equals_mmseg_slide_inference(model, height, width, batch_size):
    rgb = rgb_scene(height, width)
    logits, num_bands = blended(model, rgb, batch_size=batch_size, blend='uniform')
    expected = stock_slide_logits(model, rgb)
    assert expected.abs().max() > 1  # logits of order 1, so the tolerance below is tight
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)
    if height == 300:  # a tall scene is emitted in several bands, not held whole
        assert num_bands >= 3


def test_class_map_equals_mmseg_predict(model):
    rgb = rgb_scene(150, 190, seed=1)
    classes = np.concatenate([rows for _, rows in iter_class_rows(model, ArrayScene(rgb), CROP, STRIDE, batch_size=4)])
    assert classes.dtype == np.uint8
    np.testing.assert_array_equal(classes, stock_prediction(model, rgb))


def hann(length):
    centres = np.arange(length) + 0.5
    return 0.5 - 0.5 * np.cos(2 * np.pi * centres / length)


def test_cosine_blending_is_the_weighted_mean_of_window_logits(model):
    """Reference: every window through encode_decode alone, weighted by an outer product of Hann windows."""
    rgb = rgb_scene(150, 190, seed=2)
    inputs = stock_inputs(model, rgb)['inputs']
    weights = torch.from_numpy(np.outer(hann(CROP[0]), hann(CROP[1]))).float()
    total, weight_sum = torch.zeros(6, 150, 190), torch.zeros(150, 190)
    with torch.no_grad():
        for y1, y2, x1, x2 in slide_windows(150, 190, CROP, STRIDE):
            window_logits = model.encode_decode(inputs[:, :, y1:y2, x1:x2], [dict(img_shape=(y2 - y1, x2 - x1))])
            total[:, y1:y2, x1:x2] += window_logits[0] * weights
            weight_sum[y1:y2, x1:x2] += weights
    logits, _ = blended(model, rgb, batch_size=5, blend='cosine')
    torch.testing.assert_close(logits, total / weight_sum, atol=1e-5, rtol=1e-5)


def test_blend_weights_are_positive_symmetric_and_peak_in_the_middle():
    assert torch.equal(blend_weights(4, 6, 'uniform'), torch.ones(4, 6))
    for mode in ('cosine', 'ramp'):
        weights = blend_weights(9, 12, mode)
        assert weights.min() > 0 and weights.max() <= 1
        torch.testing.assert_close(weights, weights.flip(0).flip(1))
        assert weights[4, 5] == weights.max() and weights[0, 0] == weights.min()
    with pytest.raises(ValueError, match='blend'):
        blend_weights(4, 4, 'gaussian')


def test_bf16_autocast_stays_close_to_float32(model):
    """amp='bf16' really runs the convolutions in bfloat16 (seen by a hook on the classifier), and the blended
    logits stay close to float32."""
    rgb = rgb_scene(120, 120, seed=3)

    def blended_with_classifier_dtypes(**options):
        dtypes = []
        handle = model.decode_head.conv_seg.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
        try:
            logits, _ = blended(model, rgb, batch_size=4, **options)
        finally:
            handle.remove()
        return logits, set(dtypes)

    full, full_dtypes = blended_with_classifier_dtypes()
    half, half_dtypes = blended_with_classifier_dtypes(amp='bf16')
    assert full_dtypes == {torch.float32} and half_dtypes == {torch.bfloat16}
    assert (half - full).abs().max() > 0
    assert (half - full).abs().max() < 0.05 * full.abs().max()


# The command-line tool ---------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def tool():
    return load_tool('infer_tiles')


def write_model_files(model, folder):
    """Config and checkpoint (with the Potsdam dataset_meta) of the tiny model in ``folder``, as init_model reads
    them."""
    config = folder / 'tiny_upernet.py'
    Config(dict(model=MODEL_CFG, default_scope='mmseg')).dump(str(config))
    checkpoint = folder / 'tiny_upernet.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=POTSDAM_CLASSES, palette=PALETTE))), checkpoint)
    return str(config), str(checkpoint)


@pytest.fixture
def model_files(model, tmp_path):
    return write_model_files(model, tmp_path)


def write_geotiff(path, rgb, **profile):
    with rasterio.open(path, 'w', driver='GTiff', width=rgb.shape[2], height=rgb.shape[1], count=3,
                       dtype='uint8', **profile) as dst:
        dst.write(rgb)


def run_tool(tool, model_files, *args):
    tool.main([*model_files, *map(str, args), '--device', 'cpu', '--batch-size', '5'])


def test_tool_keeps_georeferencing_and_matches_mmseg(model, tool, model_files, tmp_path):
    rgb = rgb_scene(150, 190, seed=4)
    transform = from_origin(368000.0, 5808000.0, 0.05, 0.05)
    write_geotiff(tmp_path / 'top_potsdam_2_10.tif', rgb, crs='EPSG:32633', transform=transform, tiled=True,
                  blockxsize=64, blockysize=64)
    out = tmp_path / 'out'
    run_tool(tool, model_files, tmp_path / 'top_potsdam_2_10.tif', '--out-dir', out, '--blend', 'uniform')
    with rasterio.open(out / 'top_potsdam_2_10_classes.tif') as result:
        assert result.crs.to_epsg() == 32633 and result.transform == transform
        assert result.count == 1 and result.dtypes == ('uint8',) and result.shape == (150, 190)
        classes = result.read(1)
        assert result.colormap(1)[1] == (0, 0, 255, 255)
    np.testing.assert_array_equal(classes, stock_prediction(model, rgb))
    colour = np.asarray(Image.open(out / 'top_potsdam_2_10_color.png').convert('RGB'))
    np.testing.assert_array_equal(colour, np.asarray(PALETTE, np.uint8)[classes])
    legend = np.asarray(Image.open(out / 'top_potsdam_2_10_legend.png').convert('RGB'))
    for rgb in PALETTE:  # a swatch of every class colour
        assert (legend == np.asarray(rgb, np.uint8)).all(axis=-1).sum() >= 300, rgb
    assert not list(out.glob('*partial*'))


def test_png_input_gives_the_same_classes_as_geotiff(tool, model_files, tmp_path):
    rgb = rgb_scene(100, 130, seed=5)
    scenes = tmp_path / 'scenes'
    scenes.mkdir()
    cv2.imwrite(str(scenes / 'a.png'), rgb.transpose(1, 2, 0)[..., ::-1])  # OpenCV writes BGR arrays
    write_geotiff(scenes / 'b.tif', rgb)
    run_tool(tool, model_files, scenes, '--out-dir', tmp_path / 'out',  # a folder: both scenes
             '--crop-size', 48, '--stride', 32, 24, '--palette', 'cityscapes')
    with rasterio.open(tmp_path / 'out' / 'a_classes.tif') as a, rasterio.open(tmp_path / 'out' / 'b_classes.tif') as b:
        classes = a.read(1)
        np.testing.assert_array_equal(classes, b.read(1))
        assert a.crs is None
    colour = np.asarray(Image.open(tmp_path / 'out' / 'a_color.png'))  # RGBA: opaque where there is data
    np.testing.assert_array_equal(colour[..., :3], np.asarray(get_palette('cityscapes'), np.uint8)[classes])
    assert (colour[..., 3] == 255).all()


def test_transparent_pixels_of_an_rgba_scene_are_no_data(tool, model_files, tmp_path):
    """An RGBA PNG's alpha band is a no-data mask, not a fourth band: its classes equal those of the RGB
    GeoTIFF whose pixels of that block are at the file's nodata value, whatever colour they hold under alpha 0."""
    rgb = np.maximum(rgb_scene(100, 130, seed=7), 1)  # no pixel at the reference's nodata value 0 by chance
    transparent = np.zeros((100, 130), bool)
    transparent[20:50, 60:110] = True
    rgba = np.concatenate([rgb, np.where(transparent, 0, 255).astype(np.uint8)[None]])
    rgba[:3, transparent] = 200  # hidden colour: must not reach the model
    scenes = tmp_path / 'scenes'
    scenes.mkdir()
    cv2.imwrite(str(scenes / 'a.png'), rgba.transpose(1, 2, 0)[..., [2, 1, 0, 3]])  # OpenCV writes BGRA arrays
    write_geotiff(scenes / 'b.tif', np.where(transparent, 0, rgb).astype(np.uint8), nodata=0)
    run_tool(tool, model_files, scenes, '--out-dir', tmp_path / 'out', '--crop-size', 48, '--stride', 32, 24)
    with rasterio.open(tmp_path / 'out' / 'a_classes.tif') as a, rasterio.open(tmp_path / 'out' / 'b_classes.tif') as b:
        classes = a.read(1)
        np.testing.assert_array_equal(classes, b.read(1))
        assert (classes[transparent] == a.nodata).all() and (classes[~transparent] != a.nodata).all()


def test_tool_refuses_to_overwrite_without_force(tool, model_files, tmp_path):
    write_geotiff(tmp_path / 'scene.tif', rgb_scene(70, 80, seed=6))
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'scene_color.png').write_bytes(b'keep me')
    with pytest.raises(SystemExit, match='scene_color.png exists; pass --force'):
        run_tool(tool, model_files, tmp_path / 'scene.tif', '--out-dir', out)
    assert (out / 'scene_color.png').read_bytes() == b'keep me' and not (out / 'scene_classes.tif').exists()
    run_tool(tool, model_files, tmp_path / 'scene.tif', '--out-dir', out, '--force')
    assert Image.open(out / 'scene_color.png').size == (80, 70)


def test_tool_names_unreadable_inputs(tool, model_files, tmp_path):
    (tmp_path / 'corrupt.png').write_bytes(b'\x89PNG\r\n\x1a\n not really a png')
    with pytest.raises(SystemExit, match='cannot read scene .*corrupt.png'):
        run_tool(tool, model_files, tmp_path / 'corrupt.png', '--out-dir', tmp_path / 'out')
    with pytest.raises(SystemExit, match='input .*missing.tif does not exist'):
        run_tool(tool, model_files, tmp_path / 'missing.tif', '--out-dir', tmp_path / 'out')

    # A GeoTIFF whose header is intact but whose pixel data is cut off fails during the windowed reads.
    write_geotiff(tmp_path / 'truncated.tif', rgb_scene(200, 200, seed=7), tiled=True, blockxsize=64,
                  blockysize=64, compress='deflate')
    data = (tmp_path / 'truncated.tif').read_bytes()
    (tmp_path / 'truncated.tif').write_bytes(data[:len(data) // 2])
    with pytest.raises(SystemExit, match='truncated.tif'):
        run_tool(tool, model_files, tmp_path / 'truncated.tif', '--out-dir', tmp_path / 'out')
    assert not list((tmp_path / 'out').glob('*'))  # nothing partial is left behind


def test_tool_bf16_class_maps_agree_with_float32(tool, model_files, tmp_path):
    """``infer_tiles --amp bf16`` on the CPU gives the classes of float32 on nearly every pixel: 99.46 % here
    (99.93 % on a 1024 px scene with a random R18 UperNet); the rest are near-ties of the random weights."""
    write_geotiff(tmp_path / 'scene.tif', rgb_scene(90, 110, seed=7))
    classes = {}
    for amp in ('none', 'bf16'):
        run_tool(tool, model_files, tmp_path / 'scene.tif', '--out-dir', tmp_path / amp, '--amp', amp)
        with rasterio.open(tmp_path / amp / 'scene_classes.tif') as result:
            classes[amp] = result.read(1)
    assert len(np.unique(classes['none'])) > 2
    assert (classes['bf16'] == classes['none']).mean() >= 0.98
def test_sixteen_bit_scene_gets_the_values_of_the_config_loader(model, tool, tmp_path):
    """A 12-bit GeoTIFF is mapped with the value_range of the config's image loader, as in training: the same
    classes as its 8-bit version; without a value_range it is refused, naming the file."""
    rgb = rgb_scene(90, 110, seed=8)
    deep = (rgb.astype(np.uint16) * 4095 // 255).astype(np.uint16)
    eight = np.rint(deep.astype(np.float64) * 255 / 4095).astype(np.uint8)
    with rasterio.open(tmp_path / 'deep.tif', 'w', driver='GTiff', width=110, height=90, count=3,
                       dtype='uint16') as dst:
        dst.write(deep)
    write_geotiff(tmp_path / 'eight.tif', eight)
    checkpoint = tmp_path / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=POTSDAM_CLASSES, palette=PALETTE))), checkpoint)
    configs = {}
    for name, loader in (('plain', dict(type='CheckedLoadImageFromFile')),
                         ('twelve_bit', dict(type='CheckedLoadImageFromFile', value_range=(0, 4095)))):
        configs[name] = str(tmp_path / f'{name}.py')
        Config(dict(model=MODEL_CFG, default_scope='mmseg',
                    test_dataloader=dict(dataset=dict(pipeline=[loader, dict(type='PackSegInputs')])))).dump(
                        configs[name])
    run_tool(tool, (configs['plain'], str(checkpoint)), tmp_path / 'eight.tif', '--out-dir', tmp_path / 'out')
    with pytest.raises(SystemExit, match=r'deep.tif is uint16 .* value_range'):
        run_tool(tool, (configs['plain'], str(checkpoint)), tmp_path / 'deep.tif', '--out-dir', tmp_path / 'out')
    run_tool(tool, (configs['twelve_bit'], str(checkpoint)), tmp_path / 'deep.tif', '--out-dir', tmp_path / 'out')
    with rasterio.open(tmp_path / 'out' / 'deep_classes.tif') as deep_classes, \
            rasterio.open(tmp_path / 'out' / 'eight_classes.tif') as eight_classes:
        np.testing.assert_array_equal(deep_classes.read(1), eight_classes.read(1))


def test_tool_defaults_to_the_training_crop_for_whole_image_test_cfg(model, tool, tmp_path):
    """The shipped configs test with mode='whole': windows default to the training crop, stride 2/3 of it."""
    from rs_ssl_plugin.apis.scene_io import window_settings
    whole = dict(MODEL_CFG, test_cfg=dict(mode='whole'))
    config = tmp_path / 'whole.py'
    Config(dict(model=whole, default_scope='mmseg', train_dataloader=dict(dataset=dict(pipeline=[
        dict(type='RandomCrop', crop_size=(48, 60))])))).dump(str(config))
    checkpoint = tmp_path / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=POTSDAM_CLASSES, palette=PALETTE))), checkpoint)
    from mmseg.apis import init_model
    loaded = init_model(str(config), str(checkpoint), device='cpu')
    assert window_settings(loaded) == ((48, 60), (32, 40))
    assert window_settings(loaded, [30]) == ((30, 30), (20, 20))
    write_geotiff(tmp_path / 'scene.tif', rgb_scene(70, 90, seed=9))
    run_tool(tool, (str(config), str(checkpoint)), tmp_path / 'scene.tif', '--out-dir', tmp_path / 'out',
             '--cfg-options', 'model.test_cfg.mode=whole')
    assert (tmp_path / 'out' / 'scene_classes.tif').exists()
def test_tool_refuses_checkpoints_of_another_model_and_names_unreadable_ones(tool, model_files, tmp_path):
    config, _ = model_files
    write_geotiff(tmp_path / 'scene.tif', rgb_scene(40, 40, seed=7))
    init_default_scope('mmseg')
    wider = ConfigDict(MODEL_CFG, backbone=dict(MODEL_CFG['backbone'], stem_channels=16, base_channels=16))
    other = tmp_path / 'r18_wide.pth'
    torch.save(dict(state_dict=MODELS.build(wider).state_dict()), other)
    with pytest.raises(SystemExit, match=r'r18_wide.pth does not fit EncoderDecoder: .*weights have another shape '
                                         r'.*backbone.conv1.weight \(16, 3, 7, 7\) vs \(8, 3, 7, 7\).*Hint: it '
                                         'was trained with another architecture'):
        run_tool(tool, (config, str(other)), tmp_path / 'scene.tif', '--out-dir', tmp_path / 'out')
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(open(model_files[1], 'rb').read()[:2000])
    with pytest.raises(SystemExit, match=f'{truncated} is not a readable torch checkpoint'):
        run_tool(tool, (config, str(truncated)), tmp_path / 'scene.tif', '--out-dir', tmp_path / 'out')
    assert not (tmp_path / 'out').exists()


# No data and class coding -------------------------------------------------------------------------------------

def test_no_data_pixels_enter_the_network_as_the_mean_and_leave_as_nan(model):
    """NaN pixels, and pixels at the scene's nodata value in every band, are filled with the preprocessor's
    mean before the network, so the logits of every other pixel equal those of the scene with the mean
    there (NaN used to spread to every window it touched); theirs are NaN."""
    scene = rgb_scene(120, 150, seed=11).astype(np.float32)
    mean = np.broadcast_to(model.data_preprocessor.mean.view(3, 1, 1).numpy(), scene.shape)  # bgr_to_rgb: band i
    nan_block, nodata_block = np.zeros((120, 150), bool), np.zeros((120, 150), bool)
    nan_block[30:60, 40:90] = True
    nodata_block[100:, :20] = True
    with_gaps = scene.copy()
    with_gaps[:, nan_block] = np.nan
    with_gaps[:, nodata_block] = -9999.0
    with_gaps[1, 0, 0] = -9999.0  # one band at the nodata value does not make a pixel no data
    options = dict(color_type='unchanged', batch_size=4)
    for nodata, missing in ((None, nan_block), (-9999.0, nan_block | nodata_block)):
        gappy = ArrayScene(with_gaps) if nodata is None else ArrayScene(with_gaps, nodata=nodata)
        logits = torch.cat([band for _, band in iter_blended_logits(model, gappy, CROP, STRIDE, **options)], 1)
        reference = ArrayScene(np.where(missing, mean, with_gaps))
        expected = torch.cat([band for _, band in iter_blended_logits(model, reference, CROP, STRIDE, **options)], 1)
        valid = ~torch.from_numpy(missing)
        assert torch.isnan(logits).all(0).numpy().tolist() == missing.tolist()
        torch.testing.assert_close(logits[:, valid], expected[:, valid])


def float_scene_with_gaps(path, nodata=-9999.0):
    """A float32 reflectance GeoTIFF (values 0..1, UTM CRS) with a NaN block and a block at ``nodata``."""
    pixels = rgb_scene(150, 190, seed=12).astype(np.float32) / 255
    pixels[:, 5:25, 10:40] = np.nan
    pixels[:, 140:, 175:] = nodata
    with rasterio.open(path, 'w', driver='GTiff', width=190, height=150, count=3, dtype='float32', nodata=nodata,
                       crs='EPSG:32633', transform=from_origin(368000.0, 5808000.0, 0.05, 0.05)) as dst:
        dst.write(pixels)
    missing = np.zeros((150, 190), bool)
    missing[5:25, 10:40] = missing[140:, 175:] = True
    return missing


@pytest.mark.parametrize('reduce_zero_label', [True, False])
def test_tool_writes_no_data_and_the_label_file_coding(model, tool, tmp_path, reduce_zero_label):
    """A float32 GeoTIFF with NaN and nodata blocks through the tool (value_range (0, 1)): those pixels are the
    output's nodata value; classes are coded as in the label files (+1 with reduce_zero_label, as tools/test.py
    --out writes them), with the class names as band tags and a colour table; the PNG is transparent there."""
    missing = float_scene_with_gaps(tmp_path / 'reflectance.tif')
    config, checkpoint = str(tmp_path / 'float.py'), str(tmp_path / 'tiny.pth')
    loader = dict(type='CheckedLoadImageFromFile', value_range=(0, 1))
    Config(dict(model=MODEL_CFG, default_scope='mmseg',
                test_dataloader=dict(dataset=dict(pipeline=[loader, dict(type='PackSegInputs')])))).dump(config)
    meta = dict(classes=POTSDAM_CLASSES, palette=PALETTE, reduce_zero_label=reduce_zero_label)
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=meta)), checkpoint)
    run_tool(tool, (config, checkpoint), tmp_path / 'reflectance.tif', '--out-dir', tmp_path / 'out', '--blend',
             'uniform')
    nodata, first = (0, 1) if reduce_zero_label else (255, 0)
    with rasterio.open(tmp_path / 'out' / 'reflectance_classes.tif') as result:
        codes = result.read(1)
        assert result.nodata == nodata and result.crs.to_epsg() == 32633
        assert result.tags(1) == {f'class_{first + i}': name for i, name in enumerate(POTSDAM_CLASSES)}
        assert result.colormap(1)[first + 1] == (0, 0, 255, 255) and result.colormap(1)[nodata] == (0, 0, 0, 0)
        assert f'{nodata} = no data' in result.descriptions[0]
    assert (codes[missing] == nodata).all()
    assert set(np.unique(codes[~missing])) <= set(range(first, first + 6))
    filled = rgb_scene(150, 190, seed=12)  # the same scene in 8-bit values, gaps outside the compared pixels
    logits = stock_slide_logits(model, filled)
    far = np.ones_like(missing)  # pixels no window shares with a gap: as mmseg predicts the gap-free scene
    for y1, y2, x1, x2 in slide_windows(150, 190, CROP, STRIDE):
        if missing[y1:y2, x1:x2].any():
            far[y1:y2, x1:x2] = False
    # the reflectances come back as x / 255 * 255, not exactly x: a pixel whose two best classes are within
    # rounding may flip (one did with 2 torch threads), so those are left out
    top2 = logits.topk(2, dim=0).values
    clear = far & ((top2[0] - top2[1]).numpy() > 1e-3)
    assert clear.sum() > 0.9 * far.sum() > 0
    np.testing.assert_array_equal(codes[clear], logits.argmax(0).numpy()[clear] + first)
    rgba = np.asarray(Image.open(tmp_path / 'out' / 'reflectance_color.png'))
    assert rgba.shape == (150, 190, 4) and (rgba[..., 3] == np.where(missing, 0, 255)).all()


def test_label_coding_follows_the_dataset_of_a_checkpoint_without_that_meta():
    """Without reduce_zero_label in dataset_meta, the config's test dataset decides: Potsdam's class default
    (True) gives index + 1 with 0 = no data, the Shaanxi buildings 0-based with 255 = no data."""
    from types import SimpleNamespace

    from helpers.tools import REPO
    from rs_ssl_plugin.apis.tiled_inference import ClassCoding, label_coding
    codings = {}
    for name in ('upernet_r50_random_potsdam', 'upernet_r50_random_shaanxi-buildings'):
        cfg = Config.fromfile(f'{REPO}/configs/{name}.py')
        model = SimpleNamespace(cfg=cfg, out_channels=cfg.model.decode_head.num_classes, dataset_meta=dict(classes=()))
        codings[name] = label_coding(model)
    assert codings == {'upernet_r50_random_potsdam': ClassCoding(offset=1, nodata=0, dtype='uint8'),
                       'upernet_r50_random_shaanxi-buildings': ClassCoding(offset=0, nodata=255, dtype='uint8')}
