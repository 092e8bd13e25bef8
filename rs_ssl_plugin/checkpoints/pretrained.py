"""mmengine's ``init_cfg=dict(type='Pretrained', ...)`` with one refusal: a file written by the plugin (a
backbone export, a converted release, a band-adapted file) whose stem does not fit the backbone.

Importing the plugin registers :class:`StemCheckedPretrainedInit` under mmengine's name ``Pretrained``, so
stock mmseg/mmpretrain configs that only add ``custom_imports=dict(imports=['rs_ssl_plugin'])`` get the check
too: their ResNet-50s are ``ResNetV1c`` (deep stem, ``stem.*``), the plugin's exports come from torchvision-stem
ResNets (``conv1``), and mmengine's non-strict load would train on with a random stem. Every other checkpoint
loads as with mmengine's ``PretrainedInit``; only a ``prefix`` the file does not hold raises a ``ValueError``
naming the prefixes it does hold instead of mmengine's bare ``AssertionError``.
"""
from mmengine.logging import print_log
from mmengine.model import update_init_info
from mmengine.model.weight_init import PretrainedInit
from mmengine.registry import WEIGHT_INITIALIZERS
from torch import nn

from .export import extract_backbone_state_dict, require_stem_fits, written_by_plugin
from .fit import checkpoint_weights


@WEIGHT_INITIALIZERS.register_module(name='Pretrained', force=True)
class StemCheckedPretrainedInit(PretrainedInit):
    """``PretrainedInit`` that raises :class:`~rs_ssl_plugin.checkpoints.export.StemMismatchError` when a file
    written by the plugin does not fit the stem of the module (see the module docstring).

    Args:
        checkpoint (str): Checkpoint path or URL.
        prefix (str, optional): Load only the keys under this prefix (stripped), e.g. ``'backbone.'``;
            ``None`` loads the whole ``state_dict``. Defaults to None.
        map_location (str): Where the checkpoint's tensors are loaded, passed to the checkpoint loader.
            Defaults to 'cpu'.
    """

    def __call__(self, module: nn.Module) -> None:
        """Load the checkpoint as ``PretrainedInit`` does, after the stem check for the plugin's files."""
        from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model, load_state_dict
        checkpoint = _load_checkpoint(self.checkpoint, map_location=self.map_location)
        if self.prefix is None:
            if written_by_plugin(checkpoint):
                require_stem_fits(module, checkpoint_weights(checkpoint), self.checkpoint)
            print_log(f'load model from: {self.checkpoint}', logger='current')
            _load_checkpoint_to_model(module, checkpoint, strict=False, logger='current')
        else:
            weights = extract_backbone_state_dict(checkpoint.get('state_dict', checkpoint), self.prefix,
                                                  self.checkpoint)
            if written_by_plugin(checkpoint):
                require_stem_fits(module, weights, self.checkpoint)
            print_log(f'load {self.prefix} in model from: {self.checkpoint}', logger='current')
            load_state_dict(module, weights, strict=False, logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())
