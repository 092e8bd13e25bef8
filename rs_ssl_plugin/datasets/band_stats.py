"""Per-band statistics of rasters for the data preprocessor's ``mean``/``std``: mean, standard deviation, minimum,
maximum and the 1st and 99th percentiles of every band (``tools/analysis_tools/band_stats.py``;
docs/input_pipeline.md, "Band statistics").

- Memory follows the window size, not the scene: each scene is cut into a grid of ``window_size`` squares and
  read window by window, every window when there are at most ``windows_per_scene``, else that many drawn without
  replacement by a seeded generator. GeoTIFFs are read lazily; PNG and JPEG are decoded whole, as their drivers
  need (:class:`~rs_ssl_plugin.apis.scene_io.RasterScene`).
- Mean, std (population, float64, Chan et al.'s pairwise update), min and max are exact over the pixels read.
  The percentiles are exact over them while they number at most ``percentile_pixels``, else taken on a uniform
  random subset of that many (reservoir sampling), so memory stays bounded over any number of scenes.
- Pixels without data are left out: NaN in any band or the file's nodata value in every band
  (:func:`~rs_ssl_plugin.apis.tiled_inference.no_data_mask`), and alpha 0 where the file has an alpha band, which
  is no data band itself.
- Values are those the image loader hands to the pipeline
  (:func:`~rs_ssl_plugin.datasets.checks.to_pipeline_values`): the file's units, or 0..255 after a
  ``value_range``.
"""
import math
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine.config import Config
from mmengine.dataset import ClassBalancedDataset, RepeatDataset
from mmengine.registry import DATASETS, init_default_scope

from ..apis.scene_io import RasterScene
from ..utils.windows import Window
from .checks import ValueRange, no_data_mask, to_pipeline_values

PERCENTILES = (1, 99)
FLIP_KEYS = ('to_rgb', 'bgr_to_rgb', 'rgb_to_bgr')


class RunningMoments:
    """Per-band pixel count, mean, sum of squared deviations, minimum and maximum, updated chunk by chunk with
    Chan et al.'s pairwise formula (float64), which stays accurate where a plain sum of squares of 16-bit values
    over billions of pixels would not."""

    def __init__(self, bands: int):
        self.count = 0
        self.mean, self.squares = np.zeros(bands), np.zeros(bands)
        self.low, self.high = np.full(bands, np.inf), np.full(bands, -np.inf)

    def add(self, pixels: np.ndarray) -> None:
        """Add a ``(pixels, bands)`` float64 chunk."""
        count = len(pixels)
        mean = pixels.mean(0)
        total = self.count + count
        delta = mean - self.mean
        self.squares = self.squares + ((pixels - mean) ** 2).sum(0) + delta ** 2 * self.count * count / total
        self.mean = self.mean + delta * count / total
        self.count = total
        self.low, self.high = np.minimum(self.low, pixels.min(0)), np.maximum(self.high, pixels.max(0))

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation per band."""
        return np.sqrt(self.squares / self.count)


class PixelReservoir:
    """A uniform random sample of at most ``capacity`` of the pixels offered (Vitter's algorithm R): the ``t``-th
    pixel (0-based, over all chunks) replaces slot ``j``, drawn uniformly from ``0..t``, when ``j < capacity``."""

    def __init__(self, capacity: int, bands: int, rng: np.random.Generator):
        self.pixels = np.empty((capacity, bands))
        self.size = self.seen = 0
        self.rng = rng

    def add(self, pixels: np.ndarray) -> None:
        """Offer a ``(pixels, bands)`` chunk."""
        capacity = len(self.pixels)
        free = min(capacity - self.size, len(pixels))
        self.pixels[self.size:self.size + free] = pixels[:free]
        self.size += free
        self.seen += free
        rest = pixels[free:]
        if not len(rest):
            return
        slots = self.rng.integers(0, self.seen + np.arange(1, len(rest) + 1))
        rows = np.flatnonzero(slots < capacity)
        # a slot drawn twice ends with the later pixel, as in the one-by-one algorithm
        reversed_slots = slots[rows][::-1]
        _, last = np.unique(reversed_slots, return_index=True)
        self.pixels[reversed_slots[last]] = rest[rows[::-1][last]]
        self.seen += len(rest)


def grid_windows(height: int, width: int, size: int) -> List[Window]:
    """The ``size x size`` squares tiling a ``height x width`` scene row by row, the last of a row or column cut
    at the border: every pixel in exactly one window."""
    return [(top, min(top + size, height), left, min(left + size, width))
            for top in range(0, height, size) for left in range(0, width, size)]


def sample_windows(windows: List[Window], count: int, rng: np.random.Generator) -> List[Window]:
    """All ``windows`` when there are at most ``count``, else ``count`` of them drawn without replacement, in
    their order (for :func:`grid_windows`, the reading order of the file)."""
    if len(windows) <= count:
        return windows
    return [windows[i] for i in np.sort(rng.choice(len(windows), count, replace=False))]


def _data_bands(scene: RasterScene) -> List[int]:
    return [band for band in range(scene.count) if band != scene.alpha_index]


def _selected_bands(scene: RasterScene, bands: Optional[Sequence[int]]) -> List[int]:
    """0-based indices of the requested 1-based ``bands`` of ``scene`` (default: every band but alpha)."""
    if bands is None:
        return _data_bands(scene)
    for band in bands:
        if not 1 <= band <= scene.count:
            raise ValueError(f'band {band} does not exist: {scene.path} has bands 1..{scene.count}')
        if band - 1 == scene.alpha_index:
            raise ValueError(f'band {band} of {scene.path} is its alpha band (which marks no data), not data')
    return [band - 1 for band in bands]


def _check_positive(**settings: int) -> None:
    for name, value in settings.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f'{name} must be a positive integer, got {value!r}')


def band_statistics(paths: Sequence[str], bands: Optional[Sequence[int]] = None,
                    value_range: Optional[ValueRange] = None, unchanged: bool = True, window_size: int = 256,
                    windows_per_scene: int = 16, percentile_pixels: int = 1_000_000, seed: int = 0,
                    progress: Optional[Callable[[], None]] = None) -> dict:
    """Statistics of the ``bands`` (1-based file band numbers; default every band but alpha) of the rasters at
    ``paths``, as the module docstring describes; ``progress`` is called after each scene.

    ``value_range`` and ``unchanged`` are those of the image loader (``color_type='unchanged'``) whose values the
    statistics are for (:func:`~rs_ssl_plugin.datasets.checks.to_pipeline_values`, which refuses what that loader
    refuses, naming the file). Every scene must have the band layout of the first. Raises ``OSError`` naming a
    file that cannot be read, ``ValueError`` for bad settings or when no pixel has data.

    Returns:
        dict: ``files``, ``bands`` (1-based), ``dtypes``, ``value_range``, ``mean``, ``std``, ``min``, ``max``,
        ``p1`` and ``p99`` (one value per band, in the order of ``bands``) and ``sampling``: the settings,
        ``every_pixel_read``, ``pixels`` (with data, read), ``no_data_pixels`` (read and left out) and
        ``percentile_pixels`` (those the percentiles are computed on).
    """
    if not paths:
        raise ValueError('no image to compute statistics of')
    _check_positive(window_size=window_size, windows_per_scene=windows_per_scene,
                    percentile_pixels=percentile_pixels)
    rng = np.random.default_rng(seed)
    moments = reservoir = None
    every_pixel_read, no_data_pixels, dtypes = True, 0, set()
    for path in paths:
        with RasterScene(path) as scene:
            if moments is None:
                first, layout = path, (scene.count, scene.alpha_index)
                selected = _selected_bands(scene, bands)
                data_bands = _data_bands(scene)
                positions = [data_bands.index(band) for band in selected]
                moments = RunningMoments(len(selected))
                reservoir = PixelReservoir(percentile_pixels, len(selected), rng)
            elif (scene.count, scene.alpha_index) != layout:
                raise ValueError(f'{path} has {scene.count} band(s) (alpha: {_band_number(scene.alpha_index)}) but '
                                 f'{first} has {layout[0]} (alpha: {_band_number(layout[1])}); statistics need one '
                                 'band layout')
            grid = grid_windows(scene.height, scene.width, window_size)
            windows = sample_windows(grid, windows_per_scene, rng)
            every_pixel_read &= len(windows) == len(grid)
            for window in windows:
                pixels = scene.read(*window)
                missing = no_data_mask(pixels[data_bands], scene.nodata)
                if scene.alpha_index is not None:
                    missing |= pixels[scene.alpha_index] == 0
                no_data_pixels += int(missing.sum())
                if missing.all():
                    continue
                dtypes.add(str(pixels.dtype))
                # (bands, pixels, 1): to_pipeline_values takes a 2-D array for a one-band image
                values = to_pipeline_values(pixels[data_bands][:, ~missing, None], path, value_range, unchanged,
                                            band_axis=0)
                values = values[positions, :, 0].T.astype(np.float64)
                moments.add(values)
                reservoir.add(values)
        if progress is not None:
            progress()
    if not moments.count:
        raise ValueError(f'no pixel with data in the windows read of {len(paths)} image(s) (all NaN, nodata or '
                         f'alpha 0), e.g. {paths[0]}')
    percentiles = np.percentile(reservoir.pixels[:reservoir.size], PERCENTILES, axis=0)
    sampling = dict(window_size=window_size, windows_per_scene=windows_per_scene, seed=seed,
                    every_pixel_read=every_pixel_read, pixels=moments.count, no_data_pixels=no_data_pixels,
                    percentile_pixels=reservoir.size)
    return dict(files=len(paths), bands=[band + 1 for band in selected], dtypes=sorted(dtypes),
                value_range=None if value_range is None else np.asarray(value_range).tolist(),
                mean=moments.mean.tolist(), std=moments.std.tolist(), min=moments.low.tolist(),
                max=moments.high.tolist(), **{f'p{q}': row.tolist() for q, row in zip(PERCENTILES, percentiles)},
                sampling=sampling)


def _band_number(index: Optional[int]) -> str:
    return 'none' if index is None else f'band {index + 1}'


@dataclass(frozen=True)
class ConfigImages:
    """The training images of a config and how its image loader and data preprocessor treat them.

    Args:
        paths (List[str]): The image files the training dataset lists, each once.
        value_range (ValueRange, optional): The image loader's ``value_range``.
        unchanged (bool): Whether the loader keeps any bit depth (``color_type='unchanged'``).
        flips_to_rgb (bool): Whether the data preprocessor flips the loader's BGR order of 3-band images
            (``to_rgb``, ``bgr_to_rgb`` or ``rgb_to_bgr``).
    """
    paths: List[str]
    value_range: Optional[ValueRange]
    unchanged: bool
    flips_to_rgb: bool


def config_training_images(cfg: Config, config_path: str) -> ConfigImages:
    """The images of the ``train_dataloader``'s dataset of ``cfg`` (built in the config's ``default_scope``;
    dataset wrappers unwrapped), with the settings of the first image loader of its pipeline and the channel
    flip of ``model.data_preprocessor``; ``ValueError`` naming ``config_path`` when one of them is missing."""
    node = (cfg.get('train_dataloader') or {}).get('dataset')
    if node is None:
        raise ValueError(f'{config_path} has no train_dataloader.dataset to take the images from')
    init_default_scope(cfg.get('default_scope') or 'mmengine')
    dataset = DATASETS.build(node)
    while isinstance(dataset, (RepeatDataset, ClassBalancedDataset)):
        dataset = dataset.dataset
    paths = list(dict.fromkeys(dataset.get_data_info(i)['img_path'] for i in range(len(dataset))))
    if not paths:
        raise ValueError(f'the train_dataloader dataset of {config_path} lists no image')
    transforms = getattr(getattr(dataset, 'pipeline', None), 'transforms', [])
    loader = next((t for t in transforms if isinstance(t, LoadImageFromFile)), None)
    if loader is None:
        raise ValueError(f'the train_dataloader dataset of {config_path} has no image loader (LoadImageFromFile) in '
                         'its pipeline, which would say what values the images get')
    preprocessor = (cfg.get('model') or {}).get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    return ConfigImages(paths, getattr(loader, 'value_range', None), loader.color_type == 'unchanged',
                        any(preprocessor.get(key) for key in FLIP_KEYS))


def _suggested_value_range(stats: dict) -> str:
    """``value_range`` pairs from the 1st and 99th percentiles, widened to integers for integer data."""
    integers = all(np.issubdtype(np.dtype(dtype), np.integer) for dtype in stats['dtypes'])
    pairs = [(math.floor(low), math.ceil(high)) if integers else (round(low, 3), round(high, 3))
             for low, high in zip(stats['p1'], stats['p99'])]
    return repr(pairs[0] if len(set(pairs)) == 1 else pairs)


def preprocessor_lines(stats: dict, flips_to_rgb: Optional[bool] = None) -> str:
    """The ``mean``/``std`` to paste into a config's ``data_preprocessor`` for :func:`band_statistics`' result,
    saying what order and scale they are in. ``flips_to_rgb`` is whether that preprocessor flips the loader's
    BGR order of 3-band images (``None``: not known); without the flip 3 bands are listed in reverse."""
    reverse = len(stats['bands']) == 3 and flips_to_rgb is False
    order = slice(None, None, -1) if reverse else slice(None)
    bands = stats['bands'][order]
    if reverse:
        band_note = 'reversed: the loader gives 3-band images as BGR and this preprocessor does not flip them'
    elif len(bands) == 3:
        band_note = ('R, G, B for RGB files: the order after the preprocessor\'s bgr_to_rgb/to_rgb, as in the RGB '
                     'configs' + ('' if flips_to_rgb else '; list them in reverse for a preprocessor without it'))
    else:
        band_note = 'file band order, which the loaders keep for other than 3 bands'
    if stats['value_range'] is not None:
        scale = (f"0-255 values: the image loader's value_range={stats['value_range']} maps the file's values to "
                 '0..255, and so did the statistics')
    elif stats['dtypes'] == ['uint8']:
        scale = '0-255 values: 8-bit files, loaded as they are'
    else:
        scale = (f"the file's units ({', '.join(stats['dtypes'])}), as an image loader with color_type='unchanged' "
                 'and no value_range passes them (e.g. configs/*-rgbir.py).\n  A pipeline that expects 0..255 needs '
                 f'value_range=(low, high) on its loader instead, e.g. value_range={_suggested_value_range(stats)} '
                 'from the 1st and 99th percentiles;\n  compute the statistics again with that value_range '
                 '(--value-range) and paste those')
    mean = ', '.join(f'{value:.3f}' for value in stats['mean'][order])
    std = ', '.join(f'{value:.3f}' for value in stats['std'][order])
    return (f'paste into the config\'s data_preprocessor (bands {", ".join(map(str, bands))}: {band_note}):\n'
            f'    mean=[{mean}],\n'
            f'    std=[{std}],\n'
            f'scale: {scale}')


def statistics_table(stats: dict) -> str:
    """:func:`band_statistics`' result as a table, one row per band, under a line on how it was sampled."""
    sampling = stats['sampling']
    how = ('every pixel' if sampling['every_pixel_read'] else
           f"{sampling['windows_per_scene']} windows of {sampling['window_size']} px per scene, seed "
           f"{sampling['seed']}")
    percentiles = ('all of them' if sampling['percentile_pixels'] == sampling['pixels'] else
                   f"a uniform random {sampling['percentile_pixels']} of them")
    keys = ('mean', 'std', 'min', 'max', *(f'p{q}' for q in PERCENTILES))
    lines = [f"{stats['files']} image(s), {how}: {sampling['pixels']} pixels with data, "
             f"{sampling['no_data_pixels']} without (left out); percentiles of {percentiles}",
             f'{"band":>6}' + ''.join(f'{key:>14}' for key in keys)]
    for row, band in enumerate(stats['bands']):
        lines.append(f'{band:>6}' + ''.join(f'{stats[key][row]:>14.3f}' for key in keys))
    return '\n'.join(lines)
