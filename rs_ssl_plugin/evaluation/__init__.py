"""Segmentation metrics shared by the methods (registered into mmseg's METRICS) and frozen-backbone evaluation
(kNN, linear and segmentation probes on features of a backbone that stays fixed)."""
from .backbone_probes import (
    SegProbeData,
    SegSample,
    fit_linear_probe,
    knn_classify,
    knn_scores,
    linear_scores,
    seg_probe_scores,
)
from .confusion import confusion_matrix
from .features import FeatureCache, FrozenBackbone, Preprocessing, build_frozen_backbone
from .seg_metrics import PerClassSegMetric, metrics_from_confusion

__all__ = ['FeatureCache', 'FrozenBackbone', 'PerClassSegMetric', 'Preprocessing', 'SegProbeData', 'SegSample',
           'build_frozen_backbone', 'confusion_matrix', 'fit_linear_probe', 'knn_classify', 'knn_scores',
           'linear_scores', 'metrics_from_confusion', 'seg_probe_scores']
