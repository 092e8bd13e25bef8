"""SDSH (GRSL 2026): self-distilled self-supervised hashing on DINOv2 ViT-S/14 for image retrieval
(docs/sdsh.md)."""
from .algorithm import SDSH
from .backbone import SDSHViT
from .converter import convert_dinov2_vit
from .datasets import AIDRetrieval, RetrievalImageFolder, UCMercedRetrieval
from .hash_layer import HashLayer
from .head import SDSHDINOHead
from .hooks import SDSHScheduleHook
from .metric import RetrievalMetric
from .optim_wrapper import SDSHAmpOptimWrapper, SDSHOptimWrapper, SDSHOptimWrapperConstructor
from .pooling import AttentionWeightedPooling
from .views import SDSHMultiCrop, sdsh_collate

__all__ = ['AIDRetrieval', 'AttentionWeightedPooling', 'HashLayer', 'RetrievalImageFolder', 'RetrievalMetric', 'SDSH',
           'SDSHAmpOptimWrapper', 'SDSHDINOHead', 'SDSHMultiCrop', 'SDSHOptimWrapper', 'SDSHOptimWrapperConstructor',
           'SDSHScheduleHook', 'SDSHViT', 'UCMercedRetrieval', 'convert_dinov2_vit', 'sdsh_collate']
