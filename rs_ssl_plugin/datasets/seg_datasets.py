"""Segmentation datasets that fail early, naming the path, on missing folders, images or label files."""
import os.path as osp
from typing import List

from mmseg.datasets import PotsdamDataset
from mmseg.registry import DATASETS

from .checks import require_dir, require_files


class CheckedSegDatasetMixin:
    """Fails early, naming the path, on a missing data root or folder, no images, or missing labels."""

    def load_data_list(self) -> List[dict]:
        """The parent's samples, after checking folders and files, each with the dataset's ``num_classes``."""
        name = type(self).__name__
        if self.data_root:
            require_dir(self.data_root, f'{name}: data_root')
        img_dir = self.data_prefix.get('img_path')
        ann_dir = self.data_prefix.get('seg_map_path')
        if not (self.ann_file and osp.isfile(self.ann_file)):
            require_dir(img_dir, f'{name}: image folder')
        if ann_dir:
            require_dir(ann_dir, f'{name}: label folder')
        data_list = super().load_data_list()
        if not data_list:
            raise ValueError(f'{name}: no "*{self.img_suffix}" images found in {img_dir}')
        require_files((info['img_path'] for info in data_list), f'{name}: image files')
        if ann_dir:
            require_files((info['seg_map_path'] for info in data_list), f'{name}: label files')
        for info in data_list:  # lets CheckedLoadAnnotations check the label range without repeating it
            info['num_classes'] = len(self.metainfo['classes'])
        return data_list


@DATASETS.register_module()
class CheckedPotsdamDataset(CheckedSegDatasetMixin, PotsdamDataset):
    """mmseg's ``PotsdamDataset`` (mmseg's converted layout, 6 classes, ``reduce_zero_label=True``) with
    early, file-naming errors for missing or empty folders and unpaired images.

    Args:
        img_suffix (str): File name ending of the images. Defaults to '.png'.
        seg_map_suffix (str): File name ending of the label maps. Defaults to '.png'.
        reduce_zero_label (bool): Whether label 0 (mmseg's converted boundary/ignore value) becomes 255 and
            the others shift down by one. Defaults to True.
        **kwargs: Other arguments of mmseg's ``BaseSegDataset``: ``data_root``, ``data_prefix``
            (``img_path``, ``seg_map_path``), ``ann_file``, ``pipeline``, ``test_mode``, ``indices``, ...
    """
