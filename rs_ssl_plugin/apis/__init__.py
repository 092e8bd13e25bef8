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
    ClassCoding,
    blend_weights,
    iter_blended_logits,
    iter_class_rows,
    label_coding,
    logits_to_classes,
    no_data_mask,
)

__all__ = ['AMP_DTYPES', 'ArrayScene', 'BLEND_MODES', 'ClassCoding', 'ClassMapWriter', 'PngRowWriter', 'RasterScene',
           'blend_weights', 'class_palette', 'iter_blended_logits', 'iter_class_rows', 'label_coding',
           'logits_to_classes', 'no_data_mask', 'scene_output_paths', 'segment_raster', 'window_settings']
