"""SDSH (GRSL 2026): self-distilled self-supervised hashing on DINOv2 ViT-S/14 for image retrieval
(docs/sdsh.md)."""
from .algorithm import SDSH
from .backbone import SDSHViT
from .converter import convert_dinov2_vit
from .datasets import AIDRetrieval, RetrievalImageFolder, UCMercedRetrieval, split_class_folder
from .hash_layer import HashLayer
from .head import SDSHDINOHead
from .hooks import SDSHScheduleHook, dinov2_cosine_schedule
from .metric import (
    RetrievalMetric,
    binarize,
    hamming_distance,
    hamming_ranking,
    mean_average_precision,
    precision_at,
    precision_recall_curve,
)
from .optim_wrapper import SDSHAmpOptimWrapper, SDSHOptimWrapper, SDSHOptimWrapperConstructor, sdsh_param_groups
from .pooling import AttentionWeightedPooling
from .retrieval import evaluate_retrieval, search_folder
from .views import BlockMaskGenerator, SDSHMultiCrop, sample_ibot_masks, sdsh_collate

__all__ = ['AIDRetrieval', 'AttentionWeightedPooling', 'BlockMaskGenerator', 'HashLayer', 'RetrievalImageFolder',
           'RetrievalMetric', 'SDSH', 'SDSHAmpOptimWrapper', 'SDSHDINOHead', 'SDSHMultiCrop', 'SDSHOptimWrapper',
           'SDSHOptimWrapperConstructor', 'SDSHScheduleHook', 'SDSHViT', 'UCMercedRetrieval', 'binarize',
           'convert_dinov2_vit', 'dinov2_cosine_schedule', 'evaluate_retrieval', 'hamming_distance',
           'hamming_ranking', 'mean_average_precision', 'precision_at', 'precision_recall_curve', 'sample_ibot_masks',
           'sdsh_collate', 'sdsh_param_groups', 'search_folder', 'split_class_folder']
