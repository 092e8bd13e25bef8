"""ISPRS Potsdam: official zips -> mmseg's converted layout (crops with a stride that is honoured).

Output (under ``out_dir``)::

    img_dir/{train,val}/<i>_<j>_<x0>_<y0>_<x1>_<y1>.png   RGB crops (.tif with 4 bands R,G,B,IR for RGBIR)
    ann_dir/{train,val}/<same name>.png                   0 = ignore (boundary/unknown colour), 1..6 = classes
    unlabeled/<same name>                                 image crops without labels, for pre-training
                                                          (.png, or .jpg with unlabeled_format='jpeg')
    potsdam_manifest.json                                 parameters, tiles, crop counts, per-band mean/std

The label coding is mmseg's (read with ``reduce_zero_label=True``: 0 -> 255 ignored, k -> k - 1 in
``POTSDAM_CLASSES`` order), so ``CheckedPotsdamDataset`` and mmseg's ``PotsdamDataset`` read it unchanged.
Crop origins along an axis of length L are ``0, stride, 2*stride, ...`` up to ``L - clip`` plus a final
crop ending at ``L``; ``clip=512, stride=512`` reproduces mmseg's converter exactly (its ``--stride_size``
has no effect: 144 crops per 6000x6000 tile, 3456 train / 2016 val).
"""
import json
import os
import os.path as osp
import re
import shutil
import sys
import warnings
import zipfile
import zlib
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.utils import ProgressBar

from ...utils.work_dir import make_staging_dir, publish_dir, recover_interrupted_output, require_empty_output_dir
from ..checks import decode_raster

POTSDAM_CLASSES = ('impervious_surface', 'building', 'low_vegetation', 'tree', 'car', 'clutter')
# RGB colour of each class in the official label tiles, in POTSDAM_CLASSES order (written as 1..6)
POTSDAM_PALETTE = ((255, 255, 255), (0, 0, 255), (0, 255, 255), (0, 255, 0), (255, 255, 0), (255, 0, 0))

# mmseg 1.2.2's split (tools/dataset_converters/potsdam.py): these 24 tiles train, every other tile validates
TRAIN_TILES = ('2_10', '2_11', '2_12', '3_10', '3_11', '3_12', '4_10', '4_11', '4_12', '5_10', '5_11', '5_12',
               '6_10', '6_11', '6_12', '6_7', '6_8', '6_9', '7_10', '7_11', '7_12', '7_7', '7_8', '7_9')
VAL_TILES = ('2_13', '2_14', '3_13', '3_14', '4_13', '4_14', '4_15', '5_13', '5_14', '5_15', '6_13', '6_14',
             '6_15', '7_13')

IMAGE_ZIPS = {'rgb': '2_Ortho_RGB.zip', 'rgbir': '4_Ortho_RGBIR.zip'}
LABEL_ZIPS = {'noBoundary': '5_Labels_all_noBoundary.zip', 'all': '5_Labels_all.zip'}
TILE_NAME = re.compile(r'top_potsdam_(\d+)_(\d+)_(RGB|RGBIR|label|label_noBoundary)\.tif$', re.IGNORECASE)
MANIFEST = 'potsdam_manifest.json'


def crop_origins(length: int, clip: int, stride: int) -> List[int]:
    """Start offsets of ``clip``-long crops every ``stride`` along ``length``, plus one ending at ``length``."""
    if length < clip:
        raise ValueError(f'cannot cut {clip}-pixel crops from a side of {length} pixels')
    if stride <= 0:
        raise ValueError(f'stride must be positive, got {stride}')
    origins = list(range(0, length - clip + 1, stride))
    if origins[-1] != length - clip:
        origins.append(length - clip)
    return origins


def crop_boxes(height: int, width: int, clip: int, stride: int) -> List[Tuple[int, int, int, int]]:
    """``(x0, y0, x1, y1)`` of every crop, row by row."""
    return [(x, y, x + clip, y + clip) for y in crop_origins(height, clip, stride)
            for x in crop_origins(width, clip, stride)]


def encode_labels(rgb_label: np.ndarray) -> Tuple[np.ndarray, int]:
    """Official colour-coded label (H x W x 3, RGB) -> index map (0 = ignore, k = POTSDAM_CLASSES[k - 1])
    and the number of pixels whose colour is none of the six (boundaries in the noBoundary set are black)."""
    if rgb_label.ndim != 3 or rgb_label.shape[2] < 3:
        raise ValueError(f'expected a colour label of H x W x 3, got shape {rgb_label.shape}')
    rgb = rgb_label[..., :3].astype(np.int64)
    code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    index = np.zeros(code.shape, np.uint8)
    for k, (r, g, b) in enumerate(POTSDAM_PALETTE, 1):
        index[code == (r << 16 | g << 8 | b)] = k
    unknown = int(np.count_nonzero(index == 0) - np.count_nonzero(code == 0))
    return index, unknown


def tile_members(archive: zipfile.ZipFile, kind: str) -> Dict[str, str]:
    """``{tile id: member name}`` of the ``kind`` tiles (``RGB``, ``RGBIR``, ``label``,
    ``label_noBoundary``) in an official zip, at any folder depth."""
    members = {}
    for name in archive.namelist():
        match = TILE_NAME.search(osp.basename(name))
        if match and match.group(3).lower() == kind.lower():
            members[f'{match.group(1)}_{match.group(2)}'] = name
    return members


def open_zip(path: str) -> zipfile.ZipFile:
    """The zip at ``path``; a truncated or damaged one (an interrupted download) is a ``ValueError`` naming it."""
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise ValueError(f'{path} is not a complete zip archive ({error}): download it again') from None


def read_member(archive: zipfile.ZipFile, member: str) -> np.ndarray:
    """A tile of the zip as ``H x W x C`` in file band order (R, G, B[, IR])."""
    try:
        data = archive.read(member)
    except (zipfile.BadZipFile, EOFError, zlib.error) as error:  # the member's bytes are cut off or damaged
        raise ValueError(f'{archive.filename}:{member} cannot be read, the zip is truncated or damaged '
                         f'({error}): download it again') from None
    image = decode_raster(data, f'{archive.filename}:{member}')
    if image.ndim == 3 and image.shape[2] == 3:
        image = image[..., ::-1]  # decode_raster hands 3-band rasters over as BGR; here we want file order
    return image


def write_crop(path: str, crop: np.ndarray, jpeg_quality: int = 95) -> None:
    """PNG or JPEG (by the extension; ``jpeg_quality`` 1-100) for 1 or 3 bands (given in RGB order),
    GeoTIFF-compatible TIFF (rasterio) for other band counts."""
    if path.endswith(('.png', '.jpg')):
        array = crop[..., ::-1] if crop.ndim == 3 else crop
        options = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if path.endswith('.jpg') else []
        if not cv2.imwrite(path, np.ascontiguousarray(array), options):
            raise OSError(f'could not write {path}')
        return
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning
    bands = crop.transpose(2, 0, 1) if crop.ndim == 3 else crop[None]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NotGeoreferencedWarning)
        with rasterio.open(path, 'w', driver='GTiff', width=bands.shape[2], height=bands.shape[1],
                           count=bands.shape[0], dtype=bands.dtype) as raster:
            raster.write(bands)


def split_of(tile: str) -> str:
    """``'train'`` for the official training tiles, ``'val'`` for every other tile."""
    return 'train' if tile in TRAIN_TILES else 'val'


class BandStatistics:
    """Running per-band mean and standard deviation (float64 sums)."""

    def __init__(self):
        self.count, self.total, self.squares = 0, None, None

    def update(self, image: np.ndarray) -> None:
        """Add the pixels of an ``H x W`` or ``H x W x C`` image to the sums."""
        pixels = image.reshape(-1, image.shape[-1] if image.ndim == 3 else 1).astype(np.float64)
        total, squares = pixels.sum(0), (pixels ** 2).sum(0)
        self.total = total if self.total is None else self.total + total
        self.squares = squares if self.squares is None else self.squares + squares
        self.count += pixels.shape[0]

    def result(self) -> Dict[str, List[float]]:
        """``dict(mean=[...], std=[...])`` per band (population std, 3 decimals); ``{}`` before any update."""
        if not self.count:
            return {}
        mean = self.total / self.count
        std = np.sqrt(np.maximum(self.squares / self.count - mean ** 2, 0))
        return dict(mean=[round(float(m), 3) for m in mean], std=[round(float(s), 3) for s in std])


def find_zip(dataset_path: str, name: str) -> str:
    """Path of zip ``name`` in ``dataset_path``; ``FileNotFoundError`` listing the zips present otherwise."""
    path = osp.join(dataset_path, name)
    if not osp.isfile(path):
        present = sorted(f for f in os.listdir(dataset_path) if f.endswith('.zip')) if osp.isdir(dataset_path) else []
        raise FileNotFoundError(f'{path} not found (zips in {dataset_path}: {present or "none"})')
    return path


def iter_crops(image: np.ndarray, clip: int, stride: int, tile: str) -> Iterator[Tuple[str, np.ndarray]]:
    """``(name, crop)`` per crop of ``image``, named ``<tile>_<x0>_<y0>_<x1>_<y1>``."""
    for x0, y0, x1, y1 in crop_boxes(image.shape[0], image.shape[1], clip, stride):
        yield f'{tile}_{x0}_{y0}_{x1}_{y1}', image[y0:y1, x0:x1]


def convert_potsdam(dataset_path: str, out_dir: str, bands: str = 'rgb', labels: str = 'noBoundary',
                    clip_size: int = 512, stride: int = 512, unlabeled_stride: Optional[int] = None,
                    unlabeled_split: str = 'train', tiles: Optional[Sequence[str]] = None,
                    force: bool = False, unlabeled_format: str = 'png', jpeg_quality: int = 95) -> Dict:
    """Convert the official Potsdam zips in ``dataset_path`` (see the module docstring for the layout).

    Args:
        dataset_path: folder holding the official zips.
        out_dir: dataset folder to write (mmseg's ``img_dir``/``ann_dir`` layout plus ``unlabeled/``).
        bands: ``'rgb'`` (``2_Ortho_RGB.zip``, PNG crops) or ``'rgbir'`` (``4_Ortho_RGBIR.zip``, 4-band TIFF
            crops in R, G, B, IR order).
        labels: ``'noBoundary'`` (``5_Labels_all_noBoundary.zip``, eroded boundaries are 0 = ignored, mmseg's
            documented choice) or ``'all'`` (``5_Labels_all.zip``).
        clip_size: crop size of the labelled crops in pixels.
        stride: step between the labelled crops in pixels.
        unlabeled_stride: step of the unlabeled crops (default ``stride``).
        unlabeled_split: tiles cut into ``unlabeled/``: ``'train'`` (no validation pixels seen in
            pre-training), ``'all'`` or ``'none'``.
        tiles: convert only these tile ids (default: every tile in the zips).
        unlabeled_format: ``'png'`` (lossless) or ``'jpeg'`` for the RGB crops in ``unlabeled/``: about 2.5x
            faster to decode in pre-training (docs/input_pipeline.md); labelled crops stay PNG.
        jpeg_quality: JPEG quality (1-100) of ``unlabeled_format='jpeg'``.
        force: replace an existing non-empty ``out_dir`` (moved aside and deleted only once the new dataset
            is in place); otherwise it is an error and nothing is touched.

    Returns the manifest (also written to ``out_dir/potsdam_manifest.json``).
    """
    if bands not in IMAGE_ZIPS:
        raise ValueError(f'bands must be one of {sorted(IMAGE_ZIPS)}, got {bands!r}')
    if labels not in LABEL_ZIPS:
        raise ValueError(f'labels must be one of {sorted(LABEL_ZIPS)}, got {labels!r}')
    if unlabeled_split not in ('train', 'all', 'none'):
        raise ValueError(f"unlabeled_split must be 'train', 'all' or 'none', got {unlabeled_split!r}")
    if unlabeled_format not in ('png', 'jpeg'):
        raise ValueError(f"unlabeled_format must be 'png' or 'jpeg', got {unlabeled_format!r}")
    if unlabeled_format == 'jpeg' and bands != 'rgb':
        raise ValueError(f"unlabeled_format='jpeg' needs bands='rgb' (JPEG holds 1 or 3 bands), got {bands!r}")
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f'jpeg_quality must be in 1..100, got {jpeg_quality}')
    unlabeled_stride = unlabeled_stride or stride
    image_zip, label_zip = find_zip(dataset_path, IMAGE_ZIPS[bands]), find_zip(dataset_path, LABEL_ZIPS[labels])
    recover_interrupted_output(out_dir)
    require_empty_output_dir(out_dir, force)
    suffix = '.png' if bands == 'rgb' else '.tif'
    unlabeled_suffix = '.jpg' if unlabeled_format == 'jpeg' else suffix
    # written next to out_dir and renamed at the end, so an interrupted run leaves no partial dataset
    staging = make_staging_dir(out_dir)
    for sub in ('img_dir/train', 'img_dir/val', 'ann_dir/train', 'ann_dir/val', 'unlabeled'):
        os.makedirs(osp.join(staging, sub))
    counts = {'train': 0, 'val': 0, 'unlabeled': 0}
    statistics, unknown_pixels, converted = BandStatistics(), {}, {'train': [], 'val': []}
    try:
        with open_zip(image_zip) as images, open_zip(label_zip) as label_archive:
            image_members = tile_members(images, 'RGB' if bands == 'rgb' else 'RGBIR')
            label_members = tile_members(label_archive, 'label_noBoundary' if labels == 'noBoundary' else 'label')
            if not image_members:
                raise ValueError(f'{image_zip} holds no top_potsdam_<i>_<j>_{bands.upper()}.tif tiles')
            wanted = sorted(tiles) if tiles else sorted(image_members, key=lambda t: tuple(map(int, t.split('_'))))
            absent = [t for t in wanted if t not in image_members]
            if absent:
                raise ValueError(f'tiles {absent} are not in {image_zip}')
            bar = ProgressBar(len(wanted), file=sys.stdout)  # a tile takes seconds: read, cut, write its crops
            for tile in wanted:
                split = split_of(tile)
                image = read_member(images, image_members[tile])
                expected_bands = 3 if bands == 'rgb' else 4
                if image.ndim != 3 or image.shape[2] != expected_bands:
                    raise ValueError(f'{image_zip}:{image_members[tile]} has shape {image.shape}, expected '
                                     f'{expected_bands} bands')
                if tile in label_members:
                    label, unknown_pixels[tile] = encode_labels(read_member(label_archive, label_members[tile]))
                    if label.shape != image.shape[:2]:
                        raise ValueError(f'{label_zip}:{label_members[tile]} is {label.shape[1]}x{label.shape[0]} '
                                         f'but its image {image_members[tile]} is {image.shape[1]}x{image.shape[0]}')
                    for name, crop in iter_crops(image, clip_size, stride, tile):
                        write_crop(osp.join(staging, 'img_dir', split, name + suffix), crop)
                        counts[split] += 1
                    for name, crop in iter_crops(label, clip_size, stride, tile):
                        write_crop(osp.join(staging, 'ann_dir', split, name + '.png'), crop)
                    converted[split].append(tile)
                    if split == 'train':
                        statistics.update(image)
                else:
                    warnings.warn(f'tile {tile} has no label in {label_zip}; it only goes to unlabeled/')
                if unlabeled_split == 'all' or (unlabeled_split == 'train' and split == 'train'):
                    for name, crop in iter_crops(image, clip_size, unlabeled_stride, tile):
                        write_crop(osp.join(staging, 'unlabeled', name + unlabeled_suffix), crop, jpeg_quality)
                        counts['unlabeled'] += 1
                bar.update()
            print()
        manifest = dict(
            params=dict(bands=bands, labels=labels, clip_size=clip_size, stride=stride,
                        unlabeled_stride=unlabeled_stride, unlabeled_split=unlabeled_split,
                        unlabeled_format=unlabeled_format,
                        jpeg_quality=jpeg_quality if unlabeled_format == 'jpeg' else None),
            sources=[osp.basename(image_zip), osp.basename(label_zip)],
            classes=list(POTSDAM_CLASSES), label_coding='0 = ignore, k = classes[k - 1] (reduce_zero_label=True)',
            band_order=['R', 'G', 'B'] if bands == 'rgb' else ['R', 'G', 'B', 'IR'],
            tiles=converted, crops=counts, pixels_with_unknown_colour=unknown_pixels,
            train_band_statistics=statistics.result())
        with open(osp.join(staging, MANIFEST), 'w') as f:
            json.dump(manifest, f, indent=2)
        publish_dir(staging, out_dir, replace=force)
    finally:
        if osp.isdir(staging):
            shutil.rmtree(staging)
    return manifest
