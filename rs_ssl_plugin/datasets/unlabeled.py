"""Label-free image folders (or image list files) for self-supervised pre-training."""
import os.path as osp
import warnings
from typing import List, Optional, Sequence

import torch
from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS

from .checks import list_images, require_dir, require_files

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp')
CORRUPT_POLICIES = ('error', 'skip')


def read_image_list(list_file: str, image_root: str) -> List[str]:
    """Image paths from a list file: one path a line, relative to ``image_root`` unless absolute.

    Blank lines and lines starting with ``#`` are skipped. A trailing integer column (``path label``, the
    mmpretrain/ImageNet list format) is dropped, so classification lists can be reused unchanged.
    """
    paths = []
    with open(list_file) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            parts = line.rsplit(maxsplit=1)
            if len(parts) == 2 and parts[1].lstrip('-').isdigit():
                line = parts[0]
            paths.append(line if osp.isabs(line) else osp.join(image_root, line))
    return paths


def find_images(folder: str, list_file: str, extensions: Sequence[str], owner: str) -> List[str]:
    """The images named in ``list_file`` (see :func:`read_image_list`; every one must exist), or without a list
    file every file under ``folder`` ending in one of ``extensions``. Errors start with ``owner``, the dataset
    asking, and name the list file or folder."""
    if list_file:
        if not osp.isfile(list_file):
            raise FileNotFoundError(f'{owner}: list file {list_file} does not exist')
        paths = read_image_list(list_file, folder)
        require_files(paths, f'{owner}: images listed in {list_file}')
        if not paths:
            raise ValueError(f'{owner}: no images listed in {list_file}')
        return paths
    require_dir(folder, f'{owner}: image folder')
    paths = list_images(folder, extensions)
    if not paths:
        raise ValueError(f'{owner}: no images ({", ".join(extensions)}) found under {folder}')
    return paths


@DATASETS.register_module()
class UnlabeledImageFolder(BaseDataset):
    """Images without labels for pre-training: every image under ``data_root/data_prefix`` (recursively,
    so nested layouts such as Million-AID's ``train/<level1>/<level2>/<level3>/*.jpg`` work as they are),
    or the images named in a list file.

    JPEG, PNG, BMP and TIFF are read by the loading transform; TIFF/GeoTIFF of any band count go through
    rasterio (use ``CheckedLoadImageFromFile(expected_channels=N)`` for N-band data).

    Args:
        data_root (str): Dataset root folder.
        data_prefix (str): Sub-folder of ``data_root`` holding the images (``''``: the root itself).
            Defaults to ''.
        ann_file (str): Optional list file (relative to ``data_root`` unless absolute), one image path a
            line, relative to the image folder; see :func:`read_image_list`. Every listed file must exist.
            ``''`` scans the image folder instead. Defaults to ''.
        extensions (Sequence[str]): File name endings to include when scanning (case-insensitive).
            Defaults to ``('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp')``.
        on_corrupt (str): What a sample that cannot be decoded does: ``'error'`` raises (naming the file);
            ``'skip'`` warns (once per file) with the running count of corrupt files and draws another
            sample (mmengine's refetch, up to ``max_refetch`` times in a row). ``num_skipped`` and
            ``skipped_paths`` hold the count and paths over all dataloader workers of this process: one
            flag per sample in shared memory, set by whichever worker hits the file;
            ``CorruptImageReportHook`` logs the total over all processes once per epoch. Defaults to 'error'.
        pipeline (Sequence[dict]): The per-sample transforms. Defaults to ().
        **kwargs: Other arguments of mmengine's ``BaseDataset`` (``metainfo``, ``indices``,
            ``serialize_data``, ``test_mode``, ``lazy_init``, ``max_refetch``, ...).
    """

    def __init__(self, data_root: str, data_prefix: str = '', ann_file: str = '',
                 extensions: Sequence[str] = IMAGE_EXTENSIONS, on_corrupt: str = 'error',
                 pipeline: Sequence = (), **kwargs):
        if on_corrupt not in CORRUPT_POLICIES:
            raise ValueError(f'UnlabeledImageFolder: on_corrupt must be one of {CORRUPT_POLICIES}, '
                             f'got {on_corrupt!r}')
        self.extensions = tuple(extensions)
        self.on_corrupt = on_corrupt
        self.skipped = torch.zeros(0, dtype=torch.uint8)
        super().__init__(data_root=data_root, data_prefix=dict(img_path=data_prefix), ann_file=ann_file,
                         pipeline=pipeline, **kwargs)

    def full_init(self) -> None:
        """Load the image list, then allocate the skipped flags (one byte per sample) in shared memory, so
        the dataloader workers, forked or spawned from this process, all write to them."""
        if self._fully_initialized:
            return
        super().full_init()
        self.skipped = torch.zeros(len(self), dtype=torch.uint8).share_memory_()

    @property
    def num_skipped(self) -> int:
        """Number of distinct corrupt images skipped so far by any worker of this process."""
        return int(self.skipped.sum())

    @property
    def skipped_paths(self) -> List[str]:
        """Paths of the corrupt images skipped so far by any worker of this process, in dataset order."""
        return [self.get_data_info(int(i))['img_path'] for i in self.skipped.nonzero().flatten()]

    def load_data_list(self) -> List[dict]:
        """One ``dict(img_path=...)`` per image listed in ``ann_file``, else found under the image folder."""
        require_dir(self.data_root, 'UnlabeledImageFolder: data_root')
        paths = find_images(self.data_prefix['img_path'], self.ann_file, self.extensions, 'UnlabeledImageFolder')
        return [dict(img_path=p) for p in paths]

    def prepare_data(self, idx) -> Optional[dict]:
        """The processed sample, or ``None`` (mmengine then draws another) for a corrupt one with ``'skip'``."""
        try:
            return super().prepare_data(idx)
        except OSError as error:  # the loaders raise OSError, naming the file, for unreadable images
            if self.on_corrupt == 'error':
                raise
            if not self.skipped[idx]:  # warn once per file; the count is of distinct files
                self.skipped[idx] = 1
                warnings.warn(f'UnlabeledImageFolder: skipped a corrupt image ({self.num_skipped} so far): {error}')
            return None  # BaseDataset.__getitem__ then draws another index
