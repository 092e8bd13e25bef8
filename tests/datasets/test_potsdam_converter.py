"""Potsdam zip converter on a small synthetic zip with the official names and colour coding (2 tiles, 300 px)."""
import json
import math
import os.path as osp
import runpy
import sys
import warnings
import zipfile

import cv2
import numpy as np
import pytest
import rasterio
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, TRANSFORMS

import rs_ssl_plugin  # noqa: F401
from helpers.tools import REPO
from rs_ssl_plugin.datasets.preparation.potsdam import (
    POTSDAM_PALETTE,
    TRAIN_TILES,
    VAL_TILES,
    convert_potsdam,
    crop_boxes,
    crop_origins,
    encode_labels,
)
from rs_ssl_plugin.datasets.synthetic import generate_scene

SIZE = 300
TILES = {'2_10': 1, '2_13': 2}  # a training and a validation tile of mmseg's split -> scene seed
OFF_PALETTE = (10, 20, 30)


def tiff_bytes(tmp_path, array):
    """A TIFF file (bands last) as bytes, written with rasterio like the official tiles."""
    path = tmp_path / 'scratch.tif'
    bands = array.transpose(2, 0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, 'w', driver='GTiff', width=array.shape[1], height=array.shape[0],
                           count=bands.shape[0], dtype=array.dtype) as raster:
            raster.write(bands)
    return path.read_bytes()


def scene(tile):
    """RGB image, RGBIR image and the colour label (with a black boundary line and one off-palette pixel)."""
    bgr, label = generate_scene(TILES[tile], SIZE)
    rgb = bgr[..., ::-1]
    ir = np.where(np.isin(label, (2, 3)), 220, 60).astype(np.uint8)  # vegetation is bright in the near infrared
    colour = np.asarray(POTSDAM_PALETTE, np.uint8)[label]
    colour[150, :] = 0  # an eroded boundary of the noBoundary labels
    colour[7, 9] = OFF_PALETTE
    return np.ascontiguousarray(rgb), np.dstack([rgb, ir]), colour, label


@pytest.fixture(scope='module')
def zips(tmp_path_factory):
    root = tmp_path_factory.mktemp('potsdam_zips')
    scratch = tmp_path_factory.mktemp('scratch')
    scenes = {tile: scene(tile) for tile in TILES}
    # the ortho zips hold a folder, the label zips the files themselves; world files are ignored
    with zipfile.ZipFile(root / '2_Ortho_RGB.zip', 'w') as rgb_zip, \
            zipfile.ZipFile(root / '4_Ortho_RGBIR.zip', 'w') as rgbir_zip, \
            zipfile.ZipFile(root / '5_Labels_all_noBoundary.zip', 'w') as label_zip:
        for tile, (rgb, rgbir, colour, _) in scenes.items():
            rgb_zip.writestr(f'2_Ortho_RGB/top_potsdam_{tile}_RGB.tif', tiff_bytes(scratch, rgb))
            rgb_zip.writestr(f'2_Ortho_RGB/top_potsdam_{tile}_RGB.tfw', '0.05\n0\n0\n-0.05\n0\n0\n')
            rgbir_zip.writestr(f'4_Ortho_RGBIR/top_potsdam_{tile}_RGBIR.tif', tiff_bytes(scratch, rgbir))
            label_zip.writestr(f'top_potsdam_{tile}_label_noBoundary.tif', tiff_bytes(scratch, colour))
    return root, scenes


def expected_index(colour):
    index = np.zeros(colour.shape[:2], np.uint8)
    for k, rgb in enumerate(POTSDAM_PALETTE, 1):
        index[(colour == rgb).all(-1)] = k
    return index


def test_mmseg_split_and_crop_arithmetic():
    assert len(TRAIN_TILES) == 24 and len(VAL_TILES) == 14 and not set(TRAIN_TILES) & set(VAL_TILES)
    assert crop_origins(300, 128, 128) == [0, 128, 172]
    assert crop_origins(300, 128, 100) == [0, 100, 172]
    assert crop_origins(256, 128, 64) == [0, 64, 128]
    # mmseg's converter: candidate origins x * clip (its stride only sets how many), clamped to L - clip
    length, clip, stride = 6000, 512, 256
    count = math.ceil((length - clip) / stride)
    count = count if count * stride + clip >= length else count + 1
    mmseg_origins = sorted({min(x * clip, length - clip) for x in range(count + 1)})
    assert crop_origins(length, clip, 512) == mmseg_origins
    assert len(crop_boxes(length, length, clip, 512)) == 144  # x 24 = 3456 train, x 14 = 2016 val
    assert len(crop_origins(length, clip, 256)) == 23  # a stride that is honoured: 529 overlapping crops
    with pytest.raises(ValueError, match='512-pixel crops from a side of 300'):
        crop_origins(300, 512, 512)


def test_label_colours_follow_mmseg_coding():
    colour = np.array([[POTSDAM_PALETTE[k] for k in range(6)] + [(0, 0, 0), OFF_PALETTE]], np.uint8)
    index, unknown = encode_labels(colour)
    assert index.tolist() == [[1, 2, 3, 4, 5, 6, 0, 0]] and unknown == 1
    # read with reduce_zero_label=True, 1..6 are mmseg's PotsdamDataset classes in order, 0 is ignored
    from mmseg.datasets import PotsdamDataset
    assert [list(PotsdamDataset.METAINFO['palette'][k]) for k in range(6)] == [list(c) for c in POTSDAM_PALETTE]


def test_rgb_conversion(zips, tmp_path, capfd):
    root, scenes = zips
    out = tmp_path / 'potsdam'
    manifest = convert_potsdam(str(root), str(out), clip_size=128, stride=128, unlabeled_stride=100)
    assert '2/2' in capfd.readouterr().out  # a progress bar over the tiles
    assert manifest['crops'] == dict(train=9, val=9, unlabeled=9)
    assert manifest['tiles'] == dict(train=['2_10'], val=['2_13'])
    assert manifest['pixels_with_unknown_colour'] == {'2_10': 1, '2_13': 1}
    assert json.loads((out / 'potsdam_manifest.json').read_text())['crops'] == manifest['crops']
    for tile, split in (('2_10', 'train'), ('2_13', 'val')):
        rgb, _, colour, _ = scenes[tile]
        names = sorted(p.name for p in (out / 'img_dir' / split).iterdir())
        assert names == sorted(f'{tile}_{x}_{y}_{x + 128}_{y + 128}.png' for y in (0, 128, 172) for x in (0, 128, 172))
        assert sorted(p.name for p in (out / 'ann_dir' / split).iterdir()) == names
        x0, y0 = 128, 172
        name = f'{tile}_{x0}_{y0}_{x0 + 128}_{y0 + 128}.png'
        image = cv2.imread(str(out / 'img_dir' / split / name), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(image[..., ::-1], rgb[y0:y0 + 128, x0:x0 + 128])
        label = cv2.imread(str(out / 'ann_dir' / split / name), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(label, expected_index(colour)[y0:y0 + 128, x0:x0 + 128])
        boundary = cv2.imread(str(out / 'ann_dir' / split / f'{tile}_0_128_128_256.png'), cv2.IMREAD_UNCHANGED)
        assert (boundary[150 - 128] == 0).all()  # the eroded boundary line is ignored
    unlabeled = sorted(p.name for p in (out / 'unlabeled').iterdir())
    assert all(n.startswith('2_10_') for n in unlabeled)  # training tiles only by default
    assert '2_10_100_100_228_228.png' in unlabeled
    stats = manifest['train_band_statistics']
    np.testing.assert_allclose(stats['mean'], scenes['2_10'][0].reshape(-1, 3).mean(0), atol=1e-3)

    init_default_scope('mmseg')
    dataset = DATASETS.build(dict(
        type='CheckedPotsdamDataset', data_root=str(out),
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=[dict(type='CheckedLoadImageFromFile'),
                  dict(type='CheckedLoadAnnotations', num_classes=6, reduce_zero_label=True)]))
    sample = dataset[0]
    assert len(dataset) == 9 and sample['img'].shape == (128, 128, 3)
    assert set(np.unique(sample['gt_seg_map'])) <= set(range(6)) | {255}
    # reduce_zero_label on a crop with the boundary line: 0 -> 255 (ignored), class k -> k - 1, pixel for pixel
    names = [osp.basename(dataset.get_data_info(i)['seg_map_path']) for i in range(len(dataset))]
    source = expected_index(scenes['2_13'][2])[128:256, 0:128]
    assert (source == 0).any() and len(np.unique(source)) >= 4
    np.testing.assert_array_equal(dataset[names.index('2_13_0_128_128_256.png')]['gt_seg_map'],
                                  np.where(source == 0, 255, source.astype(int) - 1))


def test_rgbir_conversion_keeps_band_order(zips, tmp_path):
    root, scenes = zips
    out = tmp_path / 'potsdam_rgbir'
    manifest = convert_potsdam(str(root), str(out), bands='rgbir', clip_size=150, stride=150,
                               unlabeled_split='none')
    assert manifest['crops'] == dict(train=4, val=4, unlabeled=0) and manifest['band_order'] == ['R', 'G', 'B', 'IR']
    assert len(manifest['train_band_statistics']['mean']) == 4
    init_default_scope('mmseg')
    loader = TRANSFORMS.build(dict(type='CheckedLoadImageFromFile', expected_channels=4, color_type='unchanged'))
    crop = loader(dict(img_path=str(out / 'img_dir' / 'val' / '2_13_150_0_300_150.tif')))['img']
    np.testing.assert_array_equal(crop, scenes['2_13'][1][0:150, 150:300])


def test_unlabeled_crops_as_jpeg(zips, tmp_path):
    root, scenes = zips
    out = tmp_path / 'potsdam_jpeg'
    manifest = convert_potsdam(str(root), str(out), clip_size=128, stride=128, unlabeled_format='jpeg',
                               jpeg_quality=90)
    assert manifest['params']['unlabeled_format'] == 'jpeg' and manifest['params']['jpeg_quality'] == 90
    assert all(p.suffix == '.png' for p in (out / 'img_dir' / 'train').iterdir())  # labelled crops stay lossless
    crop = cv2.imread(str(out / 'unlabeled' / '2_10_128_0_256_128.jpg'), cv2.IMREAD_UNCHANGED)
    original = scenes['2_10'][0][0:128, 128:256].astype(float)
    assert crop.shape == (128, 128, 3) and np.abs(crop[..., ::-1] - original).mean() < 3  # RGB order, lossy
    assert len(list((out / 'unlabeled').glob('*.jpg'))) == manifest['crops']['unlabeled'] == 9
    with pytest.raises(ValueError, match="needs bands='rgb'"):
        convert_potsdam(str(root), str(tmp_path / 'bad'), bands='rgbir', unlabeled_format='jpeg')
    with pytest.raises(ValueError, match='jpeg_quality'):
        convert_potsdam(str(root), str(tmp_path / 'bad'), unlabeled_format='jpeg', jpeg_quality=0)
    assert not (tmp_path / 'bad').exists()


def test_refuses_to_overwrite_and_names_missing_zips(zips, tmp_path):
    root, _ = zips
    out = tmp_path / 'existing'
    out.mkdir()
    (out / 'keep.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='existing already exists and is not empty'):
        convert_potsdam(str(root), str(out), clip_size=150, stride=150)
    assert (out / 'keep.txt').read_text() == 'mine' and len(list(out.iterdir())) == 1
    convert_potsdam(str(root), str(out), clip_size=150, stride=150, force=True)
    assert not (out / 'keep.txt').exists() and len(list((out / 'img_dir' / 'train').iterdir())) == 4
    with pytest.raises(FileNotFoundError, match='5_Labels_all.zip not found'):
        convert_potsdam(str(root), str(tmp_path / 'other'), labels='all')
    assert not (tmp_path / 'other').exists()


def test_tool_runs(zips, tmp_path, monkeypatch, capsys):
    root, _ = zips
    out = tmp_path / 'tool_out'
    monkeypatch.setattr(sys, 'argv', ['potsdam.py', str(root), '-o', str(out), '--clip-size', '150', '--stride', '75',
                                      '--tiles', '2_13'])
    runpy.run_path(osp.join(REPO, 'tools', 'dataset_converters', 'potsdam.py'), run_name='__main__')
    assert '0 train, 9 val, 0 unlabeled crops' in capsys.readouterr().out
    monkeypatch.setattr(sys, 'argv', ['potsdam.py', str(root), '-o', str(tmp_path / 'jpeg'), '--clip-size', '150',
                                      '--unlabeled-format', 'jpeg', '--jpeg-quality', '80', '--tiles', '2_10'])
    runpy.run_path(osp.join(REPO, 'tools', 'dataset_converters', 'potsdam.py'), run_name='__main__')
    assert len(list((tmp_path / 'jpeg' / 'unlabeled').glob('*.jpg'))) == 4
    with pytest.raises(SystemExit, match='not empty'):
        runpy.run_path(osp.join(REPO, 'tools', 'dataset_converters', 'potsdam.py'), run_name='__main__')


def test_force_swaps_in_the_new_dataset_and_an_interrupted_swap_loses_nothing(zips, tmp_path, monkeypatch):
    """--force moves the old dataset aside, renames the new one in and only then deletes the old one; a run
    killed between the two renames leaves the old dataset aside, and the next run puts it back first."""
    import os
    root, _ = zips
    out = tmp_path / 'potsdam'
    convert_potsdam(str(root), str(out), clip_size=150, stride=150)
    before = sorted(str(p.relative_to(out)) for p in out.rglob('*'))
    real_rename = os.rename

    def killed_after_moving_aside(src, dst):
        if '.partial-' in str(src):
            raise KeyboardInterrupt  # the process dies before the new dataset is in place
        real_rename(src, dst)

    monkeypatch.setattr(os, 'rename', killed_after_moving_aside)
    with pytest.raises(KeyboardInterrupt):
        convert_potsdam(str(root), str(out), clip_size=150, stride=75, force=True)
    monkeypatch.setattr(os, 'rename', real_rename)
    assert not out.exists() and len(list(tmp_path.glob('.potsdam.replaced-*'))) == 1
    stale = tmp_path / '.potsdam.partial-0badf00d'  # a staging folder left by an earlier killed run
    (stale / 'img_dir').mkdir(parents=True)
    with pytest.raises(FileExistsError, match='potsdam already exists and is not empty'):
        convert_potsdam(str(root), str(out), clip_size=150, stride=75)  # refused before converting anything
    assert sorted(str(p.relative_to(out)) for p in out.rglob('*')) == before  # the old dataset is back, whole
    assert not stale.exists() and not list(tmp_path.glob('.potsdam.*'))
    convert_potsdam(str(root), str(out), clip_size=150, stride=75, force=True)
    assert json.loads((out / 'potsdam_manifest.json').read_text())['params']['stride'] == 75
    assert [p.name for p in tmp_path.iterdir()] == ['potsdam']
