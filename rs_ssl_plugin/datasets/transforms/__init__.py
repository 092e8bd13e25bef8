"""Loading transforms with input checks, and band-agnostic photometric augmentations."""
from .loading import (
    CheckedLoadAnnotations,
    CheckedLoadBinaryMask,
    CheckedLoadImageFromFile,
    CheckedLoadImageFromNDArray,
    remap_labels,
)
from .multiband import RandomBandGaussianBlur, RandomBandJitter

__all__ = ['CheckedLoadAnnotations', 'CheckedLoadBinaryMask', 'CheckedLoadImageFromFile', 'CheckedLoadImageFromNDArray',
           'RandomBandGaussianBlur', 'RandomBandJitter', 'remap_labels']
