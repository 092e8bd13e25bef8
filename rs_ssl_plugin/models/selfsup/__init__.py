from .false import FALSE

__all__ = ['FALSE']
