"""Loading a checkpoint into the model it was trained as, and nothing else: testing and inference refuse a
checkpoint whose weights do not fit the model exactly (mmengine's ``strict=False`` would only warn and
leave the unmatched layers at their random initialisation)."""
import re
from typing import Dict, Optional

import torch
from mmengine.model import BaseTTAModel, is_model_wrapper
from torch import nn

from .export import load_report
from .reading import CheckpointError

SHOWN_KEYS = 3


class CheckpointMismatchError(CheckpointError):
    """A checkpoint's weights do not fit the model that should receive them."""


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module whose state dict checkpoints hold: inside DDP-style wrappers and TTA models."""
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def checkpoint_weights(checkpoint) -> Dict[str, torch.Tensor]:
    """The weights of a loaded checkpoint as mmengine loads them: ``state_dict`` (or the whole dict), with
    the ``module.`` prefix of DDP checkpoints stripped."""
    weights = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else checkpoint
    if not isinstance(weights, dict):
        raise CheckpointError(f'the checkpoint holds no state dict (found {type(weights).__name__})')
    return {re.sub(r'^module\.', '', key): value for key, value in weights.items()}


def _examples(keys) -> str:
    keys = list(keys)
    shown = ', '.join(keys[:SHOWN_KEYS])
    return f'{shown}, ...' if len(keys) > SHOWN_KEYS else shown


def mismatch_hint(weights: Dict[str, torch.Tensor], model_keys, architecture_hint: str) -> str:
    """Why a checkpoint may not fit: a pre-training checkpoint or a bare backbone given to a segmentor, or
    another architecture (``architecture_hint`` says what to do then)."""
    held = {key.split('.')[0] for key in weights}
    wanted = {key.split('.')[0] for key in model_keys}
    if 'decode_head' in wanted and 'decode_head' not in held and 'backbone' in held:
        if held - {'backbone'}:
            return (f'this is a self-supervised pre-training checkpoint (it holds {", ".join(sorted(held))}, no '
                    'decode_head): export the backbone first (tools/export_backbone.py), fine-tune it with '
                    'init_cfg=dict(type=\'Pretrained\', ...), and test the fine-tuned checkpoint')
        return ('this checkpoint holds only backbone weights (an export or a converted release): fine-tune it '
                'first (init_cfg=dict(type=\'Pretrained\', ...)) and test the fine-tuned checkpoint')
    return architecture_hint


def require_checkpoint_fits(model: nn.Module, weights: Dict[str, torch.Tensor], source: str,
                            architecture_hint: str = 'it was trained with another architecture (depth, width, '
                            'number of classes or bands): use the config it was trained with') -> None:
    """Raise :class:`CheckpointMismatchError` naming ``source``, with counts, a few keys of each kind and a
    hint, unless every tensor of ``model`` gets a weight of its shape and no weight is left over."""
    model = unwrap_model(model)
    report = load_report(model, weights)
    if not (report.missing or report.unexpected or report.mismatched):
        return
    expected = model.state_dict()
    problems = []
    if report.missing:
        problems.append(f'{len(report.missing)} weights of the model are missing ({_examples(report.missing)})')
    if report.unexpected:
        problems.append(f'{len(report.unexpected)} weights are not in the model ({_examples(report.unexpected)})')
    if report.mismatched:
        shapes = [f'{key} {tuple(weights[key].shape)} vs {tuple(expected[key].shape)}' for key in report.mismatched]
        problems.append(f'{len(shapes)} weights have another shape than the model\'s ({_examples(shapes)})')
    raise CheckpointMismatchError(f'{source} does not fit {type(model).__name__}: {"; ".join(problems)}. Hint: '
                                  f'{mismatch_hint(weights, expected, architecture_hint)}')


def load_checkpoint_strictly(model: nn.Module, filename: str, map_location: str = 'cpu') -> dict:
    """Load ``filename`` (any mmengine path or URL, read without running code) into ``model`` after
    :func:`require_checkpoint_fits`; returns the loaded checkpoint."""
    from mmengine.runner.checkpoint import _load_checkpoint
    checkpoint = _load_checkpoint(filename, map_location=map_location)
    weights = checkpoint_weights(checkpoint)
    require_checkpoint_fits(model, weights, filename)
    unwrap_model(model).load_state_dict(weights, strict=True)
    return checkpoint


def init_segmentor(config, checkpoint: str, device: str = 'cpu', cfg_options: Optional[dict] = None) -> nn.Module:
    """``mmseg.apis.init_model`` that loads ``checkpoint`` strictly (see :func:`load_checkpoint_strictly`) and
    takes ``dataset_meta`` (classes, palette) from the checkpoint when it has one."""
    from mmseg.apis import init_model
    model = init_model(config, None, device=device, cfg_options=cfg_options)
    loaded = load_checkpoint_strictly(model, checkpoint)
    meta = loaded.get('meta', {}) if isinstance(loaded, dict) else {}
    if 'dataset_meta' in meta:
        model.dataset_meta = meta['dataset_meta']
    return model
