"""Pre-training samples drawn as random windows of scenes of any size, read window by window from the scene
files (no crops cut beforehand, no scene decoded whole): :class:`RandomWindowDataset`, and
:class:`RandomWindowEpochHook`, which hands it the epoch.

The raster layout that keeps a window cheap, and the speed against pre-cut crops: docs/datasets.md,
docs/benchmarks.md (``bench/bench_raster_windows.py``).
"""
import math
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.dataset import Compose
from mmengine.hooks import Hook
from mmpretrain.registry import DATASETS, HOOKS
from rasterio.enums import ColorInterp, Resampling
from rasterio.env import set_gdal_config
from rasterio.errors import RasterioError
from rasterio.windows import Window

from ..utils.windows import IntPair, as_pair
from .checks import no_data_mask, open_raster, require_dir
from .transforms.loading import CheckedLoadImageFromNDArray
from .unlabeled import IMAGE_EXTENSIONS, find_images

# validity-grid cells per window side: fine enough to find a scene's valid parts, coarse enough that the grid
# costs one read of the scene at a fraction of its pixels when the dataset is built
CELLS_PER_WINDOW = 8
RESIZE_DTYPES = ('uint8', 'uint16', 'int16', 'float32', 'float64')  # what OpenCV resizes
INTERLEAVE_DTYPES = RESIZE_DTYPES + ('int8', 'int32')  # what cv2.merge interleaves, 4x faster than numpy
LOADER_TYPES = ('CheckedLoadImageFromFile', 'CheckedLoadImageFromNDArray')


def ground_sampling_distance(raster, path: str) -> Tuple[float, float]:
    """Metres per pixel of an opened raster along its rows and columns; ``ValueError`` naming ``path`` when it
    has no CRS and geotransform, or a geographic CRS (degrees)."""
    if raster.crs is None or raster.transform.is_identity:
        raise ValueError(f'RandomWindowDataset: scene {path} has no CRS or geotransform, so its ground sampling '
                         'distance is unknown: gsd needs it for every scene (set it, e.g. gdal_edit.py -a_srs '
                         'EPSG:<code> -a_ullr <ulx> <uly> <lrx> <lry>, or leave gsd out to cut windows in pixels)')
    if not raster.crs.is_projected:
        raise ValueError(f'RandomWindowDataset: scene {path} is in a geographic CRS ({raster.crs}, degrees); gsd '
                         'needs metres: reproject it (gdalwarp -t_srs EPSG:<projected code>)')
    metres = raster.crs.linear_units_factor[1]
    step = raster.transform
    return math.hypot(step.b, step.e) * metres, math.hypot(step.a, step.d) * metres


def mostly_valid_starts(valid: np.ndarray, window_cells: Tuple[int, int], start_cells: Tuple[int, int],
                        min_fraction: float) -> np.ndarray:
    """Bool grid of ``start_cells``: whether the window of ``window_cells`` cells starting at each cell of the
    validity grid ``valid`` covers at least ``min_fraction`` valid cells (box sums of an integral image)."""
    (rows, cols), (starts_r, starts_c) = window_cells, start_cells
    integral = np.pad(valid.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    covered = (integral[rows:rows + starts_r, cols:cols + starts_c] - integral[:starts_r, cols:cols + starts_c]
               - integral[rows:rows + starts_r, :starts_c] + integral[:starts_r, :starts_c])
    return covered >= min_fraction * rows * cols


def no_data_pixels(pixels: np.ndarray, image_bands: int, nodata: Optional[float], alpha: bool) -> np.ndarray:
    """``(rows, cols)`` mask of the pixels without data among ``(image bands [+ alpha band], rows, cols)``:
    :func:`~rs_ssl_plugin.datasets.checks.no_data_mask` of the image bands, and 0 in the alpha band."""
    missing = no_data_mask(pixels[:image_bands], nodata)
    if alpha:
        missing |= pixels[image_bands] == 0
    return missing


@dataclass
class SceneWindows:
    """What drawing windows of one scene needs, worked out once when the dataset is built.

    A window's top-left pixel is drawn uniformly among the positions of the start cells (``cell`` x ``cell``
    pixels of the scene) whose windows the validity grid finds mostly valid: ``start_cells`` holds their flat
    indices in the grid of start cells (``grid_cols`` per row), ``cumulative`` the running count of positions.
    """
    path: str
    bands: Tuple[int, ...]  # 1-based bands read, in the order handed on: 3 bands reversed (the loaders' BGR)
    alpha: Optional[int]  # the file's alpha band, read with them: 0 = transparent = no data
    nodata: Optional[float]  # a pixel holding it in every band has no data, as one NaN in any band
    window: Tuple[int, int]  # (rows, cols) of a window in the scene's pixels
    positions: Tuple[int, int]  # number of top and of left pixel positions a window can take
    cell: int  # side of a start cell and of a validity-grid cell, in scene pixels
    grid_cols: int  # start cells per row
    start_cells: np.ndarray
    cumulative: np.ndarray
    valid_area: float  # valid pixels at the dataset's resolution: the scene's share of the draws

    @property
    def read_bands(self) -> Tuple[int, ...]:
        """The bands a window read takes: ``bands``, then the alpha band."""
        return self.bands + ((self.alpha, ) if self.alpha else ())

    def missing(self, pixels: np.ndarray) -> np.ndarray:
        """:func:`no_data_pixels` of the ``read_bands`` of a window."""
        return no_data_pixels(pixels, len(self.bands), self.nodata, self.alpha is not None)

    def draw_start(self, rng: np.random.Generator) -> Tuple[int, int]:
        """A window's ``(top, left)`` pixel, uniform over the positions of the mostly valid start cells."""
        k = int(np.searchsorted(self.cumulative, rng.random() * self.cumulative[-1], side='right'))
        i, j = divmod(int(self.start_cells[k]), self.grid_cols)
        (tops, lefts), cell = self.positions, self.cell
        return (i * cell + int(rng.integers(min(cell, tops - i * cell))),
                j * cell + int(rng.integers(min(cell, lefts - j * cell))))

    def mask_description(self) -> str:
        """What counts as no data in this scene, for messages."""
        rules = ['NaN']
        if self.nodata is not None and not np.isnan(self.nodata):
            rules.append(f'{self.nodata:g} in every band')
        if self.alpha is not None:
            rules.append(f'alpha band {self.alpha} = 0')
        return ', '.join(rules)


@DATASETS.register_module()
class RandomWindowDataset(torch.utils.data.Dataset):
    """Unlabeled pre-training samples drawn as random windows of the scenes (rasters of any size) under
    ``data_root/data_prefix`` or named in a list file: GeoTIFF and every format the plugin's loaders read
    (PNG, JPEG, BMP, TIFF), through rasterio, one window at a time.

    Sample ``index`` of epoch ``e`` depends on ``(seed, e, index)`` alone: a scene drawn with probability
    proportional to its valid area, then a window position uniform over the positions whose window is mostly
    valid. So any worker or rank draws the same window for it, a resumed run the windows of the uninterrupted
    one, and ranks, which mmengine's samplers give disjoint indices, different windows. The epoch comes from
    :class:`RandomWindowEpochHook` (epoch-based loops); an iteration-based loop runs one epoch, so its
    ``epoch_length`` should cover the whole run or windows repeat.

    **No data.** A pixel has no data when it is NaN in any band, holds the no-data value in every band (the
    file's, or ``nodata``), or is 0 in the file's alpha band; in a file with neither a no-data value nor an
    alpha band, pixels 0 in every band (a black border) have none. Windows with less than
    ``min_valid_fraction`` valid pixels are redrawn (at most ``max_redraws`` times, in the same scene), and
    no-data pixels of a kept window are set to 0. Building the dataset reads each scene once at
    ``1 / CELLS_PER_WINDOW`` of the window size (a validity grid that finds its valid parts) and refuses,
    naming it, a scene that has no mostly valid window, is smaller than a window, lacks a requested band or
    gives another band count than the loader expects.

    **What a sample is.** The pipeline must start with the image loader of the folder datasets,
    ``dict(type='CheckedLoadImageFromFile', ...)``: the dataset reads the window and that loader's checks and
    value policy (``expected_channels``, ``value_range``, ``color_type``) convert it, as
    ``CheckedLoadImageFromNDArray``, so the rest of the pipeline gets what the loader yields from an image
    file: ``img`` (HWC; 3 bands in BGR order, other counts in band order), ``img_shape``, ``ori_shape``,
    ``img_path`` (the scene), plus ``sample_idx``, ``scene_window`` (``(top, left, rows, cols)`` in scene
    pixels) and ``valid_fraction``. A config switches from a folder of crops to scenes by its dataset alone.

    **Files.** Each process (each loader worker) keeps its scenes open, at most ``max_open_files`` at a time,
    and the dataset caps GDAL's block cache (``GDAL_CACHEMAX``) of every process it reads in at
    ``gdal_cache_mb``. Tiled GeoTIFFs read only the blocks a window touches; strip (untiled) files decode whole
    rows and PNG/JPEG everything above the window, so convert them (docs/datasets.md).

    Args:
        data_root (str): Dataset root folder.
        epoch_length (int): Samples per epoch, over all ranks (the length of the dataset).
        pipeline (Sequence[dict]): The per-sample transforms, starting with the image loader (see above).
        data_prefix (str): Sub-folder of ``data_root`` holding the scenes, searched recursively (``''``: the
            root itself). Defaults to ''.
        ann_file (str): Optional list file (relative to ``data_root`` unless absolute), one scene a line,
            relative to the scene folder (as ``UnlabeledImageFolder``'s); ``''`` scans the folder.
            Defaults to ''.
        extensions (Sequence[str]): File name endings to include when scanning (case-insensitive).
            Defaults to ``('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp')``.
        window_size (int or tuple[int, int]): Side, or ``(rows, cols)``, of a window in pixels as handed on,
            at ``gsd`` when given. Defaults to 512.
        gsd (float, optional): Ground sampling distance in metres per pixel that every window is resampled to
            (OpenCV: area averaging down, bilinear up), so scenes of different resolutions give windows of
            the same ground extent, ``window_size * gsd`` metres; every scene then needs a projected CRS and
            geotransform. ``None``: windows of ``window_size`` scene pixels. Defaults to None.
        bands (Sequence[int], optional): 1-based bands to read, in the order handed on (e.g. ``(3, 2, 1)``
            for R, G, B of a B, G, R, NIR product; 3 bands are then reversed into BGR, the loaders'
            convention). ``None``: every band but an alpha band. Defaults to None.
        nodata (float, optional): No-data value in place of the files'. Defaults to None.
        min_valid_fraction (float): Least share of valid pixels a window must have, in (0, 1].
            Defaults to 0.5.
        max_redraws (int): How often a sample may redraw a window that has too few valid pixels before it
            fails, naming the scene. Defaults to 20.
        seed (int): Seed of the window draws (not ``randomness.seed``: the windows stay when the run's seed
            changes). Defaults to 0.
        max_open_files (int): Scenes kept open per process. Defaults to 32.
        gdal_cache_mb (int): GDAL block cache of each process in MiB; random windows rarely reuse blocks, but
            it must hold the blocks of one window (for strip files: window rows x scene width x bands x bytes
            per value). Defaults to 64.
    """

    def __init__(self, data_root: str, epoch_length: int, pipeline: Sequence[dict], data_prefix: str = '',
                 ann_file: str = '', extensions: Sequence[str] = IMAGE_EXTENSIONS, window_size: IntPair = 512,
                 gsd: Optional[float] = None, bands: Optional[Sequence[int]] = None, nodata: Optional[float] = None,
                 min_valid_fraction: float = 0.5, max_redraws: int = 20, seed: int = 0, max_open_files: int = 32,
                 gdal_cache_mb: int = 64):
        for name, value, low in (('epoch_length', epoch_length, 1), ('max_redraws', max_redraws, 0),
                                 ('max_open_files', max_open_files, 1), ('gdal_cache_mb', gdal_cache_mb, 1)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f'RandomWindowDataset: {name} must be an int >= {low}, got {value!r}')
        if not 0 < min_valid_fraction <= 1:
            raise ValueError(f'RandomWindowDataset: min_valid_fraction must be in (0, 1], got {min_valid_fraction}')
        if gsd is not None and not gsd > 0:
            raise ValueError(f'RandomWindowDataset: gsd must be a positive number of metres per pixel, got {gsd!r}')
        if bands is not None and (not bands or min(bands) < 1):
            raise ValueError(f'RandomWindowDataset: bands must be 1-based band numbers, got {bands!r}')
        self.window_size = as_pair(window_size, 'RandomWindowDataset: window_size')
        self.epoch_length, self.gsd, self.nodata, self.seed = epoch_length, gsd, nodata, seed
        self.bands = None if bands is None else tuple(bands)
        self.min_valid_fraction, self.max_redraws, self.max_open_files = min_valid_fraction, max_redraws, max_open_files
        self.gdal_cache_mb = gdal_cache_mb
        self.loader, self.pipeline = self._window_pipeline(pipeline)
        # the epoch in shared memory: loader workers, persistent ones too, read the value set after they started
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()
        self._rasters, self._pid = OrderedDict(), None
        self._claim_process()

        require_dir(data_root, 'RandomWindowDataset: data_root')
        folder = os.path.join(data_root, data_prefix)
        list_file = ann_file and os.path.join(data_root, ann_file)  # join keeps an absolute ann_file
        self.scenes = [self._scene_windows(path) for path in
                       find_images(folder, list_file, tuple(extensions), 'RandomWindowDataset')]
        self._scene_cumulative = np.cumsum([scene.valid_area for scene in self.scenes])

    @staticmethod
    def _window_pipeline(pipeline: Sequence[dict]) -> Tuple[CheckedLoadImageFromNDArray, Compose]:
        """The pipeline with its leading image loader applied to the window array, and that loader."""
        steps = list(pipeline)
        kind = steps[0].get('type') if steps and isinstance(steps[0], dict) else None
        name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
        if name.rsplit('.', 1)[-1] not in LOADER_TYPES:
            raise ValueError('RandomWindowDataset: the pipeline must start with the image loader, '
                             "dict(type='CheckedLoadImageFromFile', ...), whose expected_channels, value_range and "
                             f'color_type convert each window; it starts with {steps[0] if steps else "nothing"!r}')
        loader = CheckedLoadImageFromNDArray(**{k: v for k, v in steps[0].items() if k != 'type'})
        return loader, Compose([loader] + steps[1:])

    def _scene_windows(self, path: str) -> SceneWindows:
        """The header checks and the validity grid of the scene ``path``."""
        with open_raster(path) as raster:
            alpha = next((i + 1 for i, kind in enumerate(raster.colorinterp) if kind == ColorInterp.alpha), None)
            bands = self._scene_bands(raster, alpha, path)
            nodata = self.nodata if self.nodata is not None else raster.nodata
            if nodata is None and alpha is None:  # no mask in the file: pixels 0 in every band are a border
                nodata = 0
            rows, cols = self.window_size
            area_per_pixel = 1.0  # of a scene pixel, in pixels at the dataset's resolution
            if self.gsd is not None:
                gsd_rows, gsd_cols = ground_sampling_distance(raster, path)
                rows, cols = max(1, round(rows * self.gsd / gsd_rows)), max(1, round(cols * self.gsd / gsd_cols))
                area_per_pixel = gsd_rows * gsd_cols / self.gsd ** 2
                if (rows, cols) != self.window_size and raster.dtypes[0] not in RESIZE_DTYPES:
                    raise ValueError(f'RandomWindowDataset: scene {path} stores {raster.dtypes[0]}, which OpenCV '
                                     f'cannot resample to gsd={self.gsd} (it takes {", ".join(RESIZE_DTYPES)})')
            if rows > raster.height or cols > raster.width:
                raise ValueError(f'RandomWindowDataset: scene {path} is {raster.width}x{raster.height} px (WxH), '
                                 f'smaller than a window of {cols}x{rows} px')
            cell = max(1, min(rows, cols) // CELLS_PER_WINDOW)
            grid = (math.ceil(raster.height / cell), math.ceil(raster.width / cell))
            read_bands = bands + ((alpha, ) if alpha else ())
            valid = ~no_data_pixels(self._read(raster, path, read_bands, None, grid), len(bands), nodata, bool(alpha))
            positions = (raster.height - rows + 1, raster.width - cols + 1)
        starts = (math.ceil(positions[0] / cell), math.ceil(positions[1] / cell))
        mostly_valid = mostly_valid_starts(valid, (math.ceil(rows / cell), math.ceil(cols / cell)), starts,
                                           self.min_valid_fraction)
        # positions per start cell: cell x cell, fewer in the last row and column of start cells
        span_rows, span_cols = (np.minimum(cell, count - cell * np.arange(n)) for count, n in zip(positions, starts))
        scene = SceneWindows(path, bands, alpha, nodata, (rows, cols), positions, cell, starts[1],
                             start_cells=np.flatnonzero(mostly_valid),
                             cumulative=np.cumsum(np.outer(span_rows, span_cols)[mostly_valid]),
                             valid_area=float(valid.sum()) * cell ** 2 * area_per_pixel)
        if not len(scene.start_cells):
            raise ValueError(f'RandomWindowDataset: scene {path} has no window of {cols}x{rows} px with at least '
                             f'{self.min_valid_fraction:.0%} valid pixels (no data: {scene.mask_description()}); '
                             'leave it out of the folder or list, or lower min_valid_fraction')
        return scene

    def _scene_bands(self, raster, alpha: Optional[int], path: str) -> Tuple[int, ...]:
        """The bands read from ``raster``, checked against the loader's ``expected_channels``."""
        if self.bands is None:
            bands = tuple(b for b in range(1, raster.count + 1) if b != alpha)
            chosen = 'all bands but the alpha band' if alpha else 'all bands'
        else:
            absent = [b for b in self.bands if b > raster.count]
            if absent:
                raise ValueError(f'RandomWindowDataset: scene {path} has {raster.count} band(s); bands={self.bands} '
                                 f'asks for band(s) {absent}')
            bands, chosen = self.bands, f'bands={self.bands}'
        expected = self.loader.expected_channels
        allowed = (expected, ) if isinstance(expected, int) else tuple(expected)
        if len(bands) not in allowed:
            raise ValueError(f'RandomWindowDataset: scene {path} gives {len(bands)} band(s) ({chosen}), expected '
                             f'{" or ".join(map(str, allowed))} (the loader\'s expected_channels); choose them with '
                             'bands=(...)')
        return bands[::-1] if len(bands) == 3 else bands

    def _read(self, raster, path: str, bands: Tuple[int, ...], window: Optional[Window],
              out_shape: Optional[Tuple[int, int]] = None) -> np.ndarray:
        """``(bands, rows, cols)`` of ``window`` (``None``: the scene, resampled to ``out_shape``)."""
        try:
            if out_shape is None:
                return raster.read(indexes=list(bands), window=window)
            return raster.read(indexes=list(bands), out_shape=(len(bands), ) + out_shape,
                               resampling=Resampling.nearest)
        except RasterioError as error:
            where = 'the pixels' if window is None else (f'rows {window.row_off}-{window.row_off + window.height}, '
                                                         f'columns {window.col_off}-{window.col_off + window.width}')
            raise OSError(f'RandomWindowDataset: cannot read {where} of scene {path}: the file is corrupt or '
                          f'truncated ({error})') from None

    def _claim_process(self) -> None:
        """On the first use in a process: no open files yet (a handle opened before a fork would share its file
        offset with the parent), and GDAL's block cache of the process capped at ``gdal_cache_mb`` (the config
        option for the whole process: a ``rasterio.Env`` around each read costs 0.3 ms)."""
        if self._pid != os.getpid():
            self._rasters, self._pid = OrderedDict(), os.getpid()
            set_gdal_config('GDAL_CACHEMAX', self.gdal_cache_mb * 2 ** 20)  # in bytes

    def _opened(self, path: str):
        """``path`` opened in this process, kept open (the least recently used closed beyond ``max_open_files``)."""
        self._claim_process()
        raster = self._rasters.pop(path, None)
        if raster is None:
            raster = open_raster(path)
            if len(self._rasters) >= self.max_open_files:
                self._rasters.popitem(last=False)[1].close()
        self._rasters[path] = raster
        return raster

    def __getstate__(self) -> dict:
        """Pickled (spawned loader workers) without the open files: each process opens its own."""
        state = self.__dict__.copy()
        state['_rasters'], state['_pid'] = OrderedDict(), None
        return state

    @property
    def epoch(self) -> int:
        """The epoch whose windows are drawn."""
        return int(self._epoch[0])

    def set_epoch(self, epoch: int) -> None:
        """Draw the windows of ``epoch`` from now on, here and in the loader workers of this process."""
        self._epoch[0] = epoch

    @property
    def metainfo(self) -> dict:
        """No classes (mmengine's training loops hand a dataset's metainfo to the visualizer)."""
        return {}

    def __len__(self) -> int:
        return self.epoch_length

    def load_window(self, index: int) -> dict:
        """Sample ``index`` of the current epoch before the pipeline: ``img`` (the window as stored, bands as
        ``bands`` says, no-data pixels 0, resampled to ``gsd``), ``img_path`` (the scene), ``sample_idx``,
        ``scene_window`` (``(top, left, rows, cols)`` in scene pixels) and ``valid_fraction``."""
        if not 0 <= index < self.epoch_length:
            raise IndexError(f'RandomWindowDataset: index {index} outside 0..{self.epoch_length - 1}')
        rng = np.random.default_rng([self.seed, self.epoch, index])
        total = self._scene_cumulative[-1]
        scene = self.scenes[int(np.searchsorted(self._scene_cumulative, rng.random() * total, side='right'))]
        raster, (rows, cols) = self._opened(scene.path), scene.window
        for _ in range(self.max_redraws + 1):
            top, left = scene.draw_start(rng)
            pixels = self._read(raster, scene.path, scene.read_bands, Window(left, top, cols, rows))
            missing = scene.missing(pixels)
            valid_fraction = 1 - np.count_nonzero(missing) / missing.size
            if valid_fraction >= self.min_valid_fraction:
                break
        else:
            raise ValueError(f'RandomWindowDataset: {self.max_redraws + 1} windows of scene {scene.path} drawn for '
                             f'sample {index} all had less than {self.min_valid_fraction:.0%} valid pixels (the last '
                             f'{valid_fraction:.0%}; no data: {scene.mask_description()}), though its validity grid '
                             'found mostly valid ones: raise max_redraws, or leave the scene out')
        image = pixels[:len(scene.bands)]
        if valid_fraction < 1:  # no NaN or no-data values reach the value policy or the network
            image[:, missing] = 0
        return dict(img=self._resized(interleaved(image)), img_path=scene.path, sample_idx=index,
                    scene_window=(top, left, rows, cols), valid_fraction=valid_fraction)

    def _resized(self, img: np.ndarray) -> np.ndarray:
        """``img`` at ``window_size`` (area averaging when it shrinks, bilinear when it grows)."""
        rows, cols = self.window_size
        if img.shape[:2] == (rows, cols):
            return img
        shrinks = img.shape[0] * img.shape[1] > rows * cols
        return cv2.resize(img, (cols, rows), interpolation=cv2.INTER_AREA if shrinks else cv2.INTER_LINEAR)

    def __getitem__(self, index: int) -> dict:
        """Sample ``index`` of the current epoch through the pipeline."""
        return self.pipeline(self.load_window(index))


def interleaved(planes: np.ndarray) -> np.ndarray:
    """``(bands, rows, cols)`` as the loaders' ``(rows, cols, bands)``, or ``(rows, cols)`` for one band."""
    if len(planes) == 1:
        return planes[0]
    if planes.dtype.name in INTERLEAVE_DTYPES:
        return cv2.merge(list(planes))
    return np.ascontiguousarray(planes.transpose(1, 2, 0))


@HOOKS.register_module()
class RandomWindowEpochHook(Hook):
    """Hands the epoch to the training :class:`RandomWindowDataset` before each epoch's loader workers start,
    so every epoch draws new windows and a resumed run draws those of the uninterrupted one.

    mmengine gives the epoch to the sampler only (``DistSamplerSeedHook`` calls ``sampler.set_epoch``), which
    reorders the indices but cannot change the window an index holds. Needed in epoch-based loops; an
    iteration-based loop runs a single epoch.
    """

    def before_train_epoch(self, runner) -> None:
        """Set the dataset's epoch to the runner's (0-based, restored on resume)."""
        dataset = runner.train_loop.dataloader.dataset
        if not isinstance(dataset, RandomWindowDataset):
            raise TypeError(f'RandomWindowEpochHook needs a RandomWindowDataset as the training dataset, got '
                            f'{type(dataset).__name__} (wrappers are not looked through: epoch_length sets the '
                            'length of a window dataset)')
        dataset.set_epoch(runner.epoch)

