"""The plugin's registry scope ``'rs_ssl_plugin'``: a child of mmseg's transform registry, for the one thing
that must carry stock step names.

mmseg's inference clients find the image loader of a test pipeline by its type name:
``mmseg.apis.inference_model`` renames the first step to ``'LoadImageFromNDArray'`` for array inputs, and
``MMSegInferencer`` requires a step named ``'LoadImageFromFile'`` (replaced by its ``InferencerLoader``,
which builds ``LoadImageFromFile``/``LoadImageFromNDArray`` in the current scope). The plugin's checked
loaders are registered here under those names, so a config step
``dict(type='LoadImageFromFile', _scope_='rs_ssl_plugin', ...)`` is recognised by both clients and still
checks band count, bit depth and corrupt files. Everything else of the plugin registers into mmseg's and
mmpretrain's registries under its own names; names not found here resolve through mmseg's.
"""
from mmengine.registry import Registry
from mmseg.registry import TRANSFORMS as MMSEG_TRANSFORMS

TRANSFORMS = Registry('transform', parent=MMSEG_TRANSFORMS, scope='rs_ssl_plugin',
                      locations=['rs_ssl_plugin.datasets.transforms'])
