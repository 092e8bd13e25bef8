"""Loading transforms with input checks, band-agnostic photometric augmentations, the PIL-equivalent fast
resized crop and the per-view stage that splits photometric augmentation between CPU and accelerator."""
from .geometry import FastRandomResizedCrop, mirror_planar, resize_like_pil
from .loading import (
    CheckedLoadAnnotations,
    CheckedLoadBinaryMask,
    CheckedLoadImageFromFile,
    CheckedLoadImageFromNDArray,
    remap_labels,
)
from .multiband import RandomBandGaussianBlur, RandomBandJitter
from .views import ForEachView, PhotometricAugment, draw_color_params

__all__ = ['CheckedLoadAnnotations', 'CheckedLoadBinaryMask', 'CheckedLoadImageFromFile', 'CheckedLoadImageFromNDArray',
           'FastRandomResizedCrop', 'ForEachView', 'PhotometricAugment', 'RandomBandGaussianBlur', 'RandomBandJitter',
           'draw_color_params', 'mirror_planar', 'remap_labels', 'resize_like_pil']
