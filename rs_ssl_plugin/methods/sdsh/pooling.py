"""SDSH's attention-weighted pooling (AWP) of ViT class and patch tokens."""
import torch
from torch import nn


class AttentionWeightedPooling(nn.Module):
    """SDSH's attention-based weighted pooling (AWP) of ViT tokens.

    From the class token and the mean patch token an MLP predicts one sigmoid weight per patch::

        g   = [cls, mean_n(p_n)]                          (B, 2C)
        a   = sigmoid(W2 GELU(W1 g))                      (B, N)
        v_e = LayerNorm([cls, mean_n(a_n * p_n)])         (B, 2C)

    The weights are not normalised (the weighted patches are averaged over N), and the last Linear has
    exactly ``num_patches`` outputs, so an instance serves one input resolution only: SDSH uses one for
    224-px global crops (256 patches) and one for 98-px local crops (49 patches).

    Args:
        embed_dims: token width C.
        hidden_dims: width of the MLP's hidden layer (SDSH: C).
        num_patches: N, the number of patch tokens of the resolution served.
    """

    def __init__(self, embed_dims: int, hidden_dims: int, num_patches: int):
        super().__init__()
        self.num_patches = num_patches
        self.attention = nn.Sequential(
            nn.Linear(2 * embed_dims, hidden_dims), nn.GELU(), nn.Linear(hidden_dims, num_patches), nn.Sigmoid())
        self.norm = nn.LayerNorm(2 * embed_dims, eps=1e-6)

    def forward(self, cls_token: torch.Tensor, patch_tokens: torch.Tensor) -> torch.Tensor:
        """``(B, C)`` class token and ``(B, N, C)`` patch tokens -> ``(B, 2C)`` pooled vector ``v_e``."""
        if patch_tokens.size(1) != self.num_patches:
            raise ValueError(f'this attention-weighted pooling serves {self.num_patches} patches, got '
                             f'{patch_tokens.size(1)}: SDSH needs fixed global/local crop sizes')
        weights = self.attention(torch.cat([cls_token, patch_tokens.mean(dim=1)], dim=1))
        weighted = (patch_tokens * weights.unsqueeze(-1)).mean(dim=1)
        return self.norm(torch.cat([cls_token, weighted], dim=1))

