"""Collectives, work-dir handling and config helpers."""
from .config_modules import build_config_module
from .dist import all_gather_no_grad, all_gather_with_grad, all_reduce_sum
from .work_dir import check_work_dir_is_fresh, find_checkpoints, resolve_work_dir

__all__ = ['all_gather_no_grad', 'all_gather_with_grad', 'all_reduce_sum', 'build_config_module',
           'check_work_dir_is_fresh', 'find_checkpoints', 'resolve_work_dir']
