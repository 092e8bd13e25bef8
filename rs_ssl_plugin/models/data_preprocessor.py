"""Self-supervised data preprocessor for images of any band count."""
from typing import Sequence

import torch
from mmpretrain.models.utils import SelfSupDataPreprocessor
from mmpretrain.registry import MODELS


@MODELS.register_module()
class MultiBandSelfSupDataPreprocessor(SelfSupDataPreprocessor):
    """``SelfSupDataPreprocessor`` for N-band images (R, G, B, NIR, ...): one mean and std per band, in the
    images' band order, and never a channel flip.

    mmengine's ``ImgDataPreprocessor`` accepts only 1 or 3 mean/std values, and mmpretrain's ``to_rgb``
    swaps channels 0 and 2 whatever the band count.

    Args:
        mean: per-band means (pixel units).
        std: per-band standard deviations.
        non_blocking: copy batches to the device asynchronously.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], non_blocking: bool = False):
        if len(mean) != len(std) or not len(mean):
            raise ValueError(f'MultiBandSelfSupDataPreprocessor: mean and std need one value per band, got '
                             f'{len(mean)} means and {len(std)} stds')
        super().__init__(non_blocking=non_blocking)  # no mean/std, no flip: set below without the 1-or-3 check
        self._enable_normalize = True
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1), False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(-1, 1, 1), False)
