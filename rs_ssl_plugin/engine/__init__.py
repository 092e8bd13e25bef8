"""Training-loop parts shared by the methods."""
from .mixed_precision import MixedPrecisionOptimWrapper
from .progress_curve import ProgressCurveLR

__all__ = ['MixedPrecisionOptimWrapper', 'ProgressCurveLR']
