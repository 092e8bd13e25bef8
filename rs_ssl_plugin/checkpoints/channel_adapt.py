"""Load 3-band (RGB) weights into a model whose first convolution or patch embedding takes N bands.

Strategy (applied to the first-layer kernel ``W`` of shape ``(out, 3, kh, kw)``):

1. the filters of the R, G and B bands are copied to the input bands that carry R, G and B
   (``rgb_indices``, default the first three: R, G, B, NIR, ... order);
2. every other band gets the mean of the three RGB filters;
3. all filters are scaled by ``3 / N``.

So for an input whose N bands all hold the same value the layer's response equals the RGB layer's response
to a grey image of that value: activations keep their scale and the pre-trained statistics of the next
normalisation layer still fit. For N < 3 every band gets the scaled mean filter (N = 1: the sum of the RGB
filters, the usual grey-scale conversion). The extra bands start as "another view of the luminance" and
learn their own filters in fine-tuning.

Two ways to use it:

- ``adapt_checkpoint_input_channels`` writes an adapted checkpoint, loaded with the usual
  ``init_cfg=dict(type='Pretrained', ...)``. It works for every backbone.
- ``init_cfg=dict(type='ChannelAdaptedPretrained', ...)`` adapts while loading, for backbones whose
  sub-modules do not re-initialise themselves (the ResNet family). mmengine applies only ``type='Pretrained'``
  after the sub-modules' own ``init_weights``, and ViT/Swin backbones re-draw their position embeddings and
  FFN weights for any other type, so use the file route for them.
"""
import os.path as osp
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import torch
from mmengine.logging import print_log
from mmengine.model import update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS
from torch import nn

from .export import (
    extract_backbone_state_dict,
    remove_stale_partial,
    require_stem_fits,
    save_state_dict,
    written_by_plugin,
)
from .reading import read_state_dict


def adapt_input_channels(weight: torch.Tensor, in_channels: int,
                         rgb_indices: Sequence[int] = (0, 1, 2)) -> torch.Tensor:
    """A first-layer kernel ``(out, 3, ...)`` for ``in_channels`` input bands (see the module docstring)."""
    if weight.dim() < 3 or weight.shape[1] != 3:
        raise ValueError(f'expected a kernel with 3 input channels, got shape {tuple(weight.shape)}')
    mean = weight.mean(dim=1, keepdim=True)
    adapted = mean.expand(weight.shape[0], in_channels, *weight.shape[2:]).clone()
    if in_channels >= 3:
        if len(set(rgb_indices)) != 3 or not all(0 <= i < in_channels for i in rgb_indices):
            raise ValueError(f'rgb_indices must be 3 distinct bands of 0..{in_channels - 1}, got {rgb_indices}')
        for rgb, band in enumerate(rgb_indices):
            adapted[:, band] = weight[:, rgb]
    return adapted * (3.0 / in_channels)


def adapt_state_dict_input_channels(state_dict: Dict[str, torch.Tensor], target: Dict[str, torch.Tensor],
                                    rgb_indices: Sequence[int] = (0, 1, 2)) -> Dict[str, torch.Tensor]:
    """Copy of ``state_dict`` in which every kernel with 3 input channels whose counterpart in ``target``
    (a model's state dict) differs only in the input-channel count is adapted to it; other tensors are the
    same objects as in ``state_dict``."""
    adapted = OrderedDict(state_dict)
    for key, value in state_dict.items():
        wanted = target.get(key)
        if (wanted is not None and value.dim() >= 3 and value.shape[1] == 3 and wanted.dim() == value.dim()
                and wanted.shape[1] != 3 and wanted.shape[0] == value.shape[0]
                and wanted.shape[2:] == value.shape[2:]):
            adapted[key] = adapt_input_channels(value, wanted.shape[1], rgb_indices).to(value.dtype)
    return adapted


def first_layer_key(state_dict: Dict[str, torch.Tensor], prefix: str = '') -> str:
    """The first kernel (in state-dict order) under ``prefix`` with 3 input channels: ``conv1.weight`` of a
    ResNet, ``stem.0.weight`` of a deep-stem ResNet, ``patch_embed.projection.weight`` of a ViT or Swin."""
    for key, value in state_dict.items():
        if key.startswith(prefix) and value.dim() >= 3 and value.shape[1] == 3:
            return key
    raise ValueError(f'no kernel with 3 input channels under {prefix!r}')


def adapt_checkpoint_input_channels(src: str, dst: str, in_channels: int, key: Optional[str] = None,
                                    prefix: str = '', rgb_indices: Sequence[int] = (0, 1, 2),
                                    force: bool = False) -> str:
    """Write ``dst``: the tensors of checkpoint ``src`` with the first-layer kernel (``key``, default
    :func:`first_layer_key` under ``prefix``) adapted to ``in_channels`` bands. ``dst`` is never
    overwritten unless ``force``. Returns the adapted key."""
    remove_stale_partial(dst)
    if osp.exists(dst) and not force:
        raise FileExistsError(f'{dst} already exists; pass --force to overwrite it')
    state_dict = read_state_dict(src)
    key = key or first_layer_key(state_dict, prefix)
    if key not in state_dict:
        raise KeyError(f'{src} has no tensor {key!r}')
    state_dict[key] = adapt_input_channels(state_dict[key], in_channels, rgb_indices)
    save_state_dict(state_dict, dst, meta=dict(source=osp.abspath(src), adapted_key=key,
                                               in_channels=in_channels, rgb_indices=list(rgb_indices)))
    return key


@WEIGHT_INITIALIZERS.register_module(name='ChannelAdaptedPretrained')
class ChannelAdaptedPretrainedInit:
    """``init_cfg`` that loads a checkpoint like ``Pretrained`` and adapts 3-band first-layer kernels to the
    module's band count (see the module docstring; ResNet family only, use
    :func:`adapt_checkpoint_input_channels` for ViT/Swin), e.g. for an RGB pre-trained ResNet in a 4-band
    model::

        backbone=dict(type='ResNet', depth=50, in_channels=4,
                      init_cfg=dict(type='ChannelAdaptedPretrained', checkpoint='rgb.pth', prefix='backbone.'))

    Args:
        checkpoint (str): Checkpoint path or URL.
        prefix (str, optional): Load only the keys under this prefix (stripped), e.g. ``'backbone.'``;
            ``None`` loads the whole ``state_dict``. Defaults to None.
        rgb_indices (Sequence[int]): Input bands of the model that carry R, G and B, in that order.
            Defaults to (0, 1, 2).
        map_location (str): Where the checkpoint's tensors are loaded, passed to the checkpoint loader.
            Defaults to 'cpu'.
    """

    def __init__(self, checkpoint: str, prefix: Optional[str] = None, rgb_indices: Sequence[int] = (0, 1, 2),
                 map_location: str = 'cpu'):
        self.checkpoint = checkpoint
        self.prefix = prefix
        self.rgb_indices = tuple(rgb_indices)
        self.map_location = map_location

    def __call__(self, module: nn.Module) -> None:
        """Load the checkpoint (under ``prefix``) into ``module`` non-strictly, 3-band kernels adapted to its bands."""
        from mmengine.runner.checkpoint import _load_checkpoint, load_state_dict
        loaded = _load_checkpoint(self.checkpoint, map_location=self.map_location)
        state_dict = loaded.get('state_dict', loaded) if isinstance(loaded, dict) else loaded
        if self.prefix:
            state_dict = extract_backbone_state_dict(state_dict, self.prefix, self.checkpoint)
        if written_by_plugin(loaded):
            require_stem_fits(module, state_dict, self.checkpoint)
        adapted = adapt_state_dict_input_channels(state_dict, module.state_dict(), self.rgb_indices)
        changed = [k for k in adapted if adapted[k] is not state_dict[k]]
        print_log(f'ChannelAdaptedPretrained: {self.checkpoint}: adapted {changed or "no"} kernel(s) from 3 '
                  'input bands', logger='current')
        load_state_dict(module, adapted, strict=False, logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _get_init_info(self) -> str:
        return f'{self.__class__.__name__}: load from {self.checkpoint}, 3-band kernels adapted'
