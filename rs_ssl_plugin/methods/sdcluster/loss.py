"""SDCluster's teacher targets, view alignment and losses, as pure functions.

Notation: B images per process, K prototypes, an H x W score map per view, tau temperatures.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import get_rank, get_world_size
from torchvision.ops import roi_align

from ...engine.mixed_precision import at_least_float32
from ...utils.dist import all_gather_no_grad, all_reduce_sum


@torch.no_grad()
def sinkhorn_knopp(scores: torch.Tensor, temperature: float = 0.07, iterations: int = 3) -> torch.Tensor:
    """Equipartitioned soft assignments of every pixel of the global batch to the K prototypes.

    ``scores``: (B, K, H, W) cosine scores of one view. With ``Q = exp(scores / tau)`` laid out as
    K x (B*H*W) over all processes, ``iterations`` times: each row is scaled to sum to 1/K (row sums
    all-reduced over processes), then each column (one pixel) to sum to 1. The result has columns summing to 1
    and gives each prototype the same mass. The official code also divides by the global sum first and by the
    column count inside the loop, constant factors that the next row or column scaling removes.
    Returns (B, K, H, W), computed in at least fp32.
    """
    num_prototypes = scores.shape[1]
    q = torch.exp(at_least_float32(scores).transpose(0, 1).flatten(1) / temperature)  # (K, B*H*W)
    for _ in range(iterations):
        q /= all_reduce_sum(q.sum(dim=1, keepdim=True)) * num_prototypes
        q /= q.sum(dim=0, keepdim=True)
    q = q.view(num_prototypes, scores.shape[0], *scores.shape[2:]).transpose(0, 1)
    return q.contiguous()


def align_to_overlap(maps: torch.Tensor, boxes: torch.Tensor, flipped: torch.Tensor,
                     output_size: Tuple[int, int] = (14, 14)) -> torch.Tensor:
    """Resample each map on the region it shares with the other view, in the un-flipped orientation.

    ``maps``: (B, C, H, W); ``boxes``: (B, 4) normalised ``(x1, y1, x2, y2)`` in the view's own (flipped)
    frame; ``flipped``: (B,) bool. RoIAlign (``aligned=True``, adaptive sampling) to ``output_size``, then
    flipped samples are mirrored back along W, so both views' outputs cover the same image region pixel by
    pixel.
    """
    height, width = maps.shape[-2:]
    scale = boxes.new_tensor([width, height, width, height])
    rois = torch.cat([torch.arange(len(boxes), device=boxes.device, dtype=boxes.dtype)[:, None], boxes * scale],
                     dim=1)
    aligned = roi_align(maps, rois.to(maps.dtype), output_size, spatial_scale=1., sampling_ratio=-1,
                        aligned=True)
    return torch.where(flipped.view(-1, 1, 1, 1), aligned.flip(-1), aligned)


def pixel_distillation_loss(student_scores: torch.Tensor, teacher_probs: torch.Tensor,
                            temperature: float = 0.1) -> torch.Tensor:
    """Cross-entropy between the teacher's assignments and the student's prototype softmax per pixel.

    ``L = -1/(B*P) * sum_{b,p} sum_k Q[b,k,p] * log softmax_k(S[b,:,p] / tau)`` with ``S`` the aligned student
    cosine scores and ``Q`` the aligned Sinkhorn assignments, both (B, K, H, W).
    """
    log_probs = F.log_softmax(at_least_float32(student_scores) / temperature, dim=1)
    return -(teacher_probs * log_probs).sum(dim=1).mean()


def prototype_presence(scores: torch.Tensor) -> torch.Tensor:
    """(B, K) bool: prototype k is the argmax of at least one pixel of image b. ``scores``: (B, K, H, W)."""
    winners = scores.flatten(2).argmax(dim=1)  # (B, H*W)
    present = torch.zeros(scores.shape[:2], dtype=torch.bool, device=scores.device)
    return present.scatter_(1, winners, True)


def filtered_slot_contrastive_loss(queries: torch.Tensor, query_index: torch.Tensor, keys: torch.Tensor,
                                   key_present: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """InfoNCE between student slots and the teacher slots present in the global batch.

    ``queries``: (Q, D) normalised predicted student slots, ``query_index``: (Q,) their flat position
    ``b*K + k`` in this process's (B, K) grid; ``keys``: (B, K, D) normalised teacher slots and
    ``key_present``: (B, K) their presence, both local (gathered here from all processes, no gradient).
    The positive of query ``(b, k)`` is the key of the same image and prototype; the negatives are all the
    other present keys of all processes::

        L = 2 * tau * 1/Q_all * sum_q -log( exp(u_q . v_q+ / tau) / sum_{present v} exp(u_q . v / tau) )

    ``Q_all`` is the number of queries over all processes, so per-process losses averaged over processes
    (DDP) equal the single-process loss on the whole batch. The official code averages per process, which
    differs only when processes hold different numbers of queries.
    """
    local_keys = keys.shape[0] * keys.shape[1]
    all_keys = torch.cat(all_gather_no_grad(keys.flatten(0, 1)))
    all_present = torch.cat(all_gather_no_grad(key_present.flatten()))
    logits = (queries @ all_keys[all_present].t()) / temperature
    # rank of each key among the present ones = its column in ``logits``
    column = all_present.long().cumsum(0) - 1
    labels = column[query_index + get_rank() * local_keys]
    loss_sum = F.cross_entropy(at_least_float32(logits), labels, reduction='sum')
    num_queries = all_reduce_sum(queries.new_tensor(float(len(queries))))
    return 2 * temperature * loss_sum * get_world_size() / num_queries.clamp(min=1)

