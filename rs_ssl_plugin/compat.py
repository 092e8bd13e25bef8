"""Fixes for running the pinned OpenMMLab stack on current numpy.

mmcv 2.1's ``adjust_hue`` (called by mmpretrain's ``ColorJitter``) fails under numpy 2 for negative hue
draws; :func:`install_numpy2_fixes` routes it to :func:`adjust_hue` for exactly that combination and leaves
other mmcv or numpy versions alone.
"""
from typing import Optional

import cv2
import mmcv
import mmcv.image
import numpy as np
from mmcv.image import photometric
from PIL import Image


def adjust_hue(img: np.ndarray, hue_factor: float, backend: Optional[str] = None) -> np.ndarray:
    """``mmcv.adjust_hue`` that also works with numpy >= 2.

    mmcv 2.1.0 shifts the hue channel by ``np.uint8(hue_factor * 255)``, which numpy 2 refuses for negative
    factors (``OverflowError``), so every colour jitter with a negative hue draw failed. The shift here is
    the same offset taken modulo 256 (what the uint8 cast wrapped to under numpy 1), with both of mmcv's
    backends.
    """
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor:{hue_factor} is not in [-0.5, 0.5].')
    if not (isinstance(img, np.ndarray) and img.ndim in (2, 3)):
        raise TypeError('img should be ndarray with dim=[2 or 3].')
    backend = backend or photometric.imread_backend
    offset = np.uint8(int(hue_factor * 255) % 256)
    if backend == 'pillow':
        if img.dtype != np.uint8:
            raise TypeError('Pillow backend only support uint8 type')
        hue, saturation, value = Image.fromarray(np.ascontiguousarray(img[..., ::-1]), mode='RGB').convert(
            'HSV').split()
        hue = Image.fromarray(np.asarray(hue, np.uint8) + offset, 'L')  # uint8 addition wraps around
        rgb = Image.merge('HSV', (hue, saturation, value)).convert('RGB')
        return np.array(rgb, dtype=img.dtype)[..., ::-1]
    if backend != 'cv2':
        raise ValueError(f"backend: {backend} is not supported. Supported backends are 'cv2', 'pillow'")
    hue, saturation, value = cv2.split(cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL))
    hsv = cv2.merge([hue + offset, saturation, value])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL).astype(img.dtype)


def needs_numpy2_fixes(mmcv_version: Optional[str] = None, numpy_version: Optional[str] = None) -> bool:
    """Whether this is mmcv 2.1 running on numpy >= 2 (the combination whose ``adjust_hue`` fails); the
    installed versions unless given."""
    mmcv_version, numpy_version = mmcv_version or mmcv.__version__, numpy_version or np.__version__
    return mmcv_version.split('.')[:2] == ['2', '1'] and np.lib.NumpyVersion(numpy_version) >= '2.0.0'


def install_numpy2_fixes() -> None:
    """Route ``mmcv.adjust_hue`` (called by mmpretrain's ``ColorJitter``) to :func:`adjust_hue` on mmcv 2.1
    with numpy >= 2; nothing otherwise."""
    if not needs_numpy2_fixes():
        return
    for module in (mmcv, mmcv.image, photometric):
        module.adjust_hue = adjust_hue
