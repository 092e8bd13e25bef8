"""Training-loop parts shared by the methods: mixed precision, progress-defined LR curves, checkpoint and
input-check hooks, random-generator states, the
run-length report of the schedules, the SSL collapse monitor, and the runner-config changes the tools
make from their command-line switches, the channels-last layout."""
from .band_count_check import BandCountCheckHook
from .corrupt_image_report import CorruptImageReportHook
from .hooks import CheckpointFitHook, ResumableCheckpointHook
from .memory_format import ChannelsLastHook
from .mixed_precision import MixedPrecisionOptimWrapper
from .num_classes_check import NumClassesCheckHook
from .progress_curve import ProgressCurveLR
from .random_state import capture_random_state, restore_random_state
from .runner_config import (
    check_is_segmentation_config,
    enable_amp,
    enable_per_class_report,
    enable_tta,
    enable_visualization,
)
from .schedule_length import ScheduleLengthHook
from .ssl_monitor import SSLMonitorHook, embedding_statistics

__all__ = ['BandCountCheckHook', 'ChannelsLastHook', 'CheckpointFitHook', 'CorruptImageReportHook',
           'MixedPrecisionOptimWrapper', 'NumClassesCheckHook', 'ProgressCurveLR', 'ResumableCheckpointHook',
           'SSLMonitorHook', 'ScheduleLengthHook', 'capture_random_state', 'check_is_segmentation_config',
           'embedding_statistics', 'enable_amp', 'enable_per_class_report', 'enable_tta', 'enable_visualization',
           'restore_random_state']
