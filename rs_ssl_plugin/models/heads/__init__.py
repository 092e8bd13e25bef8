from .cluster_prototypes import ClusterPrototypes
from .false_head import FALSEHead
from .iddc_head import IDDCHead

__all__ = ['ClusterPrototypes', 'FALSEHead', 'IDDCHead']
