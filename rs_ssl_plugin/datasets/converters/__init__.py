"""Library code behind tools/dataset_converters/ (importable, so the tests call it directly)."""
from .potsdam import convert_potsdam, crop_boxes, crop_origins, encode_labels
from .splits import label_fraction_subsets, split_samples

__all__ = ['convert_potsdam', 'crop_boxes', 'crop_origins', 'encode_labels', 'label_fraction_subsets',
           'split_samples']
