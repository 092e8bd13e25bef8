"""The first three principal components of dense features as RGB maps (STEGO-style feature pictures)."""
from typing import List, Sequence, Tuple

import numpy as np
import torch


def fit_pca(feature_maps: Sequence[torch.Tensor], num_components: int = 3, max_samples: int = 100_000,
            seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(mean (C,), components (num_components, C))`` of the positions of ``(C, h, w)`` feature maps, pooled
    over all maps (so one colour means one feature direction in every image).

    At most ``max_samples`` positions are used (a seeded uniform draw). Components are the covariance's
    leading eigenvectors in float64, each signed so that its largest-magnitude entry is positive: the same
    inputs always give the same components and colours.
    """
    samples = torch.cat([m.flatten(1).t().double() for m in feature_maps])
    if samples.size(0) > max_samples:
        samples = samples[torch.randperm(samples.size(0), generator=torch.Generator().manual_seed(seed))[:max_samples]]
    mean = samples.mean(dim=0)
    centred = samples - mean
    covariance = centred.t() @ centred / max(samples.size(0) - 1, 1)
    _, vectors = torch.linalg.eigh(covariance)
    components = vectors[:, -num_components:].flip(1).t()
    largest = components.abs().argmax(dim=1)
    components = components * components.gather(1, largest[:, None]).sign()
    return mean, components


def pca_rgb_maps(feature_maps: Sequence[torch.Tensor], mean: torch.Tensor, components: torch.Tensor,
                 percentiles: Tuple[float, float] = (1.0, 99.0)) -> List[np.ndarray]:
    """``(h, w, 3)`` uint8 RGB maps: the projections on the three components, each stretched to 0..255
    between its ``percentiles`` over all maps together (the same scale in every image)."""
    projected = [torch.einsum('kc,chw->hwk', components, m.double() - mean[:, None, None]) for m in feature_maps]
    pooled = torch.cat([p.reshape(-1, p.size(-1)) for p in projected]).numpy()
    low, high = np.percentile(pooled, percentiles, axis=0)
    scale = np.where(high > low, high - low, 1.0)
    return [np.clip((p.numpy() - low) / scale * 255, 0, 255).round().astype(np.uint8) for p in projected]
