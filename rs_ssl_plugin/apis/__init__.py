"""Inference helpers: tiled (sliding-window) segmentation of large scenes (docs/inference.md)."""
from .scene_io import (
    ArrayScene,
    ClassMapWriter,
    PngRowWriter,
    RasterScene,
    class_palette,
    scene_output_paths,
    segment_raster,
    window_settings,
)
from .tiled_inference import (
    AMP_DTYPES,
    BLEND_MODES,
    blend_weights,
    iter_blended_logits,
    iter_class_rows,
    logits_to_classes,
)

__all__ = ['AMP_DTYPES', 'ArrayScene', 'BLEND_MODES', 'ClassMapWriter', 'PngRowWriter', 'RasterScene', 'blend_weights',
           'class_palette', 'iter_blended_logits', 'iter_class_rows', 'logits_to_classes', 'scene_output_paths',
           'segment_raster', 'window_settings']
