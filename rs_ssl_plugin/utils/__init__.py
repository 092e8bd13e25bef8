"""Leaf helpers that import no other part of the plugin: collectives, work-dir and output policies, the
sliding-window grid, building a module from a config, entry-point setup."""
from .config_modules import build_config_module
from .dist import all_gather_no_grad, all_gather_with_grad, all_reduce_sum
from .windows import slide_windows
from .work_dir import check_work_dir_is_fresh, find_checkpoints, require_empty_output_dir, resolve_work_dir

__all__ = ['all_gather_no_grad', 'all_gather_with_grad', 'all_reduce_sum', 'build_config_module',
           'check_work_dir_is_fresh', 'find_checkpoints', 'require_empty_output_dir', 'resolve_work_dir',
           'slide_windows']
