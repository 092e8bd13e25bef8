"""FALSE's projection neck (VISSL's two-layer MLP head after global average pooling)."""
from typing import Optional, Tuple

import torch
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import nn


@MODELS.register_module()
class LinearProjectionNeck(BaseModule):
    """Global average pooling then ``Linear -> [norm] -> [ReLU] -> Linear``.

    FALSE's official VISSL head is ``mlp [2048, 2048]`` followed by ``mlp [2048, 128]``; VISSL's MLP skips
    the ReLU/BN after its last layer by default, so the released model has no non-linearity between the two
    linear layers (``with_relu=False``, no ``norm_cfg``: the defaults here), which makes the head one linear
    map. ``with_relu=True`` gives the SimCLR-v1 head; adding ``norm_cfg=dict(type='SyncBN')`` (or ``'BN1d'``)
    puts a BatchNorm between the first linear layer (then without bias, which the norm would cancel) and the
    ReLU, as mmpretrain's ``NonLinearNeck`` does for its hidden layer (its SimCLR head also normalises the
    output; this neck does not, the loss L2-normalises it).

    Args:
        in_channels (int): Backbone feature channels. Defaults to 2048.
        hid_channels (int): Hidden width. Defaults to 2048.
        out_channels (int): Embedding size. Defaults to 128.
        with_relu (bool): Whether to put a ReLU between the two linear layers. Defaults to False.
        norm_cfg (dict, optional): Normalisation after the first linear layer, e.g. ``dict(type='SyncBN')``;
            ``None``: none, the released head. Defaults to None.
        with_avg_pool (bool): Whether to average-pool a ``(B, C, H, W)`` feature map first (False for
            ``(B, C)`` vectors). Defaults to True.
        init_cfg (dict, optional): Initialisation config of mmengine's ``BaseModule``; ``None`` keeps
            PyTorch's default initialisation. Defaults to None.
    """

    def __init__(self, in_channels: int = 2048, hid_channels: int = 2048, out_channels: int = 128,
                 with_relu: bool = False, norm_cfg: Optional[dict] = None, with_avg_pool: bool = True,
                 init_cfg=None):
        super().__init__(init_cfg)
        self.with_avg_pool = with_avg_pool
        self.fc0 = nn.Linear(in_channels, hid_channels, bias=norm_cfg is None)
        self.norm0 = build_norm_layer(norm_cfg, hid_channels)[1] if norm_cfg else nn.Identity()
        self.activation = nn.ReLU(inplace=True) if with_relu else nn.Identity()
        self.fc1 = nn.Linear(hid_channels, out_channels)

    def forward(self, x: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        """Project the last backbone output; returns a one-element tuple like mmpretrain necks."""
        feat = x[-1]
        if self.with_avg_pool:
            feat = feat.mean(dim=(2, 3))
        return (self.fc1(self.activation(self.norm0(self.fc0(feat)))), )
