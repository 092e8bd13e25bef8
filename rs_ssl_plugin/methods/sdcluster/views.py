"""SDCluster's views: resized crops that overlap, their pairwise overlap boxes, and per-view flips."""
import math
from typing import List, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from ...datasets.transforms.geometry import mirror_planar, resize_like_pil


def sample_crop_box(height: int, width: int, scale: Tuple[float, float], ratio: Tuple[float, float],
                    attempts: int = 10) -> np.ndarray:
    """``[x1, y1, x2, y2]`` of a RandomResizedCrop region (torchvision's sampling rule).

    Area fraction uniform in ``scale``, aspect ratio log-uniform in ``ratio``; after ``attempts`` misses,
    the largest centred box whose aspect ratio is clipped into ``ratio``.
    """
    area = height * width
    log_ratio = np.log(ratio)
    for _ in range(attempts):
        target_area = area * np.random.uniform(*scale)
        aspect = math.exp(np.random.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            y = np.random.randint(0, height - h + 1)
            x = np.random.randint(0, width - w + 1)
            return np.array([x, y, x + w, y + h], dtype=np.float64)
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    x, y = (width - w) // 2, (height - h) // 2
    return np.array([x, y, x + w, y + h], dtype=np.float64)


def intersection_area(box_a: np.ndarray, box_b: np.ndarray) -> float:
    """Pixel area shared by two ``[x1, y1, x2, y2]`` boxes."""
    w = min(box_a[2], box_b[2]) - max(box_a[0], box_b[0])
    h = min(box_a[3], box_b[3]) - max(box_a[1], box_b[1])
    return max(w, 0.) * max(h, 0.)


def overlap_in_frame(box: Sequence[float], other: Sequence[float]) -> Tuple[float, float, float, float]:
    """The intersection of ``box`` and ``other`` as normalised ``(x1, y1, x2, y2)`` in ``box``'s crop frame."""
    x1, y1, x2, y2 = box
    width, height = x2 - x1, y2 - y1  # scalar arithmetic: numpy costs more than the maths on 4 numbers
    return ((max(x1, other[0]) - x1) / width, (max(y1, other[1]) - y1) / height,
            (min(x2, other[2]) - x1) / width, (min(y2, other[3]) - y1) / height)


@TRANSFORMS.register_module()
class OverlappingMultiCrop(BaseTransform):
    """Random resized crops of one image that overlap the global crops, with their overlap boxes.

    Global crop i > 0 is re-drawn until it shares more than ``2 * int(min_intersection * H * W)`` pixels
    with every earlier global crop; a local crop needs ``int(min_intersection * H * W)`` with every global
    crop. Crops are resized with PIL's antialiased bilinear filter, as the official pipeline (torchvision's
    ``resized_crop`` on PIL images), through :func:`resize_like_pil` (within one uint8 level). Adds:

    - ``img``: list of crops, the ``num_global`` crops of ``global_size`` first, then the local ones;
    - ``gc_bboxes`` (G, V, 4): overlap of global crop i and crop j in crop i's frame, normalised (x1, y1, x2, y2);
    - ``otc_bboxes`` (V, G, 4): the same overlap in crop j's frame.

    Args:
        num_global (int): Number of global crops (at least 1); they come first in ``img``. Defaults to 2.
        num_local (int): Number of local crops, after the global ones. Defaults to 0.
        global_size (int): Side in pixels of the square global crops after resizing. Defaults to 224.
        local_size (int): Side in pixels of the square local crops after resizing. Defaults to 96.
        global_scale (Sequence[float]): Range of the global crops' area as a fraction of the image area.
            Defaults to (0.25, 1.0).
        local_scale (Sequence[float]): Range of the local crops' area as a fraction of the image area.
            Defaults to (0.05, 0.25).
        ratio (Sequence[float]): Range of the crops' aspect ratio (width / height), sampled log-uniformly,
            for global and local crops alike. Defaults to (3 / 4, 4 / 3).
        min_intersection (float): Minimum overlap as a fraction of the image area (doubled between global
            crops, see above). Defaults to 0.01.
        max_redraws (int): Draws per crop before giving up with a ``RuntimeError`` that names the image size
            (lower ``min_intersection`` or raise the scales then). Defaults to 100.
    """

    def __init__(self, num_global: int = 2, num_local: int = 0, global_size: int = 224, local_size: int = 96,
                 global_scale: Sequence[float] = (0.25, 1.0), local_scale: Sequence[float] = (0.05, 0.25),
                 ratio: Sequence[float] = (3 / 4, 4 / 3), min_intersection: float = 0.01,
                 max_redraws: int = 100):
        if num_global < 1:
            raise ValueError(f'num_global must be >= 1, got {num_global}')
        self.num_global = num_global
        self.num_local = num_local
        self.sizes = [global_size] * num_global + [local_size] * num_local
        self.scales = [tuple(global_scale)] * num_global + [tuple(local_scale)] * num_local
        self.ratio = tuple(ratio)
        self.min_intersection = min_intersection
        self.max_redraws = max_redraws

    def _sample_boxes(self, height: int, width: int) -> List[np.ndarray]:
        min_pixels = int(self.min_intersection * height * width)
        boxes: List[np.ndarray] = []
        for index, scale in enumerate(self.scales):
            needed = 2 * min_pixels if index < self.num_global else min_pixels
            earlier_globals = boxes[:self.num_global]
            for _ in range(self.max_redraws):
                box = sample_crop_box(height, width, scale, self.ratio)
                if all(intersection_area(box, other) > needed for other in earlier_globals):
                    break
            else:
                raise RuntimeError(f'no crop with {scale} scale overlapping the global crops by more than '
                                   f'{needed} pixels in {self.max_redraws} draws (image {height}x{width}); '
                                   'lower min_intersection or raise the crop scale')
            boxes.append(box)
        return boxes

    def transform(self, results: dict) -> dict:
        """``results`` with the resized crops as ``img`` and their ``gc_bboxes``, ``otc_bboxes`` and ``crop_boxes``."""
        img = results['img']
        boxes = self._sample_boxes(*img.shape[:2])
        crops = []
        for box, size in zip(boxes, self.sizes):
            x1, y1, x2, y2 = box.astype(int)
            crops.append(resize_like_pil(img[y1:y2, x1:x2], (size, size)))
        num_views = len(boxes)
        corners = [box.tolist() for box in boxes]
        gc_bboxes = np.zeros((self.num_global, num_views, 4), dtype=np.float32)
        otc_bboxes = np.zeros((num_views, self.num_global, 4), dtype=np.float32)
        for i in range(self.num_global):
            for j in range(num_views):
                gc_bboxes[i, j] = overlap_in_frame(corners[i], corners[j])
                otc_bboxes[j, i] = overlap_in_frame(corners[j], corners[i])
        results.update(img=crops, img_shape=[c.shape[:2] for c in crops], gc_bboxes=gc_bboxes,
                       otc_bboxes=otc_bboxes, crop_boxes=np.stack(boxes).astype(np.float32))
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_global={self.num_global}, num_local={self.num_local}, '
                f'sizes={sorted(set(self.sizes))}, scales={sorted(set(self.scales))}, ratio={self.ratio}, '
                f'min_intersection={self.min_intersection})')


@TRANSFORMS.register_module()
class RandomFlipViews(BaseTransform):
    """Flip each view horizontally with probability ``prob``, mirroring its overlap boxes in its own frame.

    Needs the keys of :class:`OverlappingMultiCrop`; adds ``flip_flags`` (V,) bool.

    Args:
        prob (float): Probability of flipping each view, drawn independently per view. Defaults to 0.5.
    """

    def __init__(self, prob: float = 0.5):
        self.prob = prob

    def transform(self, results: dict) -> dict:
        """``results`` with randomly flipped views, their overlap boxes mirrored, and ``flip_flags``."""
        num_global = results['gc_bboxes'].shape[0]
        flags = np.random.rand(len(results['img'])) < self.prob
        for view in np.flatnonzero(flags):
            results['img'][view] = mirror_planar(results['img'][view])
            frames = [results['otc_bboxes'][view]]
            if view < num_global:
                frames.append(results['gc_bboxes'][view])
            for boxes in frames:
                boxes[:, [0, 2]] = 1 - boxes[:, [2, 0]]
        results['flip_flags'] = flags
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'
