"""Class-folder scene datasets with SDSH's deterministic per-class split (database = training set)."""
from typing import List, Optional, Sequence

from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS

from ...datasets.class_folders import SCENE_EXTENSIONS, list_class_folder

SPLITS = ('database', 'query', 'all')


def split_class_folder(root: str, train_ratio: float, extensions: Sequence[str] = SCENE_EXTENSIONS):
    """``(classes, database, query)`` of a ``root/<class>/<image>`` tree with SDSH's official split.

    Classes are the sub-folders in sorted order (:func:`~rs_ssl_plugin.datasets.class_folders.list_class_folder`).
    In each class the image files (directly inside the folder) are sorted by name; the first
    ``int(n * train_ratio)`` go to the database (also the training set), the rest to the queries.
    ``database``/``query`` are lists of ``(path, class_index)``.
    """
    if not 0 < train_ratio < 1:
        raise ValueError(f'train_ratio must be in (0, 1), got {train_ratio}')
    classes, files = list_class_folder(root, extensions)
    database, query = [], []
    for index, class_files in enumerate(files):
        cut = int(len(class_files) * train_ratio)
        database += [(path, index) for path in class_files[:cut]]
        query += [(path, index) for path in class_files[cut:]]
    return classes, database, query


@DATASETS.register_module()
class RetrievalImageFolder(BaseDataset):
    """A ``root/<class>/<image>`` scene dataset split into retrieval database and queries.

    Samples carry ``gt_label`` and ``is_query`` (use ``PackInputs(algorithm_keys=('is_query',))``).
    ``split='database'`` is also SDSH's (label-free) training set; ``split='all'`` lists the database then
    the queries, which is what :class:`RetrievalMetric` evaluates in one pass.

    Args:
        data_root (str): Dataset root holding one folder per class.
        split (str): ``'database'``, ``'query'`` or ``'all'``. Defaults to 'database'.
        train_ratio (float): Share of each class (sorted by file name) in the database, in (0, 1).
            Defaults to 0.5.
        expected_num_classes (int, optional): Raise if the number of class folders differs; ``None``: no
            check. Defaults to None.
        extensions (Sequence[str]): Accepted file name endings (case-insensitive). Defaults to
            ``('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.gif')``.
        pipeline (Sequence[dict]): The per-sample transforms. Defaults to ().
        **kwargs: Other arguments of mmengine's ``BaseDataset`` (``metainfo``, ``test_mode``, ``indices``,
            ``serialize_data``, ``lazy_init``, ``max_refetch``, ...).
    """

    def __init__(self, data_root: str, split: str = 'database', train_ratio: float = 0.5,
                 expected_num_classes: Optional[int] = None, extensions: Sequence[str] = SCENE_EXTENSIONS,
                 pipeline: Sequence = (), **kwargs):
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
        self.split = split
        self.train_ratio = train_ratio
        self.expected_num_classes = expected_num_classes
        self.extensions = tuple(extensions)
        super().__init__(data_root=data_root, pipeline=pipeline, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Samples of ``split`` with ``gt_label`` and ``is_query``; sets the class names from the folders."""
        classes, database, query = split_class_folder(self.data_root, self.train_ratio, self.extensions)
        if self.expected_num_classes is not None and len(classes) != self.expected_num_classes:
            found = len(classes)
            raise ValueError(f'{self.data_root} has {found} class folders, expected {self.expected_num_classes} '
                             f'for {type(self).__name__}; for your own data set expected_num_classes={found} (or '
                             'None: no check) on every dataset of the config, e.g. --cfg-options '
                             + ' '.join(f'{loader}.dataset.expected_num_classes={found}'
                                        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')))
        self._metainfo['classes'] = tuple(classes)
        chosen = dict(database=[(database, False)], query=[(query, True)],
                      all=[(database, False), (query, True)])[self.split]
        return [dict(img_path=path, gt_label=label, is_query=is_query)
                for items, is_query in chosen for path, label in items]


@DATASETS.register_module()
class AIDRetrieval(RetrievalImageFolder):
    """AID (30 classes, 10,000 images) with SDSH's split: half of each class in the database.

    Args:
        data_root (str): Dataset root holding one folder per class.
        split (str): ``'database'``, ``'query'`` or ``'all'``. Defaults to 'database'.
        train_ratio (float): Share of each class (sorted by file name) in the database. Defaults to 0.5.
        expected_num_classes (int, optional): Raise if the number of class folders differs; ``None``: no
            check. Defaults to 30.
        **kwargs: Other arguments of :class:`RetrievalImageFolder` (``extensions``, ``pipeline``) and
            mmengine's ``BaseDataset``.
    """

    def __init__(self, data_root: str, split: str = 'database', train_ratio: float = 0.5,
                 expected_num_classes: Optional[int] = 30, **kwargs):
        super().__init__(data_root, split, train_ratio, expected_num_classes, **kwargs)


@DATASETS.register_module()
class UCMercedRetrieval(RetrievalImageFolder):
    """UC Merced Land Use (21 classes x 100 images) with SDSH's split: 80 per class in the database.

    Args:
        data_root (str): Dataset root holding one folder per class.
        split (str): ``'database'``, ``'query'`` or ``'all'``. Defaults to 'database'.
        train_ratio (float): Share of each class (sorted by file name) in the database. Defaults to 0.8.
        expected_num_classes (int, optional): Raise if the number of class folders differs; ``None``: no
            check. Defaults to 21.
        **kwargs: Other arguments of :class:`RetrievalImageFolder` (``extensions``, ``pipeline``) and
            mmengine's ``BaseDataset``.
    """

    def __init__(self, data_root: str, split: str = 'database', train_ratio: float = 0.8,
                 expected_num_classes: Optional[int] = 21, **kwargs):
        super().__init__(data_root, split, train_ratio, expected_num_classes, **kwargs)
