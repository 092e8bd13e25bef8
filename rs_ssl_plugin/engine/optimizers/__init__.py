from .larc import LARC

__all__ = ['LARC']
