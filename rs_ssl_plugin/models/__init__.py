"""Model parts shared by several methods."""
from .data_preprocessor import MultiBandSelfSupDataPreprocessor
from .mlp import gelu_mlp, init_truncated_normal
from .vit import DINOVisionTransformer, interpolate_pos_embed

__all__ = ['DINOVisionTransformer', 'MultiBandSelfSupDataPreprocessor', 'gelu_mlp', 'init_truncated_normal',
           'interpolate_pos_embed']
