"""Colouring of cluster and class maps, legends and titled figures, PCA maps of dense features."""
from .cluster_maps import (
    cluster_legend,
    cluster_map_paths,
    colorize_clusters,
    overlay,
    prototype_palette,
    write_cluster_maps,
)
from .legend import legend_image, panel_figure, write_legend

__all__ = ['cluster_legend', 'cluster_map_paths', 'colorize_clusters', 'legend_image', 'overlay', 'panel_figure',
           'prototype_palette', 'write_cluster_maps', 'write_legend']
