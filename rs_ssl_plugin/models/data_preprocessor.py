"""Self-supervised data preprocessors that run the device stage of the input pipeline (docs/input_pipeline.md),
and the check of any data preprocessor's mean/std against the band count of the images it gets."""
import logging
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import print_log
from mmpretrain.models.utils import SelfSupDataPreprocessor
from mmpretrain.registry import MODELS
from torch import nn

from .batch_augment import PhotometricRecipe, augment_bands, augment_colors

PARAMS_KEY, RECIPE_KEY = 'photometric_params', 'photometric_recipe'
FIX_MEAN_STD = ("set the data_preprocessor's mean and std to one value per band, in the order it normalises them "
                '(tools/analysis_tools/band_stats.py computes them; docs/input_pipeline.md, "Band statistics")')


def check_band_count(preprocessor: nn.Module, bands: int) -> Optional[str]:
    """Compare the mean/std of a data preprocessor with the number of ``bands`` of the images it is given.

    One value per band fits, and so does one value for all bands (mmengine's convention). Otherwise this raises
    ``ValueError`` where the normalisation would fail with torch's broadcasting error (e.g. 4-band images and 3
    values; also a channel flip of images with fewer than 3 bands, which fails on the index), and returns a
    warning where it would run, but not on the images' bands: a channel flip (``to_rgb``/``bgr_to_rgb``) keeping
    3 of 4 or more bands, or one-band images broadcast into one channel per value.

    Returns:
        str or None: The warning; ``None`` when the counts fit or the preprocessor does not normalise.
    """
    if not getattr(preprocessor, '_enable_normalize', False):
        return None
    name, values = type(preprocessor).__name__, preprocessor.mean.numel()
    # mmseg's SegDataPreProcessor flips 3-band images only (``channel_conversion``); mmengine's, mmpretrain's and
    # the plugin's take channels 2, 1, 0 of any image (``_channel_conversion``)
    flips_any = bool(getattr(preprocessor, '_channel_conversion', False))
    if flips_any and bands < 3:
        raise ValueError(f'{name} flips channels 0 and 2 (to_rgb/bgr_to_rgb) but the images have {bands} band(s): '
                         'set the flip to False' + ('' if values in (1, bands) else f', and {FIX_MEAN_STD}'))
    counts = f'{name} normalises with {values} mean/std value(s) but the images have {bands} band(s)'
    channels = 3 if flips_any else bands
    if values not in (1, channels) and channels > 1:
        flip = (' (3 after its channel flip, to_rgb/bgr_to_rgb, which suits 3-band images only)'
                if channels != bands else '')
        raise ValueError(f'{counts}{flip}, so the normalisation cannot broadcast: {FIX_MEAN_STD}')
    if channels != bands:
        return (f'{counts}: its channel flip (to_rgb/bgr_to_rgb) keeps bands 3, 2, 1 and drops the other '
                f'{bands - 3}, which the model never sees. For {bands}-band images set the flip to False and '
                f'{FIX_MEAN_STD}')
    if values not in (1, bands):
        return f"{counts}: each image's band is normalised into {values} channels, one per value. {FIX_MEAN_STD}"
    return None


@MODELS.register_module()
class BatchAugmentSelfSupDataPreprocessor(SelfSupDataPreprocessor):
    """mmpretrain's ``SelfSupDataPreprocessor`` that also applies the photometric augmentations drawn by the
    CPU stage (``PhotometricAugment(on_device=True)``, ``SDSHMultiCrop(on_device=True)``) to the batch.

    When the data samples carry ``photometric_params`` (one ``(V, P)`` array per image, view ``v`` of image
    ``b`` in row ``v``) and ``photometric_recipe``, the uint8 views are moved to the device, flipped to RGB
    (``to_rgb``), augmented there with :mod:`~rs_ssl_plugin.models.batch_augment` (views of one shape
    together, one call per shape, no per-sample loop, no host synchronisation) and normalised. Without them
    (the all-CPU pipeline, validation) it is exactly ``SelfSupDataPreprocessor``. Arguments are its own.

    Args:
        mean (Sequence[float], optional): Per-channel mean (pixel units, RGB order with ``to_rgb``); ``None``
            with ``std=None`` skips the normalisation. 1 or 3 values. Defaults to None.
        std (Sequence[float], optional): Per-channel standard deviation. Defaults to None.
        pad_size_divisor (int): Accepted for mmpretrain's signature; views are not padded, as in
            ``SelfSupDataPreprocessor``. Defaults to 1.
        pad_value (float): Accepted for mmpretrain's signature (no padding). Defaults to 0.
        to_rgb (bool): Whether to flip the loaded BGR views to RGB (before the augmentation, which is
            defined on RGB). Defaults to False.
        bgr_to_rgb (bool): The same as ``to_rgb``. Defaults to False.
        rgb_to_bgr (bool): Flip the channel order (0 and 2) the other way; the same operation. Defaults to
            False.
        non_blocking (bool): Whether to copy the batch to the device asynchronously. Defaults to False.
    """

    _band_count_checked = False

    def forward(self, data: dict, training: bool = False) -> dict:
        """Move the batch to the device, augment it (when the samples carry parameters) and normalise it. The
        first batch is checked against mean/std (:func:`check_band_count`): an error or a warning, once."""
        if not isinstance(data, dict):
            raise TypeError(f'{type(self).__name__} expects the dict of default_collate (or sdsh_collate), got '
                            f'{type(data).__name__}; pseudo_collate is not supported')
        data = self.cast_data(data)
        inputs, samples = data['inputs'], data.get('data_samples')
        views: List[torch.Tensor] = inputs if isinstance(inputs, list) else [inputs]
        if not self._band_count_checked:
            warning = check_band_count(self, views[0].shape[1])
            if warning:
                print_log(warning, logger='current', level=logging.WARNING)
            self._band_count_checked = True
        if self._channel_conversion:
            views = [view[:, [2, 1, 0], ...] for view in views]
        max_value = float(torch.iinfo(views[0].dtype).max) if not views[0].is_floating_point() else 255.
        views = [view.float() for view in views]
        if samples and PARAMS_KEY in samples[0]:
            views = self.augment(views, samples, max_value, rgb=self._channel_conversion)
        if self._enable_normalize:
            views = [(view - self.mean) / self.std for view in views]
        return {'inputs': views if isinstance(inputs, list) else views[0], 'data_samples': samples}

    @staticmethod
    def augment(views: List[torch.Tensor], samples: Sequence, max_value: float, rgb: bool = True
                ) -> List[torch.Tensor]:
        """``views`` (one ``(B, C, H, W)`` tensor per view, RGB unless ``rgb=False``: BGR) augmented with the
        samples' parameters."""
        recipes = {sample.get(RECIPE_KEY) for sample in samples}
        if len(recipes) != 1 or not isinstance(next(iter(recipes)), PhotometricRecipe):
            raise ValueError(f'every data sample must carry the same {RECIPE_KEY} next to {PARAMS_KEY} (pack both '
                             f'with PackInputs(algorithm_keys=...)), got {recipes}')
        recipe = recipes.pop()
        params = torch.from_numpy(np.stack([sample.get(PARAMS_KEY) for sample in samples]))  # (B, V, P)
        if params.shape[1] != len(views):
            raise ValueError(f'{PARAMS_KEY} holds parameters for {params.shape[1]} views, the batch has '
                             f'{len(views)}')
        params = params.to(views[0].device, non_blocking=True)
        same_shape: Dict[tuple, List[int]] = defaultdict(list)
        for index, view in enumerate(views):
            same_shape[tuple(view.shape)].append(index)
        out: List[Optional[torch.Tensor]] = [None] * len(views)
        for indices in same_shape.values():
            batch = torch.cat([views[i] for i in indices])
            group_params = torch.cat([params[:, i] for i in indices])
            if recipe.kind == 'color' and rgb:
                batch = augment_colors(batch, group_params, recipe)
            elif recipe.kind == 'color':  # the colour operations are defined on RGB
                batch = augment_colors(batch[:, [2, 1, 0]], group_params, recipe)[:, [2, 1, 0]]
            else:
                batch = augment_bands(batch, group_params, recipe, max_value)
            for i, view in zip(indices, batch.chunk(len(indices))):
                out[i] = view
        return out


@MODELS.register_module()
class MultiBandSelfSupDataPreprocessor(BatchAugmentSelfSupDataPreprocessor):
    """:class:`BatchAugmentSelfSupDataPreprocessor` for N-band images (R, G, B, NIR, ...): one mean and std
    per band, in the images' band order, and never a channel flip. Band recipes
    (``PhotometricAugment`` over ``RandomBandJitter``/``RandomBandGaussianBlur``) run on the device.

    mmengine's ``ImgDataPreprocessor`` accepts only 1 or 3 mean/std values, and mmpretrain's ``to_rgb``
    swaps channels 0 and 2 whatever the band count.

    Args:
        mean (Sequence[float]): Per-band means (pixel units), one per band in the images' band order.
        std (Sequence[float]): Per-band standard deviations, as many as ``mean``.
        non_blocking (bool): Whether to copy batches to the device asynchronously. Defaults to False.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], non_blocking: bool = False):
        if len(mean) != len(std) or not len(mean):
            raise ValueError(f'MultiBandSelfSupDataPreprocessor: mean and std need one value per band, got '
                             f'{len(mean)} means and {len(std)} stds')
        super().__init__(non_blocking=non_blocking)  # no mean/std, no flip: set below without the 1-or-3 check
        self._enable_normalize = True
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1), False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(-1, 1, 1), False)
