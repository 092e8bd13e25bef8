"""Model parts shared by several methods."""
from .data_preprocessor import MultiBandSelfSupDataPreprocessor
from .mlp import gelu_mlp, init_truncated_normal

__all__ = ['MultiBandSelfSupDataPreprocessor', 'gelu_mlp', 'init_truncated_normal']
