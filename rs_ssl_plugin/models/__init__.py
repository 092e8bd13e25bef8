"""Model parts shared by several methods."""
from . import batch_augment
from .data_preprocessor import BatchAugmentSelfSupDataPreprocessor, MultiBandSelfSupDataPreprocessor
from .mlp import gelu_mlp, init_truncated_normal

__all__ = ['BatchAugmentSelfSupDataPreprocessor', 'MultiBandSelfSupDataPreprocessor', 'batch_augment', 'gelu_mlp',
           'init_truncated_normal']
