"""Convert the unsupervised-segmentation Potsdam benchmark (IIC's crops, as distributed with STEGO's
potsdam.zip) into mmseg's Potsdam layout, for Potsdam3Dataset (Potsdam-3) or CheckedPotsdamDataset (Potsdam-6).

SRC holds imgs/<id>.mat ('img': HxWx4 R, G, B, IR), gt/<id>.mat ('gt': HxW, 0 impervious surfaces / roads,
1 building, 2 low vegetation, 3 tree, 4 car, 5 clutter; anything else unlabelled) and the split lists
labelled_train.txt, labelled_test.txt and unlabelled_train.txt. Writes

    OUT_DIR/img_dir/{train,val,unlabelled}/<id>.png   RGB (the IR band is dropped, as in STEGO)
    OUT_DIR/ann_dir/{train,val,unlabelled}/<id>.png   mmseg's coding: 0 = ignore, k = class k - 1

from labelled_train (train), labelled_test (val) and unlabelled_train (unlabelled; labels where present).
Nothing is overwritten unless --force.
"""
import argparse
import os
import os.path as osp
import sys

import cv2
import numpy as np
from scipy.io import loadmat

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from rs_ssl_plugin.datasets.checks import require_empty_output_dir  # noqa: E402

SPLITS = {'train': 'labelled_train.txt', 'val': 'labelled_test.txt', 'unlabelled': 'unlabelled_train.txt'}
NUM_CLASSES = 6


def read_split(src: str, list_name: str) -> list:
    path = osp.join(src, list_name)
    if not osp.isfile(path):
        raise FileNotFoundError(f'split list {path} does not exist')
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def read_mat(path: str, key: str) -> np.ndarray:
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
    for split, list_name in SPLITS.items():
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


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='folder of the IIC/STEGO Potsdam benchmark (imgs/, gt/, split lists)')
    parser.add_argument('out_dir', help='output folder; must be new or empty unless --force')
    parser.add_argument('--force', action='store_true', help='write into a non-empty OUT_DIR')
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        counts = convert_iic_potsdam(args.src, args.out_dir, args.force)
    except (FileNotFoundError, FileExistsError, KeyError, ValueError) as error:
        sys.exit(f'error: {error}')
    for split, count in counts.items():
        print(f'{split}: {count["images"]} images, {count["labels"]} labels')


if __name__ == '__main__':
    main()
