"""DINO's run-time position-embedding interpolation and mmpretrain's ViT with it (DINO, DINOv2 backbones)."""
from typing import Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.registry import MODELS


def interpolate_pos_embed(pos_embed: torch.Tensor, src_grid: Tuple[int, int], dst_grid: Tuple[int, int],
                          offset: float = 0.1, num_extra_tokens: int = 1) -> torch.Tensor:
    """Resize a ``(1, extra + h*w, C)`` position embedding (extra tokens first) as DINO and DINOv2 do at run
    time.

    The patch grid is resized bicubically (no antialiasing) with the scale factor ``(dst + offset) / src``
    rather than an output size (DINO's ``+ 0.1``, DINOv2's ``interpolate_offset=0.1``), which samples
    slightly different positions than ``size=dst`` (mmpretrain's ``resize_pos_embed``). With ``offset=0``
    the output size is given instead.
    """
    if tuple(src_grid) == tuple(dst_grid):
        return pos_embed
    dims = pos_embed.size(-1)
    extra, patch_pos = pos_embed[:, :num_extra_tokens], pos_embed[:, num_extra_tokens:]
    patch_pos = patch_pos.float().reshape(1, src_grid[0], src_grid[1], dims).permute(0, 3, 1, 2)
    if offset:
        scale = ((dst_grid[0] + offset) / src_grid[0], (dst_grid[1] + offset) / src_grid[1])
        patch_pos = F.interpolate(patch_pos, scale_factor=scale, mode='bicubic', antialias=False)
    else:
        patch_pos = F.interpolate(patch_pos, size=tuple(dst_grid), mode='bicubic', antialias=False)
    if tuple(patch_pos.shape[-2:]) != tuple(dst_grid):
        raise RuntimeError(f'position embedding resized to {tuple(patch_pos.shape[-2:])}, expected {dst_grid}')
    patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(1, -1, dims).to(pos_embed.dtype)
    return torch.cat([extra, patch_pos], dim=1)


@MODELS.register_module()
class DINOVisionTransformer(VisionTransformer):
    """mmpretrain's :class:`VisionTransformer` whose position embedding is resized to other input sizes with
    DINO's offset rule (:func:`interpolate_pos_embed`) instead of by output size.

    At the training size (224 px) both give the same tokens; at other sizes only this one matches the
    official DINO model (and so IDDC's features, e.g. at 320 px). Same arguments and state-dict keys as
    ``VisionTransformer``, plus ``interpolate_offset``.

    Args:
        *args: Positional arguments of mmpretrain's ``VisionTransformer`` (``arch``, ``img_size``,
            ``patch_size``, ...).
        interpolate_offset (float): DINO's offset added to the target grid in the interpolation's scale
            factor; 0 resizes by output size, like the parent. Defaults to 0.1.
        **kwargs: Keyword arguments of mmpretrain's ``VisionTransformer``, unchanged: ``arch``, ``img_size``,
            ``patch_size``, ``in_channels``, ``out_indices``, ``drop_rate``, ``drop_path_rate``, ``qkv_bias``,
            ``norm_cfg``, ``final_norm``, ``out_type``, ``with_cls_token``, ``frozen_stages``, ``interpolate_mode``,
            ``layer_scale_init_value``, ``patch_cfg``, ``layer_cfgs``, ``pre_norm``, ``init_cfg``.
    """

    def __init__(self, *args, interpolate_offset: float = 0.1, **kwargs):
        super().__init__(*args, **kwargs)
        self.interpolate_offset = interpolate_offset

    def resized_pos_embed(self, grid: Tuple[int, int]) -> torch.Tensor:
        """The position embedding (extra tokens first) for a patch grid of ``grid``."""
        return interpolate_pos_embed(self.pos_embed, self.patch_resolution, grid, self.interpolate_offset,
                                     self.num_extra_tokens)

    def forward(self, x: torch.Tensor) -> tuple:
        """As ``VisionTransformer.forward``, with the position embedding of :meth:`resized_pos_embed`."""
        tokens, grid = self.patch_embed(x)
        if self.cls_token is not None:
            tokens = torch.cat([self.cls_token.expand(tokens.size(0), -1, -1), tokens], dim=1)
        tokens = self.pre_norm(self.drop_after_pos(tokens + self.resized_pos_embed(grid)))
        outs = []
        for i, layer in enumerate(self.layers):
            tokens = layer(tokens)
            if i == len(self.layers) - 1 and self.final_norm:
                tokens = self.ln1(tokens)
            if i in self.out_indices:
                outs.append(self._format_output(tokens, grid))
        return tuple(outs)
