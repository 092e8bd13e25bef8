"""FALSE's loss head: NT-Xent with false-negative self-determination and confidence calibration."""
import math
from typing import Optional, Tuple

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from .loss import false_loss


@MODELS.register_module()
class FALSEHead(BaseModule):
    """FALSE loss head: NT-Xent with false-negative self-determination and confidence calibration.

    Args:
        temperature (float): NT-Xent temperature T (official 0.5). Defaults to 0.5.
        confidence_weight (float): alpha, the share of a detected false negative moved to the positive term
            (official 1.0; 0 gives SimCLR). Defaults to 1.0.
        positive_threshold (float): Minimum cosine between the anchor and its positive for the anchor's
            detected false negative to be calibrated (official 0.9). Defaults to 0.9.
        sentinel (float): Distance given to non-candidate cells during selection. ``inf`` is the intended
            behaviour; ``3.0`` reproduces the official code, including its degenerate case (see
            :func:`~rs_ssl_plugin.methods.false.loss.select_false_negatives`). Defaults to inf.
        init_cfg (dict, optional): Initialisation config of mmengine's ``BaseModule`` (the head has no
            parameters). Defaults to None.
    """

    def __init__(self, temperature: float = 0.5, confidence_weight: float = 1.0,
                 positive_threshold: float = 0.9, sentinel: float = math.inf, init_cfg=None):
        super().__init__(init_cfg)
        self.temperature = temperature
        self.confidence_weight = confidence_weight
        self.positive_threshold = positive_threshold
        self.sentinel = sentinel

    def loss(self, z: torch.Tensor,
             anchor_rows: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Loss over ``anchor_rows`` of the VISSL-ordered ``(2N, d)`` embeddings and the pair count."""
        return false_loss(z, self.temperature, self.confidence_weight, self.positive_threshold,
                          self.sentinel, anchor_rows)
