"""The output-stride-16 Swin Transformer of SDCluster, with the official state-dict key layout.

Only stages 0 and 1 merge patches. Between stages 2 and 3 a bias-free ``Linear(C, 2C)`` doubles the channels
at the same resolution (no LayerNorm), so a 224 input gives ``96@56, 192@28, 384@14, 768@14`` for Swin-S.
Stage 3 owns the same kind of ``Linear`` as stage 2; the official model computes it and discards the result,
so it is kept for the key layout (``layers.3.linear.weight``) but never run.

Keys: ``patch_embed.{proj,norm}``, ``layers.{i}.blocks.{j}.{norm1,attn.qkv,attn.proj,
attn.relative_position_bias_table,attn.relative_position_index,norm2,mlp.fc1,mlp.fc2}``,
``layers.{0,1}.downsample.{norm,reduction}``, ``layers.{2,3}.linear``, ``norm{i}`` for each output stage.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks.drop import drop_path
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmseg.registry import MODELS as MMSEG_MODELS
from torch import nn


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * H/ws * W/ws, ws * ws, C)."""
    b, h, w, c = x.shape
    x = x.view(b, h // window_size, window_size, w // window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size * window_size, c)


def window_reverse(windows: torch.Tensor, window_size: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B * nW, ws * ws, C) -> (B, H, W, C)."""
    c = windows.shape[-1]
    b = windows.shape[0] // ((h // window_size) * (w // window_size))
    x = windows.view(b, h // window_size, w // window_size, window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


def shifted_window_mask(h: int, w: int, window_size: int, shift: int, device) -> torch.Tensor:
    """Additive mask (nW, ws*ws, ws*ws) keeping attention inside the regions of a cyclically shifted map.

    -100 rather than -inf, as in the official model: the same softmax, and finite in fp16."""
    region = torch.zeros(1, h, w, 1, device=device)
    bands = (slice(0, -window_size), slice(-window_size, -shift), slice(-shift, None))
    label = 0
    for hs in bands:
        for ws in bands:
            region[:, hs, ws, :] = label
            label += 1
    regions = window_partition(region, window_size).squeeze(-1)
    mask = regions.unsqueeze(1) - regions.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.).masked_fill(mask == 0, 0.)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows with a learned relative position bias."""

    def __init__(self, dim: int, window_size: int, num_heads: int, qkv_bias: bool = True,
                 attn_drop: float = 0., proj_drop: float = 0.):
        super().__init__()
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1)**2, num_heads))
        coords = torch.stack(torch.meshgrid(torch.arange(window_size), torch.arange(window_size),
                                            indexing='ij')).flatten(1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window_size - 1)
        # persistent, as in the official model, so released checkpoints load strictly
        self.register_buffer('relative_position_index', relative[..., 0] * (2 * window_size - 1) + relative[..., 1])
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``x``: (B * nW, N, C); ``mask``: (nW, N, N) additive or None."""
        bw, n, c = x.shape
        q, k, v = self.qkv(x).view(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)  # (1, heads, N, N)
        if mask is not None:
            windows = mask.shape[0]
            bias = (bias.unsqueeze(1) + mask[None, :, None]).expand(bw // windows, -1, -1, -1, -1)
            bias = bias.reshape(bw, self.num_heads, n, n)
        # fused kernel: same maths as softmax(q k^T * d^-0.5 + bias) v
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype),
                                           dropout_p=self.attn_drop if self.training else 0.)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(bw, n, c)))


class Mlp(nn.Module):
    """Linear-GELU-Linear."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``fc2(GELU(fc1(x)))`` with dropout after the activation and the output."""
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class SwinBlock(nn.Module):
    """(Shifted-)window attention and MLP, each pre-norm with a residual and stochastic depth."""

    def __init__(self, dim: int, num_heads: int, window_size: int, shift: int, mlp_ratio: float,
                 qkv_bias: bool, drop: float, attn_drop: float, drop_path_rate: float):
        super().__init__()
        self.window_size = window_size
        self.shift = shift
        self.drop_path_rate = drop_path_rate
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads, qkv_bias, attn_drop, drop)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x: torch.Tensor, hw: Tuple[int, int], mask: Optional[torch.Tensor]) -> torch.Tensor:
        """Tokens ``(B, h * w, C)`` after the block; the map is padded to whole windows for attention only."""
        h, w = hw
        b, _, c = x.shape
        ws = self.window_size
        y = self.norm1(x).view(b, h, w, c)
        pad_b, pad_r = (ws - h % ws) % ws, (ws - w % ws) % ws
        if pad_b or pad_r:
            y = F.pad(y, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = h + pad_b, w + pad_r
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = window_reverse(self.attn(window_partition(y, ws), mask if self.shift else None), ws, hp, wp)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        y = y[:, :h, :w].reshape(b, h * w, c)
        x = x + drop_path(y, self.drop_path_rate, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path_rate, self.training)


class PatchMerging(nn.Module):
    """2x2 neighbourhood concatenation, LayerNorm and a bias-free Linear(4C, 2C): halves H and W."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Merged tokens ``(B, ceil(h/2) * ceil(w/2), 2C)`` and their grid size (odd sides zero-padded)."""
        h, w = hw
        b, _, c = x.shape
        x = x.view(b, h, w, c)
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.flatten(1, 2))), ((h + 1) // 2, (w + 1) // 2)


class SwinStage(nn.Module):
    """Blocks, then either patch merging (stages 0-1) or the channel-doubling ``linear`` (stages 2-3)."""

    def __init__(self, dim: int, depth: int, num_heads: int, window_size: int, mlp_ratio: float,
                 qkv_bias: bool, drop: float, attn_drop: float, drop_path_rates: Sequence[float],
                 merge_patches: bool):
        super().__init__()
        self.window_size = window_size
        self.blocks = nn.ModuleList([
            SwinBlock(dim, num_heads, window_size, 0 if i % 2 == 0 else window_size // 2, mlp_ratio, qkv_bias,
                      drop, attn_drop, drop_path_rates[i]) for i in range(depth)
        ])
        if merge_patches:
            self.downsample = PatchMerging(dim)
        else:
            self.linear = nn.Linear(dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """Tokens ``(B, h * w, C)`` after the stage's blocks (the transition is :meth:`transition`)."""
        ws = self.window_size
        hp, wp = -(-hw[0] // ws) * ws, -(-hw[1] // ws) * ws
        mask = shifted_window_mask(hp, wp, ws, ws // 2, x.device) if len(self.blocks) > 1 else None
        for block in self.blocks:
            x = block(x, hw, mask)
        return x

    def transition(self, x: torch.Tensor, hw: Tuple[int, int]) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Input of the next stage."""
        if hasattr(self, 'downsample'):
            return self.downsample(x, hw)
        return self.linear(x), hw


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection (right/bottom zero padding to a multiple of the patch) + LayerNorm."""

    def __init__(self, in_channels: int, embed_dim: int, patch_size: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, embed_dim, patch_size, patch_size)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Normalised patch tokens ``(B, h * w, C)`` and the patch grid ``(h, w)``."""
        p = self.patch_size
        h, w = x.shape[-2:]
        if h % p or w % p:
            x = F.pad(x, (0, (p - w % p) % p, 0, (p - h % p) % p))
        x = self.proj(x)
        hw = x.shape[-2:]
        return self.norm(x.flatten(2).transpose(1, 2)), (hw[0], hw[1])


class SwinTransformerOS16(BaseModule):
    """Swin Transformer with output stride 16 (SDCluster's backbone); Swin-S by default.

    The last stage keeps the resolution of the third (no patch merging before it), so the strides are 4, 8,
    16 and 16 and stage ``i`` has ``embed_dim * 2**i`` channels.

    Args:
        in_channels (int): Input bands (3 for RGB; other values for multispectral input). Defaults to 3.
        embed_dim (int): Channels of the patch embedding and the first stage. Defaults to 96.
        depths (Sequence[int]): Number of Swin blocks per stage. Defaults to (2, 2, 18, 2).
        num_heads (Sequence[int]): Attention heads per stage. Defaults to (3, 6, 12, 24).
        window_size (int): Side of the attention windows in tokens. Defaults to 7.
        mlp_ratio (float): Hidden width of the blocks' MLPs relative to their channels. Defaults to 4.
        qkv_bias (bool): Whether the query, key and value projections have a bias. Defaults to True.
        drop_rate (float): Dropout after the patch embedding and in the blocks. Defaults to 0.
        attn_drop_rate (float): Dropout of the attention weights. Defaults to 0.
        drop_path_rate (float): Stochastic depth of the last block, rising linearly from 0 over the blocks.
            Defaults to 0.2.
        out_indices (Sequence[int]): Stages whose (normed) outputs are returned, as NCHW maps.
            Defaults to (0, 1, 2, 3).
        init_cfg (dict, optional): Initialisation config, e.g. ``dict(type='Pretrained', checkpoint=...,
            prefix='backbone.')``; ``None`` uses truncated-normal weights. Defaults to None.
    """

    def __init__(self, in_channels: int = 3, embed_dim: int = 96, depths: Sequence[int] = (2, 2, 18, 2),
                 num_heads: Sequence[int] = (3, 6, 12, 24), window_size: int = 7, mlp_ratio: float = 4.,
                 qkv_bias: bool = True, drop_rate: float = 0., attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.2, out_indices: Sequence[int] = (0, 1, 2, 3),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        num_stages = len(depths)
        self.out_indices = tuple(out_indices)
        self.num_features = [embed_dim * 2**i for i in range(num_stages)]
        self.patch_embed = PatchEmbed(in_channels, embed_dim, 4)
        self.pos_drop = nn.Dropout(drop_rate)
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.layers = nn.ModuleList()
        for i, depth in enumerate(depths):
            start = sum(depths[:i])
            self.layers.append(
                SwinStage(self.num_features[i], depth, num_heads[i], window_size, mlp_ratio, qkv_bias, drop_rate,
                          attn_drop_rate, rates[start:start + depth], merge_patches=i < num_stages - 2))
        for i in self.out_indices:
            self.add_module(f'norm{i}', nn.LayerNorm(self.num_features[i]))

    def init_weights(self):
        """``init_cfg`` if given, else truncated normal (std 0.02) Linear weights and bias tables, zero biases."""
        if self.init_cfg is not None:
            return super().init_weights()
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, WindowAttention):
                trunc_normal_(module.relative_position_bias_table, std=.02)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Normed ``(B, C_i, H_i, W_i)`` maps of the ``out_indices`` stages (strides 4, 8, 16, 16)."""
        x, hw = self.patch_embed(x)
        x = self.pos_drop(x)
        outs: List[torch.Tensor] = []
        last = max(self.out_indices)
        for i, stage in enumerate(self.layers[:last + 1]):
            x = stage(x, hw)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x)
                outs.append(out.view(-1, hw[0], hw[1], self.num_features[i]).permute(0, 3, 1, 2).contiguous())
            if i < last:
                x, hw = stage.transition(x, hw)
        return tuple(outs)


MMPRETRAIN_MODELS.register_module(module=SwinTransformerOS16)
MMSEG_MODELS.register_module(module=SwinTransformerOS16)
