"""Turn a self-supervised Runner checkpoint into backbone weights for mmseg/mmpretrain models."""
import os
import os.path as osp
import warnings
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Optional

import torch
from torch import nn

from .reading import CheckpointError, read_state_dict

# what ``tools/export_backbone.py`` prefixes the backbone's keys with
EXPORT_PREFIX = 'backbone.'


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


class StemMismatchError(CheckpointError):
    """Backbone weights whose first layer is not the first layer of the backbone they are loaded into."""


def written_by_plugin(checkpoint) -> bool:
    """Whether ``checkpoint`` (a loaded file) was written by :func:`save_state_dict`: a backbone export, a
    converted release or a band-adapted file, whose ``meta`` names the file it was made from."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    return isinstance(meta, dict) and 'source' in meta


def first_kernel_key(state_dict: Dict[str, torch.Tensor]) -> Optional[str]:
    """The first convolution kernel (4-d tensor) in state-dict order: the stem of a CNN, the patch embedding
    of a ViT or Swin."""
    return next((key for key, value in state_dict.items() if value.dim() == 4), None)


def stem_hint(weights_first: str, module_first: str, module_type: str) -> str:
    """What to change in the config when the first layers of weights and backbone differ."""
    bare = weights_first[len(EXPORT_PREFIX):] if weights_first.startswith(EXPORT_PREFIX) else weights_first
    hints = []
    if bare == 'conv1.weight' and module_first.startswith('stem.'):
        hints.append(f'torchvision stem (conv1) vs {module_type} deep stem (stem.*): use backbone type ResNet with '
                     'deep_stem=False, as configs/upernet_r50_false_potsdam.py does')
    elif bare.startswith('stem.') and module_first == 'conv1.weight':
        hints.append(f'deep stem (stem.*) vs {module_type} torchvision stem (conv1): use backbone type ResNetV1c '
                     '(or deep_stem=True)')
    elif bare == weights_first:
        hints.append('the weights come from another architecture: use the backbone type they were trained with')
    if bare != weights_first:
        hints.append(f'load the weights with prefix={EXPORT_PREFIX!r} '
                     f'(init_cfg=dict(type=\'Pretrained\', checkpoint=..., prefix={EXPORT_PREFIX!r}))')
    return '; '.join(hints)


def require_stem_fits(module: nn.Module, weights: Dict[str, torch.Tensor], source: str) -> None:
    """Raise :class:`StemMismatchError` naming ``source`` when ``weights`` (keys as they are loaded into
    ``module``) hold no first layer of ``module`` and ``module`` has no place for theirs, e.g. a torchvision-stem
    ResNet export loaded into mmseg's ``ResNetV1c``: a non-strict load would fill every later layer and leave
    the stem random, with nothing but mmengine's key-mismatch warning."""
    expected = module.state_dict()
    weights_first, module_first = first_kernel_key(weights), first_kernel_key(expected)
    if weights_first is None or module_first is None or weights_first in expected or module_first in weights:
        return
    module_type = type(module).__name__
    raise StemMismatchError(f'{source} does not fit the stem of {module_type}: its first layer {weights_first} is '
                            f'not in {module_type}, whose first layer {module_first} it does not hold. Hint: '
                            f'{stem_hint(weights_first, module_first, module_type)}')


def export_backbone(src: str, dst: str, prefix: str = 'backbone.', target_module: Optional[nn.Module] = None,
                    force: bool = False) -> Optional[LoadReport]:
    """Write the backbone of ``src`` as ``{'state_dict': {'backbone.<key>': tensor}, 'meta': ...}``.

    The ``backbone.`` prefix is kept so both ``init_cfg=dict(type='Pretrained', prefix='backbone.')`` and
    ``load_from`` into an ``EncoderDecoder`` accept the file; it holds only tensors and strings, so it also
    loads with ``torch.load(weights_only=True)``. With ``target_module`` the weights are checked against it
    first and nothing is written unless every tensor of the target receives a weight. Returns that report.
    """
    remove_stale_partial(dst)
    if osp.exists(dst) and not force:
        raise FileExistsError(f'{dst} already exists; pass --force to overwrite it')
    backbone = extract_backbone_state_dict(read_state_dict(src), prefix, src)
    report = None
    if target_module is not None:
        require_stem_fits(target_module, backbone, src)
        report = load_report(target_module, backbone)
        if not report.complete:
            raise ValueError(f'the target backbone would not receive every weight from {src} '
                             f'(nothing written):\n{report.format()}')
    exported = OrderedDict((f'{EXPORT_PREFIX}{k}', v) for k, v in backbone.items())
    save_state_dict(exported, dst, dict(source=osp.abspath(src), prefix=prefix))
    return report


def partial_path(dst: str) -> str:
    """The temporary file :func:`save_state_dict` writes before renaming it to ``dst``."""
    return f'{dst}.partial'


def remove_stale_partial(dst: str) -> None:
    """Delete the temporary file that a killed write of ``dst`` left (as large as the checkpoint), with a
    warning; called when a tool that writes ``dst`` starts."""
    if osp.isfile(partial_path(dst)):
        warnings.warn(f'removing {partial_path(dst)}, left by an interrupted write of {dst}')
        os.remove(partial_path(dst))


def save_state_dict(state_dict: Dict[str, torch.Tensor], dst: str, meta: dict) -> None:
    """Write ``{'state_dict': state_dict, 'meta': meta}`` atomically: an interrupted write leaves no truncated
    file under ``dst``, and no temporary file unless the process is killed outright. The caller decides
    whether an existing ``dst`` may be replaced."""
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    partial = partial_path(dst)
    try:
        torch.save(dict(state_dict=state_dict, meta=meta), partial)
        os.replace(partial, dst)
    except BaseException:  # also Ctrl-C: the partial file is as large as the checkpoint
        if osp.exists(partial):
            os.remove(partial)
        raise
