"""SDSH loss terms as small pure functions (teacher probabilities are computed without gradients).

Notation: ``t`` teacher probabilities, ``s`` student logits, ``tau_s`` the student temperature (0.1).
"""
from typing import Sequence

import torch
import torch.nn.functional as F


def centered_teacher_softmax(teacher_logits: torch.Tensor, center: torch.Tensor,
                             temperature: float) -> torch.Tensor:
    """``softmax((z_t - c) / tau_t)`` over the last dimension (DINO centering and sharpening)."""
    return F.softmax((teacher_logits.float() - center) / temperature, dim=-1)


def ema_center(center: torch.Tensor, batch_center: torch.Tensor, momentum: float = 0.9) -> torch.Tensor:
    """``c <- m c + (1 - m) c_batch``; ``batch_center`` is the (all-rank) mean teacher output."""
    return center * momentum + batch_center * (1 - momentum)


def cross_entropy(teacher_probs: torch.Tensor, student_logits: torch.Tensor,
                  student_temp: float = 0.1) -> torch.Tensor:
    """Per-row ``CE(t, s) = -sum_k t_k log softmax(s / tau_s)_k``."""
    return -(teacher_probs * F.log_softmax(student_logits.float() / student_temp, dim=-1)).sum(dim=-1)


def dino_local_loss(teacher_probs: Sequence[torch.Tensor], student_local_logits: Sequence[torch.Tensor],
                    num_terms: int, student_temp: float = 0.1) -> torch.Tensor:
    """``sum_{local v} sum_{global g} mean_b CE(t_g, s_v) / num_terms``.

    SDSH (DINOv2) divides by all loss terms, ``n_g (n_g - 1) + n_g n_l`` = 2 + 16 = 18 for 2 global and
    8 local crops.
    """
    total = 0.
    for student in student_local_logits:
        for teacher in teacher_probs:
            total = total + cross_entropy(teacher, student, student_temp).mean()
    return total / num_terms


def dino_global_loss(teacher_probs_swapped: torch.Tensor, student_global_logits: torch.Tensor,
                     num_terms: int, student_temp: float = 0.1) -> torch.Tensor:
    """``2 mean_{2B} CE(t_swap, s_g) / num_terms``: each global crop's student output is matched to the
    teacher output of the other global crop of the same image (``t_swap`` holds crop 2's rows first)."""
    return 2 * cross_entropy(teacher_probs_swapped, student_global_logits, student_temp).mean() / num_terms


def ibot_masked_loss(teacher_probs: torch.Tensor, student_logits: torch.Tensor, masks: torch.Tensor,
                     student_temp: float = 0.1) -> torch.Tensor:
    """iBOT loss over masked patches: ``sum_i (1/n_i) sum_{p masked in i} CE(t_ip, s_ip) / n_crops``.

    ``teacher_probs``/``student_logits`` hold the masked patches' rows in ``masks[masks]`` order;
    ``masks`` is ``(n_crops, N)``; ``n_i`` is the number of masked patches of crop i (crops without a mask
    count in ``n_crops``, as in DINOv2).
    """
    weights = (1.0 / masks.sum(dim=-1).clamp(min=1)).unsqueeze(-1).expand_as(masks)[masks]
    return (cross_entropy(teacher_probs, student_logits, student_temp) * weights).sum() / masks.size(0)


def koleo_loss(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Kozachenko-Leonenko entropy estimator: ``-mean_i log(||x_i - x_NN(i) + eps|| + eps)``.

    Rows are L2-normalised first; ``NN(i)`` is the nearest other row (largest inner product). The ``eps``
    inside the norm reproduces ``torch.nn.PairwiseDistance(eps=1e-6)`` used by DINOv2.
    """
    x = F.normalize(x.float(), p=2, dim=-1, eps=eps)
    with torch.no_grad():
        dots = x @ x.t()
        dots.fill_diagonal_(-1)
        nearest = dots.argmax(dim=1)
    distances = torch.linalg.vector_norm(x - x[nearest] + eps, dim=-1)
    return -torch.log(distances + eps).mean()


def hash_quantization_loss(u: torch.Tensor) -> torch.Tensor:
    """L1 quantisation of the continuous code towards +-1: ``mean | |u| - 1 |``."""
    return (u.float().abs() - 1).abs().mean()
