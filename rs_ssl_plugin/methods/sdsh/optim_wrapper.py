"""SDSH (DINOv2) parameter groups and per-module gradient clipping."""
from typing import Dict, List, Optional

from mmengine.optim import OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS
from torch import nn

from ...engine.mixed_precision import MixedPrecisionOptimWrapper


def vit_layer_id(name: str, num_layers: int) -> int:
    """DINOv2 layer id of a backbone parameter: 0 for the embeddings (patch/pos embed, class/mask token),
    ``i + 1`` for block ``i`` and ``num_layers + 1`` for everything after the blocks (final norm, SDSH layers)."""
    if name.split('.')[0] in ('pos_embed', 'patch_embed', 'cls_token', 'mask_token'):
        return 0
    if name.startswith('layers.'):
        return int(name.split('.')[1]) + 1
    return num_layers + 1


def no_weight_decay_names(module: nn.Module) -> set:
    """Names of the parameters DINOv2 excludes from weight decay: biases, normalisation layers, layer scales."""
    names = set()
    for module_name, sub in module.named_modules():
        prefix = f'{module_name}.' if module_name else ''
        for param_name, _ in sub.named_parameters(recurse=False):
            is_norm = isinstance(sub, (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm))
            is_scale = 'gamma' in param_name or type(sub).__name__ == 'LayerScale'
            if param_name == 'bias' or param_name.endswith('.bias') or is_norm or is_scale:
                names.add(prefix + param_name)
    return names


def sdsh_param_groups(modules: Dict[str, nn.Module], layer_decay: float = 0.9,
                      patch_embed_lr_mult: float = 0.2) -> List[dict]:
    """Parameter groups of the trainable parameters of each named module, with DINOv2's multipliers.

    - ``lr_mult``: ``layer_decay ** (L + 1 - layer_id)`` for the ViT backbone (``modules['backbone']``;
      L blocks), times ``patch_embed_lr_mult`` for the patch embedding; 1 for the heads.
    - ``wd_mult``: 0 for biases, norms and layer scales, else 1.
    - ``is_last_layer``: the heads' prototype layers (frozen at the start of training).
    - ``module``: the module's name (gradients are clipped per module).

    Parameters with equal settings share a group (as DINOv2 fuses them).
    """
    groups = {}
    for module_name, module in modules.items():
        num_layers = len(module.layers) if module_name == 'backbone' else None
        no_wd = no_weight_decay_names(module)
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            lr_mult = 1.0
            if num_layers is not None:
                lr_mult = layer_decay ** (num_layers + 1 - vit_layer_id(name, num_layers))
                if name.startswith('patch_embed.'):
                    lr_mult *= patch_embed_lr_mult
            settings = dict(module=module_name, lr_mult=lr_mult, wd_mult=0.0 if name in no_wd else 1.0,
                            is_last_layer='last_layer' in name)
            groups.setdefault(tuple(settings.values()), dict(params=[], **settings))['params'].append(param)
    return list(groups.values())


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SDSHOptimWrapperConstructor:
    """Builds the optimizer over ``model.student_modules()`` with :func:`sdsh_param_groups`.

    ``paramwise_cfg``: ``layer_decay`` (0.9) and ``patch_embed_lr_mult`` (0.2). The groups' ``lr`` and
    ``weight_decay`` are set every iteration by :class:`SDSHScheduleHook` from the groups' multipliers.
    Use ``type='SDSHOptimWrapper'`` (or ``'SDSHAmpOptimWrapper'``) for per-module gradient clipping.

    Args:
        optim_wrapper_cfg (dict): The config's ``optim_wrapper`` without ``constructor`` and
            ``paramwise_cfg``: ``optimizer`` (e.g. ``dict(type='AdamW', betas=(0.9, 0.999))``), ``type``
            (``'SDSHOptimWrapper'`` when not given), ``clip_grad`` and the wrapper's other arguments.
        paramwise_cfg (dict, optional): ``layer_decay`` (0.9, the learning-rate factor per ViT block from
            the top) and ``patch_embed_lr_mult`` (0.2, an extra factor of the patch embedding); other keys
            are refused. ``None`` takes both defaults. Defaults to None.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None):
        self.optim_wrapper_cfg = dict(optim_wrapper_cfg)
        self.paramwise_cfg = dict(layer_decay=0.9, patch_embed_lr_mult=0.2)
        unknown = set(paramwise_cfg or {}) - set(self.paramwise_cfg)
        if unknown:
            raise KeyError(f'unknown SDSH paramwise_cfg keys {sorted(unknown)}; known: {sorted(self.paramwise_cfg)}')
        self.paramwise_cfg.update(paramwise_cfg or {})

    def __call__(self, model: nn.Module) -> OptimWrapper:
        """The optimizer wrapper over the student's parameter groups (``type`` default ``'SDSHOptimWrapper'``)."""
        if hasattr(model, 'module'):
            model = model.module
        if not hasattr(model, 'student_modules'):
            raise TypeError(f'SDSHOptimWrapperConstructor needs a model with student_modules(), got '
                            f'{type(model).__name__}')
        cfg = dict(self.optim_wrapper_cfg)
        optimizer_cfg = dict(cfg.pop('optimizer'))
        optimizer_cfg['params'] = sdsh_param_groups(model.student_modules(), **self.paramwise_cfg)
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        cfg.setdefault('type', 'SDSHOptimWrapper')
        return OPTIM_WRAPPERS.build(cfg, default_args=dict(optimizer=optimizer))


class PerModuleClipMixin:
    """Clip gradient norms separately for each ``module`` of the parameter groups (DINOv2 clips the
    backbone and each head on its own), instead of over all parameters at once."""

    def _clip_grad(self) -> None:
        per_module: Dict[str, list] = {}
        for group in self.optimizer.param_groups:
            params = [p for p in group['params'] if p.requires_grad and p.grad is not None]
            per_module.setdefault(group.get('module', ''), []).extend(params)
        for name, params in per_module.items():
            if params:
                norm = self.clip_func(params, **self.clip_grad_kwargs)
                if norm is not None:
                    self.message_hub.update_scalar(f'train/grad_norm_{name}' if name else 'train/grad_norm',
                                                   float(norm))


@OPTIM_WRAPPERS.register_module()
class SDSHOptimWrapper(PerModuleClipMixin, OptimWrapper):
    """:class:`OptimWrapper` with per-module gradient clipping (``clip_grad=dict(max_norm=3.0)``).

    Args:
        optimizer (Optimizer): The optimizer built by :class:`SDSHOptimWrapperConstructor`.
        accumulative_counts (int): Number of iterations whose gradients are accumulated before each step.
            Defaults to 1.
        clip_grad (dict, optional): Arguments of the gradient clipping, applied to each module (backbone,
            DINO head, iBOT head) on its own, e.g. ``dict(max_norm=3.0)``; ``None`` for no clipping.
            Defaults to None.
    """


@OPTIM_WRAPPERS.register_module()
class SDSHAmpOptimWrapper(PerModuleClipMixin, MixedPrecisionOptimWrapper):
    """:class:`MixedPrecisionOptimWrapper` with per-module gradient clipping: float16 with a dynamic loss scale
    on CUDA by default (gradients are unscaled before clipping), ``dtype='bfloat16'`` on CUDA or the CPU.

    Args:
        loss_scale (str or float or dict): Loss scaling for float16: ``'dynamic'``, a static scale, or a dict
            of ``torch.amp.GradScaler`` arguments; ignored for bfloat16. Defaults to 'dynamic'.
        dtype (str or torch.dtype, optional): Autocast dtype, ``'float16'`` or ``'bfloat16'``; ``None``
            picks float16 on CUDA and bfloat16 on the CPU. Defaults to None.
        **kwargs: Arguments of mmengine's ``OptimWrapper``: ``optimizer`` (built by
            :class:`SDSHOptimWrapperConstructor`), ``accumulative_counts`` and ``clip_grad`` (applied to each
            module on its own, e.g. ``dict(max_norm=3.0)``).
    """
