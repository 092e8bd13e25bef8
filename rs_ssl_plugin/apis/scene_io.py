"""Reading scenes and writing class maps for tiled inference, row band by row band.

- :class:`RasterScene` opens any raster rasterio (GDAL) reads. GeoTIFFs are read lazily, one strip of
  windows at a time; other formats (PNG, JPEG) are decoded whole on the first read, because their drivers
  decode sequentially and re-decode from the start for every window above the last one read (opening reads
  only the header, so sizing up an archive costs no decoding).
- :class:`ClassMapWriter` writes ``<stem>_classes.tif`` (class codes of the model's label files, the
  source's CRS and transform, a nodata value, a colour table and the class names as band tags) and
  ``<stem>_color.png`` (no data transparent) as rows arrive, through temporary files that replace the outputs
  only once complete, so an interrupted run leaves no partial output under the final names;
  :func:`~rs_ssl_plugin.apis.archive.segment_scene` writes the colours' legend beside them
  (``<stem>_legend.png``).
"""
import os
import struct
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional, Sequence

import numpy as np
import rasterio
from mmseg.utils import get_classes, get_palette
from rasterio.enums import ColorInterp
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window
from torch import nn

from ..datasets.checks import open_raster
from ..utils.windows import IntPair, as_pair
from .tiled_inference import ClassCoding, iter_class_rows, label_coding


class RasterScene:
    """A raster file as a :class:`~rs_ssl_plugin.apis.tiled_inference.Scene` (with the file's nodata value, and
    ``alpha_index``, the 0-based index of the band GDAL marks as alpha, ``None`` without one); errors name the
    file."""

    def __init__(self, path: str):
        self.path = path
        self._dataset = open_raster(path)
        self.height, self.width, self.count = self._dataset.height, self._dataset.width, self._dataset.count
        self.crs, self.transform = self._dataset.crs, self._dataset.transform
        self.nodata = self._dataset.nodata
        self.alpha_index = next((i for i, kind in enumerate(self._dataset.colorinterp) if kind == ColorInterp.alpha),
                                None)
        self._decode_whole = self._dataset.driver != 'GTiff'
        self._pixels = None

    def _read_window(self, window: Optional[Window]) -> np.ndarray:
        try:
            return self._dataset.read(window=window)
        except RasterioError as error:
            where = 'pixels' if window is None else f'rows {window.row_off}-{window.row_off + window.height}'
            raise OSError(f'cannot read {where} of scene {self.path}: the file is corrupt or truncated '
                          f'({error})') from error

    def read(self, top: int, bottom: int, left: int, right: int) -> np.ndarray:
        """Pixels of rows ``top:bottom`` and columns ``left:right`` as a ``(count, rows, cols)`` array."""
        if self._decode_whole:
            if self._pixels is None:
                self._pixels = self._read_window(None)
            return self._pixels[:, top:bottom, left:right]
        return self._read_window(Window(left, top, right - left, bottom - top))

    def close(self) -> None:
        """Close the underlying rasterio dataset."""
        self._dataset.close()

    def __enter__(self) -> 'RasterScene':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class ArrayScene:
    """An in-memory ``(bands, height, width)`` array as a scene (bands in the order the file stores them);
    ``nodata`` marks pixels without data, as NaN always does."""

    def __init__(self, pixels: np.ndarray, nodata: Optional[float] = None):
        if pixels.ndim != 3:
            raise ValueError(f'expected a (bands, height, width) array, got shape {pixels.shape}')
        self.pixels, self.nodata = pixels, nodata
        self.count, self.height, self.width = pixels.shape

    def read(self, top: int, bottom: int, left: int, right: int) -> np.ndarray:
        """Pixels of rows ``top:bottom`` and columns ``left:right`` as a ``(count, rows, cols)`` view."""
        return self.pixels[:, top:bottom, left:right]


PNG_COLOUR_TYPES = {3: 2, 4: 6}  # channels -> PNG colour type (truecolour, truecolour with alpha)


class PngRowWriter:
    """Streams an 8-bit RGB (``channels=3``) or RGBA (``channels=4``) PNG to ``path`` row band by row band
    (PIL needs the whole image in memory).

    PNG layout: signature, ``IHDR``, ``IDAT`` chunks holding one zlib stream of the rows (each row prefixed
    with filter type 0), ``IEND``; every chunk is length, type, data and the CRC-32 of type and data.
    """

    def __init__(self, path: str, width: int, height: int, level: int = 1, channels: int = 3):
        if channels not in PNG_COLOUR_TYPES:
            raise ValueError(f'a PNG row writer takes 3 (RGB) or 4 (RGBA) channels, got {channels}')
        self.height, self.rows_written = height, 0
        self._file = open(path, 'wb')
        self._compressor = zlib.compressobj(level)
        self._file.write(b'\x89PNG\r\n\x1a\n')
        self._chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, PNG_COLOUR_TYPES[channels], 0, 0, 0))

    def _chunk(self, kind: bytes, data: bytes) -> None:
        self._file.write(struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data)))

    def write(self, rgb_rows: np.ndarray) -> None:
        """Append ``(rows, width, channels)`` uint8 rows."""
        rows = np.concatenate([np.zeros((len(rgb_rows), 1), np.uint8), rgb_rows.reshape(len(rgb_rows), -1)], 1)
        data = self._compressor.compress(rows.tobytes())
        if data:
            self._chunk(b'IDAT', data)
        self.rows_written += len(rgb_rows)

    def close(self) -> None:
        """Finish the zlib stream and the file; ``RuntimeError`` unless all ``height`` rows were written."""
        if self.rows_written != self.height:
            raise RuntimeError(f'PNG got {self.rows_written} of {self.height} rows')
        self._chunk(b'IDAT', self._compressor.flush())
        self._chunk(b'IEND', b'')
        self._file.close()

    def discard(self) -> None:
        """Close the file without finishing it."""
        self._file.close()


class ClassMapWriter:
    """Writes the class map of one scene to ``tif_path`` and its colour rendering to ``png_path``.

    Rows hold class codes in ``coding``: code ``i + coding.offset`` is class ``i``, named ``class_names[i]``
    and coloured ``palette[i]`` (RGB); ``coding.nodata`` is the GeoTIFF's nodata value, transparent in its
    colour table and in the PNG. The GeoTIFF's band carries the names as tags ``class_<code>``. Call
    :meth:`write` with consecutive row bands, then :meth:`commit`; :meth:`discard` removes the temporary
    files instead. Outputs are only ever replaced by :meth:`commit`; refusing to overwrite existing ones is
    the caller's decision.
    """

    def __init__(self, tif_path: str, png_path: str, scene: RasterScene, palette: Sequence[Sequence[int]],
                 class_names: Sequence[str], coding: ClassCoding):
        if len(palette) < len(class_names):
            raise ValueError(f'{len(palette)} palette colours for {len(class_names)} classes')
        self.tif_path, self.png_path = tif_path, png_path
        self._tif_tmp, self._png_tmp = temporary_name(tif_path), temporary_name(png_path)
        codes = coding.codes(len(class_names))
        colours = {code: tuple(int(c) for c in rgb) + (255, ) for code, rgb in zip(codes, palette)}
        colours[coding.nodata] = (0, 0, 0, 0)
        self._rgba = np.zeros((max(colours) + 1, 4), np.uint8)  # code -> colour; codes of no class stay 0
        self._rgba[list(colours)] = list(colours.values())
        self._valid = np.zeros(len(self._rgba), bool)
        self._valid[list(colours)] = True
        with warnings.catch_warnings():  # no CRS for PNG sources
            warnings.simplefilter('ignore', NotGeoreferencedWarning)
            self._tif = rasterio.open(
                self._tif_tmp, 'w', driver='GTiff', width=scene.width, height=scene.height, count=1,
                dtype=coding.dtype, crs=scene.crs, transform=scene.transform, nodata=coding.nodata, tiled=True,
                blockxsize=256, blockysize=256, compress='deflate', zlevel=1)
        self._tif.write_colormap(1, colours)
        self._tif.set_band_description(1, f'class code (class index + {coding.offset}; {coding.nodata} = no data)')
        self._tif.update_tags(1, **{f'class_{code}': name for code, name in zip(codes, class_names)})
        self._png = PngRowWriter(self._png_tmp, scene.width, scene.height, channels=4)
        self._next_row = 0

    def write(self, top: int, classes: np.ndarray) -> None:
        """Write the ``(rows, width)`` class codes of scene rows ``top:top + rows`` (bands in order)."""
        if top != self._next_row:
            raise ValueError(f'expected rows from {self._next_row}, got {top}')
        unknown = classes >= len(self._valid)
        unknown[~unknown] = ~self._valid[classes[~unknown]]
        if unknown.any():
            raise ValueError(f'class code {int(classes[unknown][0])} is neither a class nor no data '
                             f'(codes {sorted(np.flatnonzero(self._valid).tolist())})')
        self._tif.write(classes, 1, window=Window(0, top, classes.shape[1], classes.shape[0]))
        self._png.write(np.take(self._rgba, classes, axis=0))
        self._next_row += classes.shape[0]

    def commit(self) -> None:
        """Close both files and move them onto ``tif_path`` and ``png_path``."""
        self._tif.close()
        self._png.close()
        os.replace(self._tif_tmp, self.tif_path)
        os.replace(self._png_tmp, self.png_path)

    def discard(self) -> None:
        """Close both files and remove the temporary ones, leaving any existing outputs untouched."""
        self._tif.close()
        self._png.discard()
        for path in (self._tif_tmp, self._png_tmp):
            if os.path.exists(path):
                os.remove(path)


def temporary_name(path: str) -> str:
    """Where ``path`` is written until complete: ``<root>.partial<ext>`` (the extension kept, so writers that
    pick the format by extension still do)."""
    root, ext = os.path.splitext(path)
    return f'{root}.partial{ext}'


def segment_raster(model, scene: RasterScene, tif_path: str, png_path: str, palette: Sequence[Sequence[int]],
                   crop_size, stride, names: Optional[Sequence[str]] = None,
                   coding: Optional[ClassCoding] = None, before_commit: Optional[Callable[[], None]] = None,
                   **options) -> None:
    """Segment an opened raster with tiled inference and write its class map and colour PNG.

    Codes follow ``coding`` (default :func:`~rs_ssl_plugin.apis.tiled_inference.label_coding`, the model's
    label files); ``names`` of the classes default to :func:`class_names` of the model. Finished row bands are written
    by a background thread while the next ones are computed. ``before_commit`` is called once every row is
    written, before the outputs are moved onto their names (a completion record can say that the move has begun).
    ``options`` are those of :func:`~rs_ssl_plugin.apis.tiled_inference.iter_blended_logits`. Existing outputs are
    replaced, once complete: check for them first where that must not happen.
    """
    coding = coding or label_coding(model)
    writer = ClassMapWriter(tif_path, png_path, scene, palette, names or class_names(model), coding)
    try:
        with ThreadPoolExecutor(max_workers=1) as io:
            pending = None
            for top, classes in iter_class_rows(model, scene, crop_size, stride, coding, **options):
                if pending is not None:
                    pending.result()  # at most one band waits, so memory stays bounded
                pending = io.submit(writer.write, top, classes)
            if pending is not None:
                pending.result()
        if before_commit is not None:
            before_commit()
        writer.commit()
    except BaseException:
        writer.discard()
        raise


def training_crop_size(model: nn.Module) -> Optional[IntPair]:
    """The crop size the model was trained on: ``crop_size`` of the training pipeline (``RandomCrop``), else
    the data preprocessor's ``size``; ``None`` when the config gives neither."""
    cfg = getattr(model, 'cfg', None) or {}
    pipeline = cfg.get('train_dataloader', {}).get('dataset', {}).get('pipeline', [])
    crops = [step['crop_size'] for step in pipeline if isinstance(step, dict) and 'crop_size' in step]
    return crops[0] if crops else getattr(model.data_preprocessor, 'size', None)


def window_settings(model: nn.Module, crop_size: Optional[IntPair] = None, stride: Optional[IntPair] = None):
    """``(crop_size, stride)`` as ``(height, width)`` pairs: the arguments; else the model's slide
    ``test_cfg``; else (``mode='whole'``) the training crop size (:func:`training_crop_size`) with a stride
    of two thirds of it (mmseg's 512 / 341)."""
    test_cfg = model.test_cfg or {}
    if test_cfg.get('mode') == 'slide':
        default_crop, default_stride = test_cfg['crop_size'], test_cfg['stride']
    else:
        default_crop = crop_size or training_crop_size(model)
        if default_crop is None:
            raise ValueError("the config has no slide test_cfg and no training crop size: give --crop-size")
        default_stride = [side * 2 // 3 for side in as_pair(default_crop, 'crop_size')]
    return as_pair(crop_size or default_crop, 'crop_size'), as_pair(stride or default_stride, 'stride')


def image_loading(model: nn.Module) -> dict:
    """``value_range`` and ``color_type`` of the image loader (first step) of the model config's test
    pipeline, as :func:`~rs_ssl_plugin.apis.tiled_inference.iter_blended_logits` takes them, so scenes get
    the values the model saw in training and testing."""
    cfg = getattr(model, 'cfg', None) or {}
    pipeline = cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline') or [{}]
    return dict(value_range=pipeline[0].get('value_range'), color_type=pipeline[0].get('color_type', 'color'))


def class_names(model: nn.Module, dataset_name: Optional[str] = None) -> Sequence[str]:
    """Class names: mmseg's of ``dataset_name``, else the checkpoint's dataset_meta, else ``class <id>``."""
    if dataset_name:
        return get_classes(dataset_name)
    names = (getattr(model, 'dataset_meta', None) or {}).get('classes')
    return names or [f'class {i}' for i in range(max(model.out_channels, 2))]


def class_palette(model: nn.Module, dataset_name: Optional[str] = None) -> Sequence[Sequence[int]]:
    """RGB colours per class: mmseg's palette of ``dataset_name``, else the checkpoint's dataset_meta."""
    num_classes = max(model.out_channels, 2)  # one output channel = binary: classes 0 and 1
    if dataset_name:
        palette = get_palette(dataset_name)
    else:
        palette = (getattr(model, 'dataset_meta', None) or {}).get('palette')
        if palette is None:
            raise ValueError('the checkpoint holds no dataset_meta palette: pass --palette <dataset name>')
    if len(palette) < num_classes:
        raise ValueError(f'the palette has {len(palette)} colours for {num_classes} classes')
    return palette
