"""Seeded dataset splits and nested label-fraction subsets, written as list files (one sample a line)."""
import math
import os
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np

from ..checks import list_images
from ..shaanxi_buildings import pair_images_and_masks
from ..unlabeled import IMAGE_EXTENSIONS


def split_counts(total: int, ratios: Dict[str, float]) -> Dict[str, int]:
    """Sample counts per split proportional to ``ratios`` (normalised), summing to ``total``: floors, then
    the leftover samples go to the largest remainders (ties: the order of ``ratios``)."""
    if not ratios or any(r < 0 for r in ratios.values()) or sum(ratios.values()) <= 0:
        raise ValueError(f'ratios must be non-negative with a positive sum, got {ratios}')
    norm = sum(ratios.values())
    exact = {name: total * r / norm for name, r in ratios.items()}
    counts = {name: math.floor(v) for name, v in exact.items()}
    leftover = total - sum(counts.values())
    for name in sorted(exact, key=lambda n: counts[n] - exact[n])[:leftover]:
        counts[name] += 1
    return counts


def split_samples(samples: Sequence, ratios: Dict[str, float], seed: int) -> Dict[str, List]:
    """Shuffle ``samples`` with ``seed`` and cut them into splits of ``split_counts`` sizes; each split keeps
    the input order. The same samples, ratios and seed always give the same splits."""
    order = np.random.default_rng(seed).permutation(len(samples))
    counts = split_counts(len(samples), ratios)
    splits, start = {}, 0
    for name, count in counts.items():
        splits[name] = [samples[i] for i in sorted(order[start:start + count])]
        start += count
    return splits


def label_fraction_subsets(samples: Sequence, percents: Sequence[float], seed: int) -> Dict[float, List]:
    """Nested subsets holding ``ceil(p / 100 * n)`` samples (at least one) for each percentage ``p``.

    One seeded permutation is cut at growing lengths, so every smaller subset lies inside every larger
    one (1 % within 5 % within 10 % within 100 %), as few-shot transfer comparisons need. Each subset keeps
    the input order.
    """
    if not samples:
        raise ValueError('no samples to draw label fractions from')
    bad = [p for p in percents if not 0 < p <= 100]
    if bad:
        raise ValueError(f'percentages must be in (0, 100], got {bad}')
    order = np.random.default_rng(seed).permutation(len(samples))
    subsets = {}
    for p in percents:
        count = max(1, math.ceil(p / 100 * len(samples) - 1e-9))
        subsets[p] = [samples[i] for i in sorted(order[:count])]
    return subsets


def read_lines(path: str) -> List[str]:
    """Non-empty, non-comment lines of a list file, stripped."""
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith('#')]


def write_list_files(lines_by_name: Dict[str, Sequence[str]], out_dir: str, force: bool = False) -> List[str]:
    """Write ``out_dir/<name>.txt`` for each entry; refuses (before writing any) to replace existing files
    unless ``force``. Returns the paths."""
    paths = {name: osp.join(out_dir, f'{name}.txt') for name in lines_by_name}
    existing = [p for p in paths.values() if osp.exists(p)]
    if existing and not force:
        raise FileExistsError(f'{", ".join(existing)} already exist(s); nothing was written (pass --force to '
                              'replace)')
    os.makedirs(out_dir, exist_ok=True)
    for name, path in paths.items():
        with open(path, 'w') as f:
            f.writelines(f'{line}\n' for line in lines_by_name[name])
    return list(paths.values())


def percent_name(percent: float) -> str:
    """``1 -> '1pct'``, ``0.5 -> '0.5pct'``."""
    return f'{percent:g}pct'


def read_samples(source: str) -> List[str]:
    """The samples of a training set: the lines of a list file, or for a folder its images as mmseg
    ``ann_file`` stems (relative path without extension)."""
    if osp.isdir(source):
        return [osp.splitext(osp.relpath(p, source))[0] for p in list_images(source, IMAGE_EXTENSIONS)]
    if osp.isfile(source):
        return read_lines(source)
    raise FileNotFoundError(f'{source} is neither a list file nor a folder')


def image_mask_lines(data_root: str, img_dir: str = 'images', mask_dir: str = 'masks') -> List[str]:
    """``"<image> <mask>"`` lines, relative to ``data_root``, of the images under ``data_root/img_dir`` paired by
    name with the masks under ``data_root/mask_dir`` (the split-file format of ShaanxiBuildingsDataset)."""
    pairs = pair_images_and_masks(osp.join(data_root, img_dir), osp.join(data_root, mask_dir))
    lines = [f'{osp.relpath(img, data_root)} {osp.relpath(mask, data_root)}' for img, mask in pairs]
    if any(len(line.split()) != 2 for line in lines):
        raise ValueError('file names with spaces cannot be written to a list file')
    return lines
