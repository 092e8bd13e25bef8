"""IDDC's trainable clustering head on frozen backbone features."""
from typing import Optional, Tuple

import torch
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import nn


@MODELS.register_module()
class IDDCHead(BaseModule):
    """IDDC's trainable clustering head on frozen features::

        inter  = ReLU(Conv1x1(ReLU(Conv3x3(feats))))     # (B, channels, h, w)
        logits = Conv1x1(inter)                           # (B, num_clusters, h, w)

    No normalisation layers; PyTorch's default initialisation (as in the official code).

    Args:
        in_channels (int): Backbone feature channels (384 for ViT-S). Defaults to 384.
        num_clusters (int): Number of clusters K (27 for COCO-Stuff-27, no over-clustering). Defaults to 27.
        channels (int, optional): Width of the two convolutions; ``None`` takes ``in_channels``.
            Defaults to None.
        init_cfg (dict, optional): Initialisation config of mmengine's ``BaseModule``; ``None`` keeps
            PyTorch's default initialisation. Defaults to None.
    """

    def __init__(self, in_channels: int = 384, num_clusters: int = 27, channels: Optional[int] = None,
                 init_cfg=None):
        super().__init__(init_cfg)
        channels = channels or in_channels
        self.num_clusters = num_clusters
        self.channels = channels
        self.nonlinear = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 1), nn.ReLU())
        self.classifier = nn.Conv2d(channels, num_clusters, 1)

    def forward(self, feats: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(inter, logits)``: the non-linear code (input of the optional linear probe) and the cluster logits."""
        inter = self.nonlinear(feats)
        return inter, self.classifier(inter)
