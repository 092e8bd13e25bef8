"""Official DINO ViT checkpoints (facebookresearch/dino) to mmpretrain's ``VisionTransformer`` keys, and IDDC's
released models to the :class:`~rs_ssl_plugin.methods.iddc.segmentor.IDDC` segmentor's keys.

Accepts the backbone-only releases (``dino_deitsmall16_pretrain.pth``, ``dino_deitsmall8_300ep_pretrain.pth``,
...) and the full training checkpoints (the ``teacher`` dict with ``module.``/``backbone.`` prefixes; the
projection head is dropped). Both use timm's layout::

    patch_embed.proj.*             -> patch_embed.projection.*
    blocks.N.norm1.* / norm2.*     -> layers.N.ln1.* / ln2.*
    blocks.N.attn.qkv.* / proj.*   -> layers.N.attn.qkv.* / proj.*   (same fused q, k, v row layout)
    blocks.N.mlp.fc1.* / fc2.*     -> layers.N.ffn.layers.0.0.* / ffn.layers.1.*
    norm.*                         -> ln1.*   (the final LayerNorm)
    cls_token, pos_embed           -> unchanged

The target is ``VisionTransformer(arch='deit-small', patch_size=16 or 8, qkv_bias=True,
final_norm=True)`` with its default LayerNorm eps 1e-6 and layer scale off, as in DINO.
"""
import re
from collections import OrderedDict

from ...checkpoints.conversion import StateDict, register_converter, strip_prefixes

_RENAMES = (
    (re.compile(r'^patch_embed\.proj\.'), 'patch_embed.projection.'),
    (re.compile(r'^blocks\.(\d+)\.norm1\.'), r'layers.\1.ln1.'),
    (re.compile(r'^blocks\.(\d+)\.norm2\.'), r'layers.\1.ln2.'),
    (re.compile(r'^blocks\.(\d+)\.attn\.(qkv|proj)\.'), r'layers.\1.attn.\2.'),
    (re.compile(r'^blocks\.(\d+)\.mlp\.fc1\.'), r'layers.\1.ffn.layers.0.0.'),
    (re.compile(r'^blocks\.(\d+)\.mlp\.fc2\.'), r'layers.\1.ffn.layers.1.'),
    (re.compile(r'^norm\.'), 'ln1.'),
    (re.compile(r'^(cls_token|pos_embed)$'), r'\1'),
)


@register_converter('dino-vit')
def convert_dino_vit(state_dict: StateDict) -> StateDict:
    """Rename official DINO ViT keys to mmpretrain ``VisionTransformer`` keys (see the module docstring)."""
    converted = OrderedDict()
    unknown = []
    for key, value in strip_prefixes(state_dict, ('module.', 'backbone.')).items():
        if key.startswith('head.'):  # DINO projection head of full checkpoints; not part of the ViT
            continue
        for pattern, replacement in _RENAMES:
            if pattern.match(key):
                converted[pattern.sub(replacement, key)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f'keys that are not part of an official DINO ViT checkpoint: {unknown[:10]}')
    if 'pos_embed' not in converted:
        raise KeyError('no pos_embed found: this is not a DINO ViT checkpoint '
                       f'(keys start with {sorted({k.split(".")[0] for k in state_dict})[:10]})')
    return converted


# IDDC release part -> IDDC segmentor part (the head's two convolutions keep their Sequential indices 0 and 2)
_IDDC_PARTS = (('head_nonlinear.', 'head.nonlinear.'), ('classifier.', 'head.classifier.'))


@register_converter('iddc', prefix='')
def convert_iddc_release(state_dict: StateDict) -> StateDict:
    """IDDC's released checkpoints (``{'backbone', 'head_nonlinear', 'classifier'}``, read as
    ``backbone.*``, ``head_nonlinear.*``, ``classifier.*``) to the IDDC segmentor's keys::

        backbone.model.<DINO ViT key>  -> backbone.<mmpretrain ViT key>   (see convert_dino_vit)
        head_nonlinear.{0,2}.*         -> head.nonlinear.{0,2}.*           (Conv3x3, Conv1x1; ReLUs have none)
        classifier.*                   -> head.classifier.*

    ``backbone`` is the official ``DinoFeaturizer``, whose ViT sits under ``model.``. Written without a prefix
    (whole model), the file loads with ``load_from`` / ``tools/test.py``. The released files hold no linear
    probe: set ``model.probe_classes=None`` (or ignore the two missing ``probe.*`` keys).
    """
    state_dict = strip_prefixes(state_dict, ('module.', ))
    parts = {name: OrderedDict((k[len(name):], v) for k, v in state_dict.items() if k.startswith(name))
             for name in ('backbone.', *(source for source, _ in _IDDC_PARTS))}
    missing = [name.rstrip('.') for name, part in parts.items() if not part]
    if missing:
        raise KeyError(f'not an IDDC release: no {missing} weights (expected backbone / head_nonlinear / classifier; '
                       f'found keys starting with {sorted({k.split(".")[0] for k in state_dict})[:10]})')
    unknown = [k for k in state_dict if not k.startswith(tuple(parts))]
    if unknown:
        raise KeyError(f'keys that are not part of an IDDC release: {unknown[:10]}')
    vit = strip_prefixes(parts['backbone.'], ('model.', ))
    converted = OrderedDict(('backbone.' + k, v) for k, v in convert_dino_vit(vit).items())
    for source, target in _IDDC_PARTS:
        converted.update((target + k, v) for k, v in parts[source].items())
    return converted
