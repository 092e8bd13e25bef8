"""SDCluster (ISPRS J. 2025): clustering-based dense self-distillation on an output-stride-16 Swin
(docs/sdcluster.md)."""
from .algorithm import SDCluster
from .backbone import SwinTransformerOS16
from .cluster_eval import ClusterEval, cluster_eval_ids, load_cluster_eval
from .converter import convert_sdcluster_clustereval, convert_sdcluster_swin, convert_sdcluster_swin_student
from .loss import (
    align_to_overlap,
    filtered_slot_contrastive_loss,
    pixel_distillation_loss,
    prototype_presence,
    sinkhorn_knopp,
)
from .neck import GELUMLP
from .prototypes import ClusterPrototypes
from .scheduler import TimmWarmupCosineLR, timm_warmup_cosine_factor
from .views import OverlappingMultiCrop, RandomFlipViews

__all__ = ['ClusterEval', 'ClusterPrototypes', 'GELUMLP', 'OverlappingMultiCrop', 'RandomFlipViews',
           'SDCluster', 'SwinTransformerOS16', 'TimmWarmupCosineLR', 'align_to_overlap', 'cluster_eval_ids',
           'convert_sdcluster_clustereval', 'convert_sdcluster_swin', 'convert_sdcluster_swin_student',
           'filtered_slot_contrastive_loss', 'load_cluster_eval', 'pixel_distillation_loss', 'prototype_presence',
           'sinkhorn_knopp', 'timm_warmup_cosine_factor']
