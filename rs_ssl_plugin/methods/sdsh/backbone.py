"""SDSH's backbone: a DINOv2 ViT with mask token, attention-weighted pooling, hash layer and iBOT projection."""
import os.path as osp
from functools import partial
from typing import Callable, Dict, Optional, Tuple

import torch
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.registry import MODELS
from torch import nn

from ...models.vit import DINOVisionTransformer
from .hash_layer import HashLayer
from .pooling import AttentionWeightedPooling

# the official DINOv2 ViT-S/14 release (DINOv2's README)
DINOV2_VITS14_URL = 'https://dl.fbaipublicfiles.com/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth'


def drop_add_residual(x: torch.Tensor, residual: Callable[[torch.Tensor], torch.Tensor],
                      drop_rate: float) -> torch.Tensor:
    """DINOv2's stochastic depth of a residual branch over a batch ``x`` ``(B, ...)``: the branch runs on a
    random subset of ``max(int(B (1 - drop_rate)), 1)`` rows only, and its output, scaled by ``B / subset``,
    is added to those rows; the other rows pass unchanged (a fixed count, not a per-row coin flip)."""
    batch = x.size(0)
    keep = max(int(batch * (1 - drop_rate)), 1)
    rows = torch.randperm(batch, device=x.device)[:keep]
    return torch.index_add(x, 0, rows, residual(x[rows]).to(x.dtype), alpha=batch / keep)


def attention_residual(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The attention branch of an mmpretrain ``TransformerEncoderLayer`` (layer scale included)."""
    return layer.attn(layer.ln1(x))


def ffn_residual(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The feed-forward branch of an mmpretrain ``TransformerEncoderLayer`` (layer scale included)."""
    return layer.ffn.gamma2(layer.ffn.layers(layer.ln2(x)))


@MODELS.register_module()
class SDSHViT(DINOVisionTransformer):
    """DINOv2 ViT with SDSH's hashing modules: mask token, attention-weighted pooling, hash layer, iBOT projection.

    The transformer is mmpretrain's :class:`VisionTransformer` (pre-norm blocks with layer scale, final
    LayerNorm); the ``dinov2-vit`` converter (:mod:`.converter`) maps the official DINOv2 keys onto it.
    The SDSH modules live in the backbone, as in the official code, so they are EMA-averaged into the
    teacher and get learning-rate multiplier 1:

    - ``mask_token``: replaces iBOT-masked patch embeddings (student only) before the position embedding;
    - ``pool_global`` / ``pool_local``: :class:`AttentionWeightedPooling` for the ``img_size`` (224 -> 256
      patches) and ``local_img_size`` (98 -> 49 patches) crops; the instance is picked by the token count;
    - ``hash_layer``: :class:`HashLayer` from the pooled ``2C`` vector to ``hash_bits`` (16/32/48/64);
    - ``ibot_projection``: ``Linear(C, ibot_channels)`` applied to every final-normed patch token.

    Position embeddings are stored for ``img_size`` and resized at run time for other grids with DINOv2's
    offset rule (:class:`~rs_ssl_plugin.models.vit.DINOVisionTransformer`). ``forward`` returns ``(u,)``, the
    continuous code; the retrieval code is ``sign(u)``.

    Args:
        arch (str or dict): mmpretrain ViT arch (``'dinov2-small'``: 384-d, 12 blocks, 6 heads) or a dict.
            Defaults to 'dinov2-small'.
        img_size (int): Global crop size in pixels, the size the position embedding is stored for.
            Defaults to 224.
        local_img_size (int): Local crop size in pixels (a multiple of ``patch_size``). Defaults to 98.
        patch_size (int): Patch size in pixels. Defaults to 14.
        hash_bits (int): Code length (SDSH: 16, 32, 48 or 64). Defaults to 64.
        ibot_channels (int): Width of the iBOT patch projection. Defaults to 256.
        drop_path_rate (float): Stochastic depth, the same for every block (DINOv2 ``drop_path_uniform``;
            SDSH's student: 0.05, the teacher is built with 0). As DINOv2's blocks on crop lists, each branch
            of each block skips a fixed share of the batch in training (:func:`drop_add_residual`: 121 of 128
            rows kept at 0.05). Defaults to 0.
        layer_scale_init_value (float): Layer-scale init (pretrained values come from the checkpoint).
            Defaults to 1e-5.
        interpolate_offset (float): DINOv2 position-embedding interpolation offset. Defaults to 0.1.
        init_cfg (dict, optional): Initialisation config, e.g. ``dict(type='Pretrained', checkpoint=...)``
            with an official DINOv2 or converted checkpoint. Defaults to None.
        **kwargs: Other arguments of mmpretrain's ``VisionTransformer`` (``qkv_bias``, ``norm_cfg``,
            ``drop_rate``, ``interpolate_mode``, ``patch_cfg``, ...); ``out_type``, ``final_norm``,
            ``with_cls_token`` and ``layer_cfgs`` are fixed and refused.
    """

    def __init__(self, arch='dinov2-small', img_size: int = 224, local_img_size: int = 98, patch_size: int = 14,
                 hash_bits: int = 64, ibot_channels: int = 256, drop_path_rate: float = 0.,
                 layer_scale_init_value: float = 1e-5, interpolate_offset: float = 0.1, init_cfg=None, **kwargs):
        for key in ('out_type', 'final_norm', 'with_cls_token', 'layer_cfgs'):
            if key in kwargs:
                raise ValueError(f'SDSHViT fixes {key!r}; it cannot be set')
        super().__init__(arch=arch, img_size=img_size, patch_size=patch_size, out_type='raw', final_norm=True,
                         with_cls_token=True, layer_scale_init_value=layer_scale_init_value,
                         interpolate_offset=interpolate_offset, init_cfg=init_cfg, **kwargs)
        if local_img_size % patch_size or img_size % patch_size:
            raise ValueError(f'img_size {img_size} and local_img_size {local_img_size} must be multiples of '
                             f'patch_size {patch_size}')
        self.hash_bits = hash_bits
        # the blocks are built without DropPath: forward_tokens drops batch subsets instead
        self.drop_path_rate = drop_path_rate
        dims = self.embed_dims
        self.mask_token = nn.Parameter(torch.zeros(1, dims))
        num_global = self.patch_resolution[0] * self.patch_resolution[1]
        num_local = (local_img_size // patch_size) ** 2
        self.pool_global = AttentionWeightedPooling(dims, dims, num_global)
        self.pool_local = AttentionWeightedPooling(dims, dims, num_local)
        self.hash_layer = HashLayer(2 * dims, hash_bits)
        self.ibot_projection = nn.Linear(dims, ibot_channels)
        self._register_load_state_dict_pre_hook(self._convert_official_keys)

    def _convert_official_keys(self, state_dict, prefix, *args, **kwargs):
        """Accept an official DINOv2 state dict (``blocks.N.*``, ``norm.*``) directly: rename its keys with
        the ``dinov2-vit`` converter (pos-embed resized by size to this model's grid, as SDSH does)."""
        if f'{prefix}blocks.0.norm1.weight' not in state_dict:
            return
        from .converter import TOP_KEYS, convert_dinov2_vit
        official = [k for k in state_dict
                    if k.startswith(f'{prefix}blocks.') or k[len(prefix):] in TOP_KEYS and k.startswith(prefix)]
        converted = convert_dinov2_vit({k[len(prefix):]: state_dict.pop(k) for k in official},
                                       grid=self.patch_resolution[0])
        state_dict.update({prefix + k: v for k, v in converted.items()})

    def init_weights(self):
        """DINOv2's init of the SDSH Linear layers (truncated normal, std 0.02, zero bias), then the ViT's.

        The SDSH layers are drawn first because mmengine loads a ``Pretrained`` ``init_cfg`` last, inside
        ``super().init_weights()``: what the checkpoint holds (a trained SDSH backbone) replaces the draw,
        what it lacks (a DINOv2 checkpoint has no SDSH layers) keeps it.
        """
        if not self.is_init:
            self._require_pretrained_file()
            for module in (self.pool_global, self.pool_local, self.hash_layer, self.ibot_projection):
                for layer in module.modules():
                    if isinstance(layer, nn.Linear):
                        trunc_normal_(layer.weight, std=0.02)
                        nn.init.zeros_(layer.bias)
        super().init_weights()

    def _require_pretrained_file(self):
        """A missing local ``Pretrained`` checkpoint is refused with the commands that make it: mmengine's own
        error names neither the DINOv2 release nor its conversion."""
        init_cfgs = self.init_cfg if isinstance(self.init_cfg, list) else [self.init_cfg]
        for cfg in init_cfgs:
            path = cfg.get('checkpoint') if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained' else None
            if path and '://' not in str(path) and not osp.isfile(path):
                raise FileNotFoundError(
                    f'the pretrained checkpoint {path} of SDSHViT does not exist. SDSH starts from DINOv2 ViT-S/14: '
                    f'download {DINOV2_VITS14_URL} and convert it once with\n'
                    f'  python tools/model_converters/convert_official.py dinov2_vits14_pretrain.pth {path} '
                    '--format dinov2-vit\n(docs/sdsh.md, how to reproduce)')

    def forward_tokens(self, x: torch.Tensor, masks: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Final-normed tokens ``(B, 1 + N, C)`` (class token first); ``masks`` ``(B, h, w)`` or ``(B, N)``
        bool marks the patches replaced by the mask token."""
        return self.tokens_and_grid(x, masks)[0]

    def tokens_and_grid(self, x: torch.Tensor,
                        masks: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """:meth:`forward_tokens` and the patch grid ``(h, w)``."""
        tokens, grid = self.patch_embed(x)
        if masks is not None:
            tokens = torch.where(masks.flatten(1).unsqueeze(-1), self.mask_token.to(tokens.dtype), tokens)
        tokens = torch.cat([self.cls_token.expand(tokens.size(0), -1, -1), tokens], dim=1)
        tokens = tokens + self.resized_pos_embed(grid)
        tokens = self.pre_norm(self.drop_after_pos(tokens))
        for layer in self.layers:
            if self.training and self.drop_path_rate > 0:
                tokens = drop_add_residual(tokens, partial(attention_residual, layer), self.drop_path_rate)
                tokens = drop_add_residual(tokens, partial(ffn_residual, layer), self.drop_path_rate)
            else:
                tokens = layer(tokens)
        return self.ln1(tokens), grid

    def forward_feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The final-normed patch tokens as a ``(B, C, h, w)`` map, for inputs of any size (the position
        embedding is interpolated as DINOv2 does; the pooling, fixed to two patch counts, is not run)."""
        tokens, grid = self.tokens_and_grid(x)
        return tokens[:, 1:].transpose(1, 2).reshape(x.size(0), -1, *grid)

    def forward_hash(self, x: torch.Tensor, masks: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """SDSH outputs of one crop size: ``hash`` u ``(B, bits)``, ``pooled`` v_e ``(B, 2C)``, ``ibot``
        projected patch tokens ``(B, N, ibot_channels)``. Global or local pooling is chosen by N."""
        tokens = self.forward_tokens(x, masks)
        cls_token, patch_tokens = tokens[:, 0], tokens[:, 1:]
        num_patches = patch_tokens.size(1)
        if num_patches == self.pool_global.num_patches:
            pool = self.pool_global
        elif num_patches == self.pool_local.num_patches:
            pool = self.pool_local
        else:
            raise ValueError(f'input {tuple(x.shape[-2:])} gives {num_patches} patches; SDSHViT pools '
                             f'{self.pool_global.num_patches} (global) or {self.pool_local.num_patches} '
                             '(local) patches only')
        pooled = pool(cls_token, patch_tokens)
        return dict(hash=self.hash_layer(pooled), pooled=pooled, ibot=self.ibot_projection(patch_tokens))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        """``(u,)``: the continuous hash code ``(B, hash_bits)`` of ``x``."""
        return (self.forward_hash(x)['hash'], )
