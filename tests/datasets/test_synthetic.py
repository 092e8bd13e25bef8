import json

import cv2
import numpy as np
import pytest

from rs_ssl_plugin.datasets.synthetic import GENERATOR_VERSION, POTSDAM_CLASSES, generate_scene, make_synthetic_potsdam


def read(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def test_class_order_is_mmseg_potsdam():
    from mmseg.datasets import PotsdamDataset
    assert POTSDAM_CLASSES == tuple(PotsdamDataset.METAINFO['classes'])


def test_scene_is_deterministic():
    image, label = generate_scene(7, 128)
    again_image, again_label = generate_scene(7, 128)
    np.testing.assert_array_equal(image, again_image)
    np.testing.assert_array_equal(label, again_label)
    other_image, other_label = generate_scene(8, 128)
    assert not np.array_equal(image, other_image) and not np.array_equal(label, other_label)


def test_scene_pixels_are_pinned():
    """A change to what generate_scene draws must bump GENERATOR_VERSION, so that the datasets an older
    generator wrote are made again rather than reused; then update these numbers. Class counts are exact;
    channel means allow for OpenCV versions that blur or anti-alias slightly differently."""
    image, label = generate_scene(11, 96)
    assert GENERATOR_VERSION == 2
    assert np.bincount(label.ravel(), minlength=6).tolist() == [2392, 375, 5685, 186, 53, 525]
    np.testing.assert_allclose(image.reshape(-1, 3).mean(0), [80.93, 130.79, 106.37], atol=1.0)


@pytest.mark.parametrize('size', [32, 128, 256])
def test_scene_shapes_and_values(size):
    image, label = generate_scene(3, size)
    assert image.shape == (size, size, 3) and image.dtype == np.uint8
    assert label.shape == (size, size) and label.dtype == np.uint8
    assert label.max() < len(POTSDAM_CLASSES)


def test_typical_scenes_hold_most_classes():
    counts = [len(np.unique(generate_scene(seed, 256)[1])) for seed in range(8)]
    assert min(counts) >= 4 and np.mean(counts) >= 5


def scene_pixels(seeds, size=128):
    images, labels = zip(*(generate_scene(seed, size) for seed in seeds))
    return (np.concatenate([image.reshape(-1, 3) for image in images]).astype(float),
            np.concatenate([label.ravel() for label in labels]))


def test_colour_alone_does_not_decide_the_class():
    """As in real orthophotos, the pixels of a class come in many colours: a nearest-class-mean colour classifier
    fitted on 6 scenes labels at most 55 % of the pixels of 6 others correctly (63 % for scenes with one colour
    range per class), while the class means still differ (a sanity check of the renderer)."""
    pixels, classes = scene_pixels(range(6))
    means = np.array([pixels[classes == c].mean(0) for c in range(6)])
    distances = np.linalg.norm(means[:, None] - means[None], axis=-1)
    assert distances[np.triu_indices(len(means), 1)].min() > 5
    test_pixels, test_classes = scene_pixels(range(100, 106))
    nearest = np.linalg.norm(test_pixels[:, None] - means[None], axis=-1).argmin(1)
    assert np.mean(nearest == test_classes) < 0.55


def test_written_layout_and_label_coding(tmp_path):
    root = tmp_path / 'synth'
    info = make_synthetic_potsdam(str(root), num_train=2, num_val=1, num_unlabeled=3, size=64, seed=1)
    assert (info['num_train'], info['num_val'], info['num_unlabeled']) == (2, 1, 3)
    assert info['classes'] == list(POTSDAM_CLASSES)
    for split, count in (('train', 2), ('val', 1)):
        images = sorted(p.name for p in (root / 'img_dir' / split).glob('*.png'))
        labels = sorted(p.name for p in (root / 'ann_dir' / split).glob('*.png'))
        assert images == labels == [f'synth_{split}_{i:04d}.png' for i in range(count)]
        for name in images:
            image, label = read(root / 'img_dir' / split / name), read(root / 'ann_dir' / split / name)
            assert image.shape == (64, 64, 3) and label.shape == (64, 64) and label.dtype == np.uint8
            assert label.min() >= 1 and label.max() <= 6  # mmseg's converted coding, 0 = ignore
    unlabeled = sorted((root / 'unlabeled').glob('*.png'))
    assert [p.name for p in unlabeled] == [f'synth_unlabeled_{i:04d}.png' for i in range(3)]
    assert read(unlabeled[0]).shape == (64, 64, 3)
    assert not np.array_equal(read(unlabeled[0]), read(root / 'img_dir' / 'train' / 'synth_train_0000.png'))
    manifest = json.loads((root / 'synthetic_manifest.json').read_text())
    assert manifest['params'] == dict(num_train=2, num_val=1, num_unlabeled=3, size=64, seed=1,
                                      generator_version=GENERATOR_VERSION)


def test_file_is_rgb_on_disk_and_matches_the_scene(tmp_path):
    """The image is written from BGR with cv2, so reading it back with cv2 gives the generated array."""
    root = tmp_path / 'synth'
    make_synthetic_potsdam(str(root), num_train=1, num_val=0, num_unlabeled=0, size=64, seed=2)
    other = tmp_path / 'more'
    make_synthetic_potsdam(str(other), num_train=2, num_val=0, num_unlabeled=0, size=64, seed=2)
    first = read(root / 'img_dir' / 'train' / 'synth_train_0000.png')
    np.testing.assert_array_equal(first, read(other / 'img_dir' / 'train' / 'synth_train_0000.png'))
    labels = read(root / 'ann_dir' / 'train' / 'synth_train_0000.png')
    grass = labels == 3  # low_vegetation is green: the second channel of BGR dominates
    assert first[grass][:, 1].mean() > first[grass][:, [0, 2]].mean()


def test_second_call_is_idempotent(tmp_path):
    root = tmp_path / 'synth'
    params = dict(num_train=1, num_val=1, num_unlabeled=1, size=32)
    make_synthetic_potsdam(str(root), **params)
    image = root / 'img_dir' / 'train' / 'synth_train_0000.png'
    stamp = image.stat().st_mtime_ns
    info = make_synthetic_potsdam(str(root), **params)
    assert image.stat().st_mtime_ns == stamp and info['num_train'] == 1
    with pytest.raises(FileExistsError, match='nothing was overwritten'):
        make_synthetic_potsdam(str(root), **dict(params, num_train=2))
    assert not (root / 'img_dir' / 'train' / 'synth_train_0001.png').exists()


def test_refuses_foreign_directory(tmp_path):
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'mine.txt').write_text('precious')
    with pytest.raises(FileExistsError, match='foreign.*nothing was overwritten'):
        make_synthetic_potsdam(str(foreign), num_train=1, num_val=1, num_unlabeled=1, size=32)
    assert [p.name for p in foreign.iterdir()] == ['mine.txt']
    assert (foreign / 'mine.txt').read_text() == 'precious'
    assert [p.name for p in tmp_path.iterdir()] == ['foreign']  # no staging folder left behind


SMALL = dict(num_train=1, num_val=1, num_unlabeled=1, size=32)


def dataset_of_generator_version_1(root):
    """A small synthetic dataset whose manifest says that version 1 of the generator made it (as version 1
    wrote manifests: without a version); returns the manifest's path and parameters."""
    make_synthetic_potsdam(str(root), **SMALL)
    manifest = root / 'synthetic_manifest.json'
    old = json.loads(manifest.read_text())
    del old['params']['generator_version']
    manifest.write_text(json.dumps(old))
    return manifest, old['params']


def test_dataset_of_an_older_generator_is_made_again(tmp_path):
    manifest, old_params = dataset_of_generator_version_1(tmp_path / 'synth')
    image = tmp_path / 'synth' / 'img_dir' / 'train' / 'synth_train_0000.png'
    image.write_bytes(b'stale')
    make_synthetic_potsdam(str(tmp_path / 'synth'), **SMALL)
    assert json.loads(manifest.read_text())['params'] == dict(old_params, generator_version=GENERATOR_VERSION)
    assert image.read_bytes() != b'stale'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['synth']  # nothing left aside


def test_older_dataset_with_a_users_file_is_kept(tmp_path):
    manifest, old_params = dataset_of_generator_version_1(tmp_path / 'synth')
    (tmp_path / 'synth' / 'notes.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='nothing was overwritten'):
        make_synthetic_potsdam(str(tmp_path / 'synth'), **SMALL)
    assert (tmp_path / 'synth' / 'notes.txt').read_text() == 'mine'
    assert json.loads(manifest.read_text())['params'] == old_params


def test_empty_directory_is_filled(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    make_synthetic_potsdam(str(empty), num_train=1, num_val=1, num_unlabeled=1, size=32)
    assert (empty / 'synthetic_manifest.json').is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['empty']
