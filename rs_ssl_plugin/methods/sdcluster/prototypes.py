"""SDCluster's learnable cluster prototypes: cosine scores of dense embeddings and slot pooling."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import nn


@MODELS.register_module()
class ClusterPrototypes(BaseModule):
    """K learnable prototypes scoring dense embeddings by cosine similarity and pooling one slot each.

    ``prototype_embed`` keeps the official key name and PyTorch's N(0, 1) embedding init.

    Args:
        num_prototypes (int): Number of prototypes (clusters) K. Defaults to 256.
        dim (int): Dimension of the prototypes, equal to the channels of the dense embeddings. Defaults to 256.
        pool_temperature (float): Temperature of the softmax over prototypes that weights the pixels pooled
            into each slot. Defaults to 0.07.
        eps (float): Added to every pooling weight before normalising over the pixels, so that a prototype
            without pixels still gets a slot. Defaults to 1e-6.
        init_cfg (dict, optional): Initialisation config of mmengine's ``BaseModule``. Defaults to None.
    """

    def __init__(self, num_prototypes: int = 256, dim: int = 256, pool_temperature: float = 0.07,
                 eps: float = 1e-6, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.pool_temperature = pool_temperature
        self.eps = eps
        self.prototype_embed = nn.Embedding(num_prototypes, dim)

    def scores(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Cosine similarity (B, K, H, W) between every prototype and every pixel of (B, D, H, W)."""
        return torch.einsum('kd,bdhw->bkhw', F.normalize(self.prototype_embed.weight, dim=1),
                            F.normalize(embeddings, dim=1))

    def pool(self, embeddings: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Slots (B, K, D): per prototype, the average of the un-normalised embeddings weighted by
        ``softmax_k(scores / tau) + eps`` over the pixels."""
        attention = (scores / self.pool_temperature).softmax(dim=1) + self.eps
        attention = attention / attention.sum(dim=(2, 3), keepdim=True)
        return torch.einsum('bdhw,bkhw->bkd', embeddings, attention)
