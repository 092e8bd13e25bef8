"""SDCluster's cluster visualiser network (``ClusterEval``): config, checkpoint loading and per-pixel cluster ids."""
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.model import BaseModule
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from ...checkpoints.fit import require_checkpoint_fits
from ...checkpoints.reading import read_state_dict
from .converter import convert_sdcluster_clustereval

IMAGENET_MEAN_RGB = (123.675, 116.28, 103.53)
IMAGENET_STD_RGB = (58.395, 57.12, 57.375)


@MODELS.register_module()
class ClusterEval(BaseModule):
    """SDCluster's cluster visualiser network: encoder, projector and prototypes, inference only.

    ``forward`` returns the cosine score map (B, K, ceil(H/16), ceil(W/16)) of every prototype; its argmax
    over K is the cluster map. Keys (``encoder.*``, ``projector.mlp.*``, ``assign.prototype_embed.weight``)
    are those of the released ``ClusterEval.pt``; ``tools/model_converters/convert_official.py --format
    sdcluster-clustereval`` also builds this layout from an SDCluster training checkpoint (teacher branch).

    Args:
        encoder (dict): Config of the backbone (official: ``dict(type='SwinTransformerOS16')``); its last
            output is used.
        projector (dict): Config of the dense projector (:class:`GELUMLP` with ``dense=True``).
        assign (dict): Config of the prototypes (:class:`ClusterPrototypes`).
        init_cfg (dict, optional): Initialisation config of mmengine's ``BaseModule``. Defaults to None.
    """

    def __init__(self, encoder: dict, projector: dict, assign: dict, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.encoder = MODELS.build(encoder)
        self.projector = MODELS.build(projector)
        self.assign = MODELS.build(assign)

    @torch.no_grad()
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Cosine scores ``(B, K, ceil(H/16), ceil(W/16))`` of every prototype."""
        return self.assign.scores(self.projector(self.encoder(inputs)[-1]))


def cluster_eval_config(config_path: Optional[str] = None, cfg_options: Optional[dict] = None) -> dict:
    """:class:`ClusterEval` config from the backbone/neck/prototypes of an SDCluster config (with
    ``cfg_options`` merged), or the official Swin-S with 256 prototypes."""
    if config_path is None:
        encoder = dict(type='SwinTransformerOS16')
        projector = dict(type='GELUMLP', in_channels=768, hidden_channels=2048, out_channels=256, dense=True)
        assign = dict(type='ClusterPrototypes', num_prototypes=256, dim=256)
    else:
        cfg = Config.fromfile(config_path)
        if cfg_options is not None:
            cfg.merge_from_dict(cfg_options)
        model = cfg.model
        encoder, projector, assign = model.backbone, model.neck, model.prototypes
    return dict(type='ClusterEval', encoder=encoder, projector=projector, assign=assign)


def load_cluster_eval(checkpoint: str, config_path: Optional[str] = None, device: str = 'cpu',
                      cfg_options: Optional[dict] = None) -> ClusterEval:
    """:class:`ClusterEval` with the teacher weights of ``checkpoint`` (``ClusterEval.pt``, an official or a
    plugin SDCluster training checkpoint), architecture from ``config_path`` (with ``cfg_options``) or the
    official Swin-S."""
    state_dict = convert_sdcluster_clustereval(read_state_dict(checkpoint))
    init_default_scope('mmpretrain')
    model = MODELS.build(cluster_eval_config(config_path, cfg_options))
    architecture = (f'the architecture of {config_path}' if config_path else
                    'the default architecture (the official Swin-S with 256 prototypes)')
    require_checkpoint_fits(model, state_dict, checkpoint, f'the checkpoint was not trained with {architecture}: '
                            'pass --config with the SDCluster pre-training config it was trained with')
    model.load_state_dict(state_dict)
    return model.to(device).eval()


@torch.no_grad()
def cluster_eval_ids(model: ClusterEval, rgb: np.ndarray, device: str = 'cpu') -> np.ndarray:
    """The cluster id of every pixel of an ``(H, W, 3)`` uint8 RGB image: ImageNet normalisation, the
    stride-16 scores upsampled (nearest, as the official visualiser) to the image size, argmax."""
    mean = torch.tensor(IMAGENET_MEAN_RGB, device=device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD_RGB, device=device).view(3, 1, 1)
    x = (torch.from_numpy(rgb).to(device).permute(2, 0, 1).float() - mean) / std
    scores = model(x[None])
    scores = F.interpolate(scores, size=rgb.shape[:2], mode='nearest')
    return scores.argmax(1)[0].cpu().numpy()
