"""Official DINOv2 ViT checkpoints (``dinov2_vits14_pretrain.pth``) -> :class:`SDSHViT` / mmpretrain ViT keys."""
import re
from collections import OrderedDict

import torch
import torch.nn.functional as F

from ...checkpoints.conversion import StateDict, register_converter, strip_prefixes

# official block sub-key -> mmpretrain TransformerEncoderLayer sub-key
BLOCK_KEYS = {
    'norm1': 'ln1',
    'attn.qkv': 'attn.qkv',
    'attn.proj': 'attn.proj',
    'ls1.gamma': 'attn.gamma1.weight',
    'norm2': 'ln2',
    'mlp.fc1': 'ffn.layers.0.0',
    'mlp.fc2': 'ffn.layers.1',
    'ls2.gamma': 'ffn.gamma2.weight',
}
TOP_KEYS = {'cls_token': 'cls_token', 'pos_embed': 'pos_embed', 'mask_token': 'mask_token',
            'patch_embed.proj.weight': 'patch_embed.projection.weight',
            'patch_embed.proj.bias': 'patch_embed.projection.bias', 'norm.weight': 'ln1.weight',
            'norm.bias': 'ln1.bias'}
BLOCK_PATTERN = re.compile(r'^blocks\.(\d+)\.(.+?)(\.weight|\.bias)?$')


def resize_pos_embed_grid(pos_embed: torch.Tensor, grid: int) -> torch.Tensor:
    """``(1, 1 + g*g, C)`` -> ``(1, 1 + grid*grid, C)``: the patch part resized bicubically to ``grid x grid``
    by output size (no antialiasing), the class-token entry kept, as SDSH does once when loading DINOv2."""
    num_patches = pos_embed.size(1) - 1
    src = int(round(num_patches ** 0.5))
    if src * src != num_patches:
        raise ValueError(f'pos_embed has {num_patches} patch positions, not a square grid')
    if src == grid:
        return pos_embed
    dims = pos_embed.size(-1)
    patch = pos_embed[:, 1:].float().reshape(1, src, src, dims).permute(0, 3, 1, 2)
    patch = F.interpolate(patch, size=(grid, grid), mode='bicubic', antialias=False)
    patch = patch.permute(0, 2, 3, 1).reshape(1, grid * grid, dims).to(pos_embed.dtype)
    return torch.cat([pos_embed[:, :1], patch], dim=1)


def convert_dinov2_vit(state_dict: StateDict, grid: int = 16) -> StateDict:
    """Rename official DINOv2 ViT keys to mmpretrain ``VisionTransformer`` keys and resize ``pos_embed``
    to ``grid x grid`` patches (16 for 224-px input at patch 14). The official ``mask_token`` (1, C) is kept.

    Raises ``ValueError`` naming the key for anything not in the plain DINOv2 ViT layout (register tokens,
    chunked blocks, SwiGLU FFNs, heads).
    """
    state_dict = strip_prefixes(state_dict, ('module.', 'backbone.'))
    out = OrderedDict()
    for key, value in state_dict.items():
        if key in TOP_KEYS:
            out[TOP_KEYS[key]] = value
            continue
        match = BLOCK_PATTERN.match(key)
        if match is None or match.group(2) not in BLOCK_KEYS:
            raise ValueError(f'unexpected key {key!r} for a DINOv2 ViT checkpoint (expected cls_token, pos_embed, '
                             'mask_token, patch_embed.proj.*, blocks.N.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,'
                             'mlp.fc1,mlp.fc2,ls2.gamma}, norm.*)')
        index, name, suffix = match.group(1), match.group(2), match.group(3) or ''
        out[f'layers.{index}.{BLOCK_KEYS[name]}{suffix}'] = value
    missing = [k for k in ('cls_token', 'pos_embed', 'patch_embed.projection.weight') if k not in out]
    if missing:
        raise ValueError(f'DINOv2 checkpoint lacks {missing}')
    out['pos_embed'] = resize_pos_embed_grid(out['pos_embed'], grid)
    return out


@register_converter('dinov2-vit')
def convert_dinov2_vit_224(state_dict: StateDict) -> StateDict:
    """Official DINOv2 ViT (e.g. ``dinov2_vits14_pretrain.pth``) for :class:`SDSHViT` at 224 px (16 x 16)."""
    return convert_dinov2_vit(state_dict, grid=16)
