"""Training-loop parts shared by the methods."""
from .num_classes_check import NumClassesCheckHook
from .progress_curve import ProgressCurveLR

__all__ = ['NumClassesCheckHook', 'ProgressCurveLR']
