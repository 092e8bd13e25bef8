from .backbone import SDSHViT, interpolate_pos_embed_dinov2
from .hash_layer import HashLayer
from .heads import SDSHDINOHead
from .pooling import AttentionWeightedPooling
from .sdsh import SDSH

__all__ = ['AttentionWeightedPooling', 'HashLayer', 'SDSH', 'SDSHDINOHead', 'SDSHViT',
           'interpolate_pos_embed_dinov2']
