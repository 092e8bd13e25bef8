"""Inference helpers: tiled (sliding-window) segmentation of large scenes (docs/inference.md)."""
from .scene_io import ArrayScene, ClassMapWriter, PngRowWriter, RasterScene, segment_raster
from .tiled_inference import (
                              AMP_DTYPES,
                              BLEND_MODES,
                              blend_weights,
                              iter_blended_logits,
                              iter_class_rows,
                              logits_to_classes,
                              slide_windows,
)

__all__ = ['AMP_DTYPES', 'ArrayScene', 'BLEND_MODES', 'ClassMapWriter', 'PngRowWriter', 'RasterScene',
           'blend_weights', 'iter_blended_logits', 'iter_class_rows', 'logits_to_classes', 'segment_raster',
           'slide_windows']
