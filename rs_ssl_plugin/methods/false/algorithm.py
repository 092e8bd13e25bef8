"""The FALSE algorithm: two views through one backbone pass, embeddings gathered over ranks, FALSE loss."""
from typing import Dict, List

import torch
from mmengine.dist import get_rank
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ...utils.dist import all_gather_with_grad


@MODELS.register_module()
class FALSE(BaseSelfSupervisor):
    """FALSE: SimCLR with false-negative self-determination and confidence calibration.

    Implementation of `FALSE: False Negative Samples Aware Contrastive Learning for Semantic Segmentation
    of High-Resolution Remote Sensing Image <https://arxiv.org/abs/2211.07928>`_ (GRSL 2022).

    Both views go through the backbone as one batch. Embeddings are gathered from all ranks into the
    full VISSL-ordered matrix (all first views, then all second views, images in rank order), so the
    false-negative selection is the same on every rank and equals single-GPU training at the same global
    batch. Each rank's loss covers its own rows; with DDP's gradient averaging the update equals the
    single-process one. The arguments are those of mmpretrain's ``BaseSelfSupervisor``.

    Args:
        backbone (dict): Config of the backbone (FALSE: ``ResNet`` depth 50).
        neck (dict, optional): Config of the projection neck (:class:`LinearProjectionNeck`); required in
            practice, the loss reads its output. Defaults to None.
        head (dict, optional): Config of the loss head (:class:`FALSEHead`); required in practice.
            Defaults to None.
        target_generator (dict, optional): Unused by FALSE (mmpretrain's target generator for other
            algorithms). Defaults to None.
        pretrained (str, optional): Checkpoint to initialise the whole model from (becomes
            ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)``). Defaults to None.
        data_preprocessor (dict, optional): Config of the data preprocessor; ``None`` uses mmpretrain's
            ``SelfSupDataPreprocessor``. Defaults to None.
        init_cfg (dict, optional): Initialisation config of mmengine's ``BaseModule``. Defaults to None.
    """

    # what SSLMonitorHook watches for collapse: the projections of both views
    embedding_module = 'neck'

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """``loss`` over this rank's anchors of the gathered embeddings, and the number of ``false_negative_pairs``."""
        if not isinstance(inputs, list) or len(inputs) != 2:
            raise ValueError('FALSE expects two views per image (MultiView with num_views=2)')
        batch_size = inputs[0].size(0)
        feats = self.backbone(torch.cat(inputs))
        z = self.neck(feats)[0]
        per_rank = all_gather_with_grad(z.view(2, batch_size, -1))
        z_all = torch.stack(per_rank, dim=1).flatten(0, 2)
        global_batch = batch_size * len(per_rank)
        local = torch.arange(batch_size, device=z.device) + get_rank() * batch_size
        anchor_rows = torch.cat([local, local + global_batch])
        loss, num_pairs = self.head.loss(z_all, anchor_rows)
        return dict(loss=loss, false_negative_pairs=num_pairs.float())
