"""Per-view transforms of multi-view pipelines, and the CPU half of the photometric CPU/device split.

With ``PhotometricAugment(on_device=True)`` (the default of the shipped pre-training configs) the data
loader only draws the random parameters of each view's photometric transforms; the data preprocessor
applies them to the whole batch on the accelerator (:mod:`rs_ssl_plugin.models.batch_augment`,
docs/input_pipeline.md). ``on_device=False`` runs the same transforms per image here (the all-CPU pipeline,
``tools/train.py --augment-on-cpu``).
"""
import warnings
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform, Compose, RandomApply, RandomGrayscale
from mmpretrain.datasets.transforms import ColorJitter, GaussianBlur, Solarize
from mmpretrain.registry import TRANSFORMS

from ...models.batch_augment import (
    BAND_PARAMS,
    COLOR_PARAMS,
    NEUTRAL_COLOR_PARAMS,
    PhotometricRecipe,
    opencv_blur_taps,
    pil_blur_taps,
)
from .multiband import RandomBandGaussianBlur, RandomBandJitter

COLOR_COLUMN = {name: i for i, name in enumerate(COLOR_PARAMS)}
BAND_COLUMN = {name: i for i, name in enumerate(BAND_PARAMS)}
# (brightness, contrast, saturation, hue) ranges; None where an operation is off
JitterRanges = Tuple[Optional[Sequence[float]], ...]


def draw_color_params(jitter_prob: float = 0., jitter_ranges: Optional[JitterRanges] = None, gray_prob: float = 0.,
                      blur_prob: float = 0., draw_sigma: Optional[Callable[[], float]] = None,
                      solarize_prob: float = 0.) -> np.ndarray:
    """One view's :data:`~rs_ssl_plugin.models.batch_augment.COLOR_PARAMS`, drawn with numpy's RNG from
    the distributions of mmpretrain's / torchvision's transforms.

    The jitter runs with probability ``jitter_prob``; it then draws a uniformly random order of the four
    operations and each enabled factor uniformly from its range (the hue factor becomes the shift
    ``int(h * 255) mod 256`` of PIL's hue channel). Grayscale, blur (sigma from ``draw_sigma``) and
    solarisation are then drawn independently with their probabilities (no draw for probability 0). The
    jitter draws come in the order of ``RandomApply(ColorJitter)``'s, so a seed gives the same factors.
    """
    params = NEUTRAL_COLOR_PARAMS.copy()
    if jitter_ranges is not None and np.random.rand() < jitter_prob:
        params[:4] = np.random.permutation(4)
        for name, value_range in zip(('brightness', 'contrast', 'saturation'), jitter_ranges[:3]):
            if value_range is not None:
                params[COLOR_COLUMN[name]] = np.random.uniform(*value_range)
        if jitter_ranges[3] is not None:
            hue = np.random.uniform(*jitter_ranges[3])
            params[COLOR_COLUMN['hue']] = 1
            params[COLOR_COLUMN['hue_shift']] = int(hue * 255) % 256
    if gray_prob and np.random.rand() < gray_prob:
        params[COLOR_COLUMN['grayscale']] = 1
    if blur_prob and np.random.rand() < blur_prob:
        params[COLOR_COLUMN['blur']] = 1
        params[COLOR_COLUMN['sigma']] = draw_sigma()
    if solarize_prob and np.random.rand() < solarize_prob:
        params[COLOR_COLUMN['solarize']] = 1
    return params


@TRANSFORMS.register_module()
class ForEachView(BaseTransform):
    """Run ``transforms`` on every view of ``results['img']`` (a list) independently.

    Args:
        transforms (List[dict]): Configs of the transforms run on each view in order (a ``Compose``); each
            view enters as ``dict(img=view, img_shape=...)`` and only its ``img`` is kept.
    """

    def __init__(self, transforms: List[dict]):
        self.pipeline = Compose(transforms)

    def transform(self, results: dict) -> dict:
        """Replace every view by its transformed copy."""
        views = []
        for view in results['img']:
            out = self.pipeline(dict(img=view, img_shape=view.shape[:2]))
            views.append(out['img'])
        results['img'] = views
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.pipeline})'


SUPPORTED = ('ColorJitter (alone or in RandomApply), RandomGrayscale(keep_channels=True), GaussianBlur, Solarize '
             '(mmpretrain, in this order) for RGB views; RandomBandJitter, RandomBandGaussianBlur for N-band views')


@TRANSFORMS.register_module()
class PhotometricAugment(ForEachView):
    """The photometric transforms of every view (after the geometric ones), on the CPU or on the accelerator.

    - ``on_device=False``: ``transforms`` run on each view here, per image (the all-CPU pipeline).
    - ``on_device=True``: only their random parameters are drawn here, per view, with the same distributions
      and numpy's RNG, into ``results['photometric_params']`` (``(V, P)`` float32) and
      ``results['photometric_recipe']`` (a :class:`~rs_ssl_plugin.models.batch_augment.PhotometricRecipe`);
      pack both with ``PackInputs(algorithm_keys=[..., 'photometric_params', 'photometric_recipe'])`` and
      use ``BatchAugmentSelfSupDataPreprocessor`` (or ``MultiBandSelfSupDataPreprocessor``), which applies
      them to the batch. The operations equal the per-image ones within one uint8 level.

    Args:
        transforms (List[dict]): The per-view photometric transforms in order: for RGB views mmpretrain's
            ``ColorJitter`` (pillow backend, optionally inside ``RandomApply``), mmcv's
            ``RandomGrayscale(keep_channels=True)``, mmpretrain's ``GaussianBlur`` and ``Solarize`` (fixed
            ``thr``); for N-band views ``RandomBandJitter`` and ``RandomBandGaussianBlur``. Each at most
            once; other transforms are refused (they can run before this one, per view, on the CPU).
        on_device (bool): Whether only to draw the parameters here and apply them on the accelerator in the
            data preprocessor (see above) instead of transforming each view on the CPU. Defaults to False.
    """

    def __init__(self, transforms: List[dict], on_device: bool = False):
        super().__init__(transforms)
        self.on_device = on_device
        self.recipe, self._draw = self._parse(self.pipeline.transforms)

    @staticmethod
    def _parse(transforms: Sequence) -> Tuple[PhotometricRecipe, Callable[[int], np.ndarray]]:
        """The recipe and a ``draw(bands) -> params`` function equivalent to ``transforms``."""
        names = [type(t).__name__ for t in transforms]
        if transforms and all(isinstance(t, (RandomBandJitter, RandomBandGaussianBlur)) for t in transforms):
            return PhotometricAugment._parse_bands(transforms, names)
        stages = dict(jitter=None, gray=None, blur=None, solarize=None)
        previous = -1
        for t, name in zip(transforms, names):
            if isinstance(t, RandomApply) and len(t.transforms.transforms) == 1 and isinstance(
                    t.transforms.transforms[0], ColorJitter):
                stage, value = 'jitter', (t.prob, t.transforms.transforms[0])
            elif isinstance(t, ColorJitter):
                stage, value = 'jitter', (1.0, t)
            elif isinstance(t, RandomGrayscale):
                stage, value = 'gray', t
            elif isinstance(t, GaussianBlur):
                stage, value = 'blur', t
            elif isinstance(t, Solarize):
                stage, value = 'solarize', t
            else:
                raise ValueError(f'PhotometricAugment cannot run {name} on the device; it supports {SUPPORTED}')
            index = list(stages).index(stage)
            if index <= previous:
                raise ValueError(f'PhotometricAugment: transforms {names} are not in the order (colour jitter, '
                                 'grayscale, blur, solarize) of the device stage, or repeat one')
            stages[stage], previous = value, index
        jitter_prob, jitter = stages['jitter'] or (0., None)
        if jitter is not None and jitter.backend != 'pillow':
            raise ValueError(f"PhotometricAugment reproduces ColorJitter(backend='pillow'), got {jitter.backend!r}")
        gray, blur, solarize = stages['gray'], stages['blur'], stages['solarize']
        if gray is not None and (not gray.keep_channels or gray.color_format != 'bgr' or
                                 len(gray.channel_weights) != 3):
            raise ValueError('PhotometricAugment supports RandomGrayscale(keep_channels=True) on BGR images with 3 '
                             'channel weights')
        if solarize is not None and solarize.thr is None:
            raise ValueError('PhotometricAugment supports Solarize with a fixed thr only')
        max_sigma = 0.1
        if blur is not None:
            max_sigma = blur.radius if blur.radius is not None else max(blur.magnitude_range)
        weights = np.asarray(gray.channel_weights if gray is not None else (0.114, 0.587, 0.2989), np.float64)
        blue, green, red = (weights / weights.sum()).tolist()
        recipe = PhotometricRecipe(kind='color', gray='mmcv', gray_weights=(red, green, blue), blur='pil',
                                   blur_taps=pil_blur_taps(max_sigma),
                                   solarize_threshold=float(solarize.thr) if solarize is not None else 128.,
                                   steps=tuple(name for name, stage in zip(('jitter', 'grayscale', 'blur', 'solarize'),
                                                                           stages.values()) if stage is not None))
        ranges = None if jitter is None else (jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue)

        def draw_sigma():
            return blur.radius if blur.radius is not None else blur.random_magnitude()

        def draw(bands: int) -> np.ndarray:
            return draw_color_params(jitter_prob, ranges, gray.prob if gray is not None else 0.,
                                     blur.prob if blur is not None else 0., draw_sigma,
                                     solarize.prob if solarize is not None else 0.)
        return recipe, draw

    @staticmethod
    def _parse_bands(transforms: Sequence, names: List[str]) -> Tuple[PhotometricRecipe, Callable]:
        if names not in (['RandomBandJitter'], ['RandomBandGaussianBlur'],
                         ['RandomBandJitter', 'RandomBandGaussianBlur']):
            raise ValueError(f'PhotometricAugment: band transforms {names} must be RandomBandJitter then '
                             'RandomBandGaussianBlur, each at most once')
        jitter = transforms[0] if names[0] == 'RandomBandJitter' else None
        blur = transforms[-1] if names[-1] == 'RandomBandGaussianBlur' else None
        recipe = PhotometricRecipe(kind='bands', blur='opencv',
                                   blur_taps=opencv_blur_taps(max(blur.sigma_range) if blur is not None else 0.1),
                                   steps=tuple(step for step, stage in (('jitter', jitter), ('blur', blur))
                                               if stage is not None))

        def draw(bands: int) -> np.ndarray:
            params = np.zeros(len(BAND_PARAMS) + bands, np.float32)
            params[[BAND_COLUMN['brightness'], BAND_COLUMN['contrast']]] = 1
            params[len(BAND_PARAMS):] = 1
            if jitter is not None and np.random.rand() < jitter.prob:
                params[BAND_COLUMN['jitter']] = 1
                params[BAND_COLUMN['brightness']] = np.random.uniform(1 - jitter.brightness, 1 + jitter.brightness)
                params[BAND_COLUMN['contrast']] = np.random.uniform(1 - jitter.contrast, 1 + jitter.contrast)
                params[len(BAND_PARAMS):] = np.random.uniform(1 - jitter.band_gain, 1 + jitter.band_gain, bands)
            if blur is not None and np.random.rand() < blur.prob:
                params[BAND_COLUMN['blur']] = 1
                params[BAND_COLUMN['sigma']] = np.random.uniform(*blur.sigma_range)
            return params
        return recipe, draw

    def transform(self, results: dict) -> dict:
        """Transform the views (``on_device=False``) or draw their photometric parameters."""
        if not self.on_device:
            with warnings.catch_warnings():  # mmcv's pillow colour adjustment warns on every call
                warnings.filterwarnings('ignore', message="Only use 'alpha' for pillow backend.")
                return super().transform(results)
        views = results['img']
        bands = [1 if view.ndim == 2 else view.shape[2] for view in views]
        results['photometric_params'] = np.stack([self._draw(b) for b in bands])
        results['photometric_recipe'] = self.recipe
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(on_device={self.on_device}, {self.pipeline})'
