"""Photometric augmentations for images of any band count (RGB-only colour jitter, grey-scale conversion and
PIL blur do not apply to R, G, B, NIR, ... rasters)."""
import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS as PRETRAIN_TRANSFORMS
from mmseg.registry import TRANSFORMS as SEG_TRANSFORMS


def value_limit(img: np.ndarray) -> float:
    """Largest value of the image's integer type; float images are taken to be in 0..255."""
    return float(np.iinfo(img.dtype).max) if np.issubdtype(img.dtype, np.integer) else 255.0


@SEG_TRANSFORMS.register_module()
@PRETRAIN_TRANSFORMS.register_module()
class RandomBandJitter(BaseTransform):
    """Band-agnostic colour jitter, applied with probability ``prob``; each factor is uniform in
    ``[1 - x, 1 + x]``:

    - brightness: all bands times ``b``;
    - contrast: every pixel blended with the image mean (over pixels and bands), ``m + c (x - m)``;
    - band gain: each band times its own factor, a spectral stand-in for saturation/hue jitter.

    Integer images are clipped to their type's range and keep their type.

    Args:
        brightness (float): Half-width ``x`` of the brightness factor's range, in [0, 1). Defaults to 0.4.
        contrast (float): Half-width of the contrast factor's range, in [0, 1). Defaults to 0.4.
        band_gain (float): Half-width of each band's gain range, in [0, 1). Defaults to 0.1.
        prob (float): Probability of jittering an image at all. Defaults to 0.8.
    """

    def __init__(self, brightness: float = 0.4, contrast: float = 0.4, band_gain: float = 0.1, prob: float = 0.8):
        for name, value in (('brightness', brightness), ('contrast', contrast), ('band_gain', band_gain)):
            if not 0 <= value < 1:
                raise ValueError(f'RandomBandJitter: {name} must be in [0, 1), got {value}')
        self.brightness, self.contrast, self.band_gain, self.prob = brightness, contrast, band_gain, prob

    def transform(self, results: dict) -> dict:
        """``results`` with ``img`` jittered (brightness, contrast, band gains) with probability ``prob``."""
        if np.random.rand() >= self.prob:
            return results
        img = results['img']
        bands = 1 if img.ndim == 2 else img.shape[2]
        out = img.astype(np.float32) * np.random.uniform(1 - self.brightness, 1 + self.brightness)
        mean = out.mean()
        out = mean + np.random.uniform(1 - self.contrast, 1 + self.contrast) * (out - mean)
        gains = np.random.uniform(1 - self.band_gain, 1 + self.band_gain, bands).astype(np.float32)
        out = out * (gains if img.ndim == 3 else gains[0])
        if np.issubdtype(img.dtype, np.integer):
            out = np.clip(np.rint(out), 0, value_limit(img))
        results['img'] = out.astype(img.dtype)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(brightness={self.brightness}, contrast={self.contrast}, '
                f'band_gain={self.band_gain}, prob={self.prob})')


@SEG_TRANSFORMS.register_module()
@PRETRAIN_TRANSFORMS.register_module()
class RandomBandGaussianBlur(BaseTransform):
    """Gaussian blur of every band with sigma uniform in ``sigma_range`` (SimCLR: 0.1-2.0 px), applied
    with probability ``prob``; works for any band count and dtype (OpenCV).

    Args:
        sigma_range (Sequence[float]): Range of the blur's standard deviation in pixels, the same for all
            bands of an image. Defaults to (0.1, 2.0).
        prob (float): Probability of blurring an image. Defaults to 0.5.
    """

    def __init__(self, sigma_range=(0.1, 2.0), prob: float = 0.5):
        self.sigma_range, self.prob = tuple(sigma_range), prob

    def transform(self, results: dict) -> dict:
        """``results`` with every band of ``img`` blurred with probability ``prob``."""
        if np.random.rand() >= self.prob:
            return results
        img = results['img']
        sigma = np.random.uniform(*self.sigma_range)
        if img.ndim == 3 and img.shape[2] > 4:  # OpenCV filters at most 4 channels at a time
            blurred = np.stack([cv2.GaussianBlur(img[..., c], (0, 0), sigma) for c in range(img.shape[2])], -1)
        else:
            blurred = cv2.GaussianBlur(img, (0, 0), sigma)
        results['img'] = blurred.reshape(img.shape)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(sigma_range={self.sigma_range}, prob={self.prob})'
