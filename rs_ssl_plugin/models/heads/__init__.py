from .false_head import FALSEHead

__all__ = ['FALSEHead']
