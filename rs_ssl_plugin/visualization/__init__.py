"""Colouring of cluster and class maps."""
from .cluster_maps import cluster_map_paths, colorize_clusters, overlay, prototype_palette, write_cluster_maps

__all__ = ['cluster_map_paths', 'colorize_clusters', 'overlay', 'prototype_palette', 'write_cluster_maps']
