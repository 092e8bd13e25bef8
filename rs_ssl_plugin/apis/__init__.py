"""Inference helpers: tiled (sliding-window) segmentation of large scenes, and of archives of them in one or more
processes (docs/inference.md)."""
from .archive import ArchivePlan, SceneJob, balanced_shards, plan_archive, run_fingerprint, scene_jobs, segment_scene
from .scene_io import (
    ArrayScene,
    ClassMapWriter,
    PngRowWriter,
    RasterScene,
    class_palette,
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

__all__ = ['AMP_DTYPES', 'ArchivePlan', 'ArrayScene', 'BLEND_MODES', 'ClassCoding', 'ClassMapWriter', 'PngRowWriter',
           'RasterScene', 'SceneJob', 'balanced_shards', 'blend_weights', 'class_palette', 'iter_blended_logits',
           'iter_class_rows', 'label_coding', 'logits_to_classes', 'no_data_mask', 'plan_archive', 'run_fingerprint',
           'scene_jobs', 'segment_raster', 'segment_scene', 'window_settings']
