"""Training-loop parts shared by the methods: progress-defined LR curves, the SSL collapse monitor."""
from .progress_curve import ProgressCurveLR
from .ssl_monitor import SSLMonitorHook, embedding_statistics

__all__ = ['ProgressCurveLR', 'SSLMonitorHook', 'embedding_statistics']
