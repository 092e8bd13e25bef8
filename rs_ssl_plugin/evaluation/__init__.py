"""Metrics registered into mmseg's and mmpretrain's METRICS registries."""
from .confusion import confusion_matrix  # noqa: F401
from .hungarian_metric import HungarianIoUMetric, hungarian_match, matched_scores  # noqa: F401
from .retrieval_metric import RetrievalMetric  # noqa: F401
from .seg_metrics import PerClassSegMetric  # noqa: F401
