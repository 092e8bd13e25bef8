from typing import List, Sequence

from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS

from .checks import list_images, require_dir

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp')


@DATASETS.register_module()
class UnlabeledImageFolder(BaseDataset):
    """All images under ``data_root/data_prefix`` (recursively), without labels, for pre-training.

    Args:
        data_root: dataset root folder.
        data_prefix: sub-folder of ``data_root`` to scan (``''`` scans the root itself).
        extensions: file name endings to include (case-insensitive).
        pipeline: the per-sample transforms.
    """

    def __init__(self, data_root: str, data_prefix: str = '', extensions: Sequence[str] = IMAGE_EXTENSIONS,
                 pipeline: Sequence = (), **kwargs):
        self.extensions = tuple(extensions)
        super().__init__(data_root=data_root, data_prefix=dict(img_path=data_prefix), pipeline=pipeline,
                         **kwargs)

    def load_data_list(self) -> List[dict]:
        require_dir(self.data_root, 'UnlabeledImageFolder: data_root')
        folder = self.data_prefix['img_path']
        require_dir(folder, 'UnlabeledImageFolder: image folder')
        paths = list_images(folder, self.extensions)
        if not paths:
            raise ValueError(f'UnlabeledImageFolder: no images ({", ".join(self.extensions)}) found under '
                             f'{folder}')
        return [dict(img_path=p) for p in paths]
