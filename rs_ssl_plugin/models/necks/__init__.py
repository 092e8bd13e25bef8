from .linear_projection import LinearProjectionNeck

__all__ = ['LinearProjectionNeck']
