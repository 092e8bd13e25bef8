"""Reading checkpoint files without running code: the tensors of Runner, official and VISSL layouts, and
mmengine's loaders for local paths and URLs.

Every checkpoint the plugin, its tools or mmengine's ``CheckpointLoader`` reads goes through
:func:`load_checkpoint_file`: ``torch.load(weights_only=True)`` with :data:`RUNNER_CHECKPOINT_GLOBALS`
allowed for the duration of the call only. That list is what a Runner checkpoint (SSL or mmseg) pickles
besides tensors: mmengine's ``HistoryBuffer`` of the message hub and the numpy arrays, scalars and
numeric dtypes it holds. ``HistoryBuffer`` pickles its statistics methods as
``getattr(HistoryBuffer, 'min')``; instead of allowing ``builtins.getattr`` (which would hand out any
attribute of any allowed object), the name ``builtins.getattr`` resolves to :func:`history_buffer_method`,
which returns those four methods and refuses anything else.

A file that needs any other global (a legacy or third-party pickle, or a payload) is refused with
:class:`UnsafeCheckpointError`, naming the file and the global. ``RS_SSL_UNSAFE_LOAD=1`` (or ``--unsafe-load``
on the tools, which sets it) loads such trusted files with full unpickling, with a warning naming each file.
"""
import argparse
import os
import os.path as osp
import pickle
import re
import warnings
from collections import OrderedDict
from typing import Any, Callable, Dict, Iterable, Optional

import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

UNSAFE_LOAD_ENV = 'RS_SSL_UNSAFE_LOAD'
UNSAFE_LOAD_HINT = (f'if you trust this file, pass --unsafe-load to the tool (or set {UNSAFE_LOAD_ENV}=1 for '
                    'the runner) to unpickle it fully')

# Where checkpoints nest their weights: Runner/timm-style wrappers, DINO's teacher dict and VISSL's
# classy_state_dict.base_model.model.trunk.
WRAPPER_KEYS = ('state_dict', 'model', 'teacher', 'net', 'classy_state_dict', 'base_model', 'trunk')
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_method(owner: Any, name: str) -> Callable:
    """What ``builtins.getattr`` resolves to in a safe load: only ``HistoryBuffer``'s statistics methods."""
    if owner is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(f'refused global getattr({getattr(owner, "__qualname__", owner)!r}, {name!r})')


def _numpy_globals() -> list:
    multiarray = np._core.multiarray
    numeric_dtypes = [type(np.dtype(code)) for code in '?bhilqBHILQefd']
    # numpy 1 names its array and scalar reconstructors numpy.core.*, numpy 2 numpy._core.*
    return [np.ndarray, np.dtype, *numeric_dtypes] + [
        (function, f'{package}.multiarray.{function.__name__}')
        for function in (multiarray._reconstruct, multiarray.scalar) for package in ('numpy.core', 'numpy._core')]


RUNNER_CHECKPOINT_GLOBALS = [HistoryBuffer, (history_buffer_method, 'builtins.getattr')] + _numpy_globals()
# official training checkpoints (DINO-style) also store their argparse options
RELEASE_CHECKPOINT_GLOBALS = RUNNER_CHECKPOINT_GLOBALS + [argparse.Namespace]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: unreadable (truncated, not written by ``torch.save``) or, in
    the subclasses, unsafe to unpickle or not fitting the model."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint needs a global that a weights-only load refuses (it could run code when unpickled)."""


def allow_unsafe_load() -> None:
    """Unpickle checkpoints fully from now on, in this process and the ones it starts (``--unsafe-load``)."""
    os.environ[UNSAFE_LOAD_ENV] = '1'


def unsafe_load_allowed() -> bool:
    """Whether ``RS_SSL_UNSAFE_LOAD`` asks for full unpickling."""
    return os.environ.get(UNSAFE_LOAD_ENV, '').strip().lower() in ('1', 'true', 'yes')


def refused_global(message: str) -> str:
    """The global named by torch's weights-only ``UnpicklingError`` message (or its first line)."""
    for pattern in (r'GLOBAL (\S+) was not an allowed global', r'unsupported GLOBAL (\S+) whose module',
                    r'refused global (getattr\(.*?\))', r'unrecognized function (.+?)(?: which|$)',
                    r'but got (<class [^>]+>)'):
        match = re.search(pattern, message, re.MULTILINE)
        if match:  # torch drops the ``builtins.`` of builtins
            return match.group(1) if '.' in match.group(1) or '(' in match.group(1) else f'builtins.{match.group(1)}'

    return message.strip().splitlines()[0] if message.strip() else 'an object'


def guarded_load(source: str, load: Callable[[bool], Any], allowed: Iterable = RUNNER_CHECKPOINT_GLOBALS):
    """``load(weights_only)`` with only ``allowed`` globals, errors naming ``source``; full unpickling with a
    warning when :func:`unsafe_load_allowed`."""
    if unsafe_load_allowed():
        warnings.warn(f'{UNSAFE_LOAD_ENV}=1: unpickling {source} fully; this runs any code the file holds')
        return load(False)
    try:
        with torch.serialization.safe_globals(list(allowed)):
            return load(True)
    # ``from None``: torch's own message, shown as the cause, advises weights_only=False; ours keeps its reason
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(
            f'refused to load {source}: it needs {refused_global(str(error))}, which a weights-only load does '
            f'not allow (unpickling it could run code); {UNSAFE_LOAD_HINT}') from None
    except (RuntimeError, EOFError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f'{source} is not a readable torch checkpoint (truncated, or not written by '
                              f'torch.save?): {reason}') from None


def load_checkpoint_file(path: str, map_location: Any = 'cpu', allowed: Iterable = RUNNER_CHECKPOINT_GLOBALS):
    """The object in checkpoint file ``path``, loaded as :func:`guarded_load` describes."""
    path = osp.expanduser(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    return guarded_load(path, lambda weights_only: torch.load(path, map_location=map_location,
                                                              weights_only=weights_only), allowed)


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
    :func:`unwrap_checkpoint` describes (official training checkpoints may also hold argparse options)."""
    return unwrap_checkpoint(load_checkpoint_file(path, 'cpu', RELEASE_CHECKPOINT_GLOBALS), path)


def load_from_local(filename: str, map_location=None):  # mmengine logs the name after "load_from_"
    """mmengine loader of local paths: :func:`load_checkpoint_file`."""
    return load_checkpoint_file(filename, map_location)


def load_from_http(url: str, map_location=None, model_dir: Optional[str] = None):
    """mmengine loader of http(s) URLs: torch.hub's download and cache (rank 0 first), then a guarded load."""
    def load(weights_only: bool):
        return torch.hub.load_state_dict_from_url(url, model_dir=model_dir, map_location=map_location,
                                                  progress=False, weights_only=weights_only)

    rank, world_size = get_dist_info()
    if rank == 0:
        checkpoint = guarded_load(url, load)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            checkpoint = guarded_load(url, load)
    return checkpoint


def load_from_model_zoo(filename: str, map_location=None):
    """mmengine loader of ``torchvision://``, ``open-mmlab://`` and ``mmcls://`` names: the URL (or file
    under mmengine's home) they stand for, loaded by :func:`load_from_http` or :func:`load_checkpoint_file`."""
    from mmengine.runner import checkpoint as mm
    scheme, name = filename.split('://', 1)
    if scheme in ('torchvision', 'modelzoo'):
        return load_from_http(mm.get_torchvision_models()[name], map_location)
    if scheme == 'mmcls':
        return mm._process_mmcls_checkpoint(load_from_http(mm.get_mmcls_models()[name], map_location))
    name = mm.get_deprecated_model_names().get(name, name)
    location = mm.get_external_models()[name]
    if location.startswith(('http://', 'https://')):
        return load_from_http(location, map_location)
    return load_checkpoint_file(osp.join(mm._get_mmengine_home(), location), map_location)


def register_safe_checkpoint_loaders() -> None:
    """Route mmengine's local, http(s) and model-zoo checkpoint schemes through the guarded loaders."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
    CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), loader=load_from_http, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('modelzoo://', 'torchvision://', 'open-mmlab://', 'openmmlab://', 'mmcls://'),
        loader=load_from_model_zoo, force=True)
