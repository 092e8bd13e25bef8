"""Segmentation metrics shared by the methods (registered into mmseg's METRICS)."""
from .confusion import confusion_matrix
from .seg_metrics import PerClassSegMetric, metrics_from_confusion

__all__ = ['PerClassSegMetric', 'confusion_matrix', 'metrics_from_confusion']
