"""Unsupervised segmentation metric: clusters matched one-to-one to classes by the Hungarian algorithm."""
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.registry import METRICS
from prettytable import PrettyTable
from scipy.optimize import linear_sum_assignment

from ...evaluation.confusion import confusion_matrix


def hungarian_match(hist: np.ndarray) -> np.ndarray:
    """The one-to-one assignment maximising the matched pixels: ``cluster_of[c]`` for every class ``c``
    (``hist`` is ``(num_classes, num_clusters)`` with ``num_clusters >= num_classes``)."""
    rows, cols = linear_sum_assignment(hist, maximize=True)
    cluster_of = np.empty(hist.shape[0], dtype=np.int64)
    cluster_of[rows] = cols
    return cluster_of


def matched_scores(hist: np.ndarray) -> Tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Per-class IoU and accuracy, pixel accuracy and the assignment after Hungarian matching.

    With ``TP_c = hist[c, k(c)]``, ``FP_c`` the other classes' pixels in cluster ``k(c)`` and ``FN_c``
    the pixels of class ``c`` elsewhere::

        IoU_c = TP_c / (TP_c + FP_c + FN_c),  Acc_c = TP_c / (TP_c + FN_c),  Acc = sum_c TP_c / sum hist

    Pixels of unmatched clusters (only when there are more clusters than classes) count as errors.
    Classes absent from both the labels and their matched cluster get NaN IoU (excluded from mIoU).
    """
    cluster_of = hungarian_match(hist)
    matched = hist[:, cluster_of].astype(np.float64)  # column c now holds class c's cluster
    true_pos = np.diag(matched)
    label_total = hist.sum(axis=1).astype(np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = true_pos / (label_total + matched.sum(axis=0) - true_pos)
        class_acc = true_pos / label_total
    total = hist.sum()
    pixel_acc = float(true_pos.sum() / total) if total else float('nan')
    return iou, class_acc, pixel_acc, cluster_of


@METRICS.register_module()
class HungarianIoUMetric(BaseMetric):
    """Pixel accuracy and mIoU of cluster predictions after Hungarian matching on the dataset-level
    confusion matrix (every image's pixels accumulated first, then one assignment for the whole set).

    Reads ``pred_sem_seg`` (cluster ids) and ``gt_sem_seg`` of each data sample; labels outside
    ``[0, num_classes)``, such as the ignore index 255, are not counted.

    Args:
        num_classes (int, optional): Number of ground-truth classes; ``None`` takes the count of the
            dataset's ``classes``. Defaults to None.
        num_clusters (int, optional): Number of predicted cluster ids; ``None`` takes ``num_classes`` (must
            not be smaller). Defaults to None.
        eval_size (Sequence[int], optional): ``(h, w)`` both maps are nearest-resized to before counting;
            ``(320, 320)`` is the official IDDC protocol, ``None`` counts at the label's own resolution.
            Defaults to None.
        collect_device (str): Device used to collect the results of all ranks, ``'cpu'`` or ``'gpu'``.
            Defaults to 'cpu'.
        prefix (str, optional): Prefix of the metric names; ``None`` uses ``'hungarian'``. Defaults to None.
    """

    default_prefix = 'hungarian'

    def __init__(self, num_classes: Optional[int] = None, num_clusters: Optional[int] = None,
                 eval_size: Optional[Sequence[int]] = None,
                 collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes = num_classes
        self.num_clusters = num_clusters
        self.eval_size = tuple(eval_size) if eval_size is not None else None

    def _sizes(self) -> Tuple[int, int]:
        num_classes = self.num_classes
        if num_classes is None:
            if not (self.dataset_meta and self.dataset_meta.get('classes')):
                raise ValueError('HungarianIoUMetric needs num_classes or a dataset with "classes" metainfo')
            num_classes = len(self.dataset_meta['classes'])
        num_clusters = self.num_clusters or num_classes
        if num_clusters < num_classes:
            raise ValueError(f'one-to-one matching needs at least as many clusters ({num_clusters}) as '
                             f'classes ({num_classes})')
        return num_classes, num_clusters

    def _resize(self, seg_map: torch.Tensor) -> torch.Tensor:
        if self.eval_size is None:
            return seg_map
        return F.interpolate(seg_map[None, None].float(), size=self.eval_size, mode='nearest')[0, 0].long()

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Accumulate the ``(num_classes, num_clusters)`` confusion matrix of each sample (at ``eval_size``)."""
        num_classes, num_clusters = self._sizes()
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze(0)
            label = sample['gt_sem_seg']['data'].squeeze(0).to(pred.device)
            if pred.shape != label.shape:
                raise ValueError(f'prediction {tuple(pred.shape)} and label {tuple(label.shape)} of '
                                 f'{sample.get("img_path", "a sample")} differ in size')
            hist = confusion_matrix(self._resize(label), self._resize(pred), num_classes, num_clusters)
            self.results.append(hist.cpu().numpy())

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """``Acc`` and ``mIoU`` in % after one Hungarian matching on the summed matrix; logs the per-class table."""
        hist = np.sum(results, axis=0)
        iou, class_acc, pixel_acc, cluster_of = matched_scores(hist)
        logger: MMLogger = MMLogger.get_current_instance()
        classes = (self.dataset_meta or {}).get('classes') or [str(c) for c in range(len(iou))]
        table = PrettyTable(field_names=['Class', 'Cluster', 'IoU', 'Acc'])
        for name, cluster, class_iou, acc in zip(classes, cluster_of, iou, class_acc):
            table.add_row([name, int(cluster), f'{class_iou * 100:.2f}', f'{acc * 100:.2f}'])
        print_log('Hungarian-matched per-class results:\n' + table.get_string(), logger=logger)
        return OrderedDict(Acc=round(pixel_acc * 100, 2), mIoU=round(float(np.nanmean(iou)) * 100, 2))
