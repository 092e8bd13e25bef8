"""Colouring of cluster-id maps: one fixed colour per cluster across images, or the official per-image JET."""
import colorsys
import os.path as osp
from typing import Dict

import cv2
import numpy as np


def prototype_palette(num_clusters: int, seed: int = 0) -> np.ndarray:
    """(num_clusters, 3) uint8 BGR colours; cluster k gets the same colour for any ``num_clusters`` > k and a
    given seed, so a cluster keeps its colour in every image. Hues are spread by the golden ratio; saturation
    and value vary so neighbours differ."""
    rng = np.random.default_rng(seed)
    hues = (np.arange(num_clusters) * 0.618033988749895) % 1.0
    saturation_value = rng.uniform(0.6, 1.0, (num_clusters, 2))  # row k does not depend on num_clusters
    rgb = [colorsys.hsv_to_rgb(h, s, v) for h, (s, v) in zip(hues, saturation_value)]
    return np.round(np.array(rgb)[:, ::-1] * 255).astype(np.uint8)


def colorize_clusters(cluster_ids: np.ndarray, palette: np.ndarray = None, per_image: bool = False) -> np.ndarray:
    """(H, W) cluster ids -> (H, W, 3) uint8 BGR.

    ``per_image=True`` reproduces the official visualiser: ids min-max scaled to 0..255 within the image,
    then OpenCV's JET colour map (so a cluster's colour depends on the other clusters in the image).
    Otherwise ``palette[id]`` (see :func:`prototype_palette`).
    """
    if per_image:
        scaled = cv2.normalize(cluster_ids.astype(np.float32), None, 0, 255, cv2.NORM_MINMAX)
        return cv2.applyColorMap(scaled.astype(np.uint8), cv2.COLORMAP_JET)
    if palette is None or cluster_ids.max(initial=0) >= len(palette):
        raise ValueError(f'a palette with more than {int(cluster_ids.max(initial=0))} colours is needed')
    return palette[cluster_ids]


def overlay(image: np.ndarray, colors: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a colour map over a (H, W, 3) uint8 image: ``(1 - alpha) * image + alpha * colors``."""
    return cv2.addWeighted(image, 1 - alpha, colors, alpha, 0)


def cluster_map_paths(image_path: str, out_dir: str) -> Dict[str, str]:
    """``<out_dir>/<name>_{clusters,color,overlay}.png`` for an input image."""
    name = osp.splitext(osp.basename(image_path))[0]
    return {kind: osp.join(out_dir, f'{name}_{kind}.png') for kind in ('clusters', 'color', 'overlay')}


def write_cluster_maps(ids: np.ndarray, rgb: np.ndarray, paths: Dict[str, str], palette: np.ndarray,
                       per_image: bool = False, alpha: float = 0.5) -> None:
    """Write the id map (uint8, or uint16 above 256 clusters), its colouring and the colouring blended over the
    ``(H, W, 3)`` RGB image to ``paths['clusters']``, ``paths['color']`` and ``paths['overlay']``."""
    colors = colorize_clusters(ids, palette, per_image=per_image)
    cv2.imwrite(paths['clusters'], ids.astype(np.uint8 if len(palette) <= 256 else np.uint16))
    cv2.imwrite(paths['color'], colors)
    cv2.imwrite(paths['overlay'], overlay(np.ascontiguousarray(rgb[..., ::-1]), colors, alpha))
