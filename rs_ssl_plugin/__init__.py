"""rs_ssl_plugin: self-supervised pre-training for remote-sensing imagery on the MMEngine runner.

Importing the package (``custom_imports=dict(imports=['rs_ssl_plugin'], allow_failed_imports=False)``)
registers the SSL parts into mmpretrain's registries and the segmentation parts into mmseg's.
"""
from .compat import install_checkpoint_loader, install_numpy2_fixes

install_checkpoint_loader()
install_numpy2_fixes()

from . import converters, datasets, engine, evaluation, models, utils  # noqa: E402,F401

__version__ = '0.1.0'
