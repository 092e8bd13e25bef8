from .data_preprocessor import MultiViewSegDataPreProcessor
from .iddc import IDDC

__all__ = ['IDDC', 'MultiViewSegDataPreProcessor']
