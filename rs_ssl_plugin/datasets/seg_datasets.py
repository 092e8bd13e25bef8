"""Segmentation datasets that fail early, naming the path, on missing folders, images or label files."""
import os.path as osp
from typing import List, Optional

from mmseg.datasets import PotsdamDataset
from mmseg.registry import DATASETS

from .checks import require_dir, require_files, walk_data_folder
from .transforms.loading import check_label_loader_classes


class CheckedSegDatasetMixin:
    """Fails early, naming the path, on a missing data root or folder, no images, or missing labels, and on a
    label loader given another ``num_classes`` than the dataset's classes."""

    def load_data_list(self) -> List[dict]:
        """The parent's samples, after checking folders and files, each with the dataset's ``num_classes``."""
        name = type(self).__name__
        check_label_loader_classes(self.pipeline, self.metainfo['classes'], name)
        if self.data_root:
            require_dir(self.data_root, f'{name}: data_root')
        img_dir = self.data_prefix.get('img_path')
        ann_dir = self.data_prefix.get('seg_map_path')
        if not (self.ann_file and osp.isfile(self.ann_file)):
            require_dir(img_dir, f'{name}: image folder')
        if ann_dir:
            require_dir(ann_dir, f'{name}: label folder')
        if self.ann_file and not osp.isdir(self.ann_file):  # mmseg's test for a split list
            data_list = super().load_data_list()
        else:
            data_list = self.scan_image_folder(img_dir, ann_dir)
        if not data_list:
            raise ValueError(f'{name}: no "*{self.img_suffix}" images found in {img_dir}')
        require_files((info['img_path'] for info in data_list), f'{name}: image files')
        if ann_dir:
            require_files((info['seg_map_path'] for info in data_list), f'{name}: label files')
        for info in data_list:  # lets CheckedLoadAnnotations check the label range without repeating it
            info['num_classes'] = len(self.metainfo['classes'])
        return data_list

    def scan_image_folder(self, img_dir: str, ann_dir: Optional[str]) -> List[dict]:
        """mmseg's samples of the ``img_suffix`` images under ``img_dir`` (not hidden, sorted), each with the
        label of the same relative name in ``ann_dir``. The folder is walked by
        :func:`~rs_ssl_plugin.datasets.checks.walk_data_folder`: mmseg's own scan follows folder links, so a
        link to '.' repeated every image 41 times and one to '..' took in the images beside ``img_dir``."""
        data_list = []
        for folder, _, names in walk_data_folder(img_dir):
            for name in names:
                if name.startswith('.') or not name.endswith(self.img_suffix):
                    continue
                info = dict(img_path=osp.join(folder, name), label_map=self.label_map,
                            reduce_zero_label=self.reduce_zero_label, seg_fields=[])
                if ann_dir is not None:
                    relative = osp.relpath(info['img_path'], img_dir)
                    info['seg_map_path'] = osp.join(ann_dir, relative[:-len(self.img_suffix)] + self.seg_map_suffix)
                data_list.append(info)
        return sorted(data_list, key=lambda info: info['img_path'])


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
