"""Reading checkpoint files: the tensors of Runner, official and VISSL layouts, and mmengine's loader for
local paths.

torch 2.6 changed ``torch.load`` to ``weights_only=True``; a Runner checkpoint also pickles the message hub
(``HistoryBuffer``, numpy values), so ``tools/test.py``, ``--resume`` and ``init_cfg=Pretrained`` fail with
``UnpicklingError`` under mmengine 0.10.7 (fixed after its last release, open-mmlab/mmengine#1670). Until then
the plugin replaces the loader of local paths with one that passes ``weights_only=False``, which is what
mmengine did before torch 2.6: only load checkpoints you trust. Remote schemes keep mmengine's loaders.
"""
import os.path as osp
from collections import OrderedDict
from typing import Dict

import torch
from mmengine.runner.checkpoint import CheckpointLoader

# Where checkpoints nest their weights: Runner/timm-style wrappers, DINO's teacher dict and VISSL's
# classy_state_dict.base_model.model.trunk.
WRAPPER_KEYS = ('state_dict', 'model', 'teacher', 'net', 'classy_state_dict', 'base_model', 'trunk')


def unwrap_checkpoint(checkpoint: dict, path: str = 'checkpoint') -> Dict[str, torch.Tensor]:
    """The tensors of ``checkpoint``, taken from the first wrapper key of :data:`WRAPPER_KEYS` that holds a
    dict, repeatedly; non-tensor entries (``meta``, ``message_hub``, ...) are dropped. A dict holding only
    state dicts (``{'backbone': {...}, 'classifier': {...}}``) gives their tensors as ``backbone.<key>``,
    ``classifier.<key>``, the names they have in the model holding those modules."""
    if not isinstance(checkpoint, dict):
        raise ValueError(f'{path} does not hold a state dict (found {type(checkpoint).__name__})')
    for key in WRAPPER_KEYS:
        if isinstance(checkpoint.get(key), dict):
            return unwrap_checkpoint(checkpoint[key], path)
    tensors = OrderedDict((k, v) for k, v in checkpoint.items() if torch.is_tensor(v))
    if not tensors:  # a dict of module state dicts (IDDC's release: backbone, head_nonlinear, classifier)
        tensors = OrderedDict((f'{name}.{k}', v) for name, part in checkpoint.items() if isinstance(part, dict)
                              for k, v in part.items() if torch.is_tensor(v))
    if not tensors:
        raise ValueError(f'{path} holds no tensors (top-level keys: {sorted(checkpoint)[:10]})')
    return tensors


def read_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """The tensors of a checkpoint file: a Runner checkpoint, a raw state dict or one wrapped as
    :func:`unwrap_checkpoint` describes."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    try:
        # Runner checkpoints pickle the message hub and official releases argparse Namespaces, which
        # torch>=2.6's weights_only loader refuses
        checkpoint = torch.load(path, map_location='cpu', weights_only=False)
    except Exception as error:
        raise ValueError(f'{path} is not a readable torch checkpoint: {error}') from error
    return unwrap_checkpoint(checkpoint, path)


def load_from_local_trusted(filename: str, map_location=None):  # mmengine logs the name after "load_from_"
    """Load a local checkpoint file with full unpickling (mmengine's behaviour before torch 2.6)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def install_checkpoint_loader() -> None:
    """Register :func:`load_from_local_trusted` for local paths in mmengine's CheckpointLoader."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_trusted, force=True)
