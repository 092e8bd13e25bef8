"""Metrics registered into mmseg's and mmpretrain's METRICS registries."""
from .retrieval_metric import RetrievalMetric  # noqa: F401
