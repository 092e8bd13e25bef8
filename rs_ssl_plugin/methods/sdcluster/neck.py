"""SDCluster's projector and slot predictor: a GELU MLP without normalisation."""
from typing import Optional

from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from ...models.mlp import gelu_mlp, init_truncated_normal


@MODELS.register_module()
class GELUMLP(BaseModule):
    """``num_layers`` layers with GELU in between and no normalisation (SDCluster's projector and predictor).

    With ``dense=True`` the layers are 1x1 convolutions over (B, C, H, W) maps (the projector), otherwise
    Linear layers over (..., C) vectors (the slot predictor). Weights: truncated normal (std 0.02), zero bias.
    The layers are ``mlp.0, mlp.2, ...``, the official key names.

    Args:
        in_channels (int): Channels of the input (the projector: 768, the Swin-S features; the predictor:
            256).
        hidden_channels (int): Width of the hidden layers. Defaults to 2048.
        out_channels (int): Channels of the output. Defaults to 256.
        num_layers (int): Number of layers (at least 1): ``in -> hidden -> ... -> hidden -> out``.
            Defaults to 3.
        dense (bool): Whether the layers are 1x1 convolutions over ``(B, C, H, W)`` maps (True) or Linear
            layers over ``(..., C)`` vectors (False). Defaults to True.
        init_cfg (dict, optional): Initialisation config of mmengine's ``BaseModule``; ``None`` uses the
            initialisation described above. Defaults to None.
    """

    def __init__(self, in_channels: int, hidden_channels: int = 2048, out_channels: int = 256, num_layers: int = 3,
                 dense: bool = True, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.mlp = gelu_mlp(in_channels, hidden_channels, out_channels, num_layers, dense)

    def init_weights(self):
        """``init_cfg`` if given, else truncated normal (std 0.02) weights and zero biases."""
        if self.init_cfg is not None:
            return super().init_weights()
        init_truncated_normal(self.mlp)

    def forward(self, x: Tensor) -> Tensor:
        """The MLP of ``x``: ``(B, C, H, W)`` maps with ``dense=True``, ``(..., C)`` vectors otherwise."""
        return self.mlp(x)
