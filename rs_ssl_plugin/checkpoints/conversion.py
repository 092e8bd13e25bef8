"""Converting and writing official checkpoints (read and unwrapped by :func:`~.reading.read_state_dict`)."""
import os.path as osp
from collections import OrderedDict
from typing import Callable, Dict, Iterable, Optional

import torch
from torch import nn

from .export import LoadReport, load_report, save_state_dict
from .reading import read_state_dict

StateDict = Dict[str, torch.Tensor]
CONVERTERS: Dict[str, Callable[[StateDict], StateDict]] = {}


def register_converter(name: str):
    """Decorator registering ``fn(state_dict) -> state_dict`` as the converter for format ``name``."""
    def register(fn):
        if name in CONVERTERS:
            raise KeyError(f'a converter for {name!r} is already registered')
        CONVERTERS[name] = fn
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
                       prefix: str = 'backbone.', force: bool = False) -> Optional[LoadReport]:
    """Convert the official checkpoint ``src`` of format ``fmt`` and write ``{'state_dict': ...}`` to ``dst``.

    Keys are written under ``prefix`` so ``init_cfg=dict(type='Pretrained', prefix='backbone.')`` and
    ``load_from`` both accept the file. With ``target_module`` nothing is written unless every tensor of the
    target receives a weight of the right shape; the load report is returned. ``dst`` is never overwritten
    unless ``force``.
    """
    if fmt not in CONVERTERS:
        raise KeyError(f'unknown checkpoint format {fmt!r}; known: {sorted(CONVERTERS)}')
    if osp.exists(dst) and not force:
        raise FileExistsError(f'{dst} already exists; pass --force to overwrite it')
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
