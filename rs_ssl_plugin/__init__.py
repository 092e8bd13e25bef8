"""rs_ssl_plugin: self-supervised pre-training for remote-sensing imagery on the MMEngine runner.

Importing the package (``custom_imports=dict(imports=['rs_ssl_plugin'], allow_failed_imports=False)``)
registers the SSL parts into mmpretrain's registries and the segmentation parts into mmseg's.

Layout: ``methods/<method>/`` holds everything one method uses (FALSE, SDCluster, IDDC, SDSH); the shared
parts live in ``datasets/`` (data loading, checks, datasets, preparation), ``models/`` (data preprocessors,
batched augmentation, the GELU MLP), ``engine/`` (mixed precision, checkpoint and input-check hooks,
schedulers' base, the tools' runner-config changes), ``evaluation/`` (confusion matrix, per-class metric),
``checkpoints/`` (reading, integrity and resumption, export, conversion, channel adaptation), ``apis/`` (tiled
inference), ``visualization/``, ``registry.py`` (the transform scope of the checked loaders) and ``utils/``
(leaf helpers: collectives, work dirs and output guards, the window grid, configs).
"""
from .checkpoints.reading import register_safe_checkpoint_loaders
from .compat import install_numpy2_fixes

register_safe_checkpoint_loaders()
install_numpy2_fixes()

from . import apis, checkpoints, datasets, engine, evaluation, methods, models, utils, visualization  # noqa: E402

__all__ = ['apis', 'checkpoints', 'datasets', 'engine', 'evaluation', 'install_numpy2_fixes', 'methods', 'models',
           'register_safe_checkpoint_loaders', 'utils', 'visualization']
__version__ = '0.1.0'
