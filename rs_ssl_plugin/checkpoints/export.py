"""Turn a self-supervised Runner checkpoint into backbone weights for mmseg/mmpretrain models."""
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Optional

import torch
from torch import nn

from .reading import read_state_dict


class LoadReport(NamedTuple):
    """Outcome of loading a state dict into a module with ``strict=False``."""
    loaded: List[str]
    missing: List[str]
    unexpected: List[str]
    mismatched: List[str]

    @property
    def complete(self) -> bool:
        """Every tensor of the module receives a weight of the right shape."""
        return not (self.missing or self.mismatched)

    def format(self) -> str:
        """One summary line, then one line per missing, unexpected or shape-mismatched key."""
        lines = [f'loaded {len(self.loaded)} tensors, missing {len(self.missing)}, '
                 f'unexpected {len(self.unexpected)}, shape mismatches {len(self.mismatched)}']
        for title, keys in (('missing', self.missing), ('unexpected', self.unexpected),
                            ('shape mismatch', self.mismatched)):
            lines += [f'  {title}: {key}' for key in keys]
        return '\n'.join(lines)


def extract_backbone_state_dict(state_dict: Dict[str, torch.Tensor], prefix: str = 'backbone.',
                                path: str = 'checkpoint') -> Dict[str, torch.Tensor]:
    """Keys under ``prefix`` with the prefix stripped; raises ``ValueError`` naming ``path`` and the
    top-level prefixes it does hold when nothing is under ``prefix``."""
    prefix = prefix if prefix.endswith('.') else prefix + '.'
    backbone = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items() if k.startswith(prefix))
    if not backbone:
        found = sorted({k.split('.')[0] + '.' for k in state_dict})
        raise ValueError(f'{path} has no weights under {prefix!r}; its top-level prefixes are {found}')
    return backbone


def load_report(module: nn.Module, state_dict: Dict[str, torch.Tensor]) -> LoadReport:
    """What ``module.load_state_dict(state_dict, strict=False)`` would do, without changing ``module``.

    Buffers count as keys (BN ``running_mean``/``num_batches_tracked``), as they do for ``strict=True``.
    """
    expected = module.state_dict()
    mismatched = [k for k, v in state_dict.items() if k in expected and expected[k].shape != v.shape]
    return LoadReport(loaded=[k for k in state_dict if k in expected and k not in mismatched],
                      missing=[k for k in expected if k not in state_dict],
                      unexpected=[k for k in state_dict if k not in expected],
                      mismatched=mismatched)


def export_backbone(src: str, dst: str, prefix: str = 'backbone.', target_module: Optional[nn.Module] = None,
                    force: bool = False) -> Optional[LoadReport]:
    """Write the backbone of ``src`` as ``{'state_dict': {'backbone.<key>': tensor}, 'meta': ...}``.

    The ``backbone.`` prefix is kept so both ``init_cfg=dict(type='Pretrained', prefix='backbone.')`` and
    ``load_from`` into an ``EncoderDecoder`` accept the file; it holds only tensors and strings, so it also
    loads with ``torch.load(weights_only=True)``. With ``target_module`` the weights are checked against it
    first and nothing is written unless every tensor of the target receives a weight. Returns that report.
    """
    if osp.exists(dst) and not force:
        raise FileExistsError(f'{dst} already exists; pass --force to overwrite it')
    backbone = extract_backbone_state_dict(read_state_dict(src), prefix, src)
    report = None
    if target_module is not None:
        report = load_report(target_module, backbone)
        if not report.complete:
            raise ValueError(f'the target backbone would not receive every weight from {src} '
                             f'(nothing written):\n{report.format()}')
    exported = OrderedDict((f'backbone.{k}', v) for k, v in backbone.items())
    save_state_dict(exported, dst, dict(source=osp.abspath(src), prefix=prefix))
    return report


def save_state_dict(state_dict: Dict[str, torch.Tensor], dst: str, meta: dict) -> None:
    """Write ``{'state_dict': state_dict, 'meta': meta}`` atomically: an interrupted write leaves no truncated
    file under ``dst``. The caller decides whether an existing ``dst`` may be replaced."""
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    partial = f'{dst}.partial'
    torch.save(dict(state_dict=state_dict, meta=meta), partial)
    os.replace(partial, dst)
