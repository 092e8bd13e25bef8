from .gather import all_gather_with_grad
from .multiband_preprocessor import MultiBandSelfSupDataPreprocessor

__all__ = ['MultiBandSelfSupDataPreprocessor', 'all_gather_with_grad']
