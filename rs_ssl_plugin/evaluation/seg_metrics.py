"""Per-class segmentation metrics from one confusion matrix, with a table, CSV/JSON, a confusion-matrix image,
colour predictions and an image | ground truth | prediction figure."""
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import cv2
import mmcv
import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmseg.registry import METRICS

from ..visualization.legend import write_legend
from ..visualization.prediction_figure import colour_class_map, write_prediction_figure
from .confusion import confusion_matrix

PER_CLASS = ('IoU', 'F1', 'Precision', 'Recall')


def metrics_from_confusion(matrix: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-class scores from a confusion matrix (rows = truth, columns = prediction), with
    ``TP = C[c, c]``, ``FN = row sum - TP``, ``FP = column sum - TP``:

    - IoU = TP / (TP + FP + FN), F1 = 2 TP / (2 TP + FP + FN)
    - Precision = TP / (TP + FP), Recall = TP / (TP + FN)

    plus ``OA`` = trace / total (overall accuracy). A score whose denominator is 0 is NaN (class absent
    from both truth and prediction, or never predicted for precision) and left out of the means.
    """
    matrix = matrix.astype(np.float64)
    tp = np.diag(matrix)
    truth, predicted = matrix.sum(1), matrix.sum(0)
    with np.errstate(divide='ignore', invalid='ignore'):
        scores = dict(IoU=tp / (truth + predicted - tp), F1=2 * tp / (truth + predicted),
                      Precision=tp / predicted, Recall=tp / truth)
        scores['OA'] = np.array(tp.sum() / matrix.sum())
    return scores


def format_table(classes: Sequence[str], scores: Dict[str, np.ndarray]) -> str:
    """Plain-text table: one row per class and a mean row, scores in percent."""
    width = max(len('mean'), *(len(c) for c in classes))
    lines = [f'{"class":<{width}} ' + ' '.join(f'{name:>9}' for name in PER_CLASS)]
    for i, name in enumerate(classes):
        lines.append(f'{name:<{width}} ' + ' '.join(f'{100 * scores[k][i]:9.2f}' for k in PER_CLASS))
    lines.append(f'{"mean":<{width}} ' + ' '.join(f'{100 * np.nanmean(scores[k]):9.2f}' for k in PER_CLASS))
    lines.append(f'overall accuracy (aAcc): {100 * float(scores["OA"]):.2f}')
    return '\n'.join(lines)


def save_confusion_image(matrix: np.ndarray, classes: Sequence[str], path: str) -> None:
    """Row-normalised confusion matrix (each row: where the pixels of that true class went), annotated
    with percentages."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = matrix.sum(1, keepdims=True)
    percent = 100 * np.divide(matrix, rows, out=np.zeros(matrix.shape, np.float64), where=rows > 0)
    size = 1.6 + 0.7 * len(classes)
    figure, axes = plt.subplots(figsize=(size + 1.5, size))
    image = axes.imshow(percent, cmap='Blues', vmin=0, vmax=100)  # the colour bar in the cells' unit
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label='% of the true class')
    ticks = np.arange(len(classes))
    axes.set_xticks(ticks, labels=classes, rotation=45, ha='right')
    axes.set_yticks(ticks, labels=classes)
    axes.set_xlabel('predicted')
    axes.set_ylabel('ground truth')
    for i in ticks:
        for j in ticks:
            axes.text(j, i, f'{percent[i, j]:.1f}', ha='center', va='center', fontsize=8,
                      color='white' if percent[i, j] > 50 else 'black')
    axes.set_title('confusion matrix (% of each true class)')
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


@METRICS.register_module()
class PerClassSegMetric(BaseMetric):
    """Per-class IoU, F1, precision and recall, their means and the overall accuracy, all from one
    confusion matrix accumulated over the dataset. ``aAcc``, ``mIoU``, ``mPrecision`` and ``mRecall`` equal
    mmseg's ``IoUMetric``; so does ``mF1`` (its ``mFscore``) except for classes without a true positive that
    appear in the ground truth or the prediction (present but never predicted, predicted but absent, or both
    but never right): their F1 = 2TP / (2TP + FP + FN) is 0, like their IoU, and counts in the mean, while
    mmseg's 2PR / (P + R) is NaN there and skipped (docs/datasets.md has a worked example).

    Returns (percent) ``aAcc`` (overall accuracy), ``mIoU``, ``mF1``, ``mPrecision``, ``mRecall`` and, per
    class, ``IoU.<class>``, ``F1.<class>``, ``Precision.<class>``, ``Recall.<class>`` (e.g. ``IoU.building``
    for building extraction). Prints a per-class table.

    Args:
        ignore_index (int): Label value left out of the evaluation. Defaults to 255.
        output_dir (str, optional): If given, writes there ``per_class_metrics.csv``, ``metrics.json`` (scores,
            ``null`` where undefined, and the raw confusion matrix) and ``confusion_matrix.png``. Files of
            another run are not overwritten unless ``overwrite``; this metric's own files are refreshed at
            every evaluation. Defaults to None.
        save_predictions (bool): Also write each prediction as a colour PNG (the dataset palette) to
            ``output_dir/pred_colour/<image name>.png``, and the palette's legend (class names and colours) to
            ``output_dir/pred_colour_legend.png``; needs ``output_dir``. Defaults to False.
        figure_images (int): Also write ``output_dir/image_truth_prediction.png``, a figure of the first
            ``figure_images`` images (per process) as image | ground truth | prediction with the class legend;
            needs ``output_dir``; 0 writes none. Defaults to 0.
        figure_title (str): Title of that figure. Defaults to 'the first test images'.
        label_dir (str, optional): If given, writes each prediction as a class-index PNG
            ``label_dir/<image name>.png`` in the coding of the dataset's label files (+1 with
            ``reduce_zero_label``), as ``IoUMetric``'s ``output_dir`` does (``tools/test.py --out``).
            Defaults to None.
        overwrite (bool): Allow replacing output files that existed before this metric wrote them.
            Defaults to False.
        collect_device (str): Device used to collect the results of all ranks, ``'cpu'`` or ``'gpu'``.
            Defaults to 'cpu'.
        prefix (str, optional): Prefix of the metric names (``<prefix>/mIoU``); ``None`` leaves them
            unprefixed. Defaults to None.
        **kwargs: Other arguments of mmengine's ``BaseMetric`` (``collect_dir``).
    """

    default_prefix: Optional[str] = None

    def __init__(self, ignore_index: int = 255, output_dir: Optional[str] = None, save_predictions: bool = False,
                 figure_images: int = 0, figure_title: str = 'the first test images', label_dir: Optional[str] = None,
                 overwrite: bool = False, collect_device: str = 'cpu', prefix: Optional[str] = None, **kwargs):
        super().__init__(collect_device=collect_device, prefix=prefix, **kwargs)
        if (save_predictions or figure_images) and output_dir is None:
            raise ValueError('PerClassSegMetric: save_predictions and figure_images need output_dir')
        self.ignore_index = ignore_index
        self.output_dir = output_dir
        self.save_predictions = save_predictions
        self.figure_images = figure_images
        self.figure_title = figure_title
        self._figure_rows = []
        self.label_dir = label_dir
        self.overwrite = overwrite
        self._written = set()

    def _claim(self, path: str) -> str:
        """``path``, after checking it is new, ours from an earlier evaluation, or may be overwritten."""
        if path not in self._written and osp.exists(path) and not self.overwrite:
            raise FileExistsError(f'PerClassSegMetric: {path} already exists; not overwritten (choose another '
                                  'output_dir or set overwrite=True)')
        os.makedirs(osp.dirname(path), exist_ok=True)
        self._written.add(path)
        return path

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Accumulate each sample's confusion matrix (and write its colour prediction with ``save_predictions``)."""
        num_classes = len(self.dataset_meta['classes'])
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze(0)
            target = sample['gt_sem_seg']['data'].squeeze(0).to(pred.device)
            matrix = confusion_matrix(target, pred, num_classes, ignore_index=self.ignore_index)
            self.results.append(matrix.cpu().numpy())
            if self.save_predictions:
                self._save_colour_prediction(pred, sample['img_path'])
            if self.label_dir is not None:
                self._save_label_prediction(pred, sample)
            if len(self._figure_rows) < self.figure_images:
                self._figure_rows.append((osp.basename(sample['img_path']),
                                          mmcv.imread(sample['img_path'], channel_order='rgb'),
                                          target.cpu().numpy(), pred.cpu().numpy()))

    def _save_colour_prediction(self, pred: torch.Tensor, img_path: str) -> None:
        name = osp.splitext(osp.basename(img_path))[0]
        path = self._claim(osp.join(self.output_dir, 'pred_colour', f'{name}.png'))
        colours = colour_class_map(pred.cpu().numpy(), self.dataset_meta['palette'])
        if not cv2.imwrite(path, colours[..., ::-1]):  # RGB -> BGR for OpenCV
            raise OSError(f'PerClassSegMetric: could not write {path}')

    def _save_label_prediction(self, pred: torch.Tensor, sample: dict) -> None:
        name = osp.splitext(osp.basename(sample['img_path']))[0]
        path = self._claim(osp.join(self.label_dir, f'{name}.png'))
        labels = pred.cpu().numpy().astype(np.int64) + int(bool(sample.get('reduce_zero_label', False)))
        if not cv2.imwrite(path, labels.astype(np.uint8)):
            raise OSError(f'PerClassSegMetric: could not write {path}')

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        """``aAcc``, the class means ``mIoU``/``mF1``/``mPrecision``/``mRecall`` and per-class ``<metric>.<class>``
        in %, from the summed confusion matrix; logs the table and writes the reports with ``output_dir``."""
        classes = list(self.dataset_meta['classes'])
        matrix = np.sum(results, axis=0)
        scores = metrics_from_confusion(matrix)
        print_log('per-class results:\n' + format_table(classes, scores), logger='current')
        metrics = OrderedDict(aAcc=round(100 * float(scores['OA']), 2))
        for name in PER_CLASS:
            metrics[f'm{name}'] = round(100 * float(np.nanmean(scores[name])), 2)
        for name in PER_CLASS:
            for i, cls in enumerate(classes):
                metrics[f'{name}.{cls}'] = round(100 * float(scores[name][i]), 2)
        if self.output_dir is not None:
            self._save_reports(classes, matrix, scores, metrics)
        if self.save_predictions:
            write_legend(self._claim(osp.join(self.output_dir, 'pred_colour_legend.png')), classes,
                         self.dataset_meta['palette'][:len(classes)], 'classes (pred_colour)')
        if self._figure_rows:
            write_prediction_figure(self._claim(osp.join(self.output_dir, 'image_truth_prediction.png')),
                                    self._figure_rows, classes, self.dataset_meta['palette'], self.figure_title)
            self._figure_rows = []  # the next evaluation shows its own first images
        return metrics

    def _save_reports(self, classes, matrix, scores, metrics) -> None:
        with open(self._claim(osp.join(self.output_dir, 'per_class_metrics.csv')), 'w') as f:
            f.write('class,' + ','.join(PER_CLASS) + ',pixels\n')
            for i, cls in enumerate(classes):
                f.write(f'{cls},' + ','.join(f'{100 * scores[k][i]:.4f}' for k in PER_CLASS)
                        + f',{int(matrix[i].sum())}\n')
        with open(self._claim(osp.join(self.output_dir, 'metrics.json')), 'w') as f:
            # NaN (a score whose denominator is 0) is not JSON: json.dump would write a bare NaN
            scores_or_null = {key: None if np.isnan(value) else value for key, value in metrics.items()}
            json.dump(dict(metrics=scores_or_null, classes=classes, confusion_matrix=matrix.astype(int).tolist(),
                           confusion_matrix_layout='rows = ground truth, columns = prediction, pixels'),
                      f, indent=2, allow_nan=False)
        save_confusion_image(matrix, classes, self._claim(osp.join(self.output_dir, 'confusion_matrix.png')))
