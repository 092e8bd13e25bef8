"""Class-folder scene datasets (``root/<class>/<image>``: UC Merced, AID; ``root/<l1>/<l2>/<l3>/<image>``:
Million-AID's level-3 classes) and their train/test splits: seeded per class, or read from list files."""
import os
import os.path as osp
from typing import List, Sequence, Tuple

import numpy as np

from .checks import require_dir, walk_data_folder

SCENE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.gif')
Sample = Tuple[str, int]


def list_class_folder(root: str, extensions: Sequence[str] = SCENE_EXTENSIONS,
                      depth: int = 1) -> Tuple[List[str], List[List[str]]]:
    """``(classes, files)`` of a class-folder tree.

    The classes are the folders ``depth`` levels below ``root`` (1 for UC Merced and AID, 3 for Million-AID's
    51 level-3 classes), named by their path relative to ``root`` with ``/`` and sorted; ``files[i]`` are the
    image files directly inside class ``i``'s folder, sorted by name. The tree is walked by
    :func:`~rs_ssl_plugin.datasets.checks.walk_data_folder` (each real folder once, none outside ``root``).
    Errors name the folder that breaks the layout (no class folder, a class folder without images).
    """
    require_dir(root, 'class-folder dataset root')
    if depth < 1:
        raise ValueError(f'depth must be at least 1, got {depth}')
    extensions = tuple(e.lower() for e in extensions)
    class_files = {}
    for folder, folders, names in walk_data_folder(root):
        name = osp.relpath(folder, root).replace(os.sep, '/')
        if name.count('/') + 1 == depth and name != '.':
            folders[:] = []  # the class folder's own images only
            class_files[name] = sorted(osp.join(folder, f) for f in names
                                       if f.lower().endswith(extensions) and osp.isfile(osp.join(folder, f)))
    if not class_files:
        raise ValueError(f'{root} has no class sub-folders {depth} level(s) down (expected root/'
                         f'{"/".join(["<level>"] * (depth - 1) + ["<class>"])}/<image>)')
    classes = sorted(class_files)
    for name in classes:
        if not class_files[name]:
            raise ValueError(f'class folder {osp.join(root, name)} holds no images ({", ".join(extensions)})')
    return classes, [class_files[name] for name in classes]


def seeded_split(files: Sequence[Sequence[str]], train_ratio: float, seed: int = 0) -> Tuple[List[Sample],
                                                                                             List[Sample]]:
    """``(train, test)`` lists of ``(path, class index)``: in each class, a random permutation (numpy
    ``default_rng(seed)``, drawn class after class) puts ``round(n * train_ratio)`` files in train, at least
    one on each side when the class has two or more. The same seed and files give the same split."""
    if not 0 < train_ratio < 1:
        raise ValueError(f'train_ratio must be in (0, 1), got {train_ratio}')
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label, class_files in enumerate(files):
        order = rng.permutation(len(class_files))
        cut = min(max(int(round(len(class_files) * train_ratio)), 1), max(len(class_files) - 1, 1))
        train += [(class_files[i], label) for i in sorted(order[:cut])]
        test += [(class_files[i], label) for i in sorted(order[cut:])]
    return train, test


def read_split_list(list_file: str, root: str, classes: Sequence[str]) -> List[Sample]:
    """Samples of a list file: one image a line, ``path`` or ``path label``, the path relative to ``root``
    unless absolute; ``label`` is a class index (mmpretrain's list format) or a class name, and without it
    the class is the image's folder relative to ``root``. Blank lines and ``#`` comments are skipped."""
    if not osp.isfile(list_file):
        raise FileNotFoundError(f'split list {list_file} does not exist')
    index = {name: i for i, name in enumerate(classes)}
    samples = []
    with open(list_file) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            parts = line.rsplit(maxsplit=1)
            path = parts[0] if len(parts) == 2 else line
            full = path if osp.isabs(path) else osp.join(root, path)
            if len(parts) == 2 and parts[1].isdigit():
                label = int(parts[1])
            else:
                name = parts[1] if len(parts) == 2 else osp.relpath(osp.dirname(full), root).replace(os.sep, '/')
                if name not in index:
                    raise ValueError(f'{list_file}:{number}: class {name!r} is not one of the {len(classes)} '
                                     f'class folders of {root}')
                label = index[name]
            if not 0 <= label < len(classes):
                raise ValueError(f'{list_file}:{number}: label {label} outside 0..{len(classes) - 1}')
            if not osp.isfile(full):
                raise FileNotFoundError(f'{list_file}:{number}: image {full} does not exist')
            samples.append((full, label))
    if not samples:
        raise ValueError(f'split list {list_file} names no image')
    return samples
