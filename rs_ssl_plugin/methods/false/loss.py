"""The FALSE contrastive loss (Zhang et al., GRSL 2022) as pure functions.

Row layout ("VISSL order"): ``z`` has ``M = 2N`` rows, all first views of the ``N`` images, then all
second views, so the positive of row ``i`` is row ``(i + N) mod M``.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from ...engine.mixed_precision import at_least_float32


def positive_index(num_rows: int, device=None) -> torch.Tensor:
    """Column of each row's positive in VISSL order: ``p(i) = (i + N) mod 2N``."""
    rows = torch.arange(num_rows, device=device)
    return (rows + num_rows // 2) % num_rows


def select_false_negatives(sim_exp: torch.Tensor, temperature: float, positive_threshold: float,
                           sentinel: float = math.inf) -> torch.Tensor:
    """FNSD: false-negative self-determination over the whole batch, as a boolean mask.

    With ``S_ij = exp(cos_ij / T)`` and ``P_i = S_{i,p(i)}``, the candidate distance is
    ``D_ij = |S_ij - P_i|`` for ``j > i``, ``j != p(i)`` (each unordered pair once, the lower index as the
    anchor); every other cell holds ``sentinel``. The pairs at the global minimum of ``D`` are selected,
    restricted to negative cells, and kept only where the anchor's own positive cosine
    ``T * log(P_i) >= positive_threshold``.

    ``sentinel=inf`` is the intended behaviour. The official code uses ``3.0``, which is smaller than the
    largest possible distance (``e^2 - e^-2`` at T=0.5): when every valid distance is >= 3, every sentinel
    cell ties at the minimum and all lower-triangle negatives of qualifying anchors are selected.

    Args:
        sim_exp (torch.Tensor): ``(M, M)`` matrix ``exp(z z^T / T)`` of L2-normalised embeddings in VISSL
            order.
        temperature (float): The temperature ``T`` of ``sim_exp``.
        positive_threshold (float): Minimum positive cosine ``T * log(P_i)`` of an anchor whose selected
            cells are kept.
        sentinel (float): Distance of the non-candidate cells. Defaults to inf.

    Returns:
        ``(M, M)`` boolean mask of the selected (anchor, false negative) cells.
    """
    num_rows = sim_exp.size(0)
    rows = torch.arange(num_rows, device=sim_exp.device)
    pos_col = positive_index(num_rows, sim_exp.device)
    # masks from comparisons only: index assignment would copy a host scalar and synchronise
    is_positive = rows[None, :] == pos_col[:, None]
    is_self = rows[None, :] == rows[:, None]
    pos_sim = sim_exp.gather(1, pos_col[:, None]).squeeze(1)
    not_candidate = (rows[None, :] <= rows[:, None]) | is_positive
    distance = (sim_exp - pos_sim[:, None]).abs().masked_fill(not_candidate, sentinel)
    negative = ~(is_self | is_positive)
    anchor_qualifies = temperature * torch.log(pos_sim) >= positive_threshold
    return (distance == distance.min()) & negative & anchor_qualifies[:, None]


def false_loss(z: torch.Tensor,
               temperature: float = 0.5,
               confidence_weight: float = 1.0,
               positive_threshold: float = 0.9,
               sentinel: float = math.inf,
               anchor_rows: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """FALSE loss: NT-Xent with false-negative confidence calibration (FNCC).

    For each anchor row ``i`` with positive ``p(i)``, ``S_ij = exp(cos(z_i, z_j) / T)`` and the FNSD mask
    ``sel`` (:func:`select_false_negatives`)::

        L_i = -log( (S_{i,p(i)} + alpha * sum_j sel_ij S_ij) / sum_{k != i} S_ik )

    FNCC moves ``alpha`` of a selected negative into the numerator (enhanced positive) and keeps
    ``1 - alpha`` of it as a negative (weakened negative), so the denominator is unchanged and
    ``alpha = 0`` is exactly SimCLR's NT-Xent. The selection is not differentiated.

    Args:
        z (torch.Tensor): ``(M, d)`` embeddings in VISSL order (normalised here), on a single device; in
            distributed training, the embeddings gathered from all ranks.
        temperature (float): NT-Xent temperature ``T``. Defaults to 0.5.
        confidence_weight (float): ``alpha``, the share of a selected false negative moved to the numerator
            (0 gives SimCLR). Defaults to 1.0.
        positive_threshold (float): Minimum positive cosine of an anchor whose false negative is calibrated
            (see :func:`select_false_negatives`). Defaults to 0.9.
        sentinel (float): Distance of the non-candidate cells in the selection (see
            :func:`select_false_negatives`). Defaults to inf.
        anchor_rows (torch.Tensor, optional): Rows whose loss terms are averaged; ``None``: all rows. The
            selection always uses the full matrix, so per-rank losses over local rows average to the
            full-batch loss. Defaults to None.

    Returns:
        The mean loss over ``anchor_rows`` and the number of selected false-negative pairs.
    """
    if z.dim() != 2 or z.size(0) % 2:
        raise ValueError(f'false_loss expects (2N, d) embeddings, got shape {tuple(z.shape)}')
    with torch.autocast(z.device.type, enabled=False):  # exp(cos / T) and its selection need >= fp32
        z = F.normalize(at_least_float32(z), dim=1)
        sim_exp = torch.exp(z @ z.t() / temperature)
    with torch.no_grad():
        selected = select_false_negatives(sim_exp, temperature, positive_threshold, sentinel)
    pos_sim = sim_exp.gather(1, positive_index(z.size(0), z.device)[:, None]).squeeze(1)
    numerator = pos_sim + confidence_weight * (sim_exp * selected).sum(1)
    denominator = (sim_exp - torch.diag_embed(sim_exp.diagonal())).sum(1)
    row_loss = torch.log(denominator) - torch.log(numerator)
    if anchor_rows is not None:
        row_loss = row_loss[anchor_rows]
    return row_loss.mean(), selected.sum()
