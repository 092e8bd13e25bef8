from .iddc_views import AnisotropicRandomResize, OverlappingCropPair
from .overlap_crops import ForEachView, OverlappingMultiCrop, RandomFlipViews
from .loading import CheckedLoadAnnotations, CheckedLoadBinaryMask, CheckedLoadImageFromFile, remap_labels
from .multiband import RandomBandGaussianBlur, RandomBandJitter
from .sdsh_multicrop import SDSHMultiCrop, sdsh_collate  # noqa: F401

__all__ = ['ForEachView', 'OverlappingMultiCrop', 'RandomFlipViews', 'AnisotropicRandomResize', 'OverlappingCropPair', 'CheckedLoadAnnotations', 'CheckedLoadBinaryMask', 'RandomBandGaussianBlur', 'RandomBandJitter', 'CheckedLoadImageFromFile', 'remap_labels']
