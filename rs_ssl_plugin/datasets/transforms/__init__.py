from .iddc_views import AnisotropicRandomResize, OverlappingCropPair
from .loading import CheckedLoadAnnotations, CheckedLoadImageFromFile, remap_labels
from .sdsh_multicrop import SDSHMultiCrop, sdsh_collate  # noqa: F401

__all__ = ['AnisotropicRandomResize', 'OverlappingCropPair', 'CheckedLoadAnnotations', 'CheckedLoadImageFromFile', 'remap_labels']
