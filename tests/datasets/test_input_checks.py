"""Bad input fails with an error naming the file or folder."""
import struct
import zlib

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS as PRETRAIN_DATASETS
from mmseg.registry import DATASETS, TRANSFORMS

import rs_ssl_plugin  # noqa: F401


def write_pair(root, name, image, label, split='train'):
    for sub, array in (('img_dir', image), ('ann_dir', label)):
        folder = root / sub / split
        folder.mkdir(parents=True, exist_ok=True)
        if array is not None:
            cv2.imwrite(str(folder / f'{name}.png'), array)


def good_image(size=32, channels=3):
    return np.random.default_rng(0).integers(0, 255, (size, size, channels), dtype=np.uint8)


def good_label(size=32):
    return np.random.default_rng(1).integers(1, 7, (size, size), dtype=np.uint8)


def build_dataset(root):
    init_default_scope('mmseg')
    return DATASETS.build(dict(
        type='CheckedPotsdamDataset', data_root=str(root),
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=[dict(type='CheckedLoadImageFromFile'),
                  dict(type='CheckedLoadAnnotations', num_classes=6, reduce_zero_label=True)]))


def test_valid_sample_loads(tmp_path):
    write_pair(tmp_path, 'a', good_image(), good_label())
    sample = build_dataset(tmp_path)[0]
    assert sample['gt_seg_map'].max() <= 5 and sample['img'].shape == (32, 32, 3)


def test_reduce_zero_label_ignores_zero_and_shifts_the_classes(tmp_path):
    """A label with every value 0..6 at known places: 0 (no class) reads as 255 (ignored), k as k - 1, and an
    already ignored 255 stays 255."""
    label = (np.arange(32 * 32).reshape(32, 32) % 7).astype(np.uint8)
    label[5:9, 3:20] = 0
    label[31, 30:] = 255
    write_pair(tmp_path, 'a', good_image(), label)
    loaded = build_dataset(tmp_path)[0]['gt_seg_map']
    expected = label.astype(int) - 1
    expected[(label == 0) | (label == 255)] = 255
    np.testing.assert_array_equal(loaded, expected)
    init_default_scope('mmseg')
    plain = TRANSFORMS.build(dict(type='CheckedLoadAnnotations', num_classes=7, reduce_zero_label=False))
    results = plain(dict(seg_map_path=str(tmp_path / 'ann_dir' / 'train' / 'a.png'), seg_fields=[],
                         ori_shape=(32, 32)))
    np.testing.assert_array_equal(results['gt_seg_map'], label)  # without the option the stored values


def test_missing_data_root(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere'):
        build_dataset(tmp_path / 'nowhere')


def test_empty_folder(tmp_path):
    (tmp_path / 'img_dir' / 'train').mkdir(parents=True)
    (tmp_path / 'ann_dir' / 'train').mkdir(parents=True)
    with pytest.raises(ValueError, match='no "\\*.png" images found in .*img_dir/train'):
        build_dataset(tmp_path)


def test_image_without_label(tmp_path):
    write_pair(tmp_path, 'a', good_image(), None)
    with pytest.raises(FileNotFoundError, match='ann_dir/train/a.png'):
        build_dataset(tmp_path)


def test_corrupt_image(tmp_path):
    write_pair(tmp_path, 'a', good_image(), good_label())
    (tmp_path / 'img_dir' / 'train' / 'a.png').write_bytes(b'not a png at all')
    with pytest.raises(OSError, match='cannot decode image .*img_dir/train/a.png'):
        build_dataset(tmp_path)[0]


def test_size_mismatch(tmp_path):
    write_pair(tmp_path, 'a', good_image(32), good_label(24))
    with pytest.raises(ValueError, match='ann_dir/train/a.png is 24x24 .* its image is 32x32'):
        build_dataset(tmp_path)[0]


def test_label_outside_class_set(tmp_path):
    label = good_label()
    label[0, 0] = 9
    write_pair(tmp_path, 'a', good_image(), label)
    with pytest.raises(ValueError, match=r'ann_dir/train/a.png holds values \[9\] outside the class set 0..5 \(and '
                                         r'255 = ignore\) after reduce_zero_label, which makes them \[8\]$'):
        build_dataset(tmp_path)[0]


def test_label_outside_class_set_is_reported_as_stored_after_a_label_map(tmp_path):
    """Potsdam-3 (reduce_zero_label, then 6 classes merged into 3): the stored 7 is named, not the 6 it became."""
    label = good_label()
    label[0, 0] = 7
    write_pair(tmp_path, 'a', good_image(), label)
    init_default_scope('mmseg')
    dataset = DATASETS.build(dict(
        type='Potsdam3Dataset', data_root=str(tmp_path),
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=[dict(type='CheckedLoadImageFromFile'), dict(type='CheckedLoadAnnotations')]))
    with pytest.raises(ValueError, match=r'a.png holds values \[7\] outside the class set 0..2 \(and 255 = ignore\) '
                                         r'after reduce_zero_label and label_map, which makes them \[6\]$'):
        dataset[0]


def test_label_loader_with_other_classes_than_the_dataset_is_a_config_error(tmp_path):
    """CheckedLoadAnnotations(num_classes=5) on the 6 Potsdam classes used to refuse a correct label file at the
    first sample; the dataset now refuses the configuration when it is built, before any file is read."""
    write_pair(tmp_path, 'a', good_image(), good_label())
    init_default_scope('mmseg')
    with pytest.raises(ValueError, match=r'^CheckedLoadAnnotations\(num_classes=5\) in the pipeline of '
                                         r'CheckedPotsdamDataset, which has 6 classes \(impervious_surface, .*\): '
                                         r'set num_classes=6 on it or leave it out'):
        DATASETS.build(dict(
            type='CheckedPotsdamDataset', data_root=str(tmp_path),
            data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
            pipeline=[dict(type='CheckedLoadImageFromFile'),
                      dict(type='CheckedLoadAnnotations', num_classes=5, reduce_zero_label=True)]))


def test_colour_label_is_rejected(tmp_path):
    write_pair(tmp_path, 'a', good_image(), good_image())
    with pytest.raises(ValueError, match='ann_dir/train/a.png has shape .* single-channel'):
        build_dataset(tmp_path)[0]


def test_wrong_channel_count(tmp_path):
    write_pair(tmp_path, 'a', good_image(channels=4), good_label())
    with pytest.raises(ValueError, match='img_dir/train/a.png has 4 channel\\(s\\), expected 3'):
        build_dataset(tmp_path)[0]


def test_four_band_images_load_when_expected(tmp_path):
    write_pair(tmp_path, 'a', good_image(channels=4), good_label())
    init_default_scope('mmseg')
    loader = TRANSFORMS.build(dict(type='CheckedLoadImageFromFile', expected_channels=4, color_type='unchanged'))
    results = loader(dict(img_path=str(tmp_path / 'img_dir' / 'train' / 'a.png')))
    assert results['img'].shape == (32, 32, 4)


def test_unlabeled_folder_errors(tmp_path):
    init_default_scope('mmpretrain')
    with pytest.raises(FileNotFoundError, match='missing_root'):
        PRETRAIN_DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(tmp_path / 'missing_root')))
    (tmp_path / 'crops').mkdir()
    with pytest.raises(ValueError, match='no images .* found under .*crops'):
        PRETRAIN_DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(tmp_path), data_prefix='crops'))
    (tmp_path / 'crops' / 'sub').mkdir()
    cv2.imwrite(str(tmp_path / 'crops' / 'sub' / 'x.PNG'), good_image())
    dataset = PRETRAIN_DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(tmp_path), data_prefix='crops'))
    assert len(dataset) == 1


def write_oversized_png(path, width=32769, height=32768):
    """A PNG whose header announces ``width x height`` (> 2^30) pixels, with hardly any data: decoders judge
    the size from the header."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))

    header = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IDAT', zlib.compress(b'\0' * 64))
                     + chunk(b'IEND', b''))


def test_sixteen_bit_label_outside_uint8_is_refused(tmp_path):
    """258 must not wrap around to 2 (class 1 after reduce_zero_label)."""
    label = good_label().astype(np.uint16)
    label[3, 4] = 258
    write_pair(tmp_path, 'a', good_image(), label)
    with pytest.raises(ValueError, match=r'ann_dir/train/a.png holds values \[258\] .*uint16.* 0..255'):
        build_dataset(tmp_path)[0]


def test_sixteen_bit_label_with_class_values_loads(tmp_path):
    label = good_label()
    write_pair(tmp_path, 'a', good_image(), label.astype(np.uint16))
    loaded = build_dataset(tmp_path)[0]['gt_seg_map']
    assert loaded.dtype == np.uint8 and np.array_equal(loaded, label - 1)


@pytest.mark.parametrize('backend', ['pillow', 'cv2'])
def test_truncated_label_png_names_the_file(tmp_path, backend):
    write_pair(tmp_path, 'a', good_image(), good_label())
    path = tmp_path / 'ann_dir' / 'train' / 'a.png'
    path.write_bytes(path.read_bytes()[:200])
    init_default_scope('mmseg')
    dataset = DATASETS.build(dict(
        type='CheckedPotsdamDataset', data_root=str(tmp_path),
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=[dict(type='CheckedLoadImageFromFile'),
                  dict(type='CheckedLoadAnnotations', reduce_zero_label=True, imdecode_backend=backend)]))
    with pytest.raises(OSError, match='cannot decode image .*ann_dir/train/a.png'):
        dataset[0]


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_image_over_two_to_the_thirty_pixels_names_the_file(tmp_path, backend):
    write_pair(tmp_path, 'a', good_image(), good_label())
    write_oversized_png(tmp_path / 'img_dir' / 'train' / 'a.png')
    loader = TRANSFORMS.build(dict(type='CheckedLoadImageFromFile', imdecode_backend=backend))
    with pytest.raises(OSError, match='cannot decode image .*img_dir/train/a.png.*pixels'):
        loader(dict(img_path=str(tmp_path / 'img_dir' / 'train' / 'a.png')))


def test_geotiff_over_two_to_the_thirty_pixels_is_refused_before_reading(tmp_path):
    import rasterio
    path = tmp_path / 'huge.tif'
    with rasterio.open(path, 'w', driver='GTiff', width=40000, height=30000, count=1, dtype='uint8', tiled=True,
                       sparse_ok=True):
        pass  # nothing written: a tiny file whose header says 1.2e9 pixels
    loader = TRANSFORMS.build(dict(type='CheckedLoadImageFromFile', expected_channels=1))
    with pytest.raises(OSError, match=r'huge.tif is 40000x30000 pixels, more than 2\^30'):
        loader(dict(img_path=str(path)))


def test_skip_mode_skips_oversized_images(tmp_path):
    init_default_scope('mmpretrain')
    for i in range(3):
        cv2.imwrite(str(tmp_path / f'{i}.png'), good_image())
    write_oversized_png(tmp_path / '1.png')
    dataset = PRETRAIN_DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(tmp_path), on_corrupt='skip',
                                           pipeline=[dict(type='CheckedLoadImageFromFile')]))
    with pytest.warns(UserWarning, match='1.png'):
        sample = dataset[1]
    assert sample['img_path'] != str(tmp_path / '1.png') and dataset.num_skipped == 1


def test_label_loader_passes_images_without_labels_but_not_dataset_samples_without_labels(tmp_path):
    """mmseg's inference clients give the test pipeline only an image; a dataset sample must have its label."""
    write_pair(tmp_path, 'a', good_image(), good_label())
    init_default_scope('mmseg')
    labels = TRANSFORMS.build(dict(type='CheckedLoadAnnotations', num_classes=6, reduce_zero_label=True))
    image = dict(img_path=str(tmp_path / 'img_dir' / 'train' / 'a.png'), ori_shape=(32, 32))
    assert 'gt_seg_map' not in labels(dict(image))
    with pytest.raises(ValueError, match='sample of .*a.png has no seg_map_path'):
        labels(dict(image, seg_fields=[], reduce_zero_label=True))
