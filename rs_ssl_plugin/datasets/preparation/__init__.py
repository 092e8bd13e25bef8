"""Dataset preparation behind tools/dataset_converters/: the Potsdam converter and seeded splits."""
from .potsdam import convert_potsdam, crop_boxes, crop_origins, encode_labels
from .splits import label_fraction_subsets, split_counts, split_samples, write_list_files

__all__ = ['convert_potsdam', 'crop_boxes', 'crop_origins', 'encode_labels', 'label_fraction_subsets',
           'split_counts', 'split_samples', 'write_list_files']
