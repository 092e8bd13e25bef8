"""Building extraction (background / building) from image tiles with binary masks, e.g. the Shaanxi building
dataset released with SDCluster."""
import os.path as osp
from typing import List, Sequence, Tuple

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .checks import list_images, require_dir, require_files
from .transforms.loading import check_label_loader_classes

BUILDING_IMAGE_EXTENSIONS = ('.tif', '.tiff', '.png', '.jpg', '.jpeg')
BUILDING_MASK_EXTENSIONS = ('.png', '.tif', '.tiff')


def stem(path: str) -> str:
    """File name of ``path`` without folder and extension."""
    return osp.splitext(osp.basename(path))[0]


def pair_images_and_masks(img_dir: str, mask_dir: str, img_extensions: Sequence[str] = BUILDING_IMAGE_EXTENSIONS,
                          mask_extensions: Sequence[str] = BUILDING_MASK_EXTENSIONS) -> List[Tuple[str, str]]:
    """``(image, mask)`` paths matched by relative path without extension, e.g. ``images/a/1.tif`` with
    ``masks/a/1.png``. Raises, naming the files, when an image has no mask or one name is ambiguous."""
    require_dir(img_dir, 'image folder')
    require_dir(mask_dir, 'mask folder')
    images = list_images(img_dir, img_extensions)
    if not images:
        raise ValueError(f'no images ({", ".join(img_extensions)}) found under {img_dir}')
    masks = {}
    for path in list_images(mask_dir, mask_extensions):
        key = osp.splitext(osp.relpath(path, mask_dir))[0]
        if key in masks:
            raise ValueError(f'two masks for {key}: {masks[key]} and {path}')
        masks[key] = path
    pairs, unmatched, seen = [], [], {}
    for path in images:
        key = osp.splitext(osp.relpath(path, img_dir))[0]
        if key in seen:
            raise ValueError(f'two images for {key}: {seen[key]} and {path}')
        seen[key] = path
        if key in masks:
            pairs.append((path, masks[key]))
        else:
            unmatched.append(path)
    if unmatched:
        shown = ', '.join(unmatched[:5]) + (f' and {len(unmatched) - 5} more' if len(unmatched) > 5 else '')
        raise FileNotFoundError(f'{len(unmatched)} image(s) without a mask ({", ".join(mask_extensions)}) '
                                f'in {mask_dir}: {shown}')
    return pairs


def read_pair_list(list_file: str, root: str) -> List[Tuple[str, str]]:
    """``(image, mask)`` paths from a split file with lines ``<image> <mask>`` relative to ``root``."""
    pairs = []
    with open(list_file) as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields or fields[0].startswith('#'):
                continue
            if len(fields) != 2:
                raise ValueError(f'{list_file} line {number}: expected "<image> <mask>", got {line.strip()!r}')
            pairs.append(tuple(p if osp.isabs(p) else osp.join(root, p) for p in fields))
    return pairs


@DATASETS.register_module()
class ShaanxiBuildingsDataset(BaseSegDataset):
    """Binary building extraction: classes ``('background', 'building')``, masks 0/255 or 0/1 (PNG or
    GeoTIFF, loaded with ``CheckedLoadBinaryMask``), images of any band count (PNG/JPEG/(Geo)TIFF).

    Samples come from a split file (``ann_file``, lines ``<image> <mask>`` relative to ``data_root``, as
    written by ``tools/dataset_converters/split_dataset.py``) or, without one, from every image under
    ``data_prefix['img_path']`` paired by name with a mask under ``data_prefix['seg_map_path']``.
    Missing folders, files or masks fail early with an error naming them.

    Args:
        data_prefix (dict): Image and mask folders relative to ``data_root`` (``img_path``,
            ``seg_map_path``), used when there is no ``ann_file``; images (``.tif``, ``.tiff``, ``.png``,
            ``.jpg``, ``.jpeg``) and masks (``.png``, ``.tif``, ``.tiff``) are paired by their relative path
            without extension. Defaults to ``dict(img_path='images', seg_map_path='masks')``.
        reduce_zero_label (bool): Must stay False (background is class 0); accepted so that shared configs
            can pass it. Defaults to False.
        **kwargs: Other arguments of mmseg's ``BaseSegDataset``: ``data_root``, ``ann_file`` (the split
            file), ``pipeline``, ``test_mode``, ``metainfo``, ``indices``, ``lazy_init``, ...
    """

    METAINFO = dict(classes=('background', 'building'), palette=[[0, 0, 0], [255, 255, 255]])

    def __init__(self, data_prefix: dict = dict(img_path='images', seg_map_path='masks'),
                 reduce_zero_label: bool = False, **kwargs):
        if reduce_zero_label:
            raise ValueError('ShaanxiBuildingsDataset: background is class 0, reduce_zero_label must be False')
        super().__init__(data_prefix=data_prefix, reduce_zero_label=False, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Image/mask samples from the split file, else paired by file stem across the two folders."""
        name = type(self).__name__
        check_label_loader_classes(self.pipeline, self.metainfo['classes'], name)
        if self.data_root:
            require_dir(self.data_root, f'{name}: data_root')
        if self.ann_file:
            if not osp.isfile(self.ann_file):
                raise FileNotFoundError(f'{name}: split file {self.ann_file} does not exist')
            pairs = read_pair_list(self.ann_file, self.data_root or '')
            if not pairs:
                raise ValueError(f'{name}: split file {self.ann_file} lists no samples')
            require_files((p for pair in pairs for p in pair), f'{name}: files listed in {self.ann_file}')
        else:
            pairs = pair_images_and_masks(self.data_prefix['img_path'], self.data_prefix['seg_map_path'])
        return [dict(img_path=img, seg_map_path=mask, label_map=self.label_map,
                     reduce_zero_label=self.reduce_zero_label, seg_fields=[], num_classes=2) for img, mask in pairs]
