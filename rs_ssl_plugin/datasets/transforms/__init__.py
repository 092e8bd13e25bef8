from .loading import CheckedLoadAnnotations, CheckedLoadImageFromFile, remap_labels
from .sdsh_multicrop import SDSHMultiCrop, sdsh_collate  # noqa: F401

__all__ = ['CheckedLoadAnnotations', 'CheckedLoadImageFromFile', 'remap_labels']
