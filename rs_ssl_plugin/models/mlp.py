"""The GELU MLP shared by SDCluster's projector and predictor and SDSH's DINO heads."""
from mmengine.model.weight_init import trunc_normal_
from torch import nn

__all__ = ['gelu_mlp', 'init_truncated_normal']


def gelu_mlp(in_channels: int, hidden_channels: int, out_channels: int, num_layers: int,
             dense: bool = False) -> nn.Sequential:
    """``num_layers`` layers ``in -> hidden -> ... -> hidden -> out`` with GELU in between: no activation
    after the last layer and no normalisation; with ``dense=True`` the layers are 1x1 convolutions over
    ``(B, C, H, W)`` maps, otherwise Linear layers. The layers are ``0, 2, 4, ...`` in the state dict (the
    official SDCluster and DINOv2 key names)."""
    if num_layers < 1:
        raise ValueError(f'num_layers must be at least 1, got {num_layers}')
    widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
    layers = []
    for i, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Conv2d(width_in, width_out, 1) if dense else nn.Linear(width_in, width_out))
        if i < len(widths) - 2:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


def init_truncated_normal(mlp: nn.Sequential, std: float = 0.02) -> None:
    """Truncated-normal weights (std 0.02) and zero biases for every Linear/Conv2d of ``mlp`` (timm's init)."""
    for layer in mlp:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            trunc_normal_(layer.weight, std=std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
