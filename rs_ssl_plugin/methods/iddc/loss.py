"""IDDC loss terms (Liu, Zhang and Tang, IJCV 2024) as pure functions.

Notation: ``f`` are frozen DINO features ``(B, C, h, w)``, L2-normalised over ``C`` so that
``F = corr(f, f')`` is the cosine similarity of every location pair; ``p`` are the softmax cluster
probabilities ``(B, K, h, w)`` (no temperature), so ``C = corr(p, p')`` lies in ``[0, 1]``, where::

    corr(a, b)[n, y, x, i, j] = sum_c a[n, c, y, x] * b[n, c, i, j]

pairs every location of ``a`` with every location of ``b`` within the same image ``n``. ``F`` is a
constant (no gradient); gradients flow only through ``p``.

The official code averages each gated term with ``tensor[mask].mean()``, which is NaN when the gate
selects no pair. Here an empty selection contributes 0 (no gradient), and a non-empty one gives
exactly the official mean.
"""
from typing import Dict, Sequence

import torch
import torch.nn.functional as F

from ...engine.mixed_precision import at_least_float32

# The official total loss divides the balance weight by this constant: L = ... + w1 * L_bal / 50.
BALANCE_DIVISOR = 50.0


def dense_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """All-pairs correlation within each image: ``(B, C, h, w) x (B, C, i, j) -> (B, h, w, i, j)``."""
    return torch.einsum('nchw,ncij->nhwij', a, b)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values[mask]``; 0 (instead of NaN) when ``mask`` selects nothing, without a host sync."""
    selected = torch.where(mask, values, torch.zeros_like(values))
    return selected.sum() / mask.sum().clamp(min=1)


def positive_loss(feats0: torch.Tensor, feats1: torch.Tensor, probs0: torch.Tensor, probs1: torch.Tensor,
                  gate: float = 0.2) -> torch.Tensor:
    """Cross-view positive term over ALL location pairs of the two crops of each image::

        F = corr(f0, f1),  C = corr(p0, p1)
        L_pos = mean_{F > gate} exp(1 - C) * max(F, 1e-8)

    ``feats*`` must be L2-normalised over channels, ``probs*`` softmax probabilities.
    """
    with torch.no_grad():
        feat_corr = dense_correlation(feats0, feats1)
    prob_corr = dense_correlation(probs0, probs1)
    values = torch.exp(1 - prob_corr) * feat_corr.clamp(min=1e-8)
    return masked_mean(values, feat_corr > gate)


def negative_loss(feats: torch.Tensor, probs: torch.Tensor, shifts: Sequence[int],
                  gate: float = 0.12) -> torch.Tensor:
    """Negative term between each image and another image of the batch (first crop only).

    For each shift ``k`` the partner of image ``n`` is image ``(n + k) mod B``
    (``roll(x, -k, dim=0)``)::

        F_k = corr(f, roll(f, -k)),  C_k = corr(p, roll(p, -k))
        L_k = mean_{F_k < gate} exp(C_k) * (1 - max(F_k, 0))
        L_neg = mean_k L_k
    """
    if not len(shifts):
        raise ValueError('negative_loss needs at least one batch shift')
    terms = []
    for shift in shifts:
        with torch.no_grad():
            feat_corr = dense_correlation(feats, torch.roll(feats, -shift, dims=0))
        prob_corr = dense_correlation(probs, torch.roll(probs, -shift, dims=0))
        values = torch.exp(prob_corr) * (1 - feat_corr.clamp(min=0))
        terms.append(masked_mean(values, feat_corr < gate))
    return torch.stack(terms).mean()


def weibull_balance_loss(probs: torch.Tensor, scale: float = 5.0, shape: float = 0.3,
                         eps: float = 1e-6) -> torch.Tensor:
    """Imbalance-aware balance term: the Weibull density of the max-normalised cluster usage::

        u_k = mean_{b,y,x} p[b, k, y, x],   x_k = u_k / max_k u_k + eps
        W(x) = (shape / scale) * (x / scale)^(shape - 1) * exp(-(x / scale)^shape)
        L_bal = mean_k W(x_k)

    With ``shape < 1`` the density is almost flat for clusters of reasonable size and steep for
    nearly-empty ones: it keeps clusters alive without forcing equal sizes. The gradient also flows
    through the max.
    """
    usage = probs.mean(dim=(0, 2, 3))
    x = usage / usage.max() + eps
    density = (shape / scale) * (x / scale) ** (shape - 1) * torch.exp(-(x / scale) ** shape)
    return density.mean()


def cluster_usage_neg_entropy(probs: torch.Tensor) -> torch.Tensor:
    """``mean_k u_k log(max(u_k, 1e-6))`` of the mean cluster usage ``u``; the official code logs it
    but does not train with it."""
    usage = probs.mean(dim=(0, 2, 3))
    return (usage * torch.log(usage.clamp(min=1e-6))).mean()


def sample_negative_shifts(batch_size: int, num_shifts: int = 3) -> list:
    """``num_shifts`` batch shifts drawn uniformly from ``[1, batch_size - 2]`` (repeats allowed), as in
    the official code (so an image is never paired with itself or, for ``k = B - 1``, its predecessor)."""
    if batch_size < 3:
        raise ValueError(f'IDDC negatives need a batch of at least 3 images per device, got {batch_size}')
    return torch.randint(1, batch_size - 1, (num_shifts,)).tolist()


def iddc_loss(feats0: torch.Tensor, feats1: torch.Tensor, logits0: torch.Tensor, logits1: torch.Tensor,
              shifts: Sequence[int], negative_weight: float = 1.4, balance_weight: float = 0.4,
              positive_gate: float = 0.2, negative_gate: float = 0.12) -> Dict[str, torch.Tensor]:
    """The IDDC objective ``L = L_pos + w0 * L_neg + w1 * L_bal / 50`` as separately logged terms.

    Args:
        feats0 (torch.Tensor): Backbone features of the first crop ``(B, C, h, w)`` (normalised here).
        feats1 (torch.Tensor): Backbone features of the second crop ``(B, C, h, w)`` (normalised here).
        logits0 (torch.Tensor): Cluster logits of the first crop ``(B, K, h, w)``.
        logits1 (torch.Tensor): Cluster logits of the second crop ``(B, K, h, w)``.
        shifts (Sequence[int]): Batch shifts of the negative term (:func:`sample_negative_shifts`).
        negative_weight (float): w0 (official 1.4). Defaults to 1.4.
        balance_weight (float): w1 (official 0.4 for ViT-S/16, 0.25 for ViT-S/8), divided by 50.
            Defaults to 0.4.
        positive_gate (float): w2: location pairs count in the positive term where their feature
            correlation exceeds it. Defaults to 0.2.
        negative_gate (float): w3: location pairs count in the negative term where their feature
            correlation is below it. Defaults to 0.12.

    Computed in at least float32, also under autocast.

    Returns:
        ``loss_pos``, ``loss_neg`` and ``loss_bal`` (weighted; their sum is ``L``) and the logged-only
        ``usage_neg_entropy``.
    """
    # the correlations feed exp() and the gates, the balance term a power of small usages: at least fp32
    with torch.autocast(feats0.device.type, enabled=False):
        feats0, feats1 = (F.normalize(at_least_float32(f), dim=1) for f in (feats0, feats1))
        probs0, probs1 = (at_least_float32(logits).softmax(dim=1) for logits in (logits0, logits1))
        return dict(
            loss_pos=positive_loss(feats0, feats1, probs0, probs1, positive_gate),
            loss_neg=negative_weight * negative_loss(feats0, probs0, shifts, negative_gate),
            loss_bal=balance_weight / BALANCE_DIVISOR * weibull_balance_loss(probs0),
            usage_neg_entropy=cluster_usage_neg_entropy(probs0.detach()))
