"""Training-loop parts shared by the methods."""
from .corrupt_image_report import CorruptImageReportHook
from .mixed_precision import MixedPrecisionOptimWrapper
from .num_classes_check import NumClassesCheckHook
from .progress_curve import ProgressCurveLR

__all__ = ['CorruptImageReportHook', 'MixedPrecisionOptimWrapper', 'NumClassesCheckHook', 'ProgressCurveLR']
