"""Benchmarks of unsupervised semantic segmentation: COCO-Stuff-27 and Potsdam-3 (Potsdam-6 is mmseg's
Potsdam coding, :class:`~rs_ssl_plugin.datasets.CheckedPotsdamDataset`).

Both classes merge fine labels into coarse ones through mmseg's ``label_map`` (applied by
``LoadAnnotations``/``CheckedLoadAnnotations`` after ``reduce_zero_label``).
"""
from typing import Dict, Optional, Sequence

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from ...datasets.seg_datasets import CheckedPotsdamDataset, CheckedSegDatasetMixin

# Coarse class of each value 0..181 of COCO-Stuff's stuffthingmaps PNGs (value = COCO category id - 1;
# things 0..90 including the 11 unused ids, stuff 91..181), as used by PiCIE/STEGO/IDDC. The 12 thing
# super-categories come first, then the 15 stuff ones. 255 (unlabelled) stays 255.
COCO_STUFF_FINE_TO_27 = (
    # things: person, vehicle x8, outdoor x6, animal x10, accessory x8, sports x10, kitchen x8, food x10,
    # furniture x10, electronic x6, appliance x6, indoor x8
    9, 11, 11, 11, 11, 11, 11, 11, 11, 8, 8, 8, 8, 8, 8, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6,
    6, 6, 6, 6, 6, 6, 6, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 5, 5, 5, 5, 5, 5, 5, 5, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0, 1,
    1, 1, 1, 1, 1, 4, 4, 4, 4, 4, 4, 4, 4,
    # stuff, banner (91) .. wood (181) in COCO-Stuff's alphabetical order
    17, 17, 22, 20, 20, 22, 15, 25, 16, 13, 12, 12, 17,
    17, 23, 15, 15, 17, 15, 21, 15, 25, 13, 13, 13, 13, 13, 22, 26, 14, 14, 15, 22, 21, 21, 24, 20, 22, 15,
    17, 16, 15, 22, 24, 21, 17, 25, 16, 21, 17, 22, 16, 21, 21, 25, 21, 26, 21, 24, 20, 17, 14, 21, 26, 15,
    23, 20, 21, 24, 15, 24, 22, 25, 15, 20, 17, 17, 22, 14, 18, 18, 18, 18, 18, 18, 18, 26, 26, 19, 19, 24,
)

COCO_STUFF_27_CLASSES = (
    'electronic', 'appliance', 'food-things', 'furniture-things', 'indoor', 'kitchen', 'accessory', 'animal',
    'outdoor', 'person', 'sports', 'vehicle', 'ceiling', 'floor', 'food-stuff', 'furniture-stuff',
    'raw-material', 'textile', 'wall', 'window', 'building', 'ground', 'plant', 'sky', 'solid', 'structural',
    'water')

COCO_STUFF_27_PALETTE = [
    [128, 64, 128], [244, 35, 232], [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152],
    [220, 20, 60], [255, 0, 0], [0, 0, 142], [255, 200, 150], [0, 60, 100], [0, 80, 100], [180, 165, 180],
    [150, 100, 100], [250, 170, 160], [120, 80, 40], [160, 120, 70], [200, 40, 200], [102, 102, 156],
    [0, 170, 255], [70, 70, 70], [110, 90, 40], [60, 180, 60], [70, 130, 180], [100, 100, 100],
    [190, 153, 153], [30, 60, 220]]


class FixedLabelMapMixin:
    """A dataset whose ``label_map`` is fixed by the benchmark (``LABEL_MAP``), not derived from a
    subset of classes."""

    LABEL_MAP: Dict[int, int] = {}

    @classmethod
    def get_label_map(cls, new_classes: Optional[Sequence] = None) -> Dict[int, int]:
        """``LABEL_MAP``; ``ValueError`` if the config's ``metainfo`` asks for other classes than the fixed ones."""
        if new_classes is not None and tuple(new_classes) != tuple(cls.METAINFO['classes']):
            raise ValueError(f'{cls.__name__} has the fixed classes {cls.METAINFO["classes"]}; '
                             f'got metainfo classes {tuple(new_classes)}')
        return dict(cls.LABEL_MAP)


@DATASETS.register_module()
class CocoStuff27Dataset(FixedLabelMapMixin, CheckedSegDatasetMixin, BaseSegDataset):
    """COCO-Stuff-27: COCO-2017 images with the 182 fine stuff-and-thing labels merged into 27 coarse
    classes, on the PiCIE curated split lists (49,629 train / 2,175 val images).

    Layout (as the official IDDC code reads it)::

        data_root/images/{train2017,val2017}/<id>.jpg
        data_root/annotations/{train2017,val2017}/<id>.png     # stuffthingmaps_trainval2017 PNGs
        data_root/curated/{train2017,val2017}/Coco164kFull_Stuff_Coarse_7.txt   # one <id> a line

    Pass the split list as ``ann_file``. Labels are the raw stuffthingmaps values (0..181, 255 =
    unlabelled), mapped to 0..26 by ``label_map``.

    Args:
        img_suffix (str): File name ending of the images. Defaults to '.jpg'.
        seg_map_suffix (str): File name ending of the label maps. Defaults to '.png'.
        **kwargs: Other arguments of mmseg's ``BaseSegDataset``: ``data_root``, ``data_prefix``
            (``img_path``, ``seg_map_path``), ``ann_file`` (the split list), ``pipeline``, ``test_mode``, ...;
            ``reduce_zero_label`` is fixed to False and the classes to the 27 coarse ones.
    """

    METAINFO = dict(classes=COCO_STUFF_27_CLASSES, palette=COCO_STUFF_27_PALETTE)
    LABEL_MAP = dict(enumerate(COCO_STUFF_FINE_TO_27))

    def __init__(self, img_suffix: str = '.jpg', seg_map_suffix: str = '.png', **kwargs):
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, reduce_zero_label=False,
                         **kwargs)


@DATASETS.register_module()
class Potsdam3Dataset(FixedLabelMapMixin, CheckedPotsdamDataset):
    """Potsdam-3, the unsupervised-segmentation benchmark (IIC, STEGO): the 6 ISPRS classes merged into
    roads and cars, buildings and clutter, vegetation and trees.

    Reads mmseg's Potsdam coding (``img_dir``/``ann_dir`` layout, label 0 ignored, ``reduce_zero_label``),
    either from mmseg's converter of the ISPRS tiles or from
    ``tools/dataset_converters/potsdam_iic.py`` (the IIC 200x200 crops and split lists).

    Args:
        img_suffix (str): File name ending of the images. Defaults to '.png'.
        seg_map_suffix (str): File name ending of the label maps. Defaults to '.png'.
        reduce_zero_label (bool): Whether label 0 (ignored in mmseg's Potsdam coding) becomes 255 before the
            6 classes are merged into 3; keep True for mmseg's coding. Defaults to True.
        **kwargs: Other arguments of mmseg's ``BaseSegDataset``: ``data_root``, ``data_prefix``, ``ann_file``
            (a split list), ``pipeline``, ``test_mode``, ...; the classes are fixed.
    """

    METAINFO = dict(classes=('roads and cars', 'buildings and clutter', 'vegetation and trees'),
                    palette=[[255, 255, 255], [0, 0, 255], [0, 255, 0]])
    # after reduce_zero_label: impervious 0, building 1, low vegetation 2, tree 3, car 4, clutter 5
    LABEL_MAP = {0: 0, 4: 0, 1: 1, 5: 1, 2: 2, 3: 2}
