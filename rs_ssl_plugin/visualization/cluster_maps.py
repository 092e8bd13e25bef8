"""Colouring of cluster-id maps: one fixed colour per cluster across images, or the official per-image JET."""
import os.path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np

from .legend import fit_for_display, panel_figure, save_figure


def prototype_palette(num_clusters: int, levels: int = 32) -> np.ndarray:
    """(num_clusters, 3) uint8 BGR colours chosen greedily as in Glasbey et al. (2007): each next colour is the
    one of a ``levels``^3 RGB grid farthest in CIELAB from every colour before it (and from white and black,
    the figures' background and text), so any two clusters, neighbours included, differ as much as possible.
    The choice is deterministic and does not depend on ``num_clusters``: cluster k keeps its colour."""
    steps = np.linspace(0, 1, levels, dtype=np.float32)
    grid = np.stack(np.meshgrid(steps, steps, steps, indexing='ij'), -1).reshape(1, -1, 3)
    lab = cv2.cvtColor(grid, cv2.COLOR_RGB2LAB)[0]
    white_black = cv2.cvtColor(np.array([[[1, 1, 1], [0, 0, 0]]], np.float32), cv2.COLOR_RGB2LAB)[0]
    distance = np.linalg.norm(lab[:, None] - white_black[None], axis=-1).min(axis=1)
    chosen = []
    for _ in range(num_clusters):
        index = int(distance.argmax())
        chosen.append(index)
        distance = np.minimum(distance, np.linalg.norm(lab - lab[index], axis=-1))
    return np.round(grid[0, chosen][:, ::-1] * 255).astype(np.uint8)


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
    """``<out_dir>/<name>_{clusters,color,overlay,figure}.png`` for an input image."""
    name = osp.splitext(osp.basename(image_path))[0]
    return {kind: osp.join(out_dir, f'{name}_{kind}.png') for kind in ('clusters', 'color', 'overlay', 'figure')}


def cluster_legend(ids: np.ndarray, colors: np.ndarray, max_entries: int = 24) -> Tuple[List[str], List[tuple]]:
    """Names (``cluster k (p %)``) and RGB colours of the clusters in an id map, largest first; at most
    ``max_entries``, the rest summed up in a last, grey ``+N more`` entry. ``colors`` is the BGR colouring
    of ``ids``, so per-image colourings get their own colours."""
    values, first, counts = np.unique(ids, return_index=True, return_counts=True)
    order = np.argsort(-counts, kind='stable')
    flat = colors.reshape(-1, 3)
    names = [f'cluster {values[i]} ({100 * counts[i] / ids.size:.1f} %)' for i in order[:max_entries]]
    rgb = [tuple(int(c) for c in flat[first[i]][::-1]) for i in order[:max_entries]]
    if len(order) > max_entries:
        rest = counts[order[max_entries:]].sum()
        names.append(f'+{len(order) - max_entries} more ({100 * rest / ids.size:.1f} %)')
        rgb.append((160, 160, 160))
    return names, rgb


def write_cluster_maps(ids: np.ndarray, rgb: np.ndarray, paths: Dict[str, str], palette: np.ndarray,
                       per_image: bool = False, alpha: float = 0.5, title: str = '') -> None:
    """Write the id map (uint8, or uint16 above 256 clusters), its colouring and the colouring blended over the
    ``(H, W, 3)`` RGB image to ``paths['clusters']``, ``paths['color']`` and ``paths['overlay']``, and to
    ``paths['figure']`` the image, the colouring and the overlay side by side with titles and a legend of the
    clusters (:func:`cluster_legend`)."""
    colors = colorize_clusters(ids, palette, per_image=per_image)
    blended = overlay(np.ascontiguousarray(rgb[..., ::-1]), colors, alpha)
    cv2.imwrite(paths['clusters'], ids.astype(np.uint8 if len(palette) <= 256 else np.uint16))
    cv2.imwrite(paths['color'], colors)
    cv2.imwrite(paths['overlay'], blended)
    panels = [fit_for_display(rgb), fit_for_display(colors[..., ::-1], nearest=True),
              fit_for_display(blended[..., ::-1])]
    figure = panel_figure([panels], ['image', 'clusters', f'overlay (alpha {alpha:g})'], cluster_legend(ids, colors),
                          'clusters by area', title=title)
    save_figure(figure, paths['figure'])
