from typing import Optional

from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class GELUMLP(BaseModule):
    """``num_layers`` layers with GELU in between and no normalisation (SDCluster's projector and predictor).

    With ``dense=True`` the layers are 1x1 convolutions over (B, C, H, W) maps (the projector), otherwise
    Linear layers over (..., C) vectors (the slot predictor). Weights: truncated normal (std 0.02), zero bias.
    The layers are ``mlp.0, mlp.2, ...``, the official key names.
    """

    def __init__(self, in_channels: int, hidden_channels: int = 2048, out_channels: int = 256, num_layers: int = 3,
                 dense: bool = True, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        layer = (lambda c_in, c_out: nn.Conv2d(c_in, c_out, 1)) if dense else nn.Linear
        widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        layers = []
        for i in range(num_layers):
            layers.append(layer(widths[i], widths[i + 1]))
            if i < num_layers - 1:
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)

    def init_weights(self):
        if self.init_cfg is not None:
            return super().init_weights()
        for module in self.mlp:
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                trunc_normal_(module.weight, std=.02)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x)
