from typing import Optional

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class ClusterEval(BaseModule):
    """SDCluster's cluster visualiser network: encoder, projector and prototypes, inference only.

    ``forward`` returns the cosine score map (B, K, ceil(H/16), ceil(W/16)) of every prototype; its argmax
    over K is the cluster map. Keys (``encoder.*``, ``projector.mlp.*``, ``assign.prototype_embed.weight``)
    are those of the released ``ClusterEval.pt``; ``tools/model_converters/convert_official.py --format
    sdcluster-clustereval`` also builds this layout from an SDCluster training checkpoint (teacher branch).
    """

    def __init__(self, encoder: dict, projector: dict, assign: dict, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.encoder = MODELS.build(encoder)
        self.projector = MODELS.build(projector)
        self.assign = MODELS.build(assign)

    @torch.no_grad()
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.assign.scores(self.projector(self.encoder(inputs)[-1]))
