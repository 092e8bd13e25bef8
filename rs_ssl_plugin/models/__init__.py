"""Model parts shared by several methods."""
from . import batch_augment
from .data_preprocessor import BatchAugmentSelfSupDataPreprocessor, MultiBandSelfSupDataPreprocessor
from .mlp import gelu_mlp, init_truncated_normal
from .vit import DINOVisionTransformer, interpolate_pos_embed

__all__ = ['BatchAugmentSelfSupDataPreprocessor', 'DINOVisionTransformer', 'MultiBandSelfSupDataPreprocessor',
           'batch_augment', 'gelu_mlp', 'init_truncated_normal', 'interpolate_pos_embed']
