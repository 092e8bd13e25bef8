from .loading import CheckedLoadAnnotations, CheckedLoadImageFromFile, remap_labels

__all__ = ['CheckedLoadAnnotations', 'CheckedLoadImageFromFile', 'remap_labels']
