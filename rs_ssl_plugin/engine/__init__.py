"""Training-loop parts shared by the methods."""
from .corrupt_image_report import CorruptImageReportHook
from .num_classes_check import NumClassesCheckHook
from .progress_curve import ProgressCurveLR

__all__ = ['CorruptImageReportHook', 'NumClassesCheckHook', 'ProgressCurveLR']
