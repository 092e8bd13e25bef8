from .gelu_mlp import GELUMLP
from .linear_projection import LinearProjectionNeck

__all__ = ['GELUMLP', 'LinearProjectionNeck']
