from .false_head import FALSEHead
from .iddc_head import IDDCHead

__all__ = ['FALSEHead', 'IDDCHead']
