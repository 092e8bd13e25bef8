"""Config changes that tools/train.py and tools/test.py make from their command-line options."""
import logging
from typing import Optional

from mmengine.config import Config
from mmengine.logging import print_log

from ..datasets.checks import require_empty_output_dir

__all__ = ['check_is_segmentation_config', 'enable_amp', 'enable_label_output', 'enable_per_class_report',
           'enable_tta', 'enable_visualization']


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
    """Turn on ``default_hooks.visualization`` (SegVisualizationHook) of a test run for --show/--show-dir, for
    every test image (mmseg's default interval of 50 draws nothing for fewer than 50 images).

    The hook numbers its drawings with ``runner.iter``, which builds the training loop, and so the training
    dataset, when there is one; a test run has no use for it, so the training settings are dropped.
    """
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise ValueError("--show/--show-dir need default_hooks.visualization=dict(type='SegVisualizationHook') "
                         'in the config')
    hook['draw'] = True
    hook['interval'] = 1
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper', 'param_scheduler'):
        cfg[key] = None
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


def enable_label_output(cfg: Config, out_dir: str, force: bool = False) -> None:
    """Have the first test evaluator write every prediction as a class-index PNG to ``out_dir`` (--out):
    ``label_dir`` for ``PerClassSegMetric``, mmseg's ``output_dir``/``keep_results`` for ``IoUMetric`` and
    the other mmseg metrics."""
    evaluator = cfg.test_evaluator
    first = evaluator[0] if isinstance(evaluator, (list, tuple)) else evaluator
    if first.get('type') == 'PerClassSegMetric':
        first.update(label_dir=out_dir, overwrite=first.get('overwrite', False) or force)
    else:
        first.update(output_dir=out_dir, keep_results=True)
