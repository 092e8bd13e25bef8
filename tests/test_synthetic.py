import json

import cv2
import numpy as np
import pytest

from rs_ssl_plugin.datasets.synthetic import POTSDAM_CLASSES, generate_scene, make_synthetic_potsdam


def test_scene_is_deterministic_and_well_formed():
    image, label = generate_scene(7, 128)
    again_image, again_label = generate_scene(7, 128)
    np.testing.assert_array_equal(image, again_image)
    np.testing.assert_array_equal(label, again_label)
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    assert label.shape == (128, 128) and label.dtype == np.uint8
    assert label.max() < len(POTSDAM_CLASSES)
    assert not np.array_equal(generate_scene(8, 128)[0], image)


def test_scenes_contain_most_classes():
    counts = [len(np.unique(generate_scene(seed, 256)[1])) for seed in range(8)]
    assert min(counts) >= 4 and np.mean(counts) >= 5


def test_classes_differ_in_colour():
    """Mean colours per class are distinct enough to learn from (a sanity check of the renderer)."""
    images, labels = zip(*(generate_scene(seed, 128) for seed in range(6)))
    pixels, classes = np.concatenate([i.reshape(-1, 3) for i in images]), np.concatenate([l.ravel() for l in labels])
    means = np.array([pixels[classes == c].mean(0) for c in range(6) if (classes == c).any()])
    distances = np.linalg.norm(means[:, None] - means[None], axis=-1)
    assert distances[np.triu_indices(len(means), 1)].min() > 10


def test_written_layout_is_mmseg_potsdam(tmp_path):
    root = tmp_path / 'synth'
    info = make_synthetic_potsdam(str(root), num_train=2, num_val=1, num_unlabeled=3, size=64, seed=1)
    assert info['num_train'] == 2
    for split, count in (('train', 2), ('val', 1)):
        images = sorted((root / 'img_dir' / split).glob('*.png'))
        labels = sorted((root / 'ann_dir' / split).glob('*.png'))
        assert [p.name for p in images] == [p.name for p in labels] and len(images) == count
        image = cv2.imread(str(images[0]), cv2.IMREAD_UNCHANGED)
        label = cv2.imread(str(labels[0]), cv2.IMREAD_UNCHANGED)
        assert image.shape == (64, 64, 3) and label.shape == (64, 64)
        assert label.min() >= 1 and label.max() <= 6  # mmseg's coding: 0 is ignore
    assert len(list((root / 'unlabeled').glob('*.png'))) == 3
    assert json.loads((root / 'synthetic_manifest.json').read_text())['params']['seed'] == 1


def test_generation_is_idempotent_and_never_overwrites(tmp_path):
    root = tmp_path / 'synth'
    make_synthetic_potsdam(str(root), num_train=1, num_val=1, num_unlabeled=1, size=32)
    stamp = (root / 'img_dir' / 'train' / 'synth_train_0000.png').stat().st_mtime_ns
    make_synthetic_potsdam(str(root), num_train=1, num_val=1, num_unlabeled=1, size=32)
    assert (root / 'img_dir' / 'train' / 'synth_train_0000.png').stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match='nothing was overwritten'):
        make_synthetic_potsdam(str(root), num_train=2, num_val=1, num_unlabeled=1, size=32)
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'mine.txt').write_text('precious')
    with pytest.raises(FileExistsError):
        make_synthetic_potsdam(str(foreign), num_train=1, num_val=1, num_unlabeled=1, size=32)
    assert (foreign / 'mine.txt').read_text() == 'precious'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['foreign', 'synth']  # no staging left behind
