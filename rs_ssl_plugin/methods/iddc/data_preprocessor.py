"""Segmentation data preprocessor that normalises IDDC's channel-stacked training views one by one."""
from typing import Any, Dict

from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS
from mmseg.utils import stack_batch


@MODELS.register_module()
class MultiViewSegDataPreProcessor(SegDataPreProcessor):
    """``SegDataPreProcessor`` that also accepts training images holding several views stacked along the
    channel axis (``V * c`` channels, ``c`` = the length of ``mean``, e.g. from
    :class:`~rs_ssl_plugin.methods.iddc.views.OverlappingCropPair`).

    Each view gets the colour-order conversion and normalisation of a single image; the batch is padded
    and stacked as in mmseg, giving ``(B, V * c, H, W)``. Single-view inputs (validation, testing) take
    mmseg's path unchanged. The arguments are those of mmseg's ``SegDataPreProcessor``.

    Args:
        mean (Sequence[float], optional): Per-channel mean of one view (its length ``c`` sets the view's
            channel count); ``None`` with ``std=None`` skips the normalisation. Defaults to None.
        std (Sequence[float], optional): Per-channel standard deviation of one view. Defaults to None.
        size (tuple, optional): Fixed ``(h, w)`` the training batch is padded to. Defaults to None.
        size_divisor (int, optional): Pad the training batch to a multiple of this. Defaults to None.
        pad_val (float): Padding value of the images. Defaults to 0.
        seg_pad_val (float): Padding value of the label maps. Defaults to 255.
        bgr_to_rgb (bool): Whether to convert each 3-channel view from BGR to RGB. Defaults to False.
        rgb_to_bgr (bool): Whether to convert each 3-channel view from RGB to BGR. Defaults to False.
        batch_augments (list[dict], optional): Batch-level augmentations of mmseg (applied in training).
            Defaults to None.
        test_cfg (dict, optional): ``size`` or ``size_divisor`` to pad test inputs to; ``None`` pads them
            not at all. Defaults to None.
    """

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        """``inputs`` ``(B, V * c, H, W)`` normalised view by view (or mmseg's path for one view), ``data_samples``."""
        data = self.cast_data(data)
        view_channels = self.mean.numel() if self._enable_normalize else 3
        channels = data['inputs'][0].size(0)
        if channels == view_channels:
            return super().forward(data, training)
        if channels % view_channels or not training:
            raise ValueError(f'{type(self).__name__}: got {channels}-channel inputs; expected {view_channels} '
                             f'(one image) or, in training, a multiple of {view_channels} (stacked views)')
        inputs = []
        for image in data['inputs']:
            views = image.view(-1, view_channels, *image.shape[1:])
            if self.channel_conversion and view_channels == 3:
                views = views[:, [2, 1, 0]]
            views = views.float()
            if self._enable_normalize:
                views = (views - self.mean) / self.std
            inputs.append(views.flatten(0, 1))
        inputs, data_samples = stack_batch(inputs=inputs, data_samples=data['data_samples'], size=self.size,
                                           size_divisor=self.size_divisor, pad_val=self.pad_val,
                                           seg_pad_val=self.seg_pad_val)
        if self.batch_augments is not None:
            inputs, data_samples = self.batch_augments(inputs, data_samples)
        return dict(inputs=inputs, data_samples=data_samples)
