from .cluster_eval import ClusterEval
from .false import FALSE
from .sdcluster import SDCluster

__all__ = ['ClusterEval', 'FALSE', 'SDCluster']
