"""Colouring of cluster and class maps, legends and titled figures, the image | ground truth | prediction figure,
mmseg's visualizer with readable class labels, PCA maps of dense features."""
from .cluster_maps import (
    cluster_legend,
    cluster_map_paths,
    colorize_clusters,
    overlay,
    prototype_palette,
    write_cluster_maps,
)
from .legend import legend_image, panel_figure, write_legend
from .prediction_figure import colour_class_map, prediction_figure, write_prediction_figure
from .seg_visualizer import ReadableSegLocalVisualizer

__all__ = ['ReadableSegLocalVisualizer', 'cluster_legend', 'cluster_map_paths', 'colorize_clusters',
           'colour_class_map', 'legend_image', 'overlay', 'panel_figure', 'prediction_figure', 'prototype_palette',
           'write_cluster_maps', 'write_legend', 'write_prediction_figure']
