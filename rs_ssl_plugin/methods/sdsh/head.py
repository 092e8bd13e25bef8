"""SDSH's DINOv2 projection head, used for both the DINO and the iBOT loss."""
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from ...models.mlp import gelu_mlp, init_truncated_normal


@MODELS.register_module()
class SDSHDINOHead(BaseModule):
    """DINOv2 projection head: MLP, L2 normalisation, weight-normalised prototype layer.

    ``in -> hidden -> GELU -> ... -> bottleneck`` (``num_layers`` Linear layers, truncated-normal
    std 0.02 init, zero bias), ``x / ||x||``, then ``Linear(bottleneck, num_prototypes, bias=False)``
    with weight normalisation and the norm parameter ``g`` set to 1. SDSH uses it twice: the DINO head
    on the continuous hash vector (``in_channels = hash_bits``) and the iBOT head on the 256-d patch
    projection. The prototype layer is named ``last_layer`` (its learning rate is frozen at the start).

    Args:
        in_channels (int): Input width (inside :class:`SDSH` set from the backbone: ``hash_bits`` for the
            DINO head, ``ibot_channels`` for the iBOT head).
        num_prototypes (int): K, the number of output logits (SDSH: 65536). Defaults to 65536.
        hidden_channels (int): MLP hidden width. Defaults to 2048.
        bottleneck_channels (int): MLP output width before the normalisation. Defaults to 256.
        num_layers (int): Linear layers in the MLP. Defaults to 3.
        init_cfg (dict, optional): Initialisation config of mmengine's ``BaseModule``; ``None`` keeps the
            initialisation described above. Defaults to None.
    """

    def __init__(self, in_channels: int, num_prototypes: int = 65536, hidden_channels: int = 2048,
                 bottleneck_channels: int = 256, num_layers: int = 3, init_cfg=None):
        super().__init__(init_cfg)
        self.mlp = gelu_mlp(in_channels, hidden_channels, bottleneck_channels, num_layers)
        init_truncated_normal(self.mlp)
        self.last_layer = weight_norm(nn.Linear(bottleneck_channels, num_prototypes, bias=False))
        with torch.no_grad():
            self.last_layer.parametrizations.weight.original0.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Prototype logits ``(N, num_prototypes)`` of the L2-normalised MLP output."""
        x = self.mlp(x)
        x = F.normalize(x, dim=-1, p=2, eps=1e-6 if x.dtype == torch.float16 else 1e-12)
        return self.last_layer(x)
