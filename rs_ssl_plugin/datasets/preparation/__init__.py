"""Dataset preparation behind tools/dataset_converters/: the Potsdam converter and seeded splits."""
from .potsdam import POTSDAM_PALETTE, TRAIN_TILES, VAL_TILES, convert_potsdam, crop_boxes, crop_origins, encode_labels
from .splits import (
    image_mask_lines,
    label_fraction_subsets,
    percent_name,
    read_samples,
    split_counts,
    split_samples,
    write_list_files,
)

__all__ = ['POTSDAM_PALETTE', 'TRAIN_TILES', 'VAL_TILES', 'convert_potsdam', 'crop_boxes', 'crop_origins',
           'encode_labels', 'image_mask_lines', 'label_fraction_subsets', 'percent_name', 'read_samples',
           'split_counts', 'split_samples', 'write_list_files']
