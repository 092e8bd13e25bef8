"""Smoke test of the learning-curve bench (bench/real_data_probe.py) on a few synthetic images laid out like the
shared real imagery: it trains, snapshots, scores, reuses stored runs and refuses bad settings."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from helpers.tools import load_bench
from rs_ssl_plugin.datasets.synthetic import generate_scene

real_data_probe = load_bench('real_data_probe')


def write(path, image):
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), image)


@pytest.fixture(scope='module')
def real_layout(tmp_path_factory):
    """ucmerced16/<class>/*.jpg, neon_aerial/*.png and the Potsdam / LoveDA crops with labels, from scenes."""
    root = tmp_path_factory.mktemp('shared_data')
    for c, name in enumerate(('beach', 'harbor')):
        for i in range(4):
            image, _ = generate_scene(10 * c + i, 64)
            write(root / 'ucmerced16' / name / f'{name}{i:02d}.jpg', image if c else image[..., ::-1])
    write(root / 'neon_aerial' / 'scene.png', generate_scene(99, 128)[0])
    for folder, size, classes in (('pseudo_potsdam_dataset', 256, 6), ('pseudo_loveda_dataset', 512, 7)):
        image, label = generate_scene(7, size)
        write(root / 'isprs_loveda_crops' / folder / 'img_dir' / 'tile.png', image)
        write(root / 'isprs_loveda_crops' / folder / 'ann_dir' / 'tile.png', (label % classes + 1).astype(np.uint8))
    return root


def arguments(data_dir, work_dir, *extra):
    return ['--data-dir', str(data_dir), '--work-dir', str(work_dir), '--seeds', '0', '--ucm-per-class', '4',
            '--batch-size', '4', '--view-size', '32', '--eval-size', '32', '--seg-pixels', '300', '--workers', '0',
            '--threads', '1', *extra]


def test_learning_curve_smoke_run_scores_every_snapshot_and_reuses_stored_runs(real_layout, tmp_path, capsys):
    argv = arguments(real_layout, tmp_path / 'run', '--iterations', '2', '--eval-at', '0', '2', '--methods',
                     'random_r18', 'false_bn')
    report = real_data_probe.main(argv)
    runs = {run['method']: run for run in report['runs']}
    assert [point['iteration'] for point in runs['random_r18']['curve']] == [0]
    assert [point['iteration'] for point in runs['false_bn']['curve']] == [0, 2]
    for point in runs['false_bn']['curve']:
        assert set(point['scores']) == set(real_data_probe.SCORES)
        assert all(0 <= score <= 100 for score in point['scores'].values())
    trained, untrained = (runs['false_bn']['curve'][i]['scores'] for i in (1, 0))
    assert trained != untrained  # two iterations changed the backbone
    for name in ('results.json', 'results.md', 'learning_curves.png'):
        assert osp.getsize(tmp_path / 'run' / name) > 0
    table = (tmp_path / 'run' / 'results.md').read_text()
    assert 'FALSE, BN non-linear head | 0 | 2 |' in table and 'random init, ResNet-18 | 0 | 0 |' in table

    capsys.readouterr()
    again = real_data_probe.main(argv)
    assert 'scores of the earlier run' in capsys.readouterr().out
    assert again['runs'] == report['runs']
    stored = json.loads((tmp_path / 'run' / 'false_bn_seed0' / 'scores.json').read_text())
    assert stored['settings']['iterations'] == 2
    assert real_data_probe.main(argv + ['--report-only'])['runs'] == report['runs']


def test_schedule_warms_up_then_decays_to_zero_at_the_last_iteration():
    warmup, cosine = real_data_probe.warmup_cosine(100, 5)
    assert (warmup['begin'], warmup['end'], cosine['begin'], cosine['end']) == (0, 5, 5, 100)
    assert cosine['T_max'] == 95 and cosine['eta_min'] == 0.0


def test_bad_settings_are_refused(real_layout, tmp_path):
    with pytest.raises(SystemExit):
        real_data_probe.parse_args(arguments(real_layout, tmp_path, '--iterations', '10', '--eval-at', '20'))
    with pytest.raises(SystemExit):
        real_data_probe.parse_args(arguments(tmp_path / 'nothing', tmp_path, '--iterations', '10'))
