"""IDDC's two training views: one flipped, anisotropically resized image, two overlapping crops.

The official pipeline is ``RandomFlip(0.5)`` (image and label), then :class:`AnisotropicRandomResize`,
then :class:`OverlappingCropPair`; the two views differ only by the crop position (no colour jitter).
"""
from typing import Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class AnisotropicRandomResize(BaseTransform):
    """Resize width and height by independent factors drawn uniformly from ``ratio_range``.

    New size ``(int(w * f_w), int(h * f_h))``; bilinear for the image, nearest for ``seg_fields``.
    If a side would end up shorter than ``min_size``, both sides are enlarged by the same factor until
    neither is (the official code would then cut undersized crops).

    Args:
        ratio_range (Tuple[float, float]): Range ``(low, high)`` of each factor, ``0 < low <= high``
            (official ``(0.8, 1.2)``). Defaults to (0.8, 1.2).
        min_size (int): The smallest side in pixels allowed after resizing (the crop size), or 0 for no
            limit. Defaults to 0.
    """

    def __init__(self, ratio_range: Tuple[float, float] = (0.8, 1.2), min_size: int = 0):
        if not 0 < ratio_range[0] <= ratio_range[1]:
            raise ValueError(f'ratio_range must be (low, high) with 0 < low <= high, got {ratio_range}')
        self.ratio_range = tuple(ratio_range)
        self.min_size = min_size

    def output_size(self, height: int, width: int, factors: Sequence[float]) -> Tuple[int, int]:
        """``(h, w)`` after scaling by ``factors = (f_w, f_h)`` and enforcing ``min_size``."""
        new_w, new_h = int(width * factors[0]), int(height * factors[1])
        shortest = min(new_w, new_h)
        if shortest < self.min_size:
            new_w, new_h = (int(np.ceil(side * self.min_size / shortest)) for side in (new_w, new_h))
        return new_h, new_w

    def transform(self, results: dict) -> dict:
        """``results`` with ``img`` (bilinear) and ``seg_fields`` (nearest) resized by two random factors."""
        low, high = self.ratio_range
        factors = low + (high - low) * np.random.rand(2)
        height, width = results['img'].shape[:2]
        new_h, new_w = self.output_size(height, width, factors)
        results['img'] = mmcv.imresize(results['img'], (new_w, new_h), interpolation='bilinear')
        for key in results.get('seg_fields', []):
            results[key] = mmcv.imresize(results[key], (new_w, new_h), interpolation='nearest')
        results['img_shape'] = (new_h, new_w)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(ratio_range={self.ratio_range}, min_size={self.min_size})'


def overlapping_crop_positions(size: int, crop: int, draws: Sequence[float]) -> Tuple[int, int]:
    """Start of the first and second crop along one axis of length ``size`` from two uniform draws.

    The first crop starts at ``round((size - crop) * u0)``; the second uniformly within ``crop // 2`` of
    it, the range clipped to the image: ``lo + round((hi - lo) * u1)``.
    """
    if size < crop:
        raise ValueError(f'image side {size} is smaller than the crop {crop}; resize it first '
                         '(AnisotropicRandomResize min_size)')
    first = round((size - crop) * draws[0])
    low, high = max(first - crop // 2, 0), min(first + crop // 2, size - crop)
    return first, low + round((high - low) * draws[1])


@TRANSFORMS.register_module()
class OverlappingCropPair(BaseTransform):
    """Cut two ``crop_size`` views whose positions differ by at most half a crop in x and y.

    ``img`` becomes the two crops stacked along the channel axis ``(crop, crop, 2 * C)`` (first view
    first), which ``PackSegInputs`` packs as one tensor and
    :class:`~rs_ssl_plugin.methods.iddc.data_preprocessor.MultiViewSegDataPreProcessor` normalises view by view.
    ``seg_fields`` are cut with the first crop (the linear probe's target). The positions are stored
    as ``view_boxes`` ``((y0, x0), (y1, x1))``.

    Args:
        crop_size (int): Side in pixels of both square crops; the image must be at least this large (see
            ``AnisotropicRandomResize(min_size=...)``). Defaults to 224.
    """

    def __init__(self, crop_size: int = 224):
        self.crop_size = crop_size

    def transform(self, results: dict) -> dict:
        """``results`` with ``img`` the two crops stacked on channels, ``seg_fields`` cut to the first crop."""
        img = results['img']
        crop = self.crop_size
        draws = np.random.rand(4)  # x of both crops, then y of both crops
        x0, x1 = overlapping_crop_positions(img.shape[1], crop, draws[:2])
        y0, y1 = overlapping_crop_positions(img.shape[0], crop, draws[2:])
        views = [img[y:y + crop, x:x + crop] for y, x in ((y0, x0), (y1, x1))]
        views = [v[..., None] if v.ndim == 2 else v for v in views]
        results['img'] = np.concatenate(views, axis=2)
        for key in results.get('seg_fields', []):
            results[key] = results[key][y0:y0 + crop, x0:x0 + crop]
        results['img_shape'] = (crop, crop)
        results['view_boxes'] = ((y0, x0), (y1, x1))
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(crop_size={self.crop_size})'
