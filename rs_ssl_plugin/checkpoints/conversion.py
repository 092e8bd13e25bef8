"""Converting and writing official checkpoints (read and unwrapped by :func:`~.reading.read_state_dict`)."""
import os.path as osp
from collections import OrderedDict
from typing import Callable, Dict, Iterable, Optional

import torch
from torch import nn

from .export import LoadReport, load_report, remove_stale_partial, save_state_dict
from .reading import read_state_dict

StateDict = Dict[str, torch.Tensor]
CONVERTERS: Dict[str, Callable[[StateDict], StateDict]] = {}
# the key prefix each format's output is written under by default
OUTPUT_PREFIXES: Dict[str, str] = {}


def register_converter(name: str, prefix: str = 'backbone.'):
    """Decorator registering ``fn(state_dict) -> state_dict`` as the converter for format ``name``.

    ``prefix``: what :func:`convert_checkpoint` puts before the converted keys by default: ``'backbone.'``
    for a backbone (``init_cfg=Pretrained`` / ``load_from``), ``''`` for a whole model whose converted keys
    already name its parts (e.g. ``backbone.*`` and ``head.*`` of a segmentor).
    """
    def register(fn):
        if name in CONVERTERS:
            raise KeyError(f'a converter for {name!r} is already registered')
        CONVERTERS[name] = fn
        OUTPUT_PREFIXES[name] = prefix
        return fn
    return register


def strip_prefixes(state_dict: StateDict, prefixes: Iterable[str]) -> StateDict:
    """Remove the first matching prefix of ``prefixes`` from every key, repeatedly (``module.encoder_q.``)."""
    prefixes = tuple(prefixes)
    out = OrderedDict()
    for key, value in state_dict.items():
        stripped = True
        while stripped:
            stripped = False
            for prefix in prefixes:
                if key.startswith(prefix):
                    key, stripped = key[len(prefix):], True
        out[key] = value
    return out


def convert_checkpoint(src: str, dst: str, fmt: str, target_module: Optional[nn.Module] = None,
                       prefix: Optional[str] = None, force: bool = False) -> Optional[LoadReport]:
    """Convert the official checkpoint ``src`` of format ``fmt`` and write ``{'state_dict': ...}`` to ``dst``.

    Keys are written under ``prefix`` (default: the format's, see :func:`register_converter`), so for a
    backbone ``init_cfg=dict(type='Pretrained', prefix='backbone.')`` and ``load_from`` both accept the
    file. With ``target_module`` nothing is written unless every tensor of the target receives a weight of
    the right shape; the load report is returned. ``dst`` is never overwritten unless ``force``.
    """
    if fmt not in CONVERTERS:
        raise KeyError(f'unknown checkpoint format {fmt!r}; known: {sorted(CONVERTERS)}')
    remove_stale_partial(dst)
    if osp.exists(dst) and not force:
        raise FileExistsError(f'{dst} already exists; pass --force to overwrite it')
    prefix = OUTPUT_PREFIXES[fmt] if prefix is None else prefix
    converted = CONVERTERS[fmt](read_state_dict(src))
    report = None
    if target_module is not None:
        report = load_report(target_module, converted)
        if not report.complete or report.unexpected:
            raise ValueError(f'{src} ({fmt}) does not fit the target module exactly (nothing written):\n'
                             f'{report.format()}')
    exported = OrderedDict((prefix + k, v) for k, v in converted.items())
    save_state_dict(exported, dst, dict(source=osp.abspath(src), format=fmt))
    return report
