"""Training-loop parts shared by the methods: mixed precision, progress-defined LR curves, checkpoint and
input-check hooks, random-generator states, the SSL collapse monitor."""
from .corrupt_image_report import CorruptImageReportHook
from .hooks import CheckpointFitHook, ResumableCheckpointHook
from .mixed_precision import MixedPrecisionOptimWrapper
from .num_classes_check import NumClassesCheckHook
from .progress_curve import ProgressCurveLR
from .random_state import capture_random_state, restore_random_state
from .ssl_monitor import SSLMonitorHook, embedding_statistics

__all__ = ['CheckpointFitHook', 'CorruptImageReportHook', 'MixedPrecisionOptimWrapper', 'NumClassesCheckHook',
           'ProgressCurveLR', 'ResumableCheckpointHook', 'SSLMonitorHook', 'capture_random_state',
           'embedding_statistics', 'restore_random_state']
