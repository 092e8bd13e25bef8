"""Preparing IDDC's benchmarks: COCO-Stuff-27 (PiCIE's curated splits) and the IIC/STEGO Potsdam crops.

- :func:`layout_cocostuff27` checks that every image and label map listed by PiCIE's curated lists exists and
  links (or copies) them into the layout the official IDDC code and :class:`CocoStuff27Dataset` read::

      OUT_DIR/images/{train2017,val2017}/<id>.jpg
      OUT_DIR/annotations/{train2017,val2017}/<id>.png     # stuffthingmaps, fine labels 0..181 and 255
      OUT_DIR/curated/{train2017,val2017}/Coco164kFull_Stuff_Coarse_7.txt

- :func:`convert_iic_potsdam` turns IIC's ``imgs/<id>.mat`` (R, G, B, IR) and ``gt/<id>.mat`` crops into mmseg's
  Potsdam layout (RGB PNGs, labels 0 = ignore, k = class k - 1) for :class:`Potsdam3Dataset`::

      OUT_DIR/img_dir/{train,val,unlabelled}/<id>.png
      OUT_DIR/ann_dir/{train,val,unlabelled}/<id>.png

Nothing is overwritten unless ``force``.
"""
import os
import os.path as osp
import shutil

import cv2
import numpy as np
from scipy.io import loadmat

from ...utils.work_dir import require_empty_output_dir

COCO_SPLITS = ('train2017', 'val2017')
LIST_NAME = 'Coco164kFull_Stuff_Coarse_7.txt'


def place(src: str, dst: str, copy: bool, force: bool) -> None:
    """Symlink (or with ``copy`` copy) ``src`` to ``dst``; an existing ``dst`` is replaced only with ``force``."""
    if osp.lexists(dst):
        if not force:
            raise FileExistsError(f'{dst} already exists; pass --force to replace it')
        os.remove(dst)
    if copy:
        shutil.copyfile(src, dst)
    else:
        os.symlink(osp.abspath(src), dst)


def layout_cocostuff27(images: str, labels: str, curated: str, out_dir: str, copy: bool = False,
                       force: bool = False) -> dict:
    """Check every listed image and label map exists, then link or copy them; returns the image count per split."""
    plan = {}
    for split in COCO_SPLITS:
        list_path = osp.join(curated, split, LIST_NAME)
        if not osp.isfile(list_path):
            raise FileNotFoundError(f'curated list {list_path} does not exist')
        with open(list_path) as f:
            ids = [line.strip() for line in f if line.strip()]
        pairs = [(osp.join(images, split, f'{i}.jpg'), osp.join(labels, split, f'{i}.png')) for i in ids]
        missing = [p for pair in pairs for p in pair if not osp.isfile(p)]
        if missing:
            raise FileNotFoundError(f'{len(missing)} files listed in {list_path} are missing, e.g. {missing[:3]}')
        plan[split] = (list_path, ids, pairs)
    for split, (list_path, ids, pairs) in plan.items():
        for folder in ('images', 'annotations', 'curated'):
            os.makedirs(osp.join(out_dir, folder, split), exist_ok=True)
        place(list_path, osp.join(out_dir, 'curated', split, LIST_NAME), copy=True, force=force)
        for image_id, (image, label) in zip(ids, pairs):
            place(image, osp.join(out_dir, 'images', split, f'{image_id}.jpg'), copy, force)
            place(label, osp.join(out_dir, 'annotations', split, f'{image_id}.png'), copy, force)
    return {split: len(ids) for split, (_, ids, _) in plan.items()}


IIC_SPLITS = {'train': 'labelled_train.txt', 'val': 'labelled_test.txt', 'unlabelled': 'unlabelled_train.txt'}
NUM_CLASSES = 6


def read_split(src: str, list_name: str) -> list:
    """The non-empty lines (crop ids) of split list ``list_name`` in ``src``."""
    path = osp.join(src, list_name)
    if not osp.isfile(path):
        raise FileNotFoundError(f'split list {path} does not exist')
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def read_mat(path: str, key: str) -> np.ndarray:
    """Array ``key`` of MATLAB file ``path``; ``ValueError``/``KeyError`` naming the file otherwise."""
    try:
        content = loadmat(path)
    except Exception as error:  # scipy raises several types for truncated or foreign files
        raise ValueError(f'{path} is not a readable .mat file: {error}') from error
    if key not in content:
        raise KeyError(f'{path} has no {key!r} array (found {sorted(k for k in content if not k.startswith("__"))})')
    return content[key]


def to_rgb_uint8(img: np.ndarray, path: str) -> np.ndarray:
    """The first three bands as uint8; float images in [0, 1] are scaled by 255."""
    if img.ndim != 3 or img.shape[2] < 3:
        raise ValueError(f'{path}: expected an HxWxC image with at least 3 bands, got shape {img.shape}')
    rgb = img[..., :3]
    if rgb.dtype == np.uint8:
        return rgb
    if np.issubdtype(rgb.dtype, np.floating) and rgb.min() >= 0 and rgb.max() <= 1:
        return np.round(rgb * 255).astype(np.uint8)
    if rgb.min() >= 0 and rgb.max() <= 255 and np.all(rgb == np.round(rgb)):
        return rgb.astype(np.uint8)
    raise ValueError(f'{path}: image values {rgb.dtype} in [{rgb.min()}, {rgb.max()}] are neither uint8, '
                     'nor floats in [0, 1], nor whole numbers in [0, 255]')


def to_mmseg_coding(gt: np.ndarray, path: str) -> np.ndarray:
    """Classes 0..5 become 1..6 and everything else 0 (ignored with reduce_zero_label)."""
    if gt.ndim != 2:
        raise ValueError(f'{path}: expected an HxW label map, got shape {gt.shape}')
    gt = gt.astype(np.int64)
    return np.where((gt >= 0) & (gt < NUM_CLASSES), gt + 1, 0).astype(np.uint8)


def convert_iic_potsdam(src: str, out_dir: str, force: bool = False) -> dict:
    """Convert every split; returns the number of images and of labels written per split."""
    require_empty_output_dir(out_dir, force)
    counts = {}
    for split, list_name in IIC_SPLITS.items():
        ids = read_split(src, list_name)
        images = labels = 0
        for folder in ('img_dir', 'ann_dir'):
            os.makedirs(osp.join(out_dir, folder, split), exist_ok=True)
        for image_id in ids:
            img_path = osp.join(src, 'imgs', f'{image_id}.mat')
            if not osp.isfile(img_path):
                raise FileNotFoundError(f'{img_path} (listed in {list_name}) does not exist')
            rgb = to_rgb_uint8(read_mat(img_path, 'img'), img_path)
            cv2.imwrite(osp.join(out_dir, 'img_dir', split, f'{image_id}.png'), rgb[..., ::-1])
            images += 1
            gt_path = osp.join(src, 'gt', f'{image_id}.mat')
            if not osp.isfile(gt_path):
                if split != 'unlabelled':
                    raise FileNotFoundError(f'{gt_path} (label of a {split} image) does not exist')
                continue
            gt = to_mmseg_coding(read_mat(gt_path, 'gt'), gt_path)
            if gt.shape != rgb.shape[:2]:
                raise ValueError(f'{gt_path} is {gt.shape} but its image is {rgb.shape[:2]}')
            cv2.imwrite(osp.join(out_dir, 'ann_dir', split, f'{image_id}.png'), gt)
            labels += 1
        counts[split] = dict(images=images, labels=labels)
    return counts
