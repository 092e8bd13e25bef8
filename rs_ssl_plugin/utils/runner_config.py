"""Command-line options shared by the tools, and the config changes that tools/train.py and tools/test.py
make from theirs."""
import argparse
import logging
from typing import Optional

from mmengine.config import Config
from mmengine.logging import print_log

from ..checkpoints.reading import UNSAFE_LOAD_ENV, allow_unsafe_load
from ..datasets.checks import require_empty_output_dir

__all__ = ['add_unsafe_load_argument', 'check_is_segmentation_config', 'enable_amp', 'enable_per_class_report',
           'enable_resumable_checkpoints', 'enable_strict_checkpoint_loading', 'enable_tta', 'enable_visualization']


class _AllowUnsafeLoad(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, True)
        allow_unsafe_load()


def add_unsafe_load_argument(parser: argparse.ArgumentParser) -> None:
    """``--unsafe-load``: unpickle checkpoints fully (``RS_SSL_UNSAFE_LOAD=1``), for trusted legacy files."""
    parser.add_argument('--unsafe-load', action=_AllowUnsafeLoad, nargs=0, default=False,
                        help='unpickle checkpoints fully (runs any code they hold): only for trusted files that '
                        f'the weights-only loader refuses; same as {UNSAFE_LOAD_ENV}=1')


def enable_resumable_checkpoints(cfg: Config) -> None:
    """Write checkpoints with ``ResumableCheckpointHook`` (exact ``--resume``, atomic writes; the same
    arguments) where the config asks for mmengine's plain ``CheckpointHook``."""
    hook = cfg.get('default_hooks', {}).get('checkpoint')
    if hook is not None and hook.get('type') in ('CheckpointHook', 'mmengine.CheckpointHook'):
        hook['type'] = 'ResumableCheckpointHook'


def enable_strict_checkpoint_loading(cfg: Config) -> None:
    """Refuse a ``load_from`` checkpoint whose weights do not fit the model (``CheckpointFitHook``)."""
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [dict(type='CheckpointFitHook')]


def enable_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to ``AmpOptimWrapper`` with a dynamic loss scale.

    mmpretrain configs may leave ``optim_wrapper.type`` out; it then defaults to ``OptimWrapper``.
    """
    wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper_type == 'AmpOptimWrapper':
        print_log('AMP training is already enabled in your config.', logger='current', level=logging.WARNING)
        return
    if wrapper_type != 'OptimWrapper':
        raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper, got {wrapper_type}')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def check_is_segmentation_config(cfg: Config, config_path: str) -> None:
    """Fail early and clearly instead of deep inside the Runner for a config this tool cannot test."""
    scope = cfg.get('default_scope')
    if scope != 'mmseg':
        raise ValueError(f"tools/test.py tests segmentation configs (default_scope='mmseg'); {config_path} "
                         f'has default_scope={scope!r}')


def enable_visualization(cfg: Config, show: bool = False, show_dir: Optional[str] = None,
                         wait_time: float = 2) -> None:
    """Turn on ``default_hooks.visualization`` (SegVisualizationHook) for --show/--show-dir."""
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise ValueError("--show/--show-dir need default_hooks.visualization=dict(type='SegVisualizationHook') "
                         'in the config')
    hook['draw'] = True
    if show:
        hook['show'] = True
        hook['wait_time'] = wait_time
    if show_dir:
        cfg.visualizer['save_dir'] = show_dir


def enable_tta(cfg: Config) -> None:
    """Test with ``tta_pipeline`` and wrap the model in ``tta_model``."""
    missing = [key for key in ('tta_pipeline', 'tta_model') if key not in cfg]
    if missing:
        raise ValueError(f'--tta needs {" and ".join(missing)} in the config')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.tta_model.module = cfg.model
    cfg.model = cfg.tta_model


def enable_per_class_report(cfg: Config, out_dir: str, force: bool) -> None:
    """Have ``PerClassSegMetric`` write its report to ``out_dir``: configured as the test evaluator, or
    added beside another evaluator (its keys then read ``per_class/...``)."""
    require_empty_output_dir(out_dir, force)
    report = dict(output_dir=out_dir, save_predictions=True, overwrite=force)
    evaluator = cfg.test_evaluator
    if isinstance(evaluator, dict) and evaluator.get('type') == 'PerClassSegMetric':
        evaluator.update(report)
        return
    evaluators = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
    ignore_index = evaluators[0].get('ignore_index', 255) if evaluators else 255
    cfg.test_evaluator = evaluators + [dict(type='PerClassSegMetric', prefix='per_class', ignore_index=ignore_index,
                                            **report)]
