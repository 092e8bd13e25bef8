"""Colouring of cluster and class maps."""
from .cluster_maps import colorize_clusters, overlay, prototype_palette

__all__ = ['colorize_clusters', 'overlay', 'prototype_palette']
