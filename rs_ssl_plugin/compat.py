"""Make mmengine 0.10.7 load its own Runner checkpoints under torch >= 2.6.

torch 2.6 changed ``torch.load`` to ``weights_only=True``; a Runner checkpoint also pickles the message hub
(``HistoryBuffer``, numpy values), so ``tools/test.py``, ``--resume`` and ``init_cfg=Pretrained`` fail with
``UnpicklingError``. mmengine fixed this after its last release (open-mmlab/mmengine#1670). Until then the
plugin replaces the loader of local paths with one that passes ``weights_only=False``, which is what
mmengine did before torch 2.6: only load checkpoints you trust. Remote schemes keep mmengine's loaders
(the released ImageNet weights are tensor-only and load either way).
"""
import os.path as osp

import torch
from mmengine.runner.checkpoint import CheckpointLoader


def load_trusted_local_checkpoint(filename: str, map_location=None):
    """Load a local checkpoint file with full unpickling (mmengine's behaviour before torch 2.6)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def install_checkpoint_loader() -> None:
    """Register :func:`load_trusted_local_checkpoint` for local paths in mmengine's CheckpointLoader."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_trusted_local_checkpoint, force=True)
