"""Command-line options shared by the tools, the config changes that tools/train.py and tools/test.py
make from theirs, and the Runner they build."""
import argparse
import logging
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.dist import master_only
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..checkpoints.reading import UNSAFE_LOAD_ENV, allow_unsafe_load
from ..utils.work_dir import require_empty_output_dir

__all__ = ['QuietConsoleRunner', 'add_unsafe_load_argument', 'add_verbose_argument', 'build_runner',
           'check_amp_device', 'check_is_segmentation_config', 'disable_amp', 'disable_pin_memory_without_cuda',
           'dumped_config_path', 'enable_amp', 'enable_label_output', 'enable_per_class_report',
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


def add_verbose_argument(parser: argparse.ArgumentParser) -> None:
    """``--verbose``: the details of the log file on the console too, as mmengine's Runner prints them."""
    parser.add_argument('--verbose', action='store_true',
                        help='print on the console as well what only the log file gets: the whole config (also '
                        'written to <work_dir>/<config name>.py, which the console names), the hooks\' execution '
                        'order and the optimiser options of each parameter')


# what mmengine logs in detail, hundreds of lines before the first iteration: the whole config and the hooks'
# execution order (while the Runner is built) and each parameter's optimiser options (paramwise_cfg)
LOG_FILE_DETAILS = ('Config:\n', 'Hooks will be executed in the following order', 'paramwise_options -- ')


def keep_details_off_console(record: logging.LogRecord) -> bool:
    """Logging filter of console handlers: every record but the ``LOG_FILE_DETAILS``."""
    return not (isinstance(record.msg, str) and record.msg.startswith(LOG_FILE_DETAILS))


class QuietConsoleRunner(Runner):
    """mmengine's Runner whose console leaves out the details it logs to the log file only
    (``LOG_FILE_DETAILS``: the whole config, the hooks' order, each parameter's optimiser options) and names the
    copy of the config it writes to the work_dir (``config: <path>``)."""

    def build_logger(self, log_level='INFO', log_file=None, **kwargs):
        """mmengine's logger, with the details filtered out of its console handlers."""
        logger = super().build_logger(log_level=log_level, log_file=log_file, **kwargs)
        for handler in logger.handlers:
            if not isinstance(handler, logging.FileHandler):
                handler.addFilter(keep_details_off_console)
        return logger

    @master_only
    def dump_config(self) -> None:
        """Write the config to the work_dir, as mmengine's Runner, and log where."""
        super().dump_config()
        self.logger.info(f'config: {dumped_config_path(self)}')


def dumped_config_path(runner: Runner) -> str:
    """Where mmengine's ``Runner.dump_config`` writes the config: ``<work_dir>/<config file name>``, or
    ``<work_dir>/<timestamp>.py`` for a config not read from a file."""
    name = osp.basename(runner.cfg.filename) if runner.cfg.filename is not None else f'{runner.timestamp}.py'
    return osp.join(runner.work_dir, name)


def build_runner(cfg: Config, verbose: bool = False) -> Runner:
    """The tools' Runner, as mmseg's tools build it: the config's ``runner_type`` if it names one, else
    :class:`QuietConsoleRunner` (mmengine's Runner, which prints every detail on the console, with
    ``verbose``)."""
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return (Runner if verbose else QuietConsoleRunner).from_cfg(cfg)


def enable_resumable_checkpoints(cfg: Config) -> None:
    """Write checkpoints with ``ResumableCheckpointHook`` (exact ``--resume``, atomic writes; the same
    arguments) where the config asks for mmengine's plain ``CheckpointHook``."""
    hook = cfg.get('default_hooks', {}).get('checkpoint')
    if hook is not None and hook.get('type') in ('CheckpointHook', 'mmengine.CheckpointHook'):
        hook['type'] = 'ResumableCheckpointHook'


def enable_strict_checkpoint_loading(cfg: Config) -> None:
    """Refuse a ``load_from`` checkpoint whose weights do not fit the model (``CheckpointFitHook``)."""
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [dict(type='CheckpointFitHook')]


# float32 optimiser wrappers and their mixed-precision counterparts (registered names)
AMP_WRAPPERS = {'OptimWrapper': 'MixedPrecisionOptimWrapper', 'SDSHOptimWrapper': 'SDSHAmpOptimWrapper'}
FLOAT32_WRAPPERS = {'AmpOptimWrapper': 'OptimWrapper', **{amp: plain for plain, amp in AMP_WRAPPERS.items()}}
AMP_ONLY_KEYS = ('loss_scale', 'dtype', 'use_fsdp')


def enable_amp(cfg: Config, dtype: Optional[str] = None) -> None:
    """Train in mixed precision through the plugin's wrappers, which run on CUDA and on the CPU.

    ``OptimWrapper`` (also when mmpretrain configs leave ``optim_wrapper.type`` out) becomes
    ``MixedPrecisionOptimWrapper`` with a dynamic loss scale, ``SDSHOptimWrapper`` becomes
    ``SDSHAmpOptimWrapper`` and mmengine's ``AmpOptimWrapper`` (GPU only) becomes ``MixedPrecisionOptimWrapper``
    with the same arguments. ``dtype`` ('float16' or 'bfloat16') sets ``optim_wrapper.dtype``; left out, the
    wrapper autocasts to float16 on CUDA (with loss scaling, as ``AmpOptimWrapper``) and bfloat16 on the CPU.
    """
    wrapper = cfg.optim_wrapper
    wrapper_type = wrapper.get('type', 'OptimWrapper')
    if wrapper_type in AMP_WRAPPERS:
        wrapper.type = AMP_WRAPPERS[wrapper_type]
        wrapper.setdefault('loss_scale', 'dynamic')
    elif wrapper_type == 'AmpOptimWrapper':
        wrapper.type = 'MixedPrecisionOptimWrapper'
    elif wrapper_type in AMP_WRAPPERS.values():
        if dtype is None:
            print_log('AMP training is already enabled in your config.', logger='current', level=logging.WARNING)
    else:
        raise ValueError(f'--amp needs optim_wrapper.type {" or ".join(sorted(AMP_WRAPPERS))} (or an AMP wrapper: '
                         f'{", ".join(sorted(FLOAT32_WRAPPERS))}), got {wrapper_type}')
    if dtype is not None:
        wrapper.dtype = dtype


def disable_amp(cfg: Config) -> None:
    """Train in float32: an AMP wrapper becomes its float32 counterpart (``MixedPrecisionOptimWrapper`` and
    ``AmpOptimWrapper`` -> ``OptimWrapper``, ``SDSHAmpOptimWrapper`` -> ``SDSHOptimWrapper``) and the AMP-only
    keys (``loss_scale``, ``dtype``, ``use_fsdp``), which ``OptimWrapper`` rejects, are dropped."""
    wrapper = cfg.optim_wrapper
    wrapper_type = wrapper.get('type', 'OptimWrapper')
    if wrapper_type in AMP_WRAPPERS:
        print_log('AMP training is not enabled in your config.', logger='current', level=logging.WARNING)
        return
    if wrapper_type not in FLOAT32_WRAPPERS:
        raise ValueError(f'--no-amp needs optim_wrapper.type one of {", ".join(sorted(FLOAT32_WRAPPERS))}, '
                         f'got {wrapper_type}')
    wrapper.type = FLOAT32_WRAPPERS[wrapper_type]
    for key in AMP_ONLY_KEYS:
        wrapper.pop(key, None)


def check_amp_device(cfg: Config, cuda_available: bool) -> None:
    """Fail early and clearly where mmengine's ``AmpOptimWrapper`` would assert a GPU deep inside the Runner."""
    if cfg.optim_wrapper.get('type') == 'AmpOptimWrapper' and not cuda_available:
        raise ValueError("optim_wrapper.type='AmpOptimWrapper' needs a GPU and none is available: add --amp to "
                         'train in mixed precision on the CPU (MixedPrecisionOptimWrapper, bfloat16 autocast) or '
                         '--no-amp to train in float32')


def disable_pin_memory_without_cuda(cfg: Config, cuda_available: bool) -> None:
    """Set ``pin_memory=False`` on every dataloader of a run without CUDA: the configs pin for GPU runs, and
    torch warns at every epoch's loader that pinning without an accelerator does nothing."""
    if cuda_available:
        return
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader) and cfg[loader].get('pin_memory'):
            cfg[loader]['pin_memory'] = False


def check_is_segmentation_config(cfg: Config, config_path: str) -> None:
    """Fail early and clearly instead of deep inside the Runner for a config this tool cannot test."""
    scope = cfg.get('default_scope')
    if scope != 'mmseg':
        raise ValueError(f"tools/test.py tests segmentation configs (default_scope='mmseg'); {config_path} "
                         f'has default_scope={scope!r}')


def enable_visualization(cfg: Config, show: bool = False, show_dir: Optional[str] = None,
                         wait_time: float = 2) -> None:
    """Turn on ``default_hooks.visualization`` (SegVisualizationHook) of a test run for --show/--show-dir, for
    every test image (mmseg's default interval of 50 draws nothing for fewer than 50 images), drawn by
    ``ReadableSegLocalVisualizer`` where the config names mmseg's ``SegLocalVisualizer`` (whose white labels
    vanish on white classes and are cut off at the image's edge).

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
    if cfg.visualizer.get('type') in ('SegLocalVisualizer', 'mmseg.SegLocalVisualizer'):
        cfg.visualizer['type'] = 'ReadableSegLocalVisualizer'
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


FIGURE_IMAGES = 4  # rows of the report's image | ground truth | prediction figure


def enable_per_class_report(cfg: Config, out_dir: str, force: bool, figure_title: str) -> None:
    """Have ``PerClassSegMetric`` write its report to ``out_dir``, with the colour predictions and a figure of
    the first ``FIGURE_IMAGES`` test images titled ``figure_title``: the configured metric, else in place of
    mmseg's ``IoUMetric`` (same ``ignore_index`` and ``prefix``; its ``aAcc``, ``mIoU``, ``mPrecision`` and
    ``mRecall`` are equal, its ``mF1`` replaces ``mFscore``), else beside the other evaluators (its keys then
    read ``per_class/...``). Keeping ``IoUMetric`` beside it printed two per-class tables whose F-score means
    disagreed (``mFscore`` leaves out the classes without a true positive, ``mF1`` counts them as 0)."""
    require_empty_output_dir(out_dir, force)
    report = dict(output_dir=out_dir, save_predictions=True, figure_images=FIGURE_IMAGES, figure_title=figure_title,
                  overwrite=force)
    evaluator = cfg.test_evaluator
    evaluators = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
    for index, metric in enumerate(evaluators):
        if metric.get('type') == 'PerClassSegMetric':
            metric.update(report)
            return
        if metric.get('type') == 'IoUMetric':
            kept = {key: metric[key] for key in ('ignore_index', 'prefix', 'collect_device') if key in metric}
            evaluators[index] = dict(type='PerClassSegMetric', **kept, **report)
            cfg.test_evaluator = evaluators if isinstance(evaluator, (list, tuple)) else evaluators[0]
            return
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
