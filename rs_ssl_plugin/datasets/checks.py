"""Input validation shared by the plugin's datasets and loading transforms.

Every error names the offending file or folder and says what was expected.
"""
import os
import os.path as osp
import warnings
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
from mmengine import fileio
from PIL import Image


def require_dir(path: Optional[str], what: str) -> None:
    """Raise ``FileNotFoundError`` unless ``path`` is an existing directory."""
    if not path or not osp.isdir(path):
        raise FileNotFoundError(f'{what} {path!r} does not exist or is not a directory')


def require_files(paths: Iterable[str], what: str) -> None:
    """Raise ``FileNotFoundError`` listing (up to 5 of) the ``paths`` that are not files."""
    missing = [p for p in paths if not osp.isfile(p)]
    if missing:
        shown = ', '.join(missing[:5]) + (f' and {len(missing) - 5} more' if len(missing) > 5 else '')
        raise FileNotFoundError(f'{len(missing)} {what} missing: {shown}')


TIFF_EXTENSIONS = ('.tif', '.tiff')
# OpenCV's CV_IO_MAX_IMAGE_PIXELS: larger images are refused before decoding, whatever the format
MAX_IMAGE_PIXELS = 2 ** 30
TOO_LARGE_HINT = ('cut it into tiles first (tools/dataset_converters) or segment it window by window with '
                  'tools/infer_tiles.py')


def is_tiff(path: str) -> bool:
    """Whether ``path`` ends in ``.tif`` or ``.tiff`` (case-insensitive)."""
    return path.lower().endswith(TIFF_EXTENSIONS)


def decode_raster(data: bytes, path: str) -> np.ndarray:
    """Decode TIFF/GeoTIFF bytes with rasterio into ``H x W`` (one band) or ``H x W x C``.

    Bands keep the file's order, except that a 3-band raster is returned as BGR like every other image
    the loaders read (mmcv's convention, undone by the data preprocessor's ``bgr_to_rgb``). Multi-band
    rasters (e.g. R, G, B, NIR) stay in file order: the preprocessor does not flip them either.
    Raises ``OSError`` naming ``path`` when the bytes are not a readable raster or it has more than
    :data:`MAX_IMAGE_PIXELS` pixels (checked from the header, before anything is read).
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', NotGeoreferencedWarning)
            with rasterio.MemoryFile(data) as memory, memory.open() as raster:
                if raster.width * raster.height > MAX_IMAGE_PIXELS:
                    raise OSError(f'cannot decode image {path}: {path} is {raster.width}x{raster.height} pixels, '
                                  f'more than 2^30, the most an image may have; {TOO_LARGE_HINT}')
                bands = raster.read()
    except RasterioIOError as error:
        raise OSError(f'cannot decode image {path}: the file is empty, corrupt or not a raster ({error})') from None
    if bands.shape[0] == 1:
        return bands[0]
    img = np.ascontiguousarray(bands.transpose(1, 2, 0))
    return img[..., ::-1].copy() if img.shape[2] == 3 else img


def decode_image(img_bytes: bytes, path: str, flag: str = 'unchanged', backend: str = 'cv2') -> np.ndarray:
    """Decode image bytes; raise ``OSError`` naming ``path`` when they are not a readable image.

    TIFF files read as stored (``flag='unchanged'``) go through rasterio, which reads any band count and
    bit depth (see :func:`decode_raster`); everything else through mmcv with OpenCV, the fastest of OpenCV,
    PIL and torchvision.io for PNG and JPEG (bench/bench_input_pipeline.py, docs/input_pipeline.md).
    """
    if not img_bytes:
        raise OSError(f'cannot decode image {path}: the file is empty, corrupt or not an image')
    if flag == 'unchanged' and is_tiff(path):
        return decode_raster(img_bytes, path)
    try:
        img = mmcv.imfrombytes(img_bytes, flag=flag, backend=backend)
    except cv2.error as error:
        if 'CV_IO_MAX_IMAGE_PIXELS' in str(error):
            raise OSError(f'cannot decode image {path}: it has more than 2^30 pixels, the most OpenCV decodes; '
                          f'{TOO_LARGE_HINT}') from None
        raise OSError(f'cannot decode image {path}: {error}') from None
    except Image.DecompressionBombError as error:  # Pillow's own, lower limit on the pixel count
        raise OSError(f'cannot decode image {path}: {error} (decode it with imdecode_backend=\'cv2\', up to 2^30 '
                      f'pixels, or {TOO_LARGE_HINT})') from None
    except (OSError, SyntaxError, ValueError) as error:  # Pillow: truncated or malformed data
        raise OSError(f'cannot decode image {path}: the file is truncated or corrupt ({error})') from None
    if img is None:
        raise OSError(f'cannot decode image {path}: the file is empty, corrupt or not an image')
    return img


def read_image_file(path: str, what: str, backend_args=None, backend: str = 'cv2') -> np.ndarray:
    """Read and decode ``path`` as stored (no colour conversion); errors name the file and ``what`` it is."""
    try:
        content = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError as error:
        raise FileNotFoundError(f'{what} {path} does not exist') from error
    return decode_image(content, path, flag='unchanged', backend=backend)


def read_rgb_image(path: str) -> np.ndarray:
    """An image file as ``(H, W, 3)`` uint8 RGB: grey images are repeated, extra bands (e.g. NIR) dropped;
    other bit depths are refused, naming the file."""
    img = read_image_file(path, 'input image')
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.dtype != np.uint8:
        raise ValueError(f'{path}: expected 8-bit imagery, got {img.dtype}')
    return np.ascontiguousarray(img[..., 2::-1] if img.shape[2] >= 3 else img)


ValueRange = Union[Sequence[float], Sequence[Sequence[float]]]


def to_pipeline_values(img: np.ndarray, path: str, value_range: Optional[ValueRange] = None,
                       unchanged: bool = False, band_axis: int = -1) -> np.ndarray:
    """The plugin's one bit-depth policy: the values the loaders hand to a pipeline.

    - ``value_range=(low, high)`` (one pair for all bands, or one pair per band along ``band_axis``): every
      image is mapped linearly from ``low..high`` to ``0..255``, clipped and rounded to uint8, e.g.
      ``(0, 4095)`` for 12-bit sensors or ``(0, 3000)`` for reflectance scaled by 10000;
    - otherwise 8-bit images pass unchanged, and so does any other dtype when ``unchanged`` (the loader's
      ``color_type='unchanged'``: band-agnostic pipelines normalising with per-band mean/std in the file's
      units, e.g. the Potsdam converter's ``train_band_statistics``);
    - any other image (16-bit or float for ``color_type='color'``, whose RGB augmentations, ``mean``/``std``
      and pre-trained weights assume 0..255) is refused with an error naming ``path``;
    - a float image holding NaN (no data) or infinite values is refused, naming ``path``, whatever the
      settings: cast to uint8 NaN became an arbitrary class-like value. ``tools/infer_tiles.py`` masks such
      pixels itself before calling this.

    The loaders apply it in training and testing, mmseg's inference API through them, and
    ``tools/infer_tiles.py`` with the settings of the config's test pipeline, so all see the same values.
    """
    if np.issubdtype(img.dtype, np.floating):
        non_finite = np.count_nonzero(~np.isfinite(img))
        if non_finite:
            raise ValueError(f'image {path} holds {non_finite} NaN or infinite value(s) (no data); the loaders '
                             'refuse them: fill those pixels and set them to the ignore index (255) in the label '
                             'map, or segment the scene with tools/infer_tiles.py, which masks NaN and the '
                             "file's nodata value")
    if value_range is None:
        if img.dtype == np.uint8 or unchanged:
            return img
        raise ValueError(f'image {path} is {img.dtype} (values {img.min()}..{img.max()}) but the pipeline expects '
                         '8-bit values: set value_range=(low, high) on the image loader (e.g. (0, 4095) for '
                         "12-bit data) to map low..high to 0..255, or load it with color_type='unchanged' for a "
                         'band-agnostic pipeline with mean/std in the file\'s units')
    bounds = np.asarray(value_range, np.float64)
    if bounds.shape[-1:] != (2, ) or bounds.ndim > 2 or np.any(bounds[..., 1] <= bounds[..., 0]):
        raise ValueError(f'value_range must be (low, high) with low < high, or one such pair per band; got '
                         f'{value_range!r}')
    bands = 1 if img.ndim == 2 else img.shape[band_axis]
    shape = [1] * img.ndim
    if bounds.ndim == 2:
        if len(bounds) != bands:
            raise ValueError(f'value_range gives {len(bounds)} (low, high) pairs but image {path} has {bands} '
                             'band(s)')
        if img.ndim > 2:
            shape[band_axis] = bands
    low = bounds[..., 0].astype(np.float32).reshape(shape)
    scale = (255 / (bounds[..., 1] - bounds[..., 0])).astype(np.float32).reshape(shape)
    return np.clip(np.rint((img.astype(np.float32) - low) * scale), 0, 255).astype(np.uint8)


def open_raster(path: str):
    """``path`` opened with rasterio (the scenes of tiled inference and of ``RandomWindowDataset``); ``OSError``
    naming it when it is missing, corrupt or not a raster."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError
    try:
        with warnings.catch_warnings():  # PNG, JPEG and plain TIFF scenes carry no georeferencing
            warnings.simplefilter('ignore', NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioError as error:
        raise OSError(f'cannot read scene {path}: the file is missing, corrupt or not a raster ({error})') from None


def no_data_mask(pixels: np.ndarray, nodata: Optional[float]) -> np.ndarray:
    """``(rows, cols)`` bool mask of the ``(bands, rows, cols)`` pixels without data: NaN in any band (nothing
    can be computed from it), or ``nodata`` in every band (GDAL's dataset mask: a pixel is valid while any
    band holds a value)."""
    missing = np.zeros(pixels.shape[1:], bool)
    if np.issubdtype(pixels.dtype, np.floating):
        missing |= np.isnan(pixels).any(0)
    if nodata is not None and not np.isnan(nodata):
        missing |= (pixels == nodata).all(0)
    return missing


def check_channels(img: np.ndarray, expected: Union[int, Sequence[int]], path: str) -> None:
    """Raise ``ValueError`` naming ``path`` when ``img`` does not have ``expected`` channels (a count, or
    several allowed counts)."""
    allowed = (expected, ) if isinstance(expected, int) else tuple(expected)
    channels = 1 if img.ndim == 2 else img.shape[2]
    if channels not in allowed:
        raise ValueError(f'image {path} has {channels} channel(s), expected {" or ".join(map(str, allowed))} '
                         '(set the loader\'s expected_channels and the preprocessor mean/std for '
                         'multi-band data)')


def check_label_map(label: np.ndarray, path: str, image_shape, num_classes: int, ignore_index: int = 255,
                    stored: Optional[np.ndarray] = None, conversion: str = '') -> None:
    """Raise ``ValueError`` naming ``path`` for a label map that cannot belong to the image.

    The map must be single-channel, have the image's height and width and hold only class indices
    ``0..num_classes-1`` or ``ignore_index``. ``label`` holds the class indices, ``stored`` the values as
    stored in the file when ``conversion`` (e.g. ``'reduce_zero_label'``) made them into others: the error
    names the stored values, which are the ones to look for in the file, and what they became.
    """
    if label.ndim != 2:
        raise ValueError(f'label map {path} has shape {label.shape}; expected a single-channel index map '
                         '(colour-coded labels must be converted first, e.g. with the dataset converter)')
    if tuple(label.shape) != tuple(image_shape[:2]):
        raise ValueError(f'label map {path} is {label.shape[1]}x{label.shape[0]} (WxH) but its image is '
                         f'{image_shape[1]}x{image_shape[0]}')
    outside = (label >= num_classes) & (label != ignore_index)
    if outside.any():
        stored = label if stored is None else stored
        message = (f'label map {path} holds values {np.unique(stored[outside]).tolist()[:10]} outside the class '
                   f'set 0..{num_classes - 1} (and {ignore_index} = ignore)')
        if conversion:
            message += f' after {conversion}, which makes them {np.unique(label[outside]).tolist()[:10]}'
        raise ValueError(message)


def walk_data_folder(root: str) -> Iterator[Tuple[str, List[str], List[str]]]:
    """``os.walk(root)`` (top-down: callers may prune the folder names in place) that enters every real folder
    under ``root`` once and none outside it; every folder scan of the datasets goes through it.

    Links to folders below ``root`` are not entered: what they lead to is either inside ``root``, where the
    walk reaches it anyway (a link to '.' used to repeat the data 41 times, up to the OS's limit of links in a
    path), or outside it (a link to '..' walked the data folder's siblings). The second kind is left out with
    a warning naming the link. Links to files are kept, wherever they lead. ``root`` itself may be a link.
    """
    real_root = osp.realpath(root)
    for folder, folders, names in os.walk(root):
        linked = [name for name in folders if osp.islink(osp.join(folder, name))]
        for name in linked:
            link = osp.join(folder, name)
            target = osp.realpath(link)
            if osp.commonpath([target, real_root]) != real_root:
                warnings.warn(f'folder link {link} leads to {target}, outside {root} (real path {real_root}); not '
                              'followed: a scan stays inside its folder (link the files, or give that folder to '
                              'the dataset itself)')
        folders[:] = sorted(set(folders) - set(linked))
        yield folder, folders, names


def list_images(root: str, extensions: Iterable[str]) -> List[str]:
    """All files under ``root`` (recursively, sorted, through :func:`walk_data_folder`) whose name ends with one
    of ``extensions`` (case-insensitive)."""
    extensions = tuple(e.lower() for e in extensions)
    found = []
    for folder, _, names in walk_data_folder(root):
        found.extend(osp.join(folder, n) for n in names if n.lower().endswith(extensions))
    return sorted(found)


def collect_image_files(inputs: Iterable[str], extensions: Iterable[str]) -> List[str]:
    """The files named by ``inputs``, in order: files as given, folders searched recursively (sorted) for
    ``extensions``. A missing input or a folder without images raises ``FileNotFoundError`` naming it."""
    extensions = tuple(extensions)
    files = []
    for path in inputs:
        if osp.isdir(path):
            found = list_images(path, extensions)
            if not found:
                raise FileNotFoundError(f'folder {path} holds no image ({", ".join(extensions)})')
            files.extend(found)
        elif osp.isfile(path):
            files.append(path)
        else:
            raise FileNotFoundError(f'input {path} does not exist')
    return files
