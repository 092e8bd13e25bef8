"""Converters from officially released checkpoints to the plugin's module key layouts.

Each converter module registers one function ``state_dict -> state_dict`` under a format name with
:func:`register_converter`; :func:`convert_checkpoint` (and ``tools/model_converters/convert_official.py``)
reads a file, unwraps it, converts it, checks it against a target module and writes it.
"""
from .base import CONVERTERS, convert_checkpoint, register_converter, strip_prefixes
from . import dino, dinov2, sdcluster, vissl  # noqa: F401,E402

__all__ = ['CONVERTERS', 'convert_checkpoint', 'register_converter', 'strip_prefixes']
