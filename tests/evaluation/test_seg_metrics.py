"""PerClassSegMetric against mmseg's IoUMetric and a hand count; its report files; tools/test.py --out-dir."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS, MODELS

import rs_ssl_plugin  # noqa: F401
from helpers.tools import REPO, call_tool
from rs_ssl_plugin.datasets.synthetic import make_synthetic_potsdam
from rs_ssl_plugin.engine.runner_config import enable_label_output, enable_per_class_report

CLASSES = ('impervious_surface', 'building', 'low_vegetation', 'tree', 'car', 'clutter')
PALETTE = [[255, 255, 255], [0, 0, 255], [0, 255, 255], [0, 255, 0], [255, 255, 0], [255, 0, 0]]


def samples(seed, count=3, size=16, num_classes=6):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        gt = rng.integers(0, num_classes, (1, size, size))
        gt[rng.random(gt.shape) < 0.1] = 255
        pred = np.where(rng.random(gt.shape) < 0.6, gt % num_classes, rng.integers(0, num_classes, gt.shape))
        pred[0, 0, 0] = 5 if num_classes > 5 else 0
        out.append(dict(pred_sem_seg=dict(data=torch.from_numpy(pred)), gt_sem_seg=dict(data=torch.from_numpy(gt)),
                        img_path=f'/data/img_dir/val/tile_{i}.png'))
    return out


def build_metric(cfg):
    init_default_scope('mmseg')
    return METRICS.build(cfg)


def evaluate(metric, data, classes=CLASSES, palette=PALETTE):
    metric.dataset_meta = dict(classes=classes, palette=palette)
    metric.process({}, data)
    return metric.compute_metrics(metric.results)


@pytest.mark.parametrize('drop_car', [False, True])
def test_means_match_mmseg_iou_metric(drop_car):
    data = samples(0)
    if drop_car:  # car predicted but absent from the ground truth
        for sample in data:
            sample['gt_sem_seg']['data'][sample['gt_sem_seg']['data'] == 4] = 255
    ours = evaluate(build_metric(dict(type='PerClassSegMetric')), data)
    reference = evaluate(IoUMetric(iou_metrics=['mIoU', 'mFscore']), data)
    pairs = [('aAcc', 'aAcc'), ('mIoU', 'mIoU'), ('mPrecision', 'mPrecision'), ('mRecall', 'mRecall')]
    for mine, theirs in pairs + ([] if drop_car else [('mF1', 'mFscore')]):
        assert ours[mine] == pytest.approx(reference[theirs], abs=0.011), mine
    if drop_car:
        # like its IoU, the F1 of a predicted but absent class is 0 (mmseg's F-score is NaN there: no recall)
        assert ours['IoU.car'] == 0.0 and ours['F1.car'] == 0.0 and np.isnan(ours['Recall.car'])


def test_building_scores_match_a_hand_count():
    gt = torch.tensor([[[0, 0, 1, 1], [0, 1, 1, 1], [255, 0, 0, 1]]])
    pred = torch.tensor([[[0, 1, 1, 1], [0, 0, 1, 1], [1, 0, 0, 0]]])
    data = [dict(pred_sem_seg=dict(data=pred), gt_sem_seg=dict(data=gt), img_path='a.png')]
    result = evaluate(build_metric(dict(type='PerClassSegMetric')), data, ('background', 'building'),
                      [[0, 0, 0], [255, 255, 255]])
    tp, fp, fn, tn = 4, 1, 2, 4  # building: the ignored pixel (predicted building) is not counted
    assert result['IoU.building'] == round(100 * tp / (tp + fp + fn), 2)
    assert result['F1.building'] == round(100 * 2 * tp / (2 * tp + fp + fn), 2)
    assert result['Precision.building'] == round(100 * tp / (tp + fp), 2)
    assert result['Recall.building'] == round(100 * tp / (tp + fn), 2)
    assert result['aAcc'] == round(100 * (tp + tn) / 11, 2)


def test_report_files_and_colour_predictions(tmp_path):
    data = samples(1)
    metric = build_metric(dict(type='PerClassSegMetric', output_dir=str(tmp_path), save_predictions=True))
    result = evaluate(metric, data)
    summary = json.loads((tmp_path / 'metrics.json').read_text())
    matrix = np.array(summary['confusion_matrix'])
    expected = np.zeros((6, 6), int)
    for sample in data:
        gt, pred = sample['gt_sem_seg']['data'].numpy().ravel(), sample['pred_sem_seg']['data'].numpy().ravel()
        for g, p in zip(gt[gt != 255], pred[gt != 255]):
            expected[g, p] += 1
    np.testing.assert_array_equal(matrix, expected)
    assert summary['metrics']['mIoU'] == result['mIoU']
    rows = (tmp_path / 'per_class_metrics.csv').read_text().splitlines()
    assert rows[0] == 'class,IoU,F1,Precision,Recall,pixels' and rows[2].startswith('building,')
    assert int(rows[2].split(',')[-1]) == expected[1].sum()
    assert cv2.imread(str(tmp_path / 'confusion_matrix.png')) is not None
    colour = cv2.imread(str(tmp_path / 'pred_colour' / 'tile_0.png'))[..., ::-1]
    np.testing.assert_array_equal(colour, np.array(PALETTE, np.uint8)[data[0]['pred_sem_seg']['data'][0].numpy()])
    legend = cv2.imread(str(tmp_path / 'pred_colour_legend.png'))[..., ::-1]
    for rgb in PALETTE:  # the legend shows a swatch of every class colour
        assert (legend == np.array(rgb, np.uint8)).all(axis=-1).sum() >= 300, rgb
    # a second evaluation of the same metric refreshes its files; another metric refuses to overwrite them
    metric.results = []
    evaluate(metric, data)
    with pytest.raises(FileExistsError, match='per_class_metrics.csv already exists'):
        evaluate(build_metric(dict(type='PerClassSegMetric', output_dir=str(tmp_path))), data)


def test_metrics_json_is_valid_json_with_null_for_undefined_scores(tmp_path):
    """A class never predicted has no precision (0/0): metrics.json holds null there, not a bare NaN."""
    data = samples(2)
    for sample in data:
        sample['pred_sem_seg']['data'][sample['pred_sem_seg']['data'] == 4] = 0  # car never predicted
    evaluate(build_metric(dict(type='PerClassSegMetric', output_dir=str(tmp_path))), data)

    def refuse(constant):
        raise ValueError(f'metrics.json holds {constant}, which is not JSON')

    summary = json.loads((tmp_path / 'metrics.json').read_text(), parse_constant=refuse)
    assert summary['metrics']['Precision.car'] is None and summary['metrics']['Recall.car'] == 0.0


def test_test_tool_writes_per_class_report(tmp_path):
    info = make_synthetic_potsdam(str(tmp_path / 'data'), num_train=0, num_val=2, num_unlabeled=0, size=64, seed=0)
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo', 'upernet_r18_false_synthetic.py'))
    init_default_scope('mmseg')
    cfg.model.backbone.init_cfg = None
    cfg.model.decode_head.channels = cfg.model.auxiliary_head.channels = 8
    model = MODELS.build(cfg.model)
    checkpoint = tmp_path / 'model.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    out_dir = tmp_path / 'report'
    command = ['tools/test.py', 'configs/demo/upernet_r18_false_synthetic.py', str(checkpoint),
               '--work-dir', str(tmp_path / 'work'), '--out-dir', str(out_dir), '--show-dir', str(tmp_path / 'vis'),
               '--cfg-options',
               f'test_dataloader.dataset.data_root={info["out_dir"]}', 'test_dataloader.num_workers=0',
               'model.backbone.init_cfg=None', 'model.decode_head.channels=8', 'model.auxiliary_head.channels=8',
               f'visualizer.name=vis_{tmp_path.name}']  # not an earlier Runner's visualizer in this process
    result = call_tool(*command)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    # one table and one set of means: PerClassSegMetric replaces the config's IoUMetric, whose table ('per class
    # results:') and mFscore (classes without a true positive left out) disagreed with its mF1
    assert output.count('per-class results') == 1 and 'per class results:' not in output
    assert 'low_vegetation' in output and 'mIoU: ' in output and 'mF1: ' in output and 'mFscore: ' not in output
    listed = result.stdout[result.stdout.rindex('wrote:'):].splitlines()[1:]  # every tool ends with what it wrote
    assert [line.strip().split(' (')[0] for line in listed][-2:] == [str(out_dir), str(tmp_path / 'vis')]
    assert listed[0].strip().endswith('.log') and listed[1].strip().endswith('.json')
    assert all(osp.exists(line.strip().split(' (')[0]) for line in listed)
    assert {p.name for p in out_dir.iterdir()} == {'per_class_metrics.csv', 'metrics.json', 'confusion_matrix.png',
                                                  'pred_colour', 'pred_colour_legend.png',
                                                  'image_truth_prediction.png'}
    figure = cv2.imread(str(out_dir / 'image_truth_prediction.png'))[..., ::-1]
    assert all((figure == np.asarray(colour, np.uint8)).all(axis=-1).sum() > 20 for colour in PALETTE)  # legend
    assert sorted(p.name for p in (out_dir / 'pred_colour').iterdir()) == ['synth_val_0000.png', 'synth_val_0001.png']
    drawn = sorted(p.name for p in (tmp_path / 'vis').rglob('*.png'))  # every image, not every 50th
    assert len(drawn) == 2 and 'synth_val_0000' in drawn[0] and 'synth_val_0001' in drawn[1]
    with pytest.raises(FileExistsError, match='is not empty'):
        enable_per_class_report(Config(dict(test_evaluator=dict(type='IoUMetric'))), str(out_dir), False, 'title')
    report = dict(output_dir=str(out_dir), save_predictions=True, figure_images=4, figure_title='title',
                  overwrite=True)
    cfg = Config(dict(test_evaluator=dict(type='IoUMetric', iou_metrics=['mIoU', 'mFscore'], ignore_index=7)))
    enable_per_class_report(cfg, str(out_dir), True, 'title')
    assert cfg.test_evaluator == dict(type='PerClassSegMetric', ignore_index=7, **report)
    cfg = Config(dict(test_evaluator=[dict(type='CityscapesMetric', output_dir='x'), dict(type='IoUMetric')]))
    enable_per_class_report(cfg, str(out_dir), True, 'title')
    assert [metric['type'] for metric in cfg.test_evaluator] == ['CityscapesMetric', 'PerClassSegMetric']
    cfg = Config(dict(test_evaluator=dict(type='PerClassSegMetric', ignore_index=0)))
    enable_per_class_report(cfg, str(out_dir), True, 'title')
    assert cfg.test_evaluator == dict(type='PerClassSegMetric', ignore_index=0, **report)


@pytest.mark.parametrize('reduce_zero_label', [False, True])
def test_out_option_writes_label_pngs_with_per_class_metric(tmp_path, reduce_zero_label):
    """tools/test.py --out on the Shaanxi configs (PerClassSegMetric): class-index PNGs in the labels' coding."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'upernet_r50_random_shaanxi-buildings.py'))
    enable_label_output(cfg, str(tmp_path / 'labels'))
    meta = dict(classes=('background', 'building'), palette=[[0, 0, 0], [255, 255, 255]])
    metric = build_metric(cfg.test_evaluator)
    metric.dataset_meta = meta
    data = [dict(sample, reduce_zero_label=reduce_zero_label) for sample in samples(4, num_classes=2)]
    metric.process([], data)
    for sample in data:
        name = osp.splitext(osp.basename(sample['img_path']))[0]
        written = cv2.imread(str(tmp_path / 'labels' / f'{name}.png'), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(written, sample['pred_sem_seg']['data'][0].numpy() + reduce_zero_label)
    again = build_metric(cfg.test_evaluator)
    again.dataset_meta = meta
    with pytest.raises(FileExistsError, match='tile_0.png already exists'):  # another run's files are kept
        again.process([], data)


def test_out_option_beside_out_dir_goes_to_the_per_class_metric(tmp_path):
    """--out-dir puts PerClassSegMetric in place of Potsdam's IoUMetric; --out then writes through it."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'upernet_r50_random_potsdam.py'))
    enable_per_class_report(cfg, str(tmp_path / 'report'), False, 'title')
    enable_label_output(cfg, str(tmp_path / 'labels'))
    per_class = cfg.test_evaluator
    assert per_class.type == 'PerClassSegMetric' and per_class.label_dir == str(tmp_path / 'labels')
    assert per_class.output_dir == str(tmp_path / 'report')
    build_metric(per_class)


def test_confusion_image_colour_bar_is_in_percent_like_its_cells(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from rs_ssl_plugin.evaluation.seg_metrics import save_confusion_image
    saved = []
    monkeypatch.setattr(Figure, 'savefig', lambda figure, *args, **kwargs: saved.append(figure))
    save_confusion_image(np.array([[3, 1], [0, 4]]), ['a', 'b'], str(tmp_path / 'confusion.png'))
    matrix_axes, bar_axes = saved[0].axes
    assert bar_axes.get_ylim() == (0, 100) and '%' in bar_axes.get_ylabel()
    assert [t.get_text() for t in matrix_axes.texts] == ['75.0', '25.0', '0.0', '100.0']
