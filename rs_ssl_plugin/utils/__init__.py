"""Collectives, work-dir handling and config helpers (including the tools' runner-config switches)."""
from .config_modules import build_config_module
from .dist import all_gather_no_grad, all_gather_with_grad, all_reduce_sum
from .runner_config import (
    check_is_segmentation_config,
    enable_amp,
    enable_per_class_report,
    enable_tta,
    enable_visualization,
)
from .work_dir import check_work_dir_is_fresh, find_checkpoints, resolve_work_dir

__all__ = ['all_gather_no_grad', 'all_gather_with_grad', 'all_reduce_sum', 'build_config_module',
           'check_is_segmentation_config', 'check_work_dir_is_fresh', 'enable_amp', 'enable_per_class_report',
           'enable_tta', 'enable_visualization', 'find_checkpoints', 'resolve_work_dir']
