"""A runner hook that checks the data preprocessor's mean/std against the band count of the first batches."""
import logging
from typing import Optional, Set

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from ..models.data_preprocessor import BatchAugmentSelfSupDataPreprocessor, check_band_count


def batch_band_count(inputs) -> int:
    """Bands of the first image of a batch as the dataloader collates it: one ``(C, H, W)`` tensor per image
    (mmseg), or per view a ``(B, C, H, W)`` tensor or a list of ``(C, H, W)`` tensors (mmpretrain)."""
    while isinstance(inputs, (list, tuple)):
        inputs = inputs[0]
    return inputs.shape[-3]


@HOOKS.register_module()
class BandCountCheckHook(Hook):
    """Compares the number of mean/std values of the model's data preprocessor with the band count of the first
    training, validation and test batch (:func:`~rs_ssl_plugin.models.data_preprocessor.check_band_count`),
    before the model sees it: an error where mmseg's ``SegDataPreProcessor`` would stop with torch's broadcasting
    error (4-band images and 3 values), a warning, once, where it would normalise something else than the images'
    bands.

    The plugin's own pre-training preprocessors check their first batch themselves; this hook is for the others
    (mmseg's, mmpretrain's). The plugin's segmentation configs enable it (``custom_hooks``); add
    ``custom_hooks = [dict(type='BandCountCheckHook')]`` to other configs. Not for IDDC's training views, which
    stack two images along the channel axis.
    """
    priority = 'VERY_HIGH'

    def __init__(self):
        self._checked: Set[str] = set()
        self._warned: Set[str] = set()

    def before_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None) -> None:
        """Check the first training batch."""
        self._check(runner, data_batch, 'train')

    def before_val_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None) -> None:
        """Check the first validation batch."""
        self._check(runner, data_batch, 'val')

    def before_test_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None) -> None:
        """Check the first test batch."""
        self._check(runner, data_batch, 'test')

    def _check(self, runner, data_batch: Optional[dict], loop: str) -> None:
        if loop in self._checked or not data_batch:
            return
        self._checked.add(loop)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        preprocessor = model.data_preprocessor
        if isinstance(preprocessor, BatchAugmentSelfSupDataPreprocessor):
            return
        warning = check_band_count(preprocessor, batch_band_count(data_batch['inputs']))
        if warning and warning not in self._warned:
            self._warned.add(warning)
            print_log(warning, logger='current', level=logging.WARNING)
