"""Training-loop parts shared by the methods."""
from .progress_curve import ProgressCurveLR

__all__ = ['ProgressCurveLR']
