"""Build one module of a config without loading any weights (for checking checkpoints against it)."""
from typing import Optional

from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from torch import nn


def build_config_module(config_path: str, key: str = 'model.backbone',
                        cfg_options: Optional[dict] = None) -> nn.Module:
    """Build the module at ``key`` of a config (its ``custom_imports`` and ``default_scope`` honoured, then
    ``cfg_options`` merged) with ``init_cfg``/``pretrained`` removed, so nothing is loaded from disk."""
    cfg = Config.fromfile(config_path)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    node = cfg
    try:
        for part in key.split('.'):
            node = node[part]
    except (KeyError, TypeError) as error:
        raise ValueError(f'{config_path} has no {key!r}') from error
    node = node.copy()
    node.pop('init_cfg', None)
    node.pop('pretrained', None)
    init_default_scope(cfg.get('default_scope') or 'mmengine')
    return MODELS.build(node)
