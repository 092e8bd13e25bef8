"""Official DINO ViT checkpoints (facebookresearch/dino) to mmpretrain's ``VisionTransformer`` keys.

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
