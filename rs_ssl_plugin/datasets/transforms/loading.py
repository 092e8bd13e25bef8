"""Image and label loading transforms that check band counts, label values and sizes, naming the file."""
from typing import Iterable, Optional, Sequence, Union

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmpretrain.registry import TRANSFORMS as PRETRAIN_TRANSFORMS
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS as SEG_TRANSFORMS

from ...registry import TRANSFORMS as PLUGIN_TRANSFORMS
from ..checks import ValueRange, check_channels, check_label_map, read_image_file, to_pipeline_values


@PLUGIN_TRANSFORMS.register_module('LoadImageFromFile')  # the name mmseg's inference clients look for
@SEG_TRANSFORMS.register_module()
@PRETRAIN_TRANSFORMS.register_module()
class CheckedLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` that names the file when it is missing, corrupt, has the wrong band count or a
    bit depth the pipeline does not expect.

    mmcv's loader silently converts any band count to 3 channels (and 16-bit to 8-bit by dropping the low
    byte) and fails obscurely on undecodable files; this one decodes the file as stored, checks it has
    ``expected_channels`` bands, applies the bit-depth policy of
    :func:`~rs_ssl_plugin.datasets.checks.to_pipeline_values`, then ``color_type`` as usual.

    Args:
        expected_channels (int or Sequence[int]): Band count the file must have (3 for RGB, 4 for RGBIR,
            ...), or several allowed counts, e.g. ``(1, 3)`` for RGB datasets holding some greyscale files
            (COCO), which ``color_type='color'`` turns into 3 channels. Defaults to 3.
        value_range (tuple, optional): ``(low, high)``, or one pair per band, of the stored values, mapped
            linearly to 0..255 as uint8 (e.g. ``(0, 4095)`` for 12-bit imagery). ``None``: 8-bit images
            only, or any bit depth as stored with ``color_type='unchanged'``. Defaults to None.
        **kwargs: Other arguments of mmcv's ``LoadImageFromFile``: ``to_float32``, ``color_type``
            (``'color'``, ``'grayscale'`` or ``'unchanged'``), ``imdecode_backend`` and ``backend_args``.
    """

    def __init__(self, expected_channels: Union[int, Sequence[int]] = 3, value_range: Optional[ValueRange] = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.expected_channels = expected_channels
        self.value_range = value_range

    def transform(self, results: dict) -> dict:
        """Read ``results['img_path']`` and set ``img``, ``img_shape`` and ``ori_shape``."""
        path = results['img_path']
        img = read_image_file(path, 'image file', self.backend_args, self.imdecode_backend)
        return self._checked(img, path, results)

    def _checked(self, img: np.ndarray, name: str, results: dict) -> dict:
        """``results`` with ``img`` checked and converted as the class docstring says."""
        check_channels(img, self.expected_channels, name)
        img = to_pipeline_values(img, name, self.value_range, self.color_type == 'unchanged')
        if self.color_type == 'grayscale' and img.ndim == 3:
            img = mmcv.bgr2gray(img)
        elif self.color_type == 'color' and img.ndim == 2:
            img = mmcv.gray2bgr(img)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{super().__repr__()[:-1]}, expected_channels={self.expected_channels}, value_range={self.value_range})'


@PLUGIN_TRANSFORMS.register_module('LoadImageFromNDArray')  # mmseg's inference API renames the loader to it
@SEG_TRANSFORMS.register_module()
class CheckedLoadImageFromNDArray(CheckedLoadImageFromFile):
    """An image given as an array (``results['img']``, as mmseg's ``inference_model`` and ``MMSegInferencer``
    pass arrays), checked like a file: band count, bit depth, then ``color_type``. The array is taken in the
    loader's convention: BGR for 3 bands, file band order otherwise. A sample without an array is read
    from ``img_path`` (mmseg's ``inference_model`` keeps the renamed step for later file inputs).

    Args:
        expected_channels (int or Sequence[int]): Band count the array must have, or several allowed counts.
            Defaults to 3.
        value_range (tuple, optional): ``(low, high)``, or one pair per band, of the array's values, mapped
            linearly to 0..255 as uint8; ``None`` accepts 8-bit arrays only, or any bit depth with
            ``color_type='unchanged'``. Defaults to None.
        **kwargs: Other arguments of mmcv's ``LoadImageFromFile``: ``to_float32``, ``color_type``,
            ``imdecode_backend`` and ``backend_args`` (the last two for samples read from ``img_path``).
    """

    def transform(self, results: dict) -> dict:
        """Check ``results['img']`` (or read ``img_path``) and set ``img``, ``img_shape`` and ``ori_shape``."""
        if results.get('img') is None:
            return super().transform(results)
        results.setdefault('img_path', None)
        return self._checked(results['img'], results['img_path'] or 'the input array', results)


def remap_labels(label: np.ndarray, reduce_zero_label: bool, label_map=None) -> np.ndarray:
    """mmseg's label conventions: with ``reduce_zero_label`` 0 becomes 255 (ignore) and ``k`` becomes
    ``k - 1`` (255 stays 255); then ``label_map`` (old -> new) is applied to the result."""
    if reduce_zero_label:
        label = np.where((label == 0) | (label == 255), 255, label - 1).astype(np.uint8)
    if label_map:
        mapped = label.copy()
        for old, new in label_map.items():
            mapped[label == old] = new
        label = mapped
    return label


@SEG_TRANSFORMS.register_module()
class CheckedLoadAnnotations(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` that rejects, naming the file, a label map that is corrupt,
    multi-channel, of another size than its image (``ori_shape``), or holds values outside the classes.

    An image without any label (no ``seg_map_path`` and no dataset keys, as mmseg's inference API and
    ``MMSegInferencer`` pass it: they remove only steps named ``LoadAnnotations``) passes unchanged, so the
    test pipelines serve inference too; a dataset sample without ``seg_map_path`` is an error.

    Args:
        num_classes (int, optional): Number of classes; valid values after ``reduce_zero_label``/``label_map``
            are ``0..num_classes-1`` and ``ignore_index``. ``None`` takes the count of the dataset's classes,
            which the plugin's datasets put in every sample (``num_classes``). Defaults to None.
        ignore_index (int): The ignored label value. Defaults to 255.
        **kwargs: Other arguments of mmseg's ``LoadAnnotations``: ``reduce_zero_label`` (``None`` takes the
            dataset's), ``imdecode_backend`` and ``backend_args``.
    """

    def __init__(self, num_classes: Optional[int] = None, ignore_index: int = 255, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def _load_seg_map(self, results: dict) -> None:
        if 'seg_map_path' not in results:
            if 'seg_fields' in results:  # a dataset sample: mmseg's datasets set seg_fields on every sample
                raise ValueError(f'{type(self).__name__}: the sample of {results.get("img_path")} has no '
                                 'seg_map_path: give the dataset its label folder (data_prefix.seg_map_path) '
                                 'or a list file pairing images and labels')
            return  # an image given to mmseg's inference API or MMSegInferencer: no label to load
        path = results['seg_map_path']
        label = read_image_file(path, 'label file', self.backend_args, self.imdecode_backend)
        if label.ndim == 3 and label.shape[2] == 1:
            label = label[..., 0]
        stored = label
        label = self.to_class_indices(label, path, results)
        num_classes = self.num_classes or results.get('num_classes')
        if num_classes is None:
            raise ValueError(f'{type(self).__name__} needs num_classes for {path}: give it, or use one of the '
                             "plugin's datasets, which pass their class count")
        conversion = ' and '.join(name for name, applied in (('reduce_zero_label', self.reduce_zero_label),
                                                             ('label_map', results.get('label_map'))) if applied)
        check_label_map(label, path, results['ori_shape'], num_classes, self.ignore_index, stored, conversion)
        results['gt_seg_map'] = label
        results['seg_fields'].append('gt_seg_map')

    def to_class_indices(self, label: np.ndarray, path: str, results: dict) -> np.ndarray:
        """The stored label map as class indices (mmseg's ``reduce_zero_label`` and ``label_map``).

        Labels are 8-bit class ids; a map stored with more bits (e.g. a 16-bit PNG) is accepted when every
        value fits, and refused, naming the file and the values, when one does not (258 would wrap to 2).
        """
        if self.reduce_zero_label is None:
            self.reduce_zero_label = results['reduce_zero_label']
        if label.dtype != np.uint8:
            values = np.unique(label)
            bad = values[(values < 0) | (values > 255) | (values != np.round(values))]
            if bad.size:
                raise ValueError(f'label map {path} holds values {bad.tolist()[:10]} (stored as {label.dtype}); '
                                 'class labels must be integers 0..255')
        return remap_labels(label.astype(np.uint8), self.reduce_zero_label, results.get('label_map'))

    def __repr__(self) -> str:
        return f'{super().__repr__()[:-1]}, num_classes={self.num_classes})'


def check_label_loader_classes(pipeline: Iterable, classes: Sequence[str], dataset: str) -> None:
    """Raise ``ValueError`` when a :class:`CheckedLoadAnnotations` of ``pipeline`` (a ``Compose`` or a list of
    transforms) is given another ``num_classes`` than the ``classes`` of ``dataset`` (its name, for the
    message): it would refuse correct label files, naming them, or accept labels of classes that do not exist.
    """
    for step in getattr(pipeline, 'transforms', pipeline):
        if isinstance(step, CheckedLoadAnnotations) and step.num_classes not in (None, len(classes)):
            raise ValueError(f'{type(step).__name__}(num_classes={step.num_classes}) in the pipeline of {dataset}, '
                             f'which has {len(classes)} classes ({", ".join(map(str, classes))}): set '
                             f'num_classes={len(classes)} on it or leave it out (the loader then takes the '
                             "dataset's count)")


BINARY_MASK_VALUES = (0, 1, 255)


@SEG_TRANSFORMS.register_module()
class CheckedLoadBinaryMask(CheckedLoadAnnotations):
    """Binary masks (building extraction) stored as 0/255 or 0/1, PNG or (Geo)TIFF, loaded as class indices
    0 = background, 1 = foreground.

    A mask saved as a 3-channel image with equal channels is accepted; any value other than 0, 1 and 255
    (e.g. JPEG artefacts or an anti-aliased mask) is an error naming the file. There is no ignore label.

    Args:
        **kwargs: Other arguments of :class:`CheckedLoadAnnotations` (``ignore_index``, ``imdecode_backend``,
            ``backend_args``); ``num_classes=2`` and ``reduce_zero_label=False`` are fixed.
    """

    def __init__(self, **kwargs):
        super().__init__(num_classes=2, reduce_zero_label=False, **kwargs)

    def to_class_indices(self, label: np.ndarray, path: str, results: dict) -> np.ndarray:
        """The mask as 0/1 class indices; ``ValueError`` naming ``path`` for multi-channel or non-binary masks."""
        if label.ndim == 3 and (label == label[..., :1]).all():
            label = label[..., 0]
        if label.ndim != 2:
            raise ValueError(f'binary mask {path} has shape {label.shape}; expected a single-channel mask '
                             '(or equal channels)')
        values = np.unique(label)
        unexpected = values[~np.isin(values, BINARY_MASK_VALUES)]
        if unexpected.size:
            raise ValueError(f'binary mask {path} holds values {unexpected.tolist()[:10]}; expected only 0 '
                             '(background) and 1 or 255 (foreground)')
        return (label > 0).astype(np.uint8)
