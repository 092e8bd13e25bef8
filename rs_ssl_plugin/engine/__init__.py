"""Training-loop parts shared by the methods: mixed precision, schedulers' base, checkpoint and input-check
hooks, random-generator states."""
from .corrupt_image_report import CorruptImageReportHook
from .hooks import CheckpointFitHook, ResumableCheckpointHook
from .mixed_precision import MixedPrecisionOptimWrapper
from .num_classes_check import NumClassesCheckHook
from .progress_curve import ProgressCurveLR
from .random_state import capture_random_state, restore_random_state

__all__ = ['CheckpointFitHook', 'CorruptImageReportHook', 'MixedPrecisionOptimWrapper', 'NumClassesCheckHook',
           'ProgressCurveLR', 'ResumableCheckpointHook', 'capture_random_state', 'restore_random_state']
